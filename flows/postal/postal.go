// Package postal sends a dossier's result home by VNPost: a dossier at
// status 9 whose result goes by post gets one order (its number derived from
// the dossier, so redeliveries find it), and the tracking feed is followed
// to mark the result delivered, the cash on delivery collected, and to
// surface failed deliveries and returns to operators.
package postal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Carrier is VNPost.
type Carrier interface {
	CreateOrder(ctx context.Context, o vnpost.Order) (vnpost.OrderResult, error)
	Tracking(ctx context.Context, lastID int64, pageSize int) ([]vnpost.TrackingEvent, int64, error)
}

// Store is the durable state the flow uses.
type Store interface {
	CreateDelivery(ctx context.Context, d store.Delivery) (store.Delivery, bool, error)
	UpdateDelivery(ctx context.Context, orderNumber string, u store.DeliveryUpdate) (store.Delivery, bool, error)
	GetDelivery(ctx context.Context, orderNumber string) (store.Delivery, error)
	GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	GetCursor(ctx context.Context, name string) ([]byte, error)
	PutCursor(ctx context.Context, name string, value []byte) error
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

// Resync makes the national sink look at a dossier again.
type Resync interface {
	Resync(ctx context.Context, dossierID string) error
}

// Sender is the post office address results leave from, per province.
type Sender struct {
	Name, Tel, Address, Province, District, Email string
}

// Config wires the flow.
type Config struct {
	Carrier   Carrier
	Senders   map[string]Sender // by source
	Store     Store
	Writeback Writeback
	Notifier  Notifier // nil: no notifications
	Resync    Resync
	Instance  string
	Log       *slog.Logger
	PageSize  int // tracking page size, default 200
	// WritebackAttempts is how many permanent refusals of a BUU_CHINH or
	// COD THANH_TOAN writeback are taken before it is quarantined; default
	// settlement.DefaultMaxAttempts.
	WritebackAttempts int
}

// Flow is the postal delivery flow.
type Flow struct {
	cfg     Config
	settler *settlement.Runner
}

// New returns the flow.
func New(cfg Config) *Flow {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 200
	}
	f := &Flow{cfg: cfg}
	f.settler = settlement.New(settlement.Config{Store: cfg.Store, Writeback: cfg.Writeback, Plan: f.plan,
		MaxAttempts: cfg.WritebackAttempts, Instance: cfg.Instance, Log: cfg.Log})
	return f
}

// OrderNumber is the hub's order number for a dossier's result: one
// delivery per dossier, so VNPost answers 409 to any repeat.
func OrderNumber(dossierID string) string { return "KQ-" + dossierID }

// COD is what the postman collects: the fees payable on delivery and not
// yet paid.
func COD(d *schemas.Dossier) int64 {
	var sum int64
	for _, f := range d.Fees {
		if !f.Paid && f.PaymentMethod == schemas.PayCOD {
			sum += f.Amount
		}
	}
	return sum
}

// HandleDossier is a Watermill handler on the canonical topic.
func (f *Flow) HandleDossier(msg *message.Message) error {
	if schemas.StatusElsewhere(msg.Metadata.Get(schemas.MetadataStatus), schemas.StatusResolved) {
		return nil // only a resolved dossier has a result to post
	}
	var d schemas.Dossier
	if err := json.Unmarshal(msg.Payload, &d); err != nil {
		f.cfg.Log.Warn("postal: unreadable canonical message", "uuid", msg.UUID, "error", err.Error())
		return nil // the national sink quarantines it
	}
	return f.Order(msg.Context(), &d)
}

