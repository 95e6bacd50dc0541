package postal_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// The tracking state machine, unit by unit: VNPost's feed is scripted, the
// province, the applicant and the national sink are recorders, and the
// store, where the machine's state lives, is a real SQLite store.

// feed is VNPost as the tracking flow sees it. It serves its pages in the
// order they were added, whatever lastId the flow asks from, so that a test
// can replay an event or serve one out of order, as a feed that
// misbehaves, or a cursor lost in a crash, would.
type feed struct {
	mu    sync.Mutex
	pages [][]vnpost.TrackingEvent
	asked []int64 // the lastId of every call
	err   error   // answered to every call while set
}

func (f *feed) CreateOrder(context.Context, vnpost.Order) (vnpost.OrderResult, error) {
	return vnpost.OrderResult{}, errors.New("feed: no orders in the tracking tests")
}

func (f *feed) Tracking(_ context.Context, lastID int64, _ int) ([]vnpost.TrackingEvent, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, lastID)
	if f.err != nil {
		return nil, lastID, f.err
	}
	if len(f.pages) == 0 {
		return nil, lastID, nil
	}
	page := f.pages[0]
	f.pages = f.pages[1:]
	next := lastID
	for _, ev := range page {
		next = max(next, ev.ID)
	}
	return page, next, nil
}

func (f *feed) add(page ...vnpost.TrackingEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = append(f.pages, page)
}

func (f *feed) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *feed) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// recorder records what the flow sends to the provinces (Writeback) and to
// the applicants (Notifier); err, while set, is what the provinces answer.
type recorder struct {
	mu         sync.Mutex
	writebacks []httpx.Event
	notices    []notify.Notice
	err        error
}

func (r *recorder) Send(_ context.Context, _ string, ev httpx.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.writebacks = append(r.writebacks, ev)
	return nil
}

func (r *recorder) Notify(_ context.Context, n notify.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
	return nil
}

func (r *recorder) refuse(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// sent lists the writebacks of order num as "<reference>@<event id>", the
// event id being the one whose time the writeback carries (see at).
func (r *recorder) sent(num string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.writebacks {
		if strings.HasPrefix(ev.Reference, num+"/") {
			out = append(out, fmt.Sprintf("%s@%d", ev.Reference, eventID(ev.At)))
		}
	}
	return out
}

// told counts the delivered notices of order num.
func (r *recorder) told(num string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.notices {
		if x.Kind == notify.Delivered && x.Occurrence == num {
			n++
		}
	}
	return n
}

// tracker is the postal flow following a scripted feed over a real store.
type tracker struct {
	stored
	feed *feed
	out  *recorder
	cfg  postal.Config
	flow *postal.Flow
	stop func() // Follow's, once started
}

// newTracker opens the store in dir (a synctest bubble must open it itself,
// so the directory is the caller's).
func newTracker(t *testing.T, dir string, pageSize int) *tracker {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tr := &tracker{stored: stored{st}, feed: &feed{}, out: &recorder{}}
	tr.cfg = postal.Config{
		Carrier: tr.feed, Store: st, Writeback: tr.out, Notifier: tr.out, Resync: &resyncs{},
		Instance: "test", Log: slog.New(slog.DiscardHandler), PageSize: pageSize,
	}
	tr.flow = postal.New(tr.cfg)
	return tr
}

// follow runs the tracking loop until the test ends.
func (tr *tracker) follow(t *testing.T, interval time.Duration) {
	tr.stop = followEvery(t, tr.flow, interval)
}

// inBubble runs body in a synctest bubble, where time moves only when
// every goroutine waits on it, with a tracker over a store of its own and
// dossier D's order recorded, its dossier in the ledger or not. Follow, if
// body started it, is stopped before the bubble ends.
func inBubble(t *testing.T, pageSize int, inLedger bool, body func(t *testing.T, tr *tracker, num string)) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(t, dir, pageSize)
		defer func() {
			if tr.stop != nil {
				tr.stop()
			}
		}()
		body(t, tr, tr.ordered(t, "D", store.DeliveryOrdered, inLedger))
	})
}

// ordered records the VNPost order of dossier id's result, in state (new
// when the order call's answer was never recorded, ordered otherwise), and
// returns its number. With inLedger the dossier is in the ledger, so the
// applicant can be told of the delivery.
func (tr *tracker) ordered(t *testing.T, id, state string, inLedger bool) string {
	t.Helper()
	d := dossier(id)
	num := postal.OrderNumber(id)
	if _, _, err := tr.store.CreateDelivery(context.Background(), store.Delivery{
		OrderNumber: num, DossierID: id, Source: d.Source, State: state, ItemCode: "EB123456789VN", COD: 20000,
	}); err != nil {
		t.Fatal(err)
	}
	if inLedger {
		putLedger(t, tr.store, d)
	}
	return num
}

