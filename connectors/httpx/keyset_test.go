package httpx_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
	"github.com/lienthong/lienthong/schemas"
)

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, httpx.Vietnam)

func fetchFrom(tab *httpxtest.LiveTable) httpx.KeysetFetch {
	return func(_ context.Context, since time.Time, page, size int) ([]schemas.RawRecord, bool, error) {
		rows, _ := tab.Query(since, page, size)
		var out []schemas.RawRecord
		for _, r := range rows {
			u := r.Updated
			out = append(out, schemas.RawRecord{ID: r.ID, Version: r.Version, Updated: &u,
				Payload: []byte(fmt.Sprintf(`{"id":%q,"v":%d}`, r.ID, r.Version))})
		}
		return out, len(rows) == size, nil
	}
}

// drain pulls until More is false and returns the handed-off keys in order.
func drain(t *testing.T, k *httpx.Keyset, cursor []byte, limit int) ([]string, []byte) {
	t.Helper()
	var keys []string
	for i := 0; ; i++ {
		if i > limit {
			t.Fatalf("no end after %d pulls", limit)
		}
		p, err := k.Pull(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			keys = append(keys, httpx.RecordKey(r))
		}
		cursor = p.Cursor
		if !p.More {
			return keys, cursor
		}
	}
}

// TestKeysetLiveTableRandom drives the pager against a table that changes
// between every read (updates move records to the end, inserts, same-second
// version bumps, clock ticks, bursts of records in one second), with crashes
// that drop a page before it is published, and checks that every dossier's
// final version is handed off and no version twice.
func TestKeysetLiveTableRandom(t *testing.T) {
	for seed := int64(1); seed <= randomSeeds; seed++ {
		rng := rand.New(rand.NewSource(seed))
		tab := httpxtest.NewLiveTable(t0)
		n := 0
		newID := func() string { n++; return fmt.Sprintf("H-%05d", n) }
		for s := 0; s < 6; s++ {
			for i := rng.Intn(25); i > 0; i-- {
				tab.Put(newID())
			}
			tab.Tick(time.Duration(rng.Intn(3)) * time.Second)
		}
		mutating := true
		tab.BeforeQuery = func(int) {
			if !mutating {
				return
			}
			for m := rng.Intn(4); m > 0; m-- {
				ids := tab.IDs()
				switch x := rng.Intn(10); {
				case x < 5 && len(ids) > 0:
					tab.Put(ids[rng.Intn(len(ids))]) // update: moves to the end
				case x < 8:
					tab.Put(newID())
				default:
					tab.Tick(time.Second)
				}
			}
		}
		sizes := []int{1, 2, 3, 5, 7, 50}
		k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: sizes[rng.Intn(len(sizes))], Fetch: fetchFrom(tab), MaxSteps: 1 + rng.Intn(3)}
		seen := map[string]bool{}
		var cursor []byte
		for i := 0; i < 60+rng.Intn(60); i++ {
			p, err := k.Pull(context.Background(), cursor)
			if err != nil {
				t.Fatal(err)
			}
			if rng.Intn(8) == 0 {
				continue // crash before publishing: the same cursor is pulled again
			}
			for _, r := range p.Records {
				key := httpx.RecordKey(r)
				if seen[key] {
					t.Fatalf("seed %d: %s handed off twice", seed, key)
				}
				seen[key] = true
			}
			cursor = p.Cursor
		}
		mutating = false
		tab.Tick(time.Second)
		keys, _ := drain(t, k, cursor, 100000)
		for _, key := range keys {
			if seen[key] {
				t.Fatalf("seed %d: %s handed off twice", seed, key)
			}
			seen[key] = true
		}
		for id, v := range tab.Latest() {
			if !seen[fmt.Sprintf("%s@%d", id, v)] {
				t.Fatalf("seed %d (page size %d): %s@%d never handed off", seed, k.PageSize, id, v)
			}
		}
	}
}

// TestKeysetResume checks that Pull is a pure function of (cursor, remote
// state): replaying from any earlier cursor yields exactly what followed it.
func TestKeysetResume(t *testing.T) {
	tab := httpxtest.NewLiveTable(t0)
	tab.Fill("A", 7) // seven in one second
	tab.Tick(time.Second)
	tab.Fill("B", 4)
	tab.Tick(2 * time.Second)
	tab.Fill("C", 1)
	k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: 3, Fetch: fetchFrom(tab), MaxSteps: 1}
	type step struct {
		cursor []byte
		keys   []string
	}
	var steps []step
	var cursor []byte
	for {
		p, err := k.Pull(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range p.Records {
			keys = append(keys, httpx.RecordKey(r))
		}
		steps = append(steps, step{cursor, keys})
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	var all []string
	for _, s := range steps {
		all = append(all, s.keys...)
	}
	if len(all) != 12 {
		t.Fatalf("handed off %d records, want 12: %v", len(all), all)
	}
	for i, s := range steps {
		got, _ := drain(t, k, s.cursor, 1000)
		var want []string
		for _, s2 := range steps[i:] {
			want = append(want, s2.keys...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("resume from step %d: got %v want %v", i, got, want)
		}
	}
	// Nothing new: an up-to-date cursor yields nothing.
	if got, _ := drain(t, k, cursor, 100); len(got) != 0 {
		t.Fatalf("caught-up cursor yielded %v", got)
	}
}

// TestKeysetSameSecondNewVersion: a record at since re-versioned within the
// same second is new.
func TestKeysetSameSecondNewVersion(t *testing.T) {
	tab := httpxtest.NewLiveTable(t0)
	tab.Fill("A", 2)
	k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: 10, Fetch: fetchFrom(tab)}
	keys, cur := drain(t, k, nil, 10)
	if len(keys) != 2 {
		t.Fatalf("got %v", keys)
	}
	tab.Put("A-0001")
	keys, _ = drain(t, k, cur, 10)
	if fmt.Sprint(keys) != "[A-0001@2]" {
		t.Fatalf("got %v", keys)
	}
}

// TestKeysetUnreadable: records without a readable time or id still pass,
// placed by their neighbours, and are not repeated.
func TestKeysetUnreadable(t *testing.T) {
	ts := t0
	recs := []schemas.RawRecord{
		{ID: "A", Version: 1, Updated: &ts, Payload: []byte(`{"a":1}`)},
		{ID: "", Version: 0, Payload: []byte(`{"broken":true}`)},
		{ID: "C", Version: 1, Payload: []byte(`{"c":1}`)},
	}
	k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: 10, Fetch: func(_ context.Context, since time.Time, page, size int) ([]schemas.RawRecord, bool, error) {
		var out []schemas.RawRecord
		for _, r := range recs {
			if r.Updated == nil || !r.Updated.Before(since) {
				out = append(out, r)
			}
		}
		return out, false, nil
	}}
	keys, cur := drain(t, k, nil, 10)
	if len(keys) != 3 {
		t.Fatalf("got %v", keys)
	}
	if keys, _ = drain(t, k, cur, 10); len(keys) != 0 {
		t.Fatalf("repeated %v", keys)
	}
	if _, err := k.Pull(context.Background(), []byte("{nope")); !httpx.IsPermanent(err) {
		t.Fatalf("bad cursor: %v", err)
	}
}
