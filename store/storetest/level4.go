package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Level-4 state: payments, deliveries and payment notices.

var ict = time.FixedZone("ICT", 7*3600)

// checkSetByStore checks a time the store sets itself: UTC, microseconds,
// and now.
func checkSetByStore(t *testing.T, what string, got, before time.Time) {
	t.Helper()
	if got.Location() != time.UTC || got.Nanosecond()%1000 != 0 ||
		got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("%s = %v: not set by the store (UTC, microseconds, after %v)", what, got, before)
	}
}

// =============================================================================
// Payments

// payment makes a payment with every field set: times with nanoseconds in
// another zone, fee codes out of order and holding what a naive join would
// break on.
func payment(ref, dossierID string) store.Payment {
	return store.Payment{
		Ref:       ref,
		DossierID: dossierID,
		Source:    "sonla",
		FeeCodes:  []string{"PHI,02", `LP "01"`, "Lệ phí [3]", "LP01", ""},
		Amount:    1_250_000,
		State:     store.PaymentPending,
		TxnID:     "GD-" + ref,
		PayURL:    "https://pay.example.vn/thanh-toan?ref=" + ref + "&sig=a%2Fb",
		PaidAt:    time.Date(2025, 7, 1, 9, 0, 0, 123456789, ict),
		SettledAt: time.Date(2025, 7, 1, 9, 5, 0, 987654321, ict),
	}
}

// storedPayment is p as the store returns it, CreatedAt and UpdatedAt
// aside: state defaulted, fee codes sorted, times normalised.
func storedPayment(p store.Payment) store.Payment {
	if p.State == "" {
		p.State = store.PaymentNew
	}
	if len(p.FeeCodes) == 0 {
		p.FeeCodes = nil
	} else {
		p.FeeCodes = slices.Sorted(slices.Values(p.FeeCodes))
	}
	p.PaidAt, p.SettledAt = store.Normalise(p.PaidAt), store.Normalise(p.SettledAt)
	return p
}