// timeline lists the kinds of the postal events on dossier id's timeline.
func (tr *tracker) timeline(t *testing.T, id string) []string {
	t.Helper()
	tl, err := tr.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range tl {
		if strings.HasPrefix(ev.Kind, "postal.") {
			kinds = append(kinds, ev.Kind)
		}
	}
	return kinds
}

// settlements lists the settlements opened for order num, as
// "<kind> <state>".
func (tr *tracker) settlements(t *testing.T, num string) []string {
	t.Helper()
	var out []string
	for _, kind := range []string{store.SettlementDelivered, store.SettlementCOD} {
		s, err := tr.store.GetSettlement(context.Background(), kind, num)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+s.State)
	}
	return out
}

func (tr *tracker) poll(t *testing.T) {
	t.Helper()
	if _, err := tr.flow.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// base is when the scripted events begin; event id happens id hours later,
// so a recorded time names the event it came from.
var base = time.Date(2026, 3, 2, 8, 0, 0, 0, schemas.Vietnam)

func at(id int64) time.Time { return base.Add(time.Duration(id) * time.Hour) }

// eventID is the id of the event that happened at tm (at's inverse); 0 for
// the zero time.
func eventID(tm time.Time) int64 {
	if tm.IsZero() {
		return 0
	}
	return int64(tm.Sub(base) / time.Hour)
}

func event(id int64, order string, code int) vnpost.TrackingEvent {
	return vnpost.TrackingEvent{ID: id, OrderNumber: order, ItemCode: "EB123456789VN", StatusCode: code,
		StatusMessage: vnpost.StatusText(code), Time: at(id)}
}

// step is one tracking event of a scenario: its id and status code.
type step struct {
	id   int64
	code int
}

// tracked is what a scenario leaves of a delivery: times as the ids of the
// events they came from (0: unset).
type tracked struct {
	state       string
	status      int
	trackingID  int64
	statusAt    int64
	deliveredAt int64
	codPaidAt   int64
	problem     string
	timeline    []string // postal.* kinds, oldest first
	settlements []string // "<kind> <state>"
	writebacks  []string // "<reference>@<event id of its time>"
	notices     int      // delivered notices
}

// Every transition the tracking flow makes, one scenario each: the events
// are served one page each, in the order given, and the delivery, its
// timeline, the settlements opened and what went out are checked after
// the last. The dossier is in the ledger, so every effect can happen.
func TestTrackingTransitions(t *testing.T) {
	const (
		status  = "postal.status"
		problem = "postal.problem"
	)
	delivered := store.SettlementDelivered + " " + store.SettlementClosed
	cod := store.SettlementCOD + " " + store.SettlementClosed
	// The table's dossier is D, so its order is KQ-D.
	const (
		atDelivered = "KQ-D/delivered"
		atCOD       = "KQ-D/cod"
	)
	tests := []struct {
		name  string
		state string // the delivery's state when the events come; default ordered
		steps []step
		want  tracked
	}{{
		name:  "statuses on the way are recorded and owe nothing",
		steps: []step{{1, vnpost.StatusPickedUp}, {2, vnpost.StatusInTransit}, {3, vnpost.StatusDelivering}},
		want: tracked{status: vnpost.StatusDelivering, trackingID: 3, statusAt: 3,
			timeline: []string{status, status, status}},
	}, {
		name:  "delivered: the delivery time is the event's, BUU_CHINH carries it, the applicant is told",
		steps: []step{{1, vnpost.StatusDelivering}, {2, vnpost.StatusDelivered}},
		want: tracked{status: vnpost.StatusDelivered, trackingID: 2, statusAt: 2, deliveredAt: 2,
			timeline: []string{status, status}, settlements: []string{delivered},
			writebacks: []string{atDelivered + "@2"}, notices: 1},
	}, {
		name:  "COD paid after the delivery: THANH_TOAN carries the payment time, the delivery time stays",
		steps: []step{{1, vnpost.StatusDelivered}, {2, vnpost.StatusCODPaid}},
		want: tracked{status: vnpost.StatusCODPaid, trackingID: 2, statusAt: 2, deliveredAt: 1, codPaidAt: 2,
			timeline: []string{status, status}, settlements: []string{delivered, cod},
			writebacks: []string{atDelivered + "@1", atCOD + "@2"}, notices: 1},
	}, {
		// VNPost's feed may report the collection without the delivery (or
		// the delivery on a later page): the collection is owed all the same.
		name:  "COD paid with no delivery seen: only the COD is settled",
		steps: []step{{1, vnpost.StatusCODPaid}},
		want: tracked{status: vnpost.StatusCODPaid, trackingID: 1, statusAt: 1, codPaidAt: 1,
			timeline: []string{status}, settlements: []string{cod}, writebacks: []string{atCOD + "@1"}},
	}, {
		name:  "a failed delivery is a problem for the operators, and owes nothing",
		steps: []step{{1, vnpost.StatusDelivering}, {2, vnpost.StatusDeliveryFailed}},
		want: tracked{status: vnpost.StatusDeliveryFailed, trackingID: 2, statusAt: 2, problem: "15 delivery failed",
			timeline: []string{status, problem}},
	}, {
		name:  "the latest problem is the one kept",
		steps: []step{{1, vnpost.StatusDeliveryFailed}, {2, vnpost.StatusReturningRequested}, {3, vnpost.StatusReturningCompleted}},
		want: tracked{status: vnpost.StatusReturningCompleted, trackingID: 3, statusAt: 3, problem: "19 returned to sender",
			timeline: []string{problem, problem, problem}},
	}, {
		// Problem is "the last failure or return" (store.Delivery): a
		// success afterwards does not erase that one happened.
		name:  "a delivery after a failed attempt is settled, and the failure stays on record",
		steps: []step{{1, vnpost.StatusDeliveryFailed}, {2, vnpost.StatusDelivering}, {3, vnpost.StatusDelivered}},
		want: tracked{status: vnpost.StatusDelivered, trackingID: 3, statusAt: 3, deliveredAt: 3, problem: "15 delivery failed",
			timeline: []string{problem, status, status}, settlements: []string{delivered},
			writebacks: []string{atDelivered + "@3"}, notices: 1},
	}, {
		// The flow keeps VNPost's latest word, whatever it is: no status is
		// terminal. What happened once (delivered, COD paid) stays recorded
		// and settled once.
		name:  "a return after the delivery is recorded as a problem; the delivery stays settled",
		steps: []step{{1, vnpost.StatusDelivered}, {2, vnpost.StatusReturningRequested}},
		want: tracked{status: vnpost.StatusReturningRequested, trackingID: 2, statusAt: 2, deliveredAt: 1,
			problem: "16 return to sender requested", timeline: []string{status, problem},
			settlements: []string{delivered}, writebacks: []string{atDelivered + "@1"}, notices: 1},
	}, {
		name:  "a cancelled delivery after a delivery failure is the problem kept",
		steps: []step{{1, vnpost.StatusDeliveryFailed}, {2, vnpost.StatusCancelled}},
		want: tracked{status: vnpost.StatusCancelled, trackingID: 2, statusAt: 2, problem: "22 delivery cancelled",
			timeline: []string{problem, problem}},
	}, {
		// A page read again (the cursor was not stored before a crash)
		// brings the same events: applied once, effects once.
		name:  "a repeated event changes nothing and owes nothing more",
		steps: []step{{1, vnpost.StatusDelivered}, {1, vnpost.StatusDelivered}, {2, vnpost.StatusCODPaid}, {2, vnpost.StatusCODPaid}},
		want: tracked{status: vnpost.StatusCODPaid, trackingID: 2, statusAt: 2, deliveredAt: 1, codPaidAt: 2,
			timeline: []string{status, status}, settlements: []string{delivered, cod},
			writebacks: []string{atDelivered + "@1", atCOD + "@2"}, notices: 1},
	}, {
		// Events are applied in id order: one whose id is not greater than
		// the last applied is old news, whatever its status.
		name:  "events with an id not greater than the last applied are ignored",
		steps: []step{{5, vnpost.StatusDelivering}, {4, vnpost.StatusDeliveryFailed}, {5, vnpost.StatusCancelled}},
		want: tracked{status: vnpost.StatusDelivering, trackingID: 5, statusAt: 5,
			timeline: []string{status}},
	}, {
		// VNPost may report a second delivery (a redelivery after a
		// return): the first delivery time is the one recorded and written
		// back, once.
		name:  "delivered twice: the first delivery time stays, written back once",
		steps: []step{{1, vnpost.StatusDelivered}, {2, vnpost.StatusReturningRequested}, {3, vnpost.StatusDelivered}},
		want: tracked{status: vnpost.StatusDelivered, trackingID: 3, statusAt: 3, deliveredAt: 1,
			problem: "16 return to sender requested", timeline: []string{status, problem, status},
			settlements: []string{delivered}, writebacks: []string{atDelivered + "@1"}, notices: 1},
	}, {
		// The order call died before its answer was recorded: the feed
		// already knows the order. Tracking records the events; placing
		// the order again (Order) is what moves it to ordered.
		name:  "events for an order whose answer was never recorded are applied; the state stays new",
		state: store.DeliveryNew,
		steps: []step{{1, vnpost.StatusPickedUp}},
		want: tracked{state: store.DeliveryNew, status: vnpost.StatusPickedUp, trackingID: 1, statusAt: 1,
			timeline: []string{status}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, t.TempDir(), 0)
			state := cmp.Or(tc.state, store.DeliveryOrdered)
			num := tr.ordered(t, "D", state, true)
			for _, s := range tc.steps {
				tr.feed.add(event(s.id, num, s.code))
				tr.poll(t)
			}
			want := tc.want
			want.state = state
			checkTracked(t, tr, "D", num, want)
		})
	}
}

