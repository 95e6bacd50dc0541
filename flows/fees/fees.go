// Package fees requests online fee payments on the national payment
// platform for dossiers at status 6, takes the platform's payment
// notifications (IPN), settles payments whose notification never came by
// asking the platform, and carries a payment's effects on: the writeback
// to the province and the fees marked paid at the national portal.
package fees

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Platform is the payment platform, as one province's partner.
type Platform interface {
	Create(ctx context.Context, r payment.CreateRequest) (payment.CreateResult, error)
	Query(ctx context.Context, ref string) (payment.QueryResult, error)
}

// Partner is one province's account on the payment platform.
type Partner struct {
	Code     string // MaDoiTac
	Secret   string // key of the IPN and answer signatures
	Platform Platform
}

// Store is the durable state the flow uses.
type Store interface {
	CreatePayment(ctx context.Context, p store.Payment) (store.Payment, bool, error)
	UpdatePayment(ctx context.Context, ref string, u store.PaymentUpdate) (store.Payment, bool, error)
	GetPayment(ctx context.Context, ref string) (store.Payment, error)
	ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error)
	AddPaymentNotice(ctx context.Context, n store.PaymentNotice) (int64, error)
	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
	AppendEvents(ctx context.Context, events []store.Event) error
	settlement.Store
}

// Writeback tells the province.
type Writeback interface {
	Send(ctx context.Context, source string, ev httpx.Event) error
}

// Notifier tells the applicant.
type Notifier interface {
	Notify(ctx context.Context, n notify.Notice) error
}

// Resync makes the national sink look at a dossier again, so the fees now
// paid reach the national portal.
type Resync interface {
	Resync(ctx context.Context, dossierID string) error
}

// Config wires the flow.
type Config struct {
	Partners  map[string]Partner // by source
	Store     Store
	Writeback Writeback
	Notifier  Notifier // nil: no notifications
	Resync    Resync
	Instance  string
	Log       *slog.Logger
	// QueryAfter is how long a payment may wait for its notification before
	// the flow asks the platform (the lost-IPN case). Default 2 minutes.
	QueryAfter time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// WritebackAttempts is how many permanent refusals of a payment's
	// THANH_TOAN writeback are taken before it is quarantined; default
	// settlement.DefaultMaxAttempts.
	WritebackAttempts int
}

// Flow is the online fee payment flow.
type Flow struct {
	cfg       Config
	byPartner map[string]string // MaDoiTac → source
	settler   *settlement.Runner
}