func testPaymentRoundTrip(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListPayments(ctx, store.PaymentFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}
	before := time.Now()
	p := payment("TT-0001", "H14.01-250701-0001")
	got, created, err := s.CreatePayment(ctx, p)
	must(t, err)
	if !created {
		t.Fatal("first create: created = false")
	}
	checkSetByStore(t, "CreatedAt", got.CreatedAt, before)
	if got.UpdatedAt != got.CreatedAt {
		t.Errorf("UpdatedAt %v, want CreatedAt %v on create", got.UpdatedAt, got.CreatedAt)
	}
	want := storedPayment(p)
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("created:\n got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(got.FeeCodes, []string{"", `LP "01"`, "LP01", "Lệ phí [3]", "PHI,02"}) {
		t.Errorf("fee codes = %q: want them all back, sorted", got.FeeCodes)
	}
	if p.FeeCodes[0] != "PHI,02" {
		t.Error("the store sorted the caller's slice")
	}
	get, err := s.GetPayment(ctx, p.Ref)
	must(t, err)
	if !reflect.DeepEqual(get, want) {
		t.Errorf("get:\n got %+v\nwant %+v", get, want)
	}
	list, err := s.ListPayments(ctx, store.PaymentFilter{})
	must(t, err)
	if !reflect.DeepEqual(list, []store.Payment{want}) {
		t.Errorf("list:\n got %+v\nwant %+v", list, []store.Payment{want})
	}

	// Only what is required: the rest comes back zero, the state new.
	least := store.Payment{Ref: "TT-0002", DossierID: "D2"}
	got, created, err = s.CreatePayment(ctx, least)
	must(t, err)
	want = storedPayment(least)
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if !created || !reflect.DeepEqual(got, want) || got.State != store.PaymentNew {
		t.Errorf("least payment = %+v, %v; want %+v", got, created, want)
	}
	if get, err := s.GetPayment(ctx, least.Ref); err != nil || !reflect.DeepEqual(get, want) {
		t.Errorf("get least = %+v, %v; want %+v", get, err, want)
	}

	if _, err := s.GetPayment(ctx, "TT-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	for name, bad := range map[string]store.Payment{
		"no ref":          {DossierID: "D"},
		"no dossier":      {Ref: "TT-bad"},
		"unknown state":   {Ref: "TT-bad", DossierID: "D", State: "lost"},
		"negative amount": {Ref: "TT-bad", DossierID: "D", Amount: -1},
	} {
		if _, _, err := s.CreatePayment(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.GetPayment(ctx, "TT-bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused payment was written: err = %v", err)
	}
}

func testPaymentCreateTwice(t *testing.T, s Store) {
	ctx := ctxT(t)
	first, created, err := s.CreatePayment(ctx, payment("TT-1", "D1"))
	must(t, err)
	if !created {
		t.Fatal("first create: created = false")
	}
	time.Sleep(2 * time.Millisecond) // a write would move UpdatedAt
	other := store.Payment{Ref: "TT-1", DossierID: "D2", Source: "hatinh", FeeCodes: []string{"X"}, Amount: 1, State: store.PaymentPaid}
	again, created, err := s.CreatePayment(ctx, other)
	must(t, err)
	if created || !reflect.DeepEqual(again, first) {
		t.Fatalf("second create = %+v, %v; want the first row %+v, false", again, created, first)
	}
	if got, err := s.GetPayment(ctx, "TT-1"); err != nil || !reflect.DeepEqual(got, first) {
		t.Fatalf("after a second create = %+v, %v; want %+v", got, err, first)
	}
}

func testPaymentUpdate(t *testing.T, s Store) {
	ctx := ctxT(t)
	for _, u := range []store.PaymentUpdate{
		{State: store.PaymentPaid},
		{From: []string{store.PaymentPending}, State: store.PaymentPaid},
	} {
		if _, _, err := s.UpdatePayment(ctx, "TT-none", u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing %+v: err = %v, want ErrNotFound", u, err)
		}
	}
	cur, _, err := s.CreatePayment(ctx, store.Payment{Ref: "TT-1", DossierID: "D1", Source: "hatinh", FeeCodes: []string{"LP01"}, Amount: 50_000})
	must(t, err)
	update := func(u store.PaymentUpdate, wantChanged bool, want store.Payment) store.Payment {
		t.Helper()
		return checkUpdate(t, u, wantChanged, want,
			func() (store.Payment, bool, error) { return s.UpdatePayment(ctx, "TT-1", u) },
			func() (store.Payment, error) { return s.GetPayment(ctx, "TT-1") },
			func(p *store.Payment) *time.Time { return &p.UpdatedAt })
	}

	// The guard fails: nothing written, the payment returned as it is.
	cur = update(store.PaymentUpdate{From: []string{store.PaymentPending}, State: store.PaymentPaid, TxnID: "GD-1"}, false, cur)

	// No guard: applies. Zero fields keep.
	want := cur
	want.State, want.TxnID, want.PayURL = store.PaymentPending, "GD-1", "https://pay.example.vn/1"
	cur = update(store.PaymentUpdate{State: store.PaymentPending, TxnID: "GD-1", PayURL: "https://pay.example.vn/1"}, true, want)

	// The guard holds (one of several states); TxnID and PayURL "" keep.
	paidAt := time.Date(2025, 7, 2, 10, 0, 0, 555555555, ict)
	want = cur
	want.State, want.PaidAt = store.PaymentPaid, store.Normalise(paidAt)
	cur = update(store.PaymentUpdate{From: []string{store.PaymentNew, store.PaymentPending}, State: store.PaymentPaid, PaidAt: paidAt}, true, want)

	// The same notification again: its guard fails, PaidAt stays.
	cur = update(store.PaymentUpdate{From: []string{store.PaymentPending}, State: store.PaymentPaid, PaidAt: paidAt.Add(time.Hour)}, false, cur)

	// Settled: no State, which keeps it.
	settledAt := time.Date(2025, 7, 2, 10, 1, 0, 1000, time.UTC)
	want = cur
	want.SettledAt = settledAt
	cur = update(store.PaymentUpdate{From: []string{store.PaymentPaid}, SettledAt: settledAt}, true, want)

	// Nothing to change but a guard that holds: a touch, which moves
	// UpdatedAt only (a payment still pending is looked at again later).
	cur = update(store.PaymentUpdate{From: []string{store.PaymentPaid}}, true, cur)
	cur = update(store.PaymentUpdate{}, true, cur)

	for name, u := range map[string]store.PaymentUpdate{
		"unknown state":      {State: "lost"},
		"unknown from state": {From: []string{store.PaymentPaid, "lost"}, State: store.PaymentCancelled},
	} {
		if _, _, err := s.UpdatePayment(ctx, "TT-1", u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got, err := s.GetPayment(ctx, "TT-1"); err != nil || !reflect.DeepEqual(got, cur) {
		t.Fatalf("after refused updates = %+v, %v; want %+v", got, err, cur)
	}
}

func testPaymentFilter(t *testing.T, s Store) {
	ctx := ctxT(t)
	create := func(ref, dossierID, source, state string, settled bool) store.Payment {
		t.Helper()
		p := store.Payment{Ref: ref, DossierID: dossierID, Source: source, State: state}
		if settled {
			p.SettledAt = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
		}
		got, _, err := s.CreatePayment(ctx, p)
		must(t, err)
		time.Sleep(2 * time.Millisecond) // CreatedAt and UpdatedAt move on
		return got
	}
	// Created in an order that is not the refs': lists are in creation order.
	p3 := create("P3", "A", "sonla", store.PaymentNew, false)
	p1 := create("P1", "B", "hatinh", store.PaymentPending, false)
	p2 := create("P2", "A", "sonla", store.PaymentPaid, true)
	p4 := create("P4", "C", "laocai", store.PaymentPaid, false)
	// P3 is updated last.
	p3, _, err := s.UpdatePayment(ctx, "P3", store.PaymentUpdate{State: store.PaymentPending})
	must(t, err)

	all, err := s.ListPayments(ctx, store.PaymentFilter{})
	must(t, err)
	if want := []store.Payment{p3, p1, p2, p4}; !reflect.DeepEqual(all, want) {
		t.Fatalf("list all:\n got %+v\nwant %+v", all, want)
	}
	refs := func(f store.PaymentFilter) []string {
		t.Helper()
		got, err := s.ListPayments(ctx, f)
		must(t, err)
		out := []string{}
		for _, p := range got {
			out = append(out, p.Ref)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.PaymentFilter
		want []string
	}{
		{"dossier", store.PaymentFilter{DossierIDs: []string{"A"}}, []string{"P3", "P2"}},
		{"dossiers", store.PaymentFilter{DossierIDs: []string{"C", "A", "nowhere"}}, []string{"P3", "P2", "P4"}},
		{"state", store.PaymentFilter{States: []string{store.PaymentPaid}}, []string{"P2", "P4"}},
		{"states", store.PaymentFilter{States: []string{store.PaymentPending, store.PaymentNew}}, []string{"P3", "P1"}},
		{"unsettled", store.PaymentFilter{Unsettled: true}, []string{"P3", "P1", "P4"}},
		{"paid unsettled", store.PaymentFilter{States: []string{store.PaymentPaid}, Unsettled: true}, []string{"P4"}},
		{"updated before exclusive", store.PaymentFilter{UpdatedBefore: p2.UpdatedAt}, []string{"P1"}},
		{"updated before other zone", store.PaymentFilter{UpdatedBefore: p4.UpdatedAt.In(ict)}, []string{"P1", "P2"}},
		{"updated before all", store.PaymentFilter{UpdatedBefore: p3.UpdatedAt.Add(time.Microsecond)}, []string{"P3", "P1", "P2", "P4"}},
		{"stuck pending", store.PaymentFilter{States: []string{store.PaymentPending}, UpdatedBefore: p3.UpdatedAt}, []string{"P1"}},
		{"limit", store.PaymentFilter{Limit: 2}, []string{"P3", "P1"}},
		{"limit filtered", store.PaymentFilter{DossierIDs: []string{"A", "C"}, Limit: 2}, []string{"P3", "P2"}},
		{"no dossier", store.PaymentFilter{DossierIDs: []string{"nowhere"}}, []string{}},
		{"no state", store.PaymentFilter{States: []string{store.PaymentCancelled}}, []string{}},
		// Sources: nil does not filter, empty matches nothing.
		{"sources nil", store.PaymentFilter{Sources: nil}, []string{"P3", "P1", "P2", "P4"}},
		{"sources empty", store.PaymentFilter{Sources: []string{}}, []string{}},
		{"sources empty and others", store.PaymentFilter{Sources: []string{}, States: []string{store.PaymentPaid}, Unsettled: true}, []string{}},
		{"source", store.PaymentFilter{Sources: []string{"sonla"}}, []string{"P3", "P2"}},
		{"sources", store.PaymentFilter{Sources: []string{"laocai", "nowhere", "hatinh"}}, []string{"P1", "P4"}},
		{"sources unknown", store.PaymentFilter{Sources: []string{"nowhere"}}, []string{}},
		{"sources and state", store.PaymentFilter{Sources: []string{"sonla"}, States: []string{store.PaymentPaid}}, []string{"P2"}},
		{"sources and dossier", store.PaymentFilter{Sources: []string{"hatinh", "laocai"}, DossierIDs: []string{"A", "B"}}, []string{"P1"}},
		{"sources unsettled", store.PaymentFilter{Sources: []string{"sonla", "laocai"}, Unsettled: true}, []string{"P3", "P4"}},
		{"sources updated before", store.PaymentFilter{Sources: []string{"sonla", "hatinh"}, UpdatedBefore: p4.UpdatedAt}, []string{"P1", "P2"}},
		{"sources limit", store.PaymentFilter{Sources: []string{"sonla", "laocai"}, Limit: 2}, []string{"P3", "P2"}},
	}
	for _, c := range cases {
		if got := refs(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: refs %v, want %v", c.name, got, c.want)
		}
	}
}

// testPaymentConcurrent races the effects the hub repeats when a message is
// redelivered to two instances at once: the create of a payment, and the
// notification that it was paid. Exactly one of each may take effect.
func testPaymentConcurrent(t *testing.T, s Store) {
	ctx := ctxT(t)
	const n = 8
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		rows    = make([]store.Payment, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := store.Payment{Ref: "TT-race", DossierID: fmt.Sprintf("D%d", i), State: store.PaymentPending}
			got, c, err := s.CreatePayment(ctx, p)
			if err != nil {
				t.Error(err)
				return
			}
			if c {
				created.Add(1)
			}
			rows[i] = got
		}()
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d racing creates created, want 1", created.Load())
	}
	for i := range rows {
		if !reflect.DeepEqual(rows[i], rows[0]) {
			t.Fatalf("racing creates returned different rows: %+v and %+v", rows[i], rows[0])
		}
	}

	var (
		mu      sync.Mutex
		winners []string
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txn := fmt.Sprintf("GD-%d", i)
			got, changed, err := s.UpdatePayment(ctx, "TT-race", store.PaymentUpdate{
				From: []string{store.PaymentPending}, State: store.PaymentPaid, TxnID: txn, PaidAt: time.Now(),
			})
			if err != nil {
				t.Error(err)
				return
			}
			// A loser is shown the winner's result.
			if got.State != store.PaymentPaid || (changed && got.TxnID != txn) {
				t.Errorf("update %s: changed %v, got %+v", txn, changed, got)
			}
			if changed {
				mu.Lock()
				winners = append(winners, txn)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d racing updates from pending to paid changed the payment (%v), want 1", len(winners), winners)
	}
	got, err := s.GetPayment(ctx, "TT-race")
	must(t, err)
	if got.State != store.PaymentPaid || got.TxnID != winners[0] {
		t.Fatalf("after the race: %+v; want paid by %s", got, winners[0])
	}
}

// =============================================================================
// Deliveries

// delivery makes a delivery with every field set.
func delivery(orderNumber, dossierID string) store.Delivery {
	return store.Delivery{
		OrderNumber: orderNumber,
		DossierID:   dossierID,
		Source:      "thainguyen",
		State:       store.DeliveryOrdered,
		ItemCode:    "EB123456789VN",
		COD:         30_000,
		TotalFee:    25_500,
		Status:      3,
		StatusAt:    time.Date(2025, 7, 3, 8, 0, 0, 111111111, ict),
		TrackingID:  9_000_000_001,
		DeliveredAt: time.Date(2025, 7, 4, 15, 30, 0, 222222222, ict),
		CODPaidAt:   time.Date(2025, 7, 5, 9, 0, 0, 333333333, ict),
		Problem:     "15 Người nhận hẹn lại ngày giao",
	}
}

// storedDelivery is d as the store returns it, CreatedAt and UpdatedAt
// aside.
func storedDelivery(d store.Delivery) store.Delivery {
	if d.State == "" {
		d.State = store.DeliveryNew
	}
	d.StatusAt, d.DeliveredAt, d.CODPaidAt = store.Normalise(d.StatusAt), store.Normalise(d.DeliveredAt), store.Normalise(d.CODPaidAt)
	return d
}

func testDeliveryRoundTrip(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListDeliveries(ctx, store.DeliveryFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}
	before := time.Now()
	d := delivery("VN-0001", "H19.01-250701-0001")
	got, created, err := s.CreateDelivery(ctx, d)
	must(t, err)
	if !created {
		t.Fatal("first create: created = false")
	}
	checkSetByStore(t, "CreatedAt", got.CreatedAt, before)
	if got.UpdatedAt != got.CreatedAt {
		t.Errorf("UpdatedAt %v, want CreatedAt %v on create", got.UpdatedAt, got.CreatedAt)
	}
	want := storedDelivery(d)
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("created:\n got %+v\nwant %+v", got, want)
	}
	if get, err := s.GetDelivery(ctx, d.OrderNumber); err != nil || !reflect.DeepEqual(get, want) {
		t.Errorf("get = %+v, %v; want %+v", get, err, want)
	}
	if list, err := s.ListDeliveries(ctx, store.DeliveryFilter{}); err != nil || !reflect.DeepEqual(list, []store.Delivery{want}) {
		t.Errorf("list = %+v, %v; want %+v", list, err, want)
	}

	least := store.Delivery{OrderNumber: "VN-0002", DossierID: "D2"}
	got, created, err = s.CreateDelivery(ctx, least)
	must(t, err)
	want = storedDelivery(least)
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if !created || !reflect.DeepEqual(got, want) || got.State != store.DeliveryNew {
		t.Errorf("least delivery = %+v, %v; want %+v", got, created, want)
	}
	if get, err := s.GetDelivery(ctx, least.OrderNumber); err != nil || !reflect.DeepEqual(get, want) {
		t.Errorf("get least = %+v, %v; want %+v", get, err, want)
	}

	if _, err := s.GetDelivery(ctx, "VN-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	for name, bad := range map[string]store.Delivery{
		"no order number": {DossierID: "D"},
		"no dossier":      {OrderNumber: "VN-bad"},
		"unknown state":   {OrderNumber: "VN-bad", DossierID: "D", State: "lost"},
		"negative cod":    {OrderNumber: "VN-bad", DossierID: "D", COD: -1},
	} {
		if _, _, err := s.CreateDelivery(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.GetDelivery(ctx, "VN-bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused delivery was written: err = %v", err)
	}
}

func testDeliveryCreateTwice(t *testing.T, s Store) {
	ctx := ctxT(t)
	first, created, err := s.CreateDelivery(ctx, store.Delivery{OrderNumber: "VN-1", DossierID: "D1", Source: "sonla", COD: 30_000})
	must(t, err)
	if !created {
		t.Fatal("first create: created = false")
	}
	time.Sleep(2 * time.Millisecond)
	again, created, err := s.CreateDelivery(ctx, delivery("VN-1", "D2"))
	must(t, err)
	if created || !reflect.DeepEqual(again, first) {
		t.Fatalf("second create = %+v, %v; want the first row %+v, false", again, created, first)
	}
	if got, err := s.GetDelivery(ctx, "VN-1"); err != nil || !reflect.DeepEqual(got, first) {
		t.Fatalf("after a second create = %+v, %v; want %+v", got, err, first)
	}
}

// checkUpdate makes one update (u, for messages) of a stored record and
// checks the outcome, as returned and as stored: changed as wantChanged,
// the record as want, its UpdatedAt moved on when it changed. It returns
// the record as it is now.
func checkUpdate[T any, U any](t *testing.T, u U, wantChanged bool, want T,
	update func() (T, bool, error), get func() (T, error), updatedAt func(*T) *time.Time) T {
	t.Helper()
	time.Sleep(2 * time.Millisecond) // UpdatedAt must move on
	got, changed, err := update()
	must(t, err)
	if changed != wantChanged {
		t.Fatalf("update %+v: changed = %v, want %v", u, changed, wantChanged)
	}
	if wantChanged {
		if !updatedAt(&got).After(*updatedAt(&want)) {
			t.Errorf("update %+v: UpdatedAt %v did not move on from %v", u, *updatedAt(&got), *updatedAt(&want))
		}
		*updatedAt(&want) = *updatedAt(&got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("update %+v:\n got %+v\nwant %+v", u, got, want)
	}
	if stored, err := get(); err != nil || !reflect.DeepEqual(stored, want) {
		t.Fatalf("update %+v: stored %+v, %v; want %+v", u, stored, err, want)
	}
	return got
}

// updateDelivery is checkUpdate of the delivery VN-1.
func updateDelivery(t *testing.T, s Store, u store.DeliveryUpdate, wantChanged bool, want store.Delivery) store.Delivery {
	t.Helper()
	ctx := ctxT(t)
	return checkUpdate(t, u, wantChanged, want,
		func() (store.Delivery, bool, error) { return s.UpdateDelivery(ctx, "VN-1", u) },
		func() (store.Delivery, error) { return s.GetDelivery(ctx, "VN-1") },
		func(d *store.Delivery) *time.Time { return &d.UpdatedAt })
}

func testDeliveryUpdate(t *testing.T, s Store) {
	ctx := ctxT(t)
	for _, u := range []store.DeliveryUpdate{
		{State: store.DeliveryOrdered},
		{From: []string{store.DeliveryNew}, State: store.DeliveryOrdered},
		{TrackingID: 1, Status: 2},
	} {
		if _, _, err := s.UpdateDelivery(ctx, "VN-none", u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update missing %+v: err = %v, want ErrNotFound", u, err)
		}
	}
	cur, _, err := s.CreateDelivery(ctx, store.Delivery{OrderNumber: "VN-1", DossierID: "D1", Source: "sonla", COD: 30_000})
	must(t, err)

	// The guard fails: nothing written.
	cur = updateDelivery(t, s, store.DeliveryUpdate{From: []string{store.DeliveryOrdered}, State: store.DeliveryOrdered, ItemCode: "EB1VN"}, false, cur)

	// The order placed.
	want := cur
	want.State, want.ItemCode, want.TotalFee = store.DeliveryOrdered, "EB1VN", 25_500
	cur = updateDelivery(t, s, store.DeliveryUpdate{From: []string{store.DeliveryNew}, State: store.DeliveryOrdered, ItemCode: "EB1VN", TotalFee: 25_500}, true, want)

	// VNPost's answer again (409 on a retried create): the guard fails.
	cur = updateDelivery(t, s, store.DeliveryUpdate{From: []string{store.DeliveryNew}, State: store.DeliveryOrdered, ItemCode: "EB2VN", TotalFee: 1}, false, cur)

	// Zero fields keep: ItemCode, TotalFee, State.
	want = cur
	want.Problem = "5 Phát không thành công"
	cur = updateDelivery(t, s, store.DeliveryUpdate{Problem: "5 Phát không thành công"}, true, want)

	// A status without a tracking id applies; Problem "" keeps.
	at := time.Date(2025, 7, 3, 8, 0, 0, 999999999, ict)
	want = cur
	want.Status, want.StatusAt = 4, store.Normalise(at)
	cur = updateDelivery(t, s, store.DeliveryUpdate{Status: 4, StatusAt: at}, true, want)

	for name, u := range map[string]store.DeliveryUpdate{
		"unknown state":       {State: "lost"},
		"unknown from state":  {From: []string{"lost"}, State: store.DeliveryOrdered},
		"negative tracking":   {TrackingID: -1, Status: 3},
		"negative total fees": {TotalFee: -1},
	} {
		if _, _, err := s.UpdateDelivery(ctx, "VN-1", u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got, err := s.GetDelivery(ctx, "VN-1"); err != nil || !reflect.DeepEqual(got, cur) {
		t.Fatalf("after refused updates = %+v, %v; want %+v", got, err, cur)
	}
}

// testDeliveryTracking applies tracking events as MyVNPost sends them:
// replayed and out of order.
func testDeliveryTracking(t *testing.T, s Store) {
	ctx := ctxT(t)
	cur, _, err := s.CreateDelivery(ctx, store.Delivery{OrderNumber: "VN-1", DossierID: "D1", State: store.DeliveryOrdered, ItemCode: "EB1VN"})
	must(t, err)
	t0 := time.Date(2025, 7, 3, 8, 0, 0, 123456789, ict)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }

	want := cur
	want.TrackingID, want.Status, want.StatusAt = 5, 3, store.Normalise(at(5))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 5, Status: 3, StatusAt: at(5)}, true, want)

	// The same event again, and an older one: neither changes anything,
	// their other fields included.
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 5, Status: 3, StatusAt: at(5), Problem: "5 replayed"}, false, cur)
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 4, Status: 9, StatusAt: at(4), Problem: "9 older"}, false, cur)

	// Delivered: the first status 14 sets DeliveredAt, a second keeps it.
	want = cur
	want.TrackingID, want.Status, want.StatusAt, want.DeliveredAt = 7, 14, store.Normalise(at(7)), store.Normalise(at(7))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 7, Status: 14, StatusAt: at(7), DeliveredAt: at(7)}, true, want)
	want = cur
	want.TrackingID, want.StatusAt = 8, store.Normalise(at(8))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 8, Status: 14, StatusAt: at(8), DeliveredAt: at(8)}, true, want)

	// COD paid: likewise, first wins.
	want = cur
	want.TrackingID, want.Status, want.StatusAt, want.CODPaidAt = 9, 21, store.Normalise(at(9)), store.Normalise(at(9))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 9, Status: 21, StatusAt: at(9), CODPaidAt: at(9)}, true, want)
	want = cur
	want.TrackingID, want.StatusAt = 10, store.Normalise(at(10))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 10, Status: 21, StatusAt: at(10), CODPaidAt: at(10)}, true, want)

	// A problem, kept by the events after it.
	want = cur
	want.TrackingID, want.Status, want.StatusAt, want.Problem = 11, 15, store.Normalise(at(11)), "15 Chuyển hoàn"
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 11, Status: 15, StatusAt: at(11), Problem: "15 Chuyển hoàn"}, true, want)
	want = cur
	want.TrackingID, want.Status, want.StatusAt = 12, 4, store.Normalise(at(12))
	cur = updateDelivery(t, s, store.DeliveryUpdate{TrackingID: 12, Status: 4, StatusAt: at(12)}, true, want)

	// Both guards: a newer event in a state From excludes.
	updateDelivery(t, s, store.DeliveryUpdate{From: []string{store.DeliveryNew}, TrackingID: 13, Status: 5}, false, cur)

	// A delivery created with the times set keeps them too.
	d, _, err := s.CreateDelivery(ctx, delivery("VN-2", "D2"))
	must(t, err)
	got, changed, err := s.UpdateDelivery(ctx, "VN-2", store.DeliveryUpdate{TrackingID: d.TrackingID + 1, Status: 14, DeliveredAt: at(20), CODPaidAt: at(20)})
	must(t, err)
	if !changed || got.DeliveredAt != d.DeliveredAt || got.CODPaidAt != d.CODPaidAt || got.Status != 14 {
		t.Fatalf("update of a delivered order = %+v, %v; want DeliveredAt %v and CODPaidAt %v kept", got, changed, d.DeliveredAt, d.CODPaidAt)
	}
}