// Every status code VNPost defines, alone on a fresh delivery: the problems
// (pickup and collection failures, cancellations, failed deliveries and
// returns) are surfaced with their code and name, the delivery and the COD
// collection open their settlement, and every other status is only
// recorded.
func TestTrackingStatusCodes(t *testing.T) {
	problems := []int{5, 8, 9, 15, 16, 17, 18, 19, 20, 22}
	tr := newTracker(t, t.TempDir(), 0)
	for code := vnpost.StatusDraft; code <= vnpost.StatusCancelled; code++ {
		t.Run(fmt.Sprintf("%d %s", code, vnpost.StatusText(code)), func(t *testing.T) {
			// One dossier a code, in one store: each is its own delivery.
			id := fmt.Sprintf("D%02d", code)
			num := tr.ordered(t, id, store.DeliveryOrdered, true)
			tr.feed.add(event(1, num, code))
			tr.poll(t)

			want := tracked{state: store.DeliveryOrdered, status: code, trackingID: 1, statusAt: 1, timeline: []string{"postal.status"}}
			switch {
			case slices.Contains(problems, code):
				want.problem = fmt.Sprintf("%d %s", code, vnpost.StatusText(code))
				want.timeline = []string{"postal.problem"}
			case code == vnpost.StatusDelivered:
				want.deliveredAt, want.notices = 1, 1
				want.settlements = []string{store.SettlementDelivered + " " + store.SettlementClosed}
				want.writebacks = []string{num + "/delivered@1"}
			case code == vnpost.StatusCODPaid:
				want.codPaidAt = 1
				want.settlements = []string{store.SettlementCOD + " " + store.SettlementClosed}
				want.writebacks = []string{num + "/cod@1"}
			}
			checkTracked(t, tr, id, num, want)
		})
	}
}

