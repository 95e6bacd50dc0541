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
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// CursorName is where the tracking feed's lastId is kept.
const CursorName = "vnpost:tracking"

// Follow polls the tracking feed every interval until ctx ends. Run it on
// one instance at a time (under a lease).
func (f *Flow) Follow(ctx context.Context, interval time.Duration) error {
	for {
		more, err := f.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("VNPost tracking poll failed; retrying", "error", err.Error())
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

// Poll reads one page of tracking events after the stored cursor, applies
// them in order, then moves the cursor. If applying fails the cursor stays
// and the page is read again: every effect is idempotent. more reports a
// full page.
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
	for _, ev := range events {
		if err := f.apply(ctx, ev); err != nil {
			return false, err
		}
	}
	if next > last {
		if err := f.cfg.Store.PutCursor(ctx, CursorName, []byte(strconv.FormatInt(next, 10))); err != nil {
			return false, fmt.Errorf("write tracking cursor: %w", err)
		}
	}
	return len(events) >= f.cfg.PageSize, nil
}

// apply records one tracking event and carries its effects on.
func (f *Flow) apply(ctx context.Context, ev vnpost.TrackingEvent) error {
	del, err := f.cfg.Store.GetDelivery(ctx, ev.OrderNumber)
	if errors.Is(err, store.ErrNotFound) {
		// Not an order of the hub (the account may be shared): not ours.
		return nil
	}
	if err != nil {
		return fmt.Errorf("read delivery %s: %w", ev.OrderNumber, err)
	}
	text := fmt.Sprintf("%d %s", ev.StatusCode, vnpost.StatusText(ev.StatusCode))
	u := store.DeliveryUpdate{TrackingID: ev.ID, Status: ev.StatusCode, StatusAt: ev.Time}
	switch {
	case ev.StatusCode == vnpost.StatusDelivered:
		u.DeliveredAt = ev.Time
	case ev.StatusCode == vnpost.StatusCODPaid:
		u.CODPaidAt = ev.Time
	case vnpost.Problem(ev.StatusCode):
		u.Problem = text
	}
	_, changed, err := f.cfg.Store.UpdateDelivery(ctx, ev.OrderNumber, u)
	if err != nil {
		return fmt.Errorf("record tracking event %d of order %s: %w", ev.ID, ev.OrderNumber, err)
	}
	if changed {
		kind := "postal.status"
		if u.Problem != "" {
			kind = "postal.problem"
			f.cfg.Log.Warn("delivery problem", "source", del.Source, "dossier", del.DossierID, "order", ev.OrderNumber, "status", ev.StatusCode, "text", vnpost.StatusText(ev.StatusCode))
		}
		if err := f.event(ctx, del.DossierID, del.Source, 0, kind, "order "+ev.OrderNumber+" status "+text); err != nil {
			return err
		}
	}
	// Effects run for replays too (a crash may have come between the
	// record and them); each is idempotent.
	switch ev.StatusCode {
	case vnpost.StatusDelivered:
		if err := f.cfg.Writeback.Send(ctx, del.Source, httpx.Event{
			DossierID: del.DossierID, Kind: httpx.KindPost, Reference: ev.OrderNumber + "/delivered", At: ev.Time,
			Content: "Đã phát thành công kết quả qua dịch vụ bưu chính công ích, số hiệu bưu gửi " + del.ItemCode,
			Data:    map[string]any{"orderNumber": ev.OrderNumber, "itemCode": del.ItemCode, "statusCode": ev.StatusCode},
		}); err != nil {
			return err
		}
		if err := f.cfg.Resync.Resync(ctx, del.DossierID); err != nil {
			return fmt.Errorf("resync dossier %s after delivery: %w", del.DossierID, err)
		}
		return f.notifyDelivered(ctx, del)
	case vnpost.StatusCODPaid:
		if err := f.cfg.Writeback.Send(ctx, del.Source, httpx.Event{
			DossierID: del.DossierID, Kind: httpx.KindPayment, Reference: ev.OrderNumber + "/cod", At: ev.Time,
			Content: fmt.Sprintf("Đã thu %d đồng phí, lệ phí khi phát kết quả (COD), số hiệu bưu gửi %s", del.COD, del.ItemCode),
			Data:    map[string]any{"orderNumber": ev.OrderNumber, "itemCode": del.ItemCode, "soTien": del.COD},
		}); err != nil {
			return err
		}
		if err := f.cfg.Resync.Resync(ctx, del.DossierID); err != nil {
			return fmt.Errorf("resync dossier %s after COD: %w", del.DossierID, err)
		}
	}
	return nil
}

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
		f.cfg.Log.Warn("delivered dossier not in the ledger; applicant not notified", "source", del.Source, "dossier", del.DossierID)
		return nil
	}
	var d schemas.Dossier
	if err := json.Unmarshal(e.Canonical, &d); err != nil {
		return fmt.Errorf("read dossier %s: %w", del.DossierID, err)
	}
	return f.cfg.Notifier.Notify(ctx, notify.Notice{Kind: notify.Delivered, Occurrence: del.OrderNumber, Dossier: &d, ItemCode: del.ItemCode})
}
