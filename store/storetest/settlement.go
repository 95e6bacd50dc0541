package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Settlements: the effects owed after a level-4 event, with the writeback's
// refusals counted and the hold that quarantines it.

func settlement(kind, ref, dossierID string) store.Settlement {
	return store.Settlement{Kind: kind, Ref: ref, DossierID: dossierID, Source: "sonla"}
}

func openSettlement(t *testing.T, s Store, st store.Settlement) store.Settlement {
	t.Helper()
	got, created, err := s.OpenSettlement(ctxT(t), st)
	if err != nil || !created {
		t.Fatalf("open %s %s = %v, %v; want created", st.Kind, st.Ref, created, err)
	}
	return got
}

func testSettlementOpen(t *testing.T, s Store) {
	ctx := ctxT(t)
	before := store.Now()
	got := openSettlement(t, s, settlement(store.SettlementPayment, "R-1", "D-1"))
	if got.State != store.SettlementOpen || got.Writeback != store.WritebackDue || got.Attempts != 0 || got.Round != 0 ||
		got.Tries != 0 || got.LastError != "" || got.DossierID != "D-1" || got.Source != "sonla" {
		t.Fatalf("opened %+v; want open, writeback due, nothing counted", got)
	}
	checkSetByStore(t, "NextAt", got.NextAt, before)
	checkSetByStore(t, "CreatedAt", got.CreatedAt, before)
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdatedAt %v, CreatedAt %v; want equal on open", got.UpdatedAt, got.CreatedAt)
	}
	// The same kind and ref again: the stored one, unchanged.
	again, created, err := s.OpenSettlement(ctx, store.Settlement{Kind: store.SettlementPayment, Ref: "R-1", DossierID: "D-other", Source: "hatinh"})
	if err != nil || created || !reflect.DeepEqual(again, got) {
		t.Fatalf("open again = %+v, %v, %v; want %+v, false", again, created, err, got)
	}
	// The same ref for another kind is another settlement.
	openSettlement(t, s, settlement(store.SettlementDelivered, "R-1", "D-1"))
	later := time.Date(2030, 1, 2, 3, 4, 5, 678901234, ict)
	st := settlement(store.SettlementCOD, "KQ-2", "D-2")
	st.NextAt = later
	if got := openSettlement(t, s, st); !got.NextAt.Equal(store.Normalise(later)) || got.NextAt.Location() != time.UTC {
		t.Errorf("NextAt %v; want %v in UTC", got.NextAt, store.Normalise(later))
	}
	read, err := s.GetSettlement(ctx, store.SettlementPayment, "R-1")
	if err != nil || !reflect.DeepEqual(read, got) {
		t.Errorf("get = %+v, %v; want %+v", read, err, got)
	}
	if _, err := s.GetSettlement(ctx, store.SettlementCOD, "R-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get unknown: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []store.Settlement{
		settlement("refund", "R-9", "D-9"), settlement(store.SettlementPayment, "", "D-9"), settlement(store.SettlementPayment, "R-9", ""),
	} {
		if _, _, err := s.OpenSettlement(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("open %+v: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func updateSettlement(t *testing.T, s Store, kind, ref string, u store.SettlementUpdate, wantChanged bool) store.Settlement {
	t.Helper()
	got, changed, err := s.UpdateSettlement(ctxT(t), kind, ref, u)
	if err != nil || changed != wantChanged {
		t.Fatalf("update %s %s with %+v = %v, %v; want changed %v", kind, ref, u, changed, err, wantChanged)
	}
	return got
}

func testSettlementUpdate(t *testing.T, s Store) {
	ctx := ctxT(t)
	const k, ref = store.SettlementDelivered, "KQ-1"
	opened := openSettlement(t, s, settlement(k, ref, "D-1"))
	next := time.Date(2030, 5, 6, 7, 8, 9, 123456789, ict)
	got := updateSettlement(t, s, k, ref, store.SettlementUpdate{Tried: true, LastError: "dossier D-1 not in the ledger yet", NextAt: next}, true)
	if got.Tries != 1 || got.LastError != "dossier D-1 not in the ledger yet" || !got.NextAt.Equal(store.Normalise(next)) ||
		got.State != store.SettlementOpen || got.Writeback != store.WritebackDue || got.Attempts != 0 {
		t.Fatalf("after a pass left open: %+v", got)
	}
	if !got.UpdatedAt.After(opened.UpdatedAt) && !got.UpdatedAt.Equal(opened.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v after %v", got.UpdatedAt, opened.UpdatedAt)
	}
	// Guards: another round, or the writeback in another state, write nothing.
	same := updateSettlement(t, s, k, ref, store.SettlementUpdate{Round: 1, Writeback: store.WritebackDone}, false)
	if !reflect.DeepEqual(same, got) {
		t.Errorf("guarded by round: returned %+v, want %+v", same, got)
	}
	updateSettlement(t, s, k, ref, store.SettlementUpdate{FromWriteback: []string{store.WritebackHeld}, Writeback: store.WritebackDone}, false)
	got = updateSettlement(t, s, k, ref, store.SettlementUpdate{FromWriteback: []string{store.WritebackDue}, Writeback: store.WritebackDone}, true)
	if got.Writeback != store.WritebackDone || got.LastError != "dossier D-1 not in the ledger yet" || got.Tries != 1 {
		t.Errorf("writeback done: %+v; zero fields must keep the stored values", got)
	}
	got = updateSettlement(t, s, k, ref, store.SettlementUpdate{State: store.SettlementClosed}, true)
	if got.State != store.SettlementClosed {
		t.Errorf("closed: %+v", got)
	}
	if _, _, err := s.UpdateSettlement(ctx, k, "KQ-none", store.SettlementUpdate{Tried: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update unknown: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []store.SettlementUpdate{
		{State: "gone"}, {Writeback: "sent"}, {FromWriteback: []string{"sent"}}, {Round: -1},
		{Hold: &store.QuarantineEntry{}}, {Refused: true, Hold: &store.QuarantineEntry{}},
	} {
		if _, _, err := s.UpdateSettlement(ctx, k, ref, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("update with %+v: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// hold is the quarantine entry of a held writeback, with a payload that
// must come back as it went in.
func hold(ref, dossierID string) *store.QuarantineEntry {
	return &store.QuarantineEntry{Source: "sonla", DossierID: dossierID, Field: "writeback:THANH_TOAN",
		Reason: "sonla: dossier " + dossierID + ": writeback refused", Format: "settlement",
		Payload: []byte(`{"kind":"payment","ref":"` + ref + `"}`)}
}

func testSettlementHold(t *testing.T, s Store) {
	ctx := ctxT(t)
	const k, ref, id = store.SettlementPayment, "R-1", "D-1"
	openSettlement(t, s, settlement(k, ref, id))
	refuse := store.SettlementUpdate{FromWriteback: []string{store.WritebackDue}, Refused: true, HoldAt: 3, Hold: hold(ref, id), LastError: "HTTP 404"}
	for i := 1; i <= 2; i++ {
		got := updateSettlement(t, s, k, ref, refuse, true)
		if got.Attempts != i || got.Writeback != store.WritebackDue {
			t.Fatalf("refusal %d: %+v; want counted, still due", i, got)
		}
	}
	if q, _ := s.ListQuarantine(ctx, store.QuarantineFilter{}); len(q) != 0 {
		t.Fatalf("quarantined before the bound: %+v", q)
	}
	got := updateSettlement(t, s, k, ref, refuse, true)
	if got.Attempts != 3 || got.Writeback != store.WritebackHeld || got.LastError != "HTTP 404" {
		t.Fatalf("refusal at the bound: %+v; want held", got)
	}
	q, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	if len(q) != 1 {
		t.Fatalf("%d quarantine entries; want the held writeback's one", len(q))
	}
	want := *hold(ref, id)
	if e := q[0]; e.Source != want.Source || e.DossierID != id || e.Field != want.Field || e.Reason != want.Reason ||
		e.Format != want.Format || string(e.Payload) != string(want.Payload) || e.State != store.QuarantineOpen || e.At.IsZero() {
		t.Errorf("entry %+v; want %+v, open, dated", e, want)
	}
	// Held: a guarded refusal changes nothing; an unguarded one counts but
	// does not quarantine twice.
	updateSettlement(t, s, k, ref, refuse, false)
	unguarded := refuse
	unguarded.FromWriteback = nil
	updateSettlement(t, s, k, ref, unguarded, true)
	if q, _ := s.ListQuarantine(ctx, store.QuarantineFilter{}); len(q) != 1 {
		t.Errorf("%d quarantine entries after refusals of a held writeback; want one", len(q))
	}

	// Racing refusals hold the writeback once between them.
	const k2, ref2, id2 = store.SettlementCOD, "KQ-2", "D-2"
	openSettlement(t, s, settlement(k2, ref2, id2))
	race := store.SettlementUpdate{FromWriteback: []string{store.WritebackDue}, Refused: true, HoldAt: 3, Hold: hold(ref2, id2)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.UpdateSettlement(ctx, k2, ref2, race); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err = s.GetSettlement(ctx, k2, ref2)
	must(t, err)
	if got.Attempts != 3 || got.Writeback != store.WritebackHeld {
		t.Errorf("after racing refusals: %+v; want held at 3 attempts", got)
	}
	if q, _ := s.ListQuarantine(ctx, store.QuarantineFilter{DossierID: id2}); len(q) != 1 {
		t.Errorf("%d quarantine entries after racing refusals; want one", len(q))
	}
}

func testSettlementReopen(t *testing.T, s Store) {
	ctx := ctxT(t)
	const k, ref, id = store.SettlementPayment, "R-1", "D-1"
	openSettlement(t, s, settlement(k, ref, id))
	if got, changed, err := s.ReopenSettlement(ctx, k, ref); err != nil || changed || got.Round != 0 {
		t.Fatalf("reopen of a due writeback = %+v, %v, %v; want unchanged", got, changed, err)
	}
	updateSettlement(t, s, k, ref, store.SettlementUpdate{Refused: true, HoldAt: 1, Hold: hold(ref, id), Tried: true,
		State: store.SettlementClosed, NextAt: time.Now().Add(time.Hour)}, true)
	before := store.Now()
	got, changed, err := s.ReopenSettlement(ctx, k, ref)
	if err != nil || !changed {
		t.Fatalf("reopen = %v, %v", changed, err)
	}
	if got.Writeback != store.WritebackDue || got.State != store.SettlementOpen || got.Attempts != 0 || got.Round != 1 || got.Tries != 0 {
		t.Errorf("reopened %+v; want due, open, round 1, nothing counted", got)
	}
	checkSetByStore(t, "NextAt", got.NextAt, before)
	// A pass of round 0 no longer applies; one of round 1 does.
	updateSettlement(t, s, k, ref, store.SettlementUpdate{Writeback: store.WritebackDone}, false)
	updateSettlement(t, s, k, ref, store.SettlementUpdate{Round: 1, Writeback: store.WritebackDone}, true)
	if _, _, err := s.ReopenSettlement(ctx, k, "R-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reopen unknown: err = %v, want ErrNotFound", err)
	}
}

func testSettlementFilter(t *testing.T, s Store) {
	ctx := ctxT(t)
	base := time.Now().Add(-time.Hour)
	open := func(kind, ref, id string, next time.Time) {
		st := settlement(kind, ref, id)
		st.NextAt = next
		openSettlement(t, s, st)
	}
	open(store.SettlementPayment, "R-3", "D-3", base.Add(3*time.Minute))
	open(store.SettlementDelivered, "KQ-1", "D-1", base.Add(time.Minute))
	open(store.SettlementCOD, "KQ-1", "D-1", base.Add(time.Minute))
	open(store.SettlementPayment, "R-2", "D-2", base.Add(2*time.Minute))
	open(store.SettlementPayment, "R-9", "D-9", time.Now().Add(time.Hour))
	updateSettlement(t, s, store.SettlementPayment, "R-2", store.SettlementUpdate{State: store.SettlementClosed, Writeback: store.WritebackDone}, true)
	keys := func(f store.SettlementFilter) []string {
		t.Helper()
		got, err := s.ListSettlements(ctx, f)
		must(t, err)
		out := []string{}
		for _, st := range got {
			out = append(out, st.Kind+"/"+st.Ref)
		}
		return out
	}
	cases := []struct {
		f    store.SettlementFilter
		want []string
	}{
		{store.SettlementFilter{}, []string{"cod/KQ-1", "delivered/KQ-1", "payment/R-2", "payment/R-3", "payment/R-9"}},
		{store.SettlementFilter{States: []string{store.SettlementOpen}, DueBy: time.Now()}, []string{"cod/KQ-1", "delivered/KQ-1", "payment/R-3"}},
		{store.SettlementFilter{Kinds: []string{store.SettlementPayment}}, []string{"payment/R-2", "payment/R-3", "payment/R-9"}},
		{store.SettlementFilter{Kinds: []string{store.SettlementDelivered, store.SettlementCOD}, Limit: 1}, []string{"cod/KQ-1"}},
		{store.SettlementFilter{Writeback: []string{store.WritebackDone}}, []string{"payment/R-2"}},
		{store.SettlementFilter{DossierIDs: []string{"D-1", "D-9"}}, []string{"cod/KQ-1", "delivered/KQ-1", "payment/R-9"}},
	}
	for _, c := range cases {
		if got := keys(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("list %+v = %v, want %v", c.f, got, c.want)
		}
	}

	// Payments the settlement pass has not taken on.
	for _, ref := range []string{"R-2", "R-4"} {
		p := payment(ref, "D-"+ref)
		p.SettledAt = time.Time{}
		p.State = store.PaymentPaid
		if _, _, err := s.CreatePayment(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.ListPayments(ctx, store.PaymentFilter{States: []string{store.PaymentPaid}, Unsettled: true, NoSettlement: true})
	must(t, err)
	if len(ps) != 1 || ps[0].Ref != "R-4" {
		t.Errorf("paid payments without a settlement: %+v; want R-4 only", ps)
	}
}