// An event whose time VNPost left out, or wrote unreadably, is dated
// when the hub read it: a delivery or a COD collection without a date
// would otherwise never reach the national portal (which learns a
// delivery by its date) and go to the province undated.
func TestTrackingEventWithoutTime(t *testing.T) {
	for _, code := range []int{vnpost.StatusDelivered, vnpost.StatusCODPaid} {
		t.Run(vnpost.StatusText(code), func(t *testing.T) {
			inBubble(t, 0, true, func(t *testing.T, tr *tracker, num string) {
				ev := event(1, num, code)
				ev.Time = time.Time{}
				tr.feed.add(ev)
				read := time.Now() // the bubble's clock stands still until every goroutine waits
				tr.poll(t)
				d := tr.delivery(t, num)
				at := d.DeliveredAt
				if code == vnpost.StatusCODPaid {
					at = d.CODPaidAt
				}
				if !at.Equal(read) || !d.StatusAt.Equal(read) {
					t.Errorf("delivery after an undated event %d: status at %v, delivered at %v, COD paid at %v; want %v",
						code, d.StatusAt, d.DeliveredAt, d.CODPaidAt, read)
				}
				tr.out.mu.Lock()
				defer tr.out.mu.Unlock()
				if len(tr.out.writebacks) != 1 || !tr.out.writebacks[0].At.Equal(read) {
					t.Errorf("writebacks after an undated event %d: %+v; want one dated %v", code, tr.out.writebacks, read)
				}
			})
		})
	}
}

