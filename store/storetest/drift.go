package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// testReconcileBatch: the sweep's pages walk the ledger in ID order, skip
// deleted dossiers, filter by source and carry the canonical dossiers.
func testReconcileBatch(t *testing.T, s Store) {
	ctx := ctxT(t)
	var es []store.LedgerEntry
	for _, id := range []string{"D3", "D1", "D5", "D2", "D4"} {
		e := entry(id, 1)
		if id == "D4" {
			e.Source = "hatinh"
		}
		es = append(es, e)
	}
	es[3].Deleted = true // D2
	must(t, s.PutLedger(ctx, es))
	ids := func(es []store.LedgerEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.DossierID)
			if len(e.Canonical) == 0 {
				t.Errorf("%s: no canonical dossier", e.DossierID)
			}
		}
		return out
	}
	for _, tc := range []struct {
		f    store.ReconcileFilter
		want []string
	}{
		{store.ReconcileFilter{Limit: 2}, []string{"D1", "D3"}},
		{store.ReconcileFilter{After: "D3", Limit: 10}, []string{"D4", "D5"}},
		{store.ReconcileFilter{Sources: []string{"sonla"}, Limit: 10}, []string{"D1", "D3", "D5"}},
		{store.ReconcileFilter{Sources: []string{}, Limit: 10}, nil},
		{store.ReconcileFilter{After: "D5", Limit: 10}, nil},
	} {
		got, err := s.ReconcileBatch(ctx, tc.f)
		must(t, err)
		if g := ids(got); !reflect.DeepEqual(g, tc.want) {
			t.Errorf("ReconcileBatch(%+v) = %v, want %v", tc.f, g, tc.want)
		}
	}

	// ForgetNationalHash changes the row only as it was read.
	held := entry("H1", 3)
	held.NationalState, held.NationalVersion, held.ContentHash = store.NationalHeld, 3, "h3"
	must(t, s.PutLedger(ctx, []store.LedgerEntry{held}))
	if ok, err := s.ForgetNationalHash(ctx, "H1", 2, "h3"); err != nil || ok {
		t.Fatalf("ForgetNationalHash(older version) = %v, %v; want false", ok, err)
	}
	if ok, err := s.ForgetNationalHash(ctx, "H1", 3, "h3"); err != nil || !ok {
		t.Fatalf("ForgetNationalHash = %v, %v; want true", ok, err)
	}
	got, err := s.GetLedgerStates(ctx, []string{"H1"})
	must(t, err)
	if e := got["H1"]; e.ContentHash != "" || e.NationalState != store.NationalHeld || e.NationalVersion != 3 {
		t.Fatalf("after ForgetNationalHash: %+v", e)
	}
}

// testDrift: findings are recorded once per dossier, keep when first found
// while open with the same kind, count per source and kind until
// resolved, and list with filters, newest first, with a total.
func testDrift(t *testing.T, s Store) {
	ctx := ctxT(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d := func(id, source, kind string, at time.Time, fields ...string) store.Drift {
		return store.Drift{DossierID: id, Source: source, Province: "14", Kind: kind, Fields: fields,
			Detail: "x", CheckedAt: at}
	}
	must(t, s.PutDrift(ctx, []store.Drift{
		d("A", "sonla", store.DriftMissing, t0),
		d("B", "sonla", store.DriftFieldDiffers, t0.Add(time.Minute), "DiaChi", "Email"),
		d("C", "hatinh", store.DriftOlderStatus, t0.Add(2*time.Minute), "TrangThaiHoSo"),
	}))
	// A again, same kind: still found at t0. B with another kind: found anew.
	must(t, s.PutDrift(ctx, []store.Drift{
		d("A", "sonla", store.DriftMissing, t0.Add(time.Hour)),
		d("B", "sonla", store.DriftOlderStatus, t0.Add(time.Hour), "TrangThaiHoSo"),
	}))
	list, total, err := s.ListDrift(ctx, store.DriftFilter{})
	must(t, err)
	if total != 3 || len(list) != 3 {
		t.Fatalf("ListDrift: %d rows, total %d; want 3", len(list), total)
	}
	byID := map[string]store.Drift{}
	for _, x := range list {
		byID[x.DossierID] = x
	}
	if a := byID["A"]; !a.FoundAt.Equal(t0) || !a.CheckedAt.Equal(t0.Add(time.Hour)) || a.State != store.DriftOpen {
		t.Errorf("A: %+v; want found at %v, checked an hour later, open", a, t0)
	}
	if b := byID["B"]; b.Kind != store.DriftOlderStatus || !b.FoundAt.Equal(t0.Add(time.Hour)) || !reflect.DeepEqual(b.Fields, []string{"TrangThaiHoSo"}) {
		t.Errorf("B: %+v; want older_status found anew", b)
	}
	if list[0].DossierID != "B" { // newest found first
		t.Errorf("ListDrift order: first %s, want B", list[0].DossierID)
	}
	if some, total, err := s.ListDrift(ctx, store.DriftFilter{IDs: []string{"C", "A", "NONE"}}); err != nil || total != 2 ||
		len(some) != 2 || some[0].DossierID != "C" || some[1].DossierID != "A" {
		t.Errorf("ListDrift of C, A and NONE: %+v, total %d, %v; want C and A", some, total, err)
	}

	must(t, s.MarkResyncing(ctx, []string{"A"}))
	must(t, s.ResolveDrift(ctx, []string{"C"}))
	counts, err := s.DriftCounts(ctx)
	must(t, err)
	want := map[string]map[string]int{"sonla": {store.DriftMissing: 1, store.DriftOlderStatus: 1}}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("DriftCounts = %v, want %v", counts, want)
	}
	page, total, err := s.ListDrift(ctx, store.DriftFilter{Sources: []string{"sonla"}, States: []string{store.DriftResyncing, store.DriftOpen}, Limit: 1, Offset: 1})
	must(t, err)
	if total != 2 || len(page) != 1 || page[0].DossierID != "A" || page[0].State != store.DriftResyncing || page[0].ResyncedAt.IsZero() {
		t.Errorf("ListDrift(sonla, page 2 of 1) = %+v, total %d; want A resyncing of 2", page, total)
	}
	if _, total, _ := s.ListDrift(ctx, store.DriftFilter{Sources: []string{}}); total != 0 {
		t.Errorf("ListDrift(no sources) total %d, want 0", total)
	}
	// Found again after being resolved: a new episode, open.
	must(t, s.PutDrift(ctx, []store.Drift{d("C", "hatinh", store.DriftOlderStatus, t0.Add(2*time.Hour))}))
	again, _, err := s.ListDrift(ctx, store.DriftFilter{Kinds: []string{store.DriftOlderStatus}, Sources: []string{"hatinh"}})
	must(t, err)
	if len(again) != 1 || again[0].State != store.DriftOpen || !again[0].FoundAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("C found again: %+v", again)
	}
}