// Order makes sure a resolved dossier whose result goes by post has its
// VNPost order, and tells the applicant the result is on its way.
func (f *Flow) Order(ctx context.Context, d *schemas.Dossier) error {
	if d.Deleted || d.Status != schemas.StatusResolved || d.ResultDelivery != schemas.DeliveryPost {
		return nil
	}
	num := OrderNumber(d.ID)
	del, _, err := f.cfg.Store.CreateDelivery(ctx, store.Delivery{
		OrderNumber: num, DossierID: d.ID, Source: d.Source, COD: COD(d), State: store.DeliveryNew,
	})
	if err != nil {
		return fmt.Errorf("record delivery %s of %s dossier %s: %w", num, d.Source, d.ID, err)
	}
	if del.State != store.DeliveryNew {
		return nil
	}
	// New, or an earlier attempt died before the answer was recorded; the
	// COD recorded first is the one sent, so a repeat asks the same.
	res, err := f.createOrder(ctx, d, num, del.COD)
	if err != nil {
		var he *httpx.Error
		if errors.As(err, &he) && !he.Transient {
			return f.refused(ctx, d, num, he)
		}
		return fmt.Errorf("VNPost order %s of %s dossier %s: %w", num, d.Source, d.ID, err)
	}
	if _, _, err := f.cfg.Store.UpdateDelivery(ctx, num, store.DeliveryUpdate{
		From: []string{store.DeliveryNew}, State: store.DeliveryOrdered, ItemCode: res.ItemCode, TotalFee: res.TotalFee,
	}); err != nil {
		return fmt.Errorf("record delivery %s of %s dossier %s: %w", num, d.Source, d.ID, err)
	}
	detail := fmt.Sprintf("order %s item %s cod %d", num, res.ItemCode, del.COD)
	if res.Existing {
		detail += " (already ordered)"
	}
	return f.event(ctx, d.ID, d.Source, d.SourceVersion, "postal.ordered", detail)
}

// createOrder asks VNPost for the order, in a span of its own.
func (f *Flow) createOrder(ctx context.Context, d *schemas.Dossier, num string, cod int64) (res vnpost.OrderResult, err error) {
	ctx, span := tracing.StartFor(ctx, "vnpost order", trace.SpanKindClient, d.Source, d.ID)
	defer func() { tracing.End(span, err) }()
	res, err = f.cfg.Carrier.CreateOrder(ctx, f.order(d, num, cod))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("vnpost.order", num), attribute.String("vnpost.item", res.ItemCode), attribute.Bool("vnpost.existing", res.Existing))
	}
	return res, err
}

func (f *Flow) order(d *schemas.Dossier, num string, cod int64) vnpost.Order {
	s := f.cfg.Senders[d.Source]
	if s.Name == "" {
		s.Name = d.Agency.Name
	}
	to := d.ResultAddress
	if to == nil {
		to = &schemas.Recipient{Name: d.Applicant.Name, Phone: d.Applicant.Phone, Address: d.Applicant.Address}
	}
	name, phone := to.Name, to.Phone
	if name == "" {
		name = d.Applicant.Name
	}
	if phone == "" {
		phone = d.Applicant.Phone
	}
	return vnpost.Order{
		OrderNumber: num, CODAmount: cod,
		SenderName: s.Name, SenderTel: s.Tel, SenderAddress: s.Address, SenderProvince: s.Province,
		SenderDistrict: s.District, SenderEmail: s.Email, SenderDesc: d.Agency.Code,
		ReceiverName: name, ReceiverTel: phone, ReceiverAddress: to.Address.Detail,
		ReceiverProvince: to.Address.ProvinceCode, ReceiverDistrict: to.Address.DistrictCode,
		ReceiverCommune: to.Address.CommuneCode, ReceiverEmail: d.Applicant.Email,
		Description: "Kết quả giải quyết hồ sơ " + d.ID,
	}
}

// refused keeps an order VNPost refused for good (an invalid field) for an
// operator; the dossiers behind it go on.
func (f *Flow) refused(ctx context.Context, d *schemas.Dossier, num string, he *httpx.Error) error {
	reason := fmt.Sprintf("%s: dossier %s: VNPost refused order %s: %s", d.Source, d.ID, num, he.Error())
	f.cfg.Log.WarnContext(ctx, "VNPost order refused", "source", d.Source, "dossier", d.ID, "order", num, "error", he.Error())
	raw, _ := json.Marshal(d)
	if err := f.cfg.Store.AddQuarantine(ctx, []store.QuarantineEntry{{
		Source: d.Source, DossierID: d.ID, Version: d.SourceVersion, Field: "vnpost", Reason: reason,
		Format: schemas.FormatCanonical, Payload: raw, At: time.Now(), State: store.QuarantineOpen,
	}}); err != nil {
		return fmt.Errorf("quarantine VNPost order %s: %w", num, err)
	}
	return f.event(ctx, d.ID, d.Source, d.SourceVersion, "postal.refused", "order "+num)
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