func checkTracked(t *testing.T, tr *tracker, id, num string, want tracked) {
	t.Helper()
	d := tr.delivery(t, num)
	got := tracked{
		state: d.State, status: d.Status, trackingID: d.TrackingID, statusAt: eventID(d.StatusAt),
		deliveredAt: eventID(d.DeliveredAt), codPaidAt: eventID(d.CODPaidAt), problem: d.Problem,
		timeline: tr.timeline(t, id), settlements: tr.settlements(t, num), writebacks: tr.out.sent(num), notices: tr.out.told(num),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the events:\n got %+v\nwant %+v", got, want)
	}
}

// An event for an order that is not the hub's (the VNPost account may be
// shared) is none of its business: nothing is recorded, and the cursor
// moves past it all the same.
func TestTrackingSkipsOrdersNotTheHubs(t *testing.T) {
	tr := newTracker(t, t.TempDir(), 0)
	tr.feed.add(event(7, "KQ-elsewhere", vnpost.StatusDelivered))
	tr.poll(t)
	if _, err := tr.store.GetDelivery(context.Background(), "KQ-elsewhere"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delivery of an unknown order: err %v; want none recorded", err)
	}
	if got := tr.settlements(t, "KQ-elsewhere"); got != nil {
		t.Errorf("settlements %v; want none", got)
	}
	if c := tr.cursor(t); c != "7" {
		t.Errorf("cursor %q; want 7, past the event", c)
	}
}

// failingUpdates is the store failing to record the tracking event of one
// order, once (a disk error, a lost connection).
type failingUpdates struct {
	*sqlstore.Store
	mu    sync.Mutex
	order string
}

func (s *failingUpdates) UpdateDelivery(ctx context.Context, num string, u store.DeliveryUpdate) (store.Delivery, bool, error) {
	s.mu.Lock()
	fail := num == s.order
	if fail {
		s.order = ""
	}
	s.mu.Unlock()
	if fail {
		return store.Delivery{}, false, errors.New("disk I/O error")
	}
	return s.Store.UpdateDelivery(ctx, num, u)
}

// The cursor moves past a page only once every event of it is recorded:
// when one cannot be, the page is read again from the same cursor, and
// what was recorded the first time is not applied or settled twice.
func TestTrackingPageReadAgainWhenRecordingFails(t *testing.T) {
	tr := newTracker(t, t.TempDir(), 0)
	a := tr.ordered(t, "DA", store.DeliveryOrdered, true)
	b := tr.ordered(t, "DB", store.DeliveryOrdered, true)
	cfg := tr.cfg
	cfg.Store = &failingUpdates{Store: tr.store, order: b}
	f := postal.New(cfg)
	page := []vnpost.TrackingEvent{event(1, a, vnpost.StatusDelivered), event(2, b, vnpost.StatusDelivered)}
	tr.feed.add(page...)
	tr.feed.add(page...) // what VNPost answers when asked again from the same cursor

	if _, err := f.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("poll with an event not recorded: err %v; want the store's error", err)
	}
	if c := tr.cursor(t); c != "" {
		t.Fatalf("cursor %q after a page not wholly recorded; want it where it was", c)
	}
	if _, err := f.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tr.feed.calls(); !slices.Equal(got, []int64{0, 0}) {
		t.Errorf("the feed was asked from %v; want the same cursor twice", got)
	}
	if c := tr.cursor(t); c != "2" {
		t.Errorf("cursor %q; want 2, past the page", c)
	}
	for num, want := range map[string]string{a: a + "/delivered@1", b: b + "/delivered@2"} {
		if got := tr.out.sent(num); !slices.Equal(got, []string{want}) {
			t.Errorf("writebacks of %s %v; want %s", num, got, want)
		}
		if n := tr.out.told(num); n != 1 {
			t.Errorf("%d notices of %s; want 1", n, num)
		}
	}
	if tl := tr.timeline(t, "DA"); len(tl) != 1 {
		t.Errorf("timeline of DA %v; want its event recorded once", tl)
	}
}