func testDeliveryFilter(t *testing.T, s Store) {
	ctx := ctxT(t)
	create := func(order, dossierID, source, state string) store.Delivery {
		t.Helper()
		got, _, err := s.CreateDelivery(ctx, store.Delivery{OrderNumber: order, DossierID: dossierID, Source: source, State: state})
		must(t, err)
		time.Sleep(2 * time.Millisecond)
		return got
	}
	o3 := create("O3", "A", "hatinh", store.DeliveryNew)
	create("O1", "B", "sonla", store.DeliveryOrdered)
	o2 := create("O2", "A", "hatinh", store.DeliveryOrdered)
	create("O4", "C", "hatinh", store.DeliveryOrdered)
	create("O5", "D", "laocai", store.DeliveryOrdered)
	o1, _, err := s.UpdateDelivery(ctx, "O1", store.DeliveryUpdate{Problem: "5 Phát không thành công"})
	must(t, err)
	o4, _, err := s.UpdateDelivery(ctx, "O4", store.DeliveryUpdate{TrackingID: 3, Status: 20, Problem: "20 Đã hoàn"})
	must(t, err)
	// O5 is delivered: ordered, but no longer in flight.
	o5, _, err := s.UpdateDelivery(ctx, "O5", store.DeliveryUpdate{TrackingID: 4, Status: 14,
		StatusAt: time.Date(2025, 7, 4, 15, 0, 0, 0, ict), DeliveredAt: time.Date(2025, 7, 4, 15, 0, 0, 0, ict)})
	must(t, err)
	if o5.DeliveredAt.IsZero() {
		t.Fatalf("O5 = %+v: want DeliveredAt set", o5)
	}

	all, err := s.ListDeliveries(ctx, store.DeliveryFilter{})
	must(t, err)
	if want := []store.Delivery{o3, o1, o2, o4, o5}; !reflect.DeepEqual(all, want) {
		t.Fatalf("list all:\n got %+v\nwant %+v", all, want)
	}
	orders := func(f store.DeliveryFilter) []string {
		t.Helper()
		got, err := s.ListDeliveries(ctx, f)
		must(t, err)
		out := []string{}
		for _, d := range got {
			out = append(out, d.OrderNumber)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.DeliveryFilter
		want []string
	}{
		{"dossier", store.DeliveryFilter{DossierIDs: []string{"A"}}, []string{"O3", "O2"}},
		{"order numbers", store.DeliveryFilter{OrderNumbers: []string{"O4", "O1", "nowhere"}}, []string{"O1", "O4"}},
		{"state", store.DeliveryFilter{States: []string{store.DeliveryOrdered}}, []string{"O1", "O2", "O4", "O5"}},
		{"problems", store.DeliveryFilter{Problems: true}, []string{"O1", "O4"}},
		{"problems of a dossier", store.DeliveryFilter{Problems: true, DossierIDs: []string{"B", "A"}}, []string{"O1"}},
		{"orders in a state", store.DeliveryFilter{OrderNumbers: []string{"O3", "O2"}, States: []string{store.DeliveryNew}}, []string{"O3"}},
		{"limit", store.DeliveryFilter{Limit: 3}, []string{"O3", "O1", "O2"}},
		{"problems limit", store.DeliveryFilter{Problems: true, Limit: 1}, []string{"O1"}},
		{"none", store.DeliveryFilter{DossierIDs: []string{"nowhere"}}, []string{}},
		// Sources: nil does not filter, empty matches nothing.
		{"sources nil", store.DeliveryFilter{Sources: nil}, []string{"O3", "O1", "O2", "O4", "O5"}},
		{"sources empty", store.DeliveryFilter{Sources: []string{}}, []string{}},
		{"sources empty and others", store.DeliveryFilter{Sources: []string{}, InFlight: true, Problems: true}, []string{}},
		{"source", store.DeliveryFilter{Sources: []string{"hatinh"}}, []string{"O3", "O2", "O4"}},
		{"sources", store.DeliveryFilter{Sources: []string{"laocai", "nowhere", "sonla"}}, []string{"O1", "O5"}},
		{"sources unknown", store.DeliveryFilter{Sources: []string{"nowhere"}}, []string{}},
		{"sources and dossier", store.DeliveryFilter{Sources: []string{"sonla"}, DossierIDs: []string{"A", "B"}}, []string{"O1"}},
		{"sources and state", store.DeliveryFilter{Sources: []string{"hatinh"}, States: []string{store.DeliveryNew}}, []string{"O3"}},
		{"sources limit", store.DeliveryFilter{Sources: []string{"hatinh", "laocai"}, Limit: 2}, []string{"O3", "O2"}},
		// In flight: ordered (not O3, still new) and not delivered (not O5).
		// A returned order (O4) never gets a DeliveredAt: it stays in flight.
		{"in flight", store.DeliveryFilter{InFlight: true}, []string{"O1", "O2", "O4"}},
		{"in flight of sources", store.DeliveryFilter{InFlight: true, Sources: []string{"hatinh", "laocai"}}, []string{"O2", "O4"}},
		{"in flight problems", store.DeliveryFilter{InFlight: true, Problems: true}, []string{"O1", "O4"}},
		{"in flight of a dossier", store.DeliveryFilter{InFlight: true, DossierIDs: []string{"A", "D"}}, []string{"O2"}},
		{"in flight new", store.DeliveryFilter{InFlight: true, States: []string{store.DeliveryNew}}, []string{}},
		{"in flight limit", store.DeliveryFilter{InFlight: true, Limit: 1}, []string{"O1"}},
	}
	for _, c := range cases {
		if got := orders(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: orders %v, want %v", c.name, got, c.want)
		}
	}
}

// testDeliveryConcurrent races the placing of one order (one wins) and
// tracking events delivered out of order (the newest is what stays).
func testDeliveryConcurrent(t *testing.T, s Store) {
	ctx := ctxT(t)
	const n = 8
	_, _, err := s.CreateDelivery(ctx, store.Delivery{OrderNumber: "VN-race", DossierID: "D1"})
	must(t, err)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := fmt.Sprintf("EB%dVN", i)
			_, changed, err := s.UpdateDelivery(ctx, "VN-race", store.DeliveryUpdate{
				From: []string{store.DeliveryNew}, State: store.DeliveryOrdered, ItemCode: item,
			})
			if err != nil {
				t.Error(err)
				return
			}
			if changed {
				mu.Lock()
				winners = append(winners, item)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d racing orders placed (%v), want 1", len(winners), winners)
	}

	for i := n; i >= 1; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.UpdateDelivery(ctx, "VN-race", store.DeliveryUpdate{TrackingID: int64(i), Status: i}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetDelivery(ctx, "VN-race")
	must(t, err)
	if got.State != store.DeliveryOrdered || got.ItemCode != winners[0] || got.TrackingID != n || got.Status != n {
		t.Fatalf("after the races: %+v; want ordered as %s, tracking id and status %d", got, winners[0], n)
	}
}

// =============================================================================
// Payment notices

func testPaymentNotices(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListPaymentNotices(ctx, store.NoticeFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}
	at := time.Date(2025, 7, 1, 9, 0, 0, 123456789, ict)
	ns := []store.PaymentNotice{
		{Ref: "TT-1", DossierID: "D1", Partner: "DVCQG", Code: "00", Amount: 150_000, Verdict: store.NoticeAccepted,
			Answer: "00", Payload: []byte(`{"MaThamChieu":"TT-1","MaLoi":"00"}`), At: at},
		// At zero: the store's clock. A binary payload.
		{Ref: "TT-1", DossierID: "D1", Partner: "DVCQG", Code: "00", Amount: 150_000, Verdict: store.NoticeDuplicate,
			Answer: "00", Payload: []byte{0, 1, 0xff, '\n'}},
		// An unknown reference, refused, without a payload.
		{Ref: "TT-9", Partner: "XYZ", Code: "00", Amount: 1, Verdict: store.NoticeRefused, Answer: "01",
			Reason: "checksum does not match", At: at},
		// Earlier in time, later in order: notices are listed as received.
		{Ref: "TT-2", DossierID: "D2", Partner: "DVCQG", Code: "02", Amount: 99_000, Verdict: store.NoticeAccepted,
			Answer: "00", Payload: []byte(`{"MaLoi":"02"}`), At: at.Add(-time.Hour)},
	}
	before := time.Now()
	ids := make([]int64, len(ns))
	for i, n := range ns {
		id, err := s.AddPaymentNotice(ctx, n)
		must(t, err)
		if id <= 0 || (i > 0 && id <= ids[i-1]) {
			t.Fatalf("notice %d: id %d after %v", i, id, ids[:i])
		}
		ids[i] = id
	}
	all, err := s.ListPaymentNotices(ctx, store.NoticeFilter{})
	must(t, err)
	if len(all) != len(ns) {
		t.Fatalf("listed %d notices, want %d", len(all), len(ns))
	}
	checkSetByStore(t, "zero At", all[1].At, before)
	want := make([]store.PaymentNotice, len(ns))
	for i, n := range ns {
		n.ID, n.At, n.Payload = ids[i], store.Normalise(n.At), store.NilIfEmpty(n.Payload)
		want[i] = n
	}
	want[1].At = all[1].At
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("list:\n got %+v\nwant %+v", all, want)
	}

	listed := func(f store.NoticeFilter) []int64 {
		t.Helper()
		got, err := s.ListPaymentNotices(ctx, f)
		must(t, err)
		out := []int64{}
		for _, n := range got {
			out = append(out, n.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.NoticeFilter
		want []int64
	}{
		{"ref", store.NoticeFilter{Ref: "TT-1"}, []int64{ids[0], ids[1]}},
		{"verdict", store.NoticeFilter{Verdict: store.NoticeAccepted}, []int64{ids[0], ids[3]}},
		{"ref and verdict", store.NoticeFilter{Ref: "TT-1", Verdict: store.NoticeDuplicate}, []int64{ids[1]}},
		{"limit", store.NoticeFilter{Limit: 2}, []int64{ids[0], ids[1]}},
		{"ref limit", store.NoticeFilter{Ref: "TT-1", Limit: 1}, []int64{ids[0]}},
		{"none", store.NoticeFilter{Ref: "nowhere"}, []int64{}},
	}
	for _, c := range cases {
		if got := listed(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: ids %v, want %v", c.name, got, c.want)
		}
	}

	for _, verdict := range []string{"", "maybe"} {
		if _, err := s.AddPaymentNotice(ctx, store.PaymentNotice{Ref: "TT-1", Verdict: verdict}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("verdict %q: err = %v, want ErrInvalid", verdict, err)
		}
	}
	if got := listed(store.NoticeFilter{}); len(got) != len(ns) {
		t.Errorf("refused notices written: %v", got)
	}
}

// noticePayload is a payment notification as the platform sends it, naming
// the payer.
func noticePayload(ref, payer string) []byte {
	return []byte(fmt.Sprintf(`{"MaDoiTac":"DVCQG","MaThamChieu":%q,"SoTien":150000,"MaLoi":"00","NguoiNop":%q,"MaXacThuc":"9f86d081884c7d65"}`,
		ref, payer))
}

func addNotice(t *testing.T, s Store, ref string, payload []byte) {
	t.Helper()
	_, err := s.AddPaymentNotice(ctxT(t), store.PaymentNotice{
		Ref: ref, DossierID: "H14.01-250701-0001", Partner: "DVCQG", Code: "00", Amount: 150_000,
		Verdict: store.NoticeAccepted, Answer: "00", Payload: payload,
	})
	must(t, err)
}

// checkNotices reads the notices of ref back and compares their payloads.
func checkNotices(t *testing.T, s Store, ref string, want ...[]byte) {
	t.Helper()
	got, err := s.ListPaymentNotices(ctxT(t), store.NoticeFilter{Ref: ref})
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("%d notices of %s, want %d", len(got), ref, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Payload, want[i]) || (got[i].Payload == nil) != (len(want[i]) == 0) {
			t.Fatalf("notice %d of %s: payload %q, want %q", i, ref, got[i].Payload, want[i])
		}
	}
}

// testNoticeSealed is the acceptance test of the notice payload column on
// its own: sealed under the key it is not in the database in clear;
// written WithoutEncryption it is (so the dump does cover the column);
// once a key is configured Reseal encrypts it.
func testNoticeSealed(t *testing.T, db Database) {
	ctx := ctxT(t)
	const payer, clearPayer = "Trần Thị Bình, 0987654321", "Lê Văn Cường, 0977111222"
	sealed, inClear := noticePayload("TT-sealed", payer), noticePayload("TT-clear", clearPayer)

	s := open(t, db, withKeys(EncryptionKey)...)
	addNotice(t, s, "TT-sealed", sealed)
	checkNotices(t, s, "TT-sealed", sealed)
	must(t, s.Close())
	dump := db.Dump(t)
	if found := InDump(dump, payer, "0987654321"); len(found) > 0 {
		t.Fatalf("notice payload found in clear in the database: %q", found)
	}
	if found := InDump(dump, "TT-sealed"); len(found) == 0 {
		t.Fatal("the dump holds no notice: the test proves nothing")
	}

	c := open(t, db, withoutEncryption()...)
	addNotice(t, c, "TT-clear", inClear)
	checkNotices(t, c, "TT-clear", inClear)
	must(t, c.Close())
	if found := InDump(db.Dump(t), clearPayer); len(found) != 1 {
		t.Fatalf("a notice written WithoutEncryption is not in the dump: found %q", found)
	}

	s = open(t, db, withKeys(EncryptionKey)...)
	n, err := s.Reseal(ctx)
	must(t, err)
	if n != 1 {
		t.Errorf("resealed %d values, want 1 (the notice in clear)", n)
	}
	checkNotices(t, s, "TT-sealed", sealed)
	checkNotices(t, s, "TT-clear", inClear)
	must(t, s.Close())
	if found := InDump(db.Dump(t), payer, clearPayer); len(found) > 0 {
		t.Fatalf("notice payload found in clear after Reseal: %q", found)
	}
}
