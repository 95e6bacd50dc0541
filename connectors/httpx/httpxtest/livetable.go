// Package httpxtest holds test doubles shared by the connector tests: a live
// table with the listing semantics of the Sơn La and Thái Nguyên portals
// (inclusive "updated at or after", ordered by (updated, id), paged by
// number over the current state), with hooks to change it between reads.
package httpxtest

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Row is one dossier of a LiveTable.
type Row struct {
	ID      string
	Version int64
	Updated time.Time
	Broken  string // test-defined corruption marker, carried to the server's rendering
}

// LiveTable is a concurrency-safe in-memory dossier table with a manual
// second-granular clock.
type LiveTable struct {
	mu   sync.Mutex
	rows map[string]*Row
	now  time.Time
	// BeforeQuery, when set, runs before each Query (outside the lock) with
	// the query's page number; tests use it to change the table mid-walk.
	BeforeQuery func(page int)
	queries     int
}

// NewLiveTable starts the clock at start.
func NewLiveTable(start time.Time) *LiveTable {
	return &LiveTable{rows: map[string]*Row{}, now: start.Truncate(time.Second)}
}

// Now is the table's clock.
func (t *LiveTable) Now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.now
}

// Tick advances the clock.
func (t *LiveTable) Tick(d time.Duration) {
	t.mu.Lock()
	t.now = t.now.Add(d)
	t.mu.Unlock()
}

// Put creates or updates id at the current clock, bumping its version.
func (t *LiveTable) Put(id string) Row {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rows[id]
	if r == nil {
		r = &Row{ID: id}
		t.rows[id] = r
	}
	r.Version++
	r.Updated = t.now
	return *r
}

// PutBroken is Put with a corruption marker.
func (t *LiveTable) PutBroken(id, broken string) Row {
	r := t.Put(id)
	t.mu.Lock()
	t.rows[id].Broken = broken
	r.Broken = broken
	t.mu.Unlock()
	return r
}

// Fill inserts n new rows named prefix-0001… at the current clock.
func (t *LiveTable) Fill(prefix string, n int) {
	for i := 1; i <= n; i++ {
		t.Put(fmt.Sprintf("%s-%04d", prefix, i))
	}
}

// IDs returns the ids in the table.
func (t *LiveTable) IDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.rows))
	for id := range t.rows {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Latest returns id → current version.
func (t *LiveTable) Latest() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int64{}
	for id, r := range t.rows {
		out[id] = r.Version
	}
	return out
}

// Queries counts Query calls.
func (t *LiveTable) Queries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queries
}

// Query answers page (from 1) of size rows with Updated >= since, ordered by
// (Updated, ID), and the total count of such rows.
func (t *LiveTable) Query(since time.Time, page, size int) ([]Row, int) {
	if h := t.BeforeQuery; h != nil {
		h(page)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queries++
	var all []Row
	for _, r := range t.rows {
		if !r.Updated.Before(since) {
			all = append(all, *r)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].Updated.Equal(all[j].Updated) {
			return all[i].Updated.Before(all[j].Updated)
		}
		return all[i].ID < all[j].ID
	})
	from := (page - 1) * size
	if page < 1 || from >= len(all) {
		return nil, len(all)
	}
	to := min(from+size, len(all))
	return all[from:to], len(all)
}