// Follow's rhythm, on synctest's clock: a full page is followed at once by
// the next; a short one means the feed is drained, and the next poll comes
// an interval later.
func TestFollowReadsFullPagesAtOnce(t *testing.T) {
	inBubble(t, 2, true, func(t *testing.T, tr *tracker, num string) {
		tr.feed.add(event(1, num, vnpost.StatusPickedUp), event(2, num, vnpost.StatusInTransit))
		tr.feed.add(event(3, num, vnpost.StatusDelivering))
		start := time.Now()
		tr.follow(t, time.Minute)
		synctest.Wait()
		if got := tr.feed.calls(); !slices.Equal(got, []int64{0, 2}) {
			t.Errorf("the feed was asked from %v; want 0, then 2 at once", got)
		}
		if d := tr.delivery(t, num); d.TrackingID != 3 || time.Since(start) != 0 {
			t.Errorf("tracking id %d after %v; want 3 at once", d.TrackingID, time.Since(start))
		}

		tr.feed.add(event(4, num, vnpost.StatusDelivered))
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := tr.feed.calls(); len(got) != 2 {
			t.Errorf("the feed was asked from %v before the interval was up", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := tr.feed.calls(); !slices.Equal(got, []int64{0, 2, 3}) {
			t.Errorf("the feed was asked from %v; want from 3 once the interval was up", got)
		}
		if d := tr.delivery(t, num); eventID(d.DeliveredAt) != 4 {
			t.Errorf("delivered at event %d; want 4", eventID(d.DeliveredAt))
		}
	})
}

// An effect that must wait (the notice of a delivery whose dossier the
// ledger does not hold yet) is tried again by Follow's passes, first an
// interval later, then at doubling delays, without the writeback being
// sent again; and it goes as soon as it can.
func TestFollowRetriesWaitingEffectsWithBackoff(t *testing.T) {
	inBubble(t, 0, false, func(t *testing.T, tr *tracker, num string) {
		tr.feed.add(event(1, num, vnpost.StatusDelivered))
		start := time.Now()
		tr.follow(t, time.Minute)

		// tries is the passes that left the settlement open.
		check := func(tries int, nextIn time.Duration) {
			t.Helper()
			synctest.Wait()
			s := tr.settlement(t, store.SettlementDelivered, num)
			if s.State != store.SettlementOpen || s.Tries != tries || !s.NextAt.Equal(start.Add(nextIn)) || !strings.Contains(s.LastError, "not in the ledger") {
				t.Fatalf("at %v: settlement %+v; want open, %d tries, next at +%v, waiting for the ledger", time.Since(start), s, tries, nextIn)
			}
		}
		check(1, time.Minute) // the poll's own pass
		time.Sleep(time.Minute)
		check(2, 3*time.Minute) // then two minutes later
		time.Sleep(time.Minute)
		check(2, 3*time.Minute) // not tried before it is due
		putLedger(t, tr.store, dossier("D"))
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := tr.settlement(t, store.SettlementDelivered, num); s.State != store.SettlementClosed {
			t.Errorf("settlement %+v once the ledger has the dossier; want closed", s)
		}
		if n := tr.out.told(num); n != 1 {
			t.Errorf("%d notices; want 1", n)
		}
		if got := tr.out.sent(num); !slices.Equal(got, []string{num + "/delivered@1"}) {
			t.Errorf("writebacks %v; want the one of the first pass only", got)
		}
	})
}

// The passes over what is owed go on while VNPost's feed is down: a
// writeback the province could not take when the delivery was read goes
// at the next interval all the same.
func TestFollowSettlesWhileTheFeedIsDown(t *testing.T) {
	inBubble(t, 0, true, func(t *testing.T, tr *tracker, num string) {
		tr.out.refuse(&httpx.Error{Op: "sonla: writeback", Status: 503, Transient: true})
		tr.feed.add(event(1, num, vnpost.StatusDelivered))
		tr.follow(t, time.Minute)
		synctest.Wait()
		if s := tr.settlement(t, store.SettlementDelivered, num); s.State != store.SettlementOpen || s.Writeback != store.WritebackDue {
			t.Fatalf("settlement %+v while the province is down; want open, writeback due", s)
		}

		tr.feed.fail(&httpx.Error{Op: "vnpost: tracking", Status: 502, Transient: true})
		tr.out.refuse(nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := tr.feed.calls(); len(got) != 2 {
			t.Errorf("the feed was asked %d times; want twice", len(got))
		}
		if s := tr.settlement(t, store.SettlementDelivered, num); s.State != store.SettlementClosed || s.Writeback != store.WritebackDone {
			t.Errorf("settlement %+v; want closed, written back, though the feed failed", s)
		}
		if got := tr.out.sent(num); !slices.Equal(got, []string{num + "/delivered@1"}) {
			t.Errorf("writebacks %v", got)
		}
	})
}
