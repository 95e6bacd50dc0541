package postal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// CursorName is where the tracking feed's lastId is kept.
const CursorName = "vnpost:tracking"

// Follow polls the tracking feed every interval until ctx ends, and after
// each page makes a pass over the deliveries' effects still owed and due,
// whether VNPost answered or not: they go to the provinces and the sink.
// Run it on one instance at a time (under a lease).
func (f *Flow) Follow(ctx context.Context, interval time.Duration) error {
	f.settler.SetRetry(interval)
	for {
		more, err := f.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("VNPost tracking poll failed; retrying", "error", err.Error())
		}
		if serr := f.settler.RunDue(ctx, settlementKinds, 200); serr != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("delivery effects incomplete; retried later", "error", serr.Error())
		}
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// settlementKinds are the settlements the postal flow opens.
var settlementKinds = []string{store.SettlementDelivered, store.SettlementCOD}

// Poll reads one page of tracking events after the stored cursor and
// records them in order, then moves the cursor, then makes a first pass
// over the effects the page's deliveries and COD collections owe. The
// cursor moves past an event only once what it owes is recorded (a
// settlement, in the store that holds the cursor): if recording fails the
// cursor stays and the page is read again, since recording is idempotent;
// a crash after the cursor moved loses nothing, because the settlement is
// retried by Follow, as is any effect the first pass could not carry out
// (a writeback the province does not take yet, a notice for a dossier the
// ledger does not hold yet), without holding up the events behind it.
// more reports a full page.
func (f *Flow) Poll(ctx context.Context) (more bool, err error) {
	raw, err := f.cfg.Store.GetCursor(ctx, CursorName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("read tracking cursor: %w", err)
	}
	var last int64
	if len(raw) > 0 {
		if last, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
			return false, fmt.Errorf("tracking cursor %q: %w", raw, err)
		}
	}
	events, next, err := f.cfg.Carrier.Tracking(ctx, last, f.cfg.PageSize)
	if err != nil {
		return false, err
	}
	var owed []store.Settlement
	for _, ev := range events {
		s, err := f.apply(ctx, ev)
		if err != nil {
			return false, err
		}
		if s != nil {
			owed = append(owed, *s)
		}
	}
	if next > last {
		if err := f.cfg.Store.PutCursor(ctx, CursorName, []byte(strconv.FormatInt(next, 10))); err != nil {
			return false, fmt.Errorf("write tracking cursor: %w", err)
		}
	}
	for _, s := range owed {
		if err := f.settler.Run(ctx, s); err != nil && ctx.Err() == nil {
			f.cfg.Log.WarnContext(ctx, "delivery effects incomplete; retried later", "source", s.Source, "dossier", s.DossierID, "order", s.Ref, "kind", s.Kind, "error", err.Error())
		}
	}
	return len(events) >= f.cfg.PageSize, nil
}

