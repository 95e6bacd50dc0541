package router

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/national"
	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Effects is what the hub itself did for dossiers on the level-4 flows:
// payments taken and results delivered. The provinces' records may lag
// behind (or never learn of it), so the national sink lays these facts over
// each dossier before sending it: fees paid stay paid, a delivered result
// makes the dossier returned (status 10).
type Effects interface {
	ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
}

// facts are one dossier's level-4 effects.
type facts struct {
	paid        map[string]bool // fee codes paid online
	codPaid     bool            // the postman collected the COD fees
	deliveredAt time.Time
}

func loadFacts(ctx context.Context, eff Effects, ids []string) (map[string]*facts, error) {
	out := map[string]*facts{}
	if eff == nil || len(ids) == 0 {
		return out, nil
	}
	get := func(id string) *facts {
		f := out[id]
		if f == nil {
			f = &facts{paid: map[string]bool{}}
			out[id] = f
		}
		return f
	}
	pays, err := eff.ListPayments(ctx, store.PaymentFilter{DossierIDs: ids, States: []string{store.PaymentPaid}})
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	for _, p := range pays {
		f := get(p.DossierID)
		for _, c := range p.FeeCodes {
			f.paid[c] = true
		}
	}
	dels, err := eff.ListDeliveries(ctx, store.DeliveryFilter{DossierIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	for _, d := range dels {
		f := get(d.DossierID)
		if !d.CODPaidAt.IsZero() {
			f.codPaid = true
		}
		if !d.DeliveredAt.IsZero() {
			f.deliveredAt = d.DeliveredAt
		}
	}
	return out, nil
}

// apply returns d with the facts laid over it; d itself is not changed.
func (f *facts) apply(d *schemas.Dossier) *schemas.Dossier {
	if f == nil {
		return d
	}
	out := *d
	out.Fees = slices.Clone(d.Fees)
	for i := range out.Fees {
		fee := &out.Fees[i]
		if f.paid[fee.Code] && fee.PaymentMethod == schemas.PayOnline {
			fee.Paid = true
		}
		if f.codPaid && fee.PaymentMethod == schemas.PayCOD {
			fee.Paid = true
		}
	}
	if !f.deliveredAt.IsZero() && out.Status == schemas.StatusResolved {
		// Delivered by post is returned: the province may record it later
		// or never; the national portal learns it now.
		at := f.deliveredAt.In(schemas.Vietnam)
		out.Status, out.ReturnedAt = schemas.StatusReturned, &at
	}
	return &out
}

// Expectation is what the national portal should hold of a dossier: its
// HOSO as the sink sends it, with the hub's effects laid over it, and the
// content hash the ledger records for that HOSO.
type Expectation struct {
	HoSo national.HoSo
	Hash string
}

// Expected works out, for each dossier, what the portal should hold of it
// (for reconciliation: the sink's own mapping, so the two cannot differ).
func Expected(ctx context.Context, eff Effects, ds []*schemas.Dossier) (map[string]Expectation, error) {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	effects, err := loadFacts(ctx, eff, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Expectation, len(ds))
	for _, d := range ds {
		out[d.ID] = effects[d.ID].expect(d)
	}
	return out, nil
}

// expect is what the portal should hold of d with f laid over it: what
// the sink sends, and what reconciliation compares with.
func (f *facts) expect(d *schemas.Dossier) Expectation {
	e := f.apply(d)
	return Expectation{HoSo: natmap.HoSo(e), Hash: natmap.ContentHash(e)}
}

// Resyncer puts a dossier's latest canonical version back on the canonical
// topic, so the national sink looks at it again after a level-4 effect
// changed what the portal should hold. Keyed like every canonical message,
// it stays in order with the dossier's other versions.
type Resyncer struct {
	Ledger interface {
		GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	}
	Publisher message.Publisher
	Topic     string
	// Reason is the MetadataResync value (default "effects").
	Reason string
}

// Resync republishes dossierID. A dossier the ledger does not hold yet needs
// nothing: the sink reads the effects when its first version arrives.
func (r *Resyncer) Resync(ctx context.Context, dossierID string) error {
	l, err := r.Ledger.GetLedger(ctx, []string{dossierID})
	if err != nil {
		return err
	}
	e, ok := l[dossierID]
	if !ok || len(e.Canonical) == 0 || e.Deleted {
		return nil
	}
	msg := message.NewMessage(watermill.NewUUID(), e.Canonical)
	msg.Metadata.Set(kafka.PartitionKeyMetadata, dossierID)
	msg.Metadata.Set(schemas.MetadataSource, e.Source)
	msg.Metadata.Set(MetadataResync, cmp.Or(r.Reason, "effects"))
	// The version it holds: a newer one waiting behind it replaces it, and
	// it never replaces a newer one (kafka.SubscriberConfig.SupersedeBy).
	msg.Metadata.Set(schemas.MetadataVersion, strconv.FormatInt(e.Version, 10))
	// The lag counts from now: the source's change is long acknowledged.
	msg.Metadata.Set(MetadataPulled, time.Now().UTC().Format(time.RFC3339Nano))
	// The effect's trace goes on to the national sink.
	tracing.Inject(ctx, msg.Metadata)
	return r.Publisher.Publish(r.Topic, msg)
}
