package router

import (
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// TestSinkOnTimeColumns: the ledger keeps each dossier's due date (the
// newest version's) and its first resolution, for the on-time report.
func TestSinkOnTimeColumns(t *testing.T) {
	e := newSinkEnv(t)
	ict := time.FixedZone("ICT", 7*3600)
	due := time.Date(2026, 11, 28, 17, 0, 0, 0, ict)
	stepsAt := time.Date(2026, 11, 21, 8, 0, 0, 0, ict) // dossier()'s first step

	d := dossier("OT-1", 1, 4, 2) // received, processing
	d.DueAt = &due
	e.handle(t, d)
	if _, l := e.held(t, "OT-1"); !l.DueAt.Equal(due) || !l.ResolvedAt.IsZero() {
		t.Fatalf("v1: due %v resolved %v; want %v and none", l.DueAt, l.ResolvedAt, due)
	}

	// Extended, then resolved: its fifth step (status 9) is the resolution.
	extended := due.AddDate(0, 0, 3)
	d = dossier("OT-1", 2, 9, 5)
	d.DueAt = &extended
	e.handle(t, d)
	resolvedStep := stepsAt.Add(4 * time.Minute)
	if _, l := e.held(t, "OT-1"); !l.DueAt.Equal(extended) || !l.ResolvedAt.Equal(resolvedStep) {
		t.Fatalf("v2: due %v resolved %v; want %v and %v", l.DueAt, l.ResolvedAt, extended, resolvedStep)
	}

	// Reopened: the first resolution stays.
	d = dossier("OT-1", 3, 4, 2)
	d.DueAt = &extended
	e.handle(t, d)
	if _, l := e.held(t, "OT-1"); !l.ResolvedAt.Equal(resolvedStep) {
		t.Fatalf("v3: resolved %v; want %v kept", l.ResolvedAt, resolvedStep)
	}

	// Resolved with no step saying so: the end of processing.
	ended := time.Date(2026, 11, 25, 15, 30, 0, 0, ict)
	d = dossier("OT-2", 1, 10, 0)
	d.DueAt, d.ProcessingEndedAt = &due, &ended
	e.handle(t, d)
	if _, l := e.held(t, "OT-2"); !l.ResolvedAt.Equal(ended) {
		t.Fatalf("OT-2: resolved %v; want %v", l.ResolvedAt, ended)
	}

	rows, err := e.store.OnTimeReport(t.Context(), store.OnTimeFilter{Now: due.AddDate(0, 0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.OnTimeRow{{Source: "sonla", Procedure: "1.000894", Due: 2, OnTime: 2}}
	if len(rows) != 1 || rows[0] != want[0] {
		t.Fatalf("report %+v; want %+v", rows, want)
	}
}
