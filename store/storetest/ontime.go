package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// testOnTimeReport: the report matches a hand-counted fixture, with every
// bucket and the period's edges (Since inclusive, Until exclusive, a
// resolution at the due instant on time, a due date at Now still open).
func testOnTimeReport(t *testing.T, s Store) {
	ctx := ctxT(t)
	ict := time.FixedZone("ICT", 7*3600)
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, ict) }
	none := time.Time{}
	// November 2026 in Việt Nam; now is the 20th at noon.
	since, until, now := day(1, 0, 0), time.Date(2026, 12, 1, 0, 0, 0, 0, ict), day(20, 12, 0)

	var es []store.LedgerEntry
	add := func(id, source, proc string, status int, due, resolved time.Time, deleted bool) {
		e := entry(id, 1)
		e.Source, e.Procedure, e.Status, e.DueAt, e.ResolvedAt, e.Deleted = source, proc, status, due, resolved, deleted
		es = append(es, e)
	}
	//  id     source    proc  status due                        resolved         bucket
	add("S1", "sonla", "P1", 10, day(10, 17, 0), day(9, 8, 0), false)    // on time
	add("S2", "sonla", "P1", 9, day(10, 10, 0), day(10, 10, 0), false)   // on time: at the due instant
	add("S3", "sonla", "P1", 10, day(5, 17, 0), day(7, 9, 0), false)     // late
	add("S4", "sonla", "P1", 4, day(15, 17, 0), none, false)             // overdue
	add("S5", "sonla", "P1", 4, day(25, 17, 0), none, false)             // open
	add("S6", "sonla", "P2", 10, since, day(2, 9, 0), false)             // late: due at Since, inside
	add("S7", "sonla", "P2", 2, until, none, false)                      // out: due at Until (open when unbounded)
	add("S8", "sonla", "P2", 4, since.Add(-time.Minute), none, false)    // out: due before Since (overdue when unbounded)
	add("S9", "sonla", "P2", 4, none, none, false)                       // out: no due date
	add("S10", "sonla", "P2", 7, day(12, 17, 0), none, false)            // out: withdrawn
	add("S11", "sonla", "P1", 4, day(12, 17, 0), none, true)             // out: deleted
	add("S12", "sonla", "P1", 4, now, none, false)                       // open: due at Now
	add("H1", "hatinh", "P3", 9, day(3, 17, 0), day(3, 16, 59), false)   // on time
	add("H2", "hatinh", "P3", 8, day(18, 17, 0), none, false)            // overdue (paused still counts)
	add("H3", "hatinh", "P1", 10, day(30, 23, 59), day(29, 8, 0), false) // on time
	add("H4", "hatinh", "P1", 10, day(19, 17, 0), day(21, 8, 0), false)  // late, resolved after Now's day
	add("H5", "hatinh", "P3", 3, day(10, 17, 0), none, false)            // out: refused at intake
	must(t, s.PutLedger(ctx, es))

	row := func(source, proc string, onTime, late, overdue, open int) store.OnTimeRow {
		return store.OnTimeRow{Source: source, Procedure: proc, Due: onTime + late + overdue + open,
			OnTime: onTime, Late: late, OverdueNow: overdue, Open: open}
	}
	hatinhP1, hatinhP3 := row("hatinh", "P1", 1, 1, 0, 0), row("hatinh", "P3", 1, 0, 1, 0)
	for _, c := range []struct {
		name string
		f    store.OnTimeFilter
		want []store.OnTimeRow
	}{
		{"november", store.OnTimeFilter{Since: since, Until: until, Now: now}, []store.OnTimeRow{
			hatinhP1, hatinhP3, row("sonla", "P1", 2, 1, 1, 2), row("sonla", "P2", 0, 1, 0, 0)}},
		{"unbounded", store.OnTimeFilter{Now: now}, []store.OnTimeRow{
			hatinhP1, hatinhP3, row("sonla", "P1", 2, 1, 1, 2), row("sonla", "P2", 0, 1, 1, 1)}},
		{"one source", store.OnTimeFilter{Sources: []string{"hatinh"}, Since: since, Until: until, Now: now},
			[]store.OnTimeRow{hatinhP1, hatinhP3}},
		{"no source", store.OnTimeFilter{Sources: []string{}, Since: since, Until: until, Now: now}, nil},
		// Earlier, S4 and S12 were not yet due, nor H2 and H4 (which was
		// resolved later: at that time it counts as resolved already, the
		// ledger keeping only the first resolution).
		{"earlier now", store.OnTimeFilter{Since: since, Until: until, Now: day(14, 0, 0)}, []store.OnTimeRow{
			hatinhP1, row("hatinh", "P3", 1, 0, 0, 1), row("sonla", "P1", 2, 1, 0, 3), row("sonla", "P2", 0, 1, 0, 0)}},
		{"december", store.OnTimeFilter{Since: until, Until: until.AddDate(0, 1, 0), Now: now},
			[]store.OnTimeRow{row("sonla", "P2", 0, 0, 0, 1)}},
	} {
		got, err := s.OnTimeReport(ctx, c.f)
		must(t, err)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	// Overdue at now, whatever the due date: S4, S8 and H2.
	overdue, err := s.OverdueCounts(ctx, now)
	must(t, err)
	if want := map[string]int{"sonla": 2, "hatinh": 1}; !reflect.DeepEqual(overdue, want) {
		t.Errorf("overdue counts = %v, want %v", overdue, want)
	}
}
