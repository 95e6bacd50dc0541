package fees

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/store"
)

// settle makes sure a paid payment's effects are owed durably (a
// settlement, written before the notification is answered) and makes a
// first pass over them. The effects are the THANH_TOAN writeback to the
// province, the dossier republished so the national portal learns its fees
// are paid, and the payment marked settled; whatever the pass leaves owed,
// the reconciliation retries. An error means the settlement was not
// recorded; a failed pass is only logged.
func (f *Flow) settle(ctx context.Context, p store.Payment) error {
	s, err := f.settler.Open(ctx, store.Settlement{Kind: store.SettlementPayment, Ref: p.Ref, DossierID: p.DossierID, Source: p.Source})
	if err != nil {
		return err
	}
	if err := f.settler.Run(ctx, s); err != nil && ctx.Err() == nil {
		f.cfg.Log.WarnContext(ctx, "payment effects incomplete; retried later", "reference", p.Ref, "dossier", p.DossierID, "error", err.Error())
	}
	return nil
}

// plan is what settling a payment owes; every step is idempotent.
func (f *Flow) plan(ctx context.Context, s store.Settlement) (settlement.Plan, error) {
	p, err := f.cfg.Store.GetPayment(ctx, s.Ref)
	if err != nil {
		return settlement.Plan{}, fmt.Errorf("settle payment %s of %s dossier %s: %w", s.Ref, s.Source, s.DossierID, err)
	}
	return settlement.Plan{
		Writeback: httpx.Event{
			DossierID: p.DossierID, Kind: httpx.KindPayment, Reference: p.Ref, At: p.PaidAt,
			Content: fmt.Sprintf("Đã thanh toán trực tuyến %d đồng phí, lệ phí qua Cổng thanh toán quốc gia, mã giao dịch %s", p.Amount, p.TxnID),
			Data:    map[string]any{"maThamChieu": p.Ref, "maGiaoDich": p.TxnID, "soTien": p.Amount, "phiLePhi": p.FeeCodes},
		},
		Effects: func(ctx context.Context) error {
			if err := f.cfg.Resync.Resync(ctx, p.DossierID); err != nil {
				return fmt.Errorf("resync dossier %s after payment %s: %w", p.DossierID, p.Ref, err)
			}
			return nil
		},
		Settled: func(ctx context.Context) error {
			if !p.SettledAt.IsZero() {
				return nil // marked by a pass whose close was not recorded
			}
			if _, _, err := f.cfg.Store.UpdatePayment(ctx, p.Ref, store.PaymentUpdate{SettledAt: f.cfg.Now()}); err != nil {
				return fmt.Errorf("settle payment %s: %w", p.Ref, err)
			}
			return f.event(ctx, p.DossierID, p.Source, 0, "payment.settled", fmt.Sprintf("reference %s amount %d transaction %s", p.Ref, p.Amount, p.TxnID))
		},
	}, nil
}

// Reconcile is one pass of the background work: payments waiting longer
// than QueryAfter for their notification are looked up on the platform (the
// notification may be lost), and paid payments whose effects are not done
// are settled. It returns the first error after trying everything.
func (f *Flow) Reconcile(ctx context.Context) error {
	var errs []error
	now := f.cfg.Now()
	stale, err := f.cfg.Store.ListPayments(ctx, store.PaymentFilter{
		States: []string{store.PaymentPending}, UpdatedBefore: now.Add(-f.cfg.QueryAfter), Limit: 200,
	})
	if err != nil {
		return fmt.Errorf("list pending payments: %w", err)
	}
	for _, p := range stale {
		errs = append(errs, f.query(ctx, p))
	}
	// Paid payments whose settlement was never recorded (the hub stopped
	// between the two); leave a short grace so this does not race a
	// notification being handled right now.
	unsettled, err := f.cfg.Store.ListPayments(ctx, store.PaymentFilter{
		States: []string{store.PaymentPaid}, Unsettled: true, NoSettlement: true, UpdatedBefore: now.Add(-10 * time.Second), Limit: 200,
	})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list unsettled payments: %w", err))...)
	}
	for _, p := range unsettled {
		if err := f.settle(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	// What earlier passes left owed, when its time has come. A writeback
	// the province refused too often is held and not among them.
	errs = append(errs, f.settler.RunDue(ctx, []string{store.SettlementPayment}, 200))
	return errors.Join(errs...)
}

// query asks the platform about one pending payment.
func (f *Flow) query(ctx context.Context, p store.Payment) (err error) {
	ctx, span := tracing.StartFor(ctx, "payment query", trace.SpanKindClient, p.Source, p.DossierID)
	defer func() { tracing.End(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attrReference.String(p.Ref))
	}
	partner, ok := f.cfg.Partners[p.Source]
	if !ok {
		return fmt.Errorf("query payment %s: no partner configured for source %s", p.Ref, p.Source)
	}
	res, err := partner.Platform.Query(ctx, p.Ref)
	if err != nil {
		return fmt.Errorf("query payment %s of %s dossier %s: %w", p.Ref, p.Source, p.DossierID, err)
	}
	u := store.PaymentUpdate{From: []string{store.PaymentPending}}
	switch res.State {
	case "00":
		if res.Amount != 0 && res.Amount != p.Amount {
			f.cfg.Log.WarnContext(ctx, "payment query: amount differs from the request; not settled", "reference", p.Ref, "dossier", p.DossierID)
			_, _, err := f.cfg.Store.UpdatePayment(ctx, p.Ref, u) // look again after QueryAfter
			return err
		}
		u.State, u.TxnID, u.PaidAt = store.PaymentPaid, res.TxnID, res.PaidAt
		if u.PaidAt.IsZero() {
			u.PaidAt = f.cfg.Now()
		}
	case "02":
		u.State = store.PaymentFailed
	case "03":
		u.State = store.PaymentCancelled
	default:
		// Still pending: touching it schedules the next look.
	}
	p2, changed, err := f.cfg.Store.UpdatePayment(ctx, p.Ref, u)
	if err != nil {
		return fmt.Errorf("record query of payment %s: %w", p.Ref, err)
	}
	if changed && u.State != "" {
		if err := f.event(ctx, p.DossierID, p.Source, 0, "payment.queried", fmt.Sprintf("reference %s state %s", p.Ref, res.State)); err != nil {
			return err
		}
	}
	if p2.State == store.PaymentPaid && p2.SettledAt.IsZero() {
		return f.settle(ctx, p2)
	}
	return nil
}

// Run reconciles every interval until ctx ends. Run it on one instance at
// a time (under a lease): the work is idempotent, but doubling it is waste.
func (f *Flow) Run(ctx context.Context, interval time.Duration) error {
	f.settler.SetRetry(interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := f.Reconcile(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("payment reconciliation incomplete; next pass retries", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