// New returns the flow.
func New(cfg Config) *Flow {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QueryAfter <= 0 {
		cfg.QueryAfter = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Flow{cfg: cfg, byPartner: map[string]string{}}
	f.settler = settlement.New(settlement.Config{Store: cfg.Store, Writeback: cfg.Writeback, Plan: f.plan,
		MaxAttempts: cfg.WritebackAttempts, Now: cfg.Now, Instance: cfg.Instance, Log: cfg.Log})
	for src, p := range cfg.Partners {
		f.byPartner[p.Code] = src
	}
	return f
}

// due returns the fees of d to be paid online now, sorted by code.
func due(d *schemas.Dossier) []schemas.Fee {
	if d.Deleted || d.Status != schemas.StatusFeeDue {
		return nil
	}
	var out []schemas.Fee
	for _, f := range d.Fees {
		if !f.Paid && f.PaymentMethod == schemas.PayOnline && f.Amount > 0 {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b schemas.Fee) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// Ref is the MaThamChieu of a dossier's fee set: the same fees of the same
// dossier always get the same reference, so a redelivered message cannot
// open a second payment, and the platform answers "15" to a repeat.
func Ref(dossierID string, fees []schemas.Fee) string {
	h := sha256.New()
	for _, f := range fees {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Code, f.Amount)
	}
	return dossierID + "-" + hex.EncodeToString(h.Sum(nil)[:4])
}

// HandleDossier is a Watermill handler on the canonical topic: a dossier at
// status 6 with fees payable online gets one payment request per fee set,
// and the applicant the payment link.
func (f *Flow) HandleDossier(msg *message.Message) error {
	if schemas.StatusElsewhere(msg.Metadata.Get(schemas.MetadataStatus), schemas.StatusFeeDue) {
		return nil // only a dossier whose fees are due needs a payment request
	}
	var d schemas.Dossier
	if err := json.Unmarshal(msg.Payload, &d); err != nil {
		f.cfg.Log.Warn("fees: unreadable canonical message", "uuid", msg.UUID, "error", err.Error())
		return nil // the national sink quarantines it
	}
	return f.Request(msg.Context(), &d)
}

// Request makes sure d's online fees have a payment request.
func (f *Flow) Request(ctx context.Context, d *schemas.Dossier) error {
	fees := due(d)
	if len(fees) == 0 {
		return nil
	}
	partner, ok := f.cfg.Partners[d.Source]
	if !ok {
		f.cfg.Log.WarnContext(ctx, "fees: no payment partner configured for source; online fees not requested", "source", d.Source, "dossier", d.ID)
		return nil
	}
	var amount int64
	codes := make([]string, len(fees))
	for i, fe := range fees {
		amount += fe.Amount
		codes[i] = fe.Code
	}
	ref := Ref(d.ID, fees)
	p, _, err := f.cfg.Store.CreatePayment(ctx, store.Payment{
		Ref: ref, DossierID: d.ID, Source: d.Source, FeeCodes: codes, Amount: amount, State: store.PaymentNew,
	})
	if err != nil {
		return fmt.Errorf("record payment %s of %s dossier %s: %w", ref, d.Source, d.ID, err)
	}
	if p.State == store.PaymentNew {
		// New, or an earlier attempt died before the answer was recorded:
		// the platform answers "15" with the first transaction then.
		res, err := f.create(ctx, partner, d, ref, amount, fees)
		if err != nil {
			var he *httpx.Error
			if errors.As(err, &he) && !he.Transient {
				return f.refused(ctx, d, ref, he)
			}
			return fmt.Errorf("payment request %s of %s dossier %s: %w", ref, d.Source, d.ID, err)
		}
		p, _, err = f.cfg.Store.UpdatePayment(ctx, ref, store.PaymentUpdate{
			From: []string{store.PaymentNew}, State: store.PaymentPending, TxnID: res.TxnID, PayURL: res.PayURL,
		})
		if err != nil {
			return fmt.Errorf("record payment %s of %s dossier %s: %w", ref, d.Source, d.ID, err)
		}
		detail := fmt.Sprintf("reference %s amount %d", ref, amount)
		if res.Existing {
			detail += " (already requested)"
		}
		if err := f.event(ctx, d.ID, d.Source, d.SourceVersion, "payment.requested", detail); err != nil {
			return err
		}
	}
	if p.State != store.PaymentPending || f.cfg.Notifier == nil {
		return nil
	}
	return f.cfg.Notifier.Notify(ctx, notify.Notice{
		Kind: notify.FeeDue, Occurrence: ref, Dossier: d, Amount: p.Amount, PayURL: p.PayURL,
	})
}

// create asks the platform for a payment request, in a span of its own.
func (f *Flow) create(ctx context.Context, partner Partner, d *schemas.Dossier, ref string, amount int64, fees []schemas.Fee) (res payment.CreateResult, err error) {
	ctx, span := tracing.StartFor(ctx, "payment create", trace.SpanKindClient, d.Source, d.ID)
	defer func() { tracing.End(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attrReference.String(ref))
	}
	return partner.Platform.Create(ctx, f.createRequest(d, ref, amount, fees))
}

// attrReference is a payment's reference (MaThamChieu), on its spans.
const attrReference = attribute.Key("payment.reference")

// refused keeps a payment request the platform refused for good (a field
// it finds invalid, a signature it rejects) for an operator, and lets the
// dossiers behind it go on.
func (f *Flow) refused(ctx context.Context, d *schemas.Dossier, ref string, he *httpx.Error) error {
	reason := fmt.Sprintf("%s: dossier %s: payment platform refused payment request %s: %s", d.Source, d.ID, ref, he.Error())
	f.cfg.Log.WarnContext(ctx, "payment request refused", "source", d.Source, "dossier", d.ID, "reference", ref, "code", he.Code, "error", he.Error())
	raw, _ := json.Marshal(d)
	if err := f.cfg.Store.AddQuarantine(ctx, []store.QuarantineEntry{{
		Source: d.Source, DossierID: d.ID, Version: d.SourceVersion, Field: "payment:" + he.Code, Reason: reason,
		Format: schemas.FormatCanonical, Payload: raw, At: time.Now(), State: store.QuarantineOpen,
	}}); err != nil {
		return fmt.Errorf("quarantine payment request %s: %w", ref, err)
	}
	return f.event(ctx, d.ID, d.Source, d.SourceVersion, "payment.refused", "reference "+ref+" code "+he.Code)
}

func (f *Flow) createRequest(d *schemas.Dossier, ref string, amount int64, fees []schemas.Fee) payment.CreateRequest {
	rf := make([]payment.Fee, len(fees))
	for i, fe := range fees {
		rf[i] = payment.Fee{Kind: fe.Kind, Code: fe.Code, Name: fe.Name, Amount: fe.Amount}
	}
	return payment.CreateRequest{
		Ref: ref, Amount: amount, At: f.cfg.Now(),
		Description: "Thanh toan phi, le phi ho so " + d.ID,
		Receipt: payment.Receipt{
			UnitCode: d.Agency.Code, UnitName: d.Agency.Name, DossierID: d.ID,
			ProcedureCode: d.Procedure.Code, ProcedureName: d.Procedure.Name, Fees: rf,
			PayerName: d.Applicant.Name, PayerID: d.Applicant.IDNumber, PayerAddress: d.Applicant.Address.Detail,
		},
	}
}

func (f *Flow) event(ctx context.Context, dossierID, source string, version int64, kind, detail string) error {
	if err := f.cfg.Store.AppendEvents(ctx, []store.Event{{
		DossierID: dossierID, Source: source, Version: version, Kind: kind, Detail: detail,
		At: time.Now(), Instance: f.cfg.Instance,
	}}); err != nil {
		return fmt.Errorf("provenance of %s dossier %s: %w", source, dossierID, err)
	}
	return nil
}