// apply records one tracking event and, for a delivery or a COD
// collection, the settlement of what it owes, which it returns.
func (f *Flow) apply(ctx context.Context, ev vnpost.TrackingEvent) (*store.Settlement, error) {
	del, err := f.cfg.Store.GetDelivery(ctx, ev.OrderNumber)
	if errors.Is(err, store.ErrNotFound) {
		// Not an order of the hub (the account may be shared): not ours.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read delivery %s: %w", ev.OrderNumber, err)
	}
	text := fmt.Sprintf("%d %s", ev.StatusCode, vnpost.StatusText(ev.StatusCode))
	when := ev.Time
	if when.IsZero() {
		// VNPost left the time out or wrote it unreadably: when the hub read
		// the event is the best date there is, and an undated delivery would
		// never reach the national portal, which learns it by its date.
		when = time.Now()
		f.cfg.Log.WarnContext(ctx, "tracking event without a readable time; dated when read", "source", del.Source,
			"dossier", del.DossierID, "order", ev.OrderNumber, "event", ev.ID, "status", ev.StatusCode)
	}
	u := store.DeliveryUpdate{TrackingID: ev.ID, Status: ev.StatusCode, StatusAt: when}
	switch {
	case ev.StatusCode == vnpost.StatusDelivered:
		u.DeliveredAt = when
	case ev.StatusCode == vnpost.StatusCODPaid:
		u.CODPaidAt = when
	case vnpost.Problem(ev.StatusCode):
		u.Problem = text
	}
	_, changed, err := f.cfg.Store.UpdateDelivery(ctx, ev.OrderNumber, u)
	if err != nil {
		return nil, fmt.Errorf("record tracking event %d of order %s: %w", ev.ID, ev.OrderNumber, err)
	}
	if changed {
		kind := "postal.status"
		if u.Problem != "" {
			kind = "postal.problem"
			f.cfg.Log.WarnContext(ctx, "delivery problem", "source", del.Source, "dossier", del.DossierID, "order", ev.OrderNumber, "status", ev.StatusCode, "text", vnpost.StatusText(ev.StatusCode))
		}
		if err := f.event(ctx, del.DossierID, del.Source, 0, kind, "order "+ev.OrderNumber+" status "+text); err != nil {
			return nil, err
		}
	}
	// Opened for replays too (a crash may have come between the record and
	// this); opening twice finds the first.
	var kind string
	switch ev.StatusCode {
	case vnpost.StatusDelivered:
		kind = store.SettlementDelivered
	case vnpost.StatusCODPaid:
		kind = store.SettlementCOD
	default:
		return nil, nil
	}
	s, err := f.settler.Open(ctx, store.Settlement{Kind: kind, Ref: ev.OrderNumber, DossierID: del.DossierID, Source: del.Source})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// plan is what a delivery or a COD collection owes: the writeback
// (BUU_CHINH, or THANH_TOAN for the cash collected), the dossier
// republished so the national portal learns it (returned, or its fees
// paid), and for a delivery the applicant told. Every step is idempotent.
func (f *Flow) plan(ctx context.Context, s store.Settlement) (settlement.Plan, error) {
	del, err := f.cfg.Store.GetDelivery(ctx, s.Ref)
	if err != nil {
		return settlement.Plan{}, fmt.Errorf("settle %s of delivery %s of %s dossier %s: %w", s.Kind, s.Ref, s.Source, s.DossierID, err)
	}
	resync := func(ctx context.Context) error {
		if err := f.cfg.Resync.Resync(ctx, del.DossierID); err != nil {
			return fmt.Errorf("resync dossier %s after %s of order %s: %w", del.DossierID, s.Kind, del.OrderNumber, err)
		}
		return nil
	}
	switch s.Kind {
	case store.SettlementDelivered:
		return settlement.Plan{
			Writeback: httpx.Event{
				DossierID: del.DossierID, Kind: httpx.KindPost, Reference: del.OrderNumber + "/delivered", At: del.DeliveredAt,
				Content: "Đã phát thành công kết quả qua dịch vụ bưu chính công ích, số hiệu bưu gửi " + del.ItemCode,
				Data:    map[string]any{"orderNumber": del.OrderNumber, "itemCode": del.ItemCode, "statusCode": vnpost.StatusDelivered},
			},
			Effects: func(ctx context.Context) error {
				return errors.Join(resync(ctx), f.notifyDelivered(ctx, del))
			},
		}, nil
	case store.SettlementCOD:
		return settlement.Plan{
			Writeback: httpx.Event{
				DossierID: del.DossierID, Kind: httpx.KindPayment, Reference: del.OrderNumber + "/cod", At: del.CODPaidAt,
				Content: fmt.Sprintf("Đã thu %d đồng phí, lệ phí khi phát kết quả (COD), số hiệu bưu gửi %s", del.COD, del.ItemCode),
				Data:    map[string]any{"orderNumber": del.OrderNumber, "itemCode": del.ItemCode, "soTien": del.COD},
			},
			Effects: resync,
		}, nil
	}
	return settlement.Plan{}, fmt.Errorf("settle delivery %s of %s dossier %s: unknown kind %q", s.Ref, s.Source, s.DossierID, s.Kind)
}

// notifyDelivered tells the applicant the result was delivered. The notice
// needs the dossier (where to send it), which only the ledger holds; when
// the national sink has not got it there yet, the notice waits for a later
// pass (settlement.ErrWait) rather than being dropped.
func (f *Flow) notifyDelivered(ctx context.Context, del store.Delivery) error {
	if f.cfg.Notifier == nil {
		return nil
	}
	l, err := f.cfg.Store.GetLedger(ctx, []string{del.DossierID})
	if err != nil {
		return fmt.Errorf("read dossier %s: %w", del.DossierID, err)
	}
	e, ok := l[del.DossierID]
	if !ok || len(e.Canonical) == 0 {
		return fmt.Errorf("delivered notice of %s dossier %s: dossier not in the ledger yet: %w", del.Source, del.DossierID, settlement.ErrWait)
	}
	var d schemas.Dossier
	if err := json.Unmarshal(e.Canonical, &d); err != nil {
		return fmt.Errorf("read dossier %s: %w", del.DossierID, err)
	}
	if err := f.cfg.Notifier.Notify(ctx, notify.Notice{Kind: notify.Delivered, Occurrence: del.OrderNumber, Dossier: &d, ItemCode: del.ItemCode}); err != nil {
		return fmt.Errorf("delivered notice of %s dossier %s: %w", del.Source, del.DossierID, err)
	}
	return nil
}
