package httpx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
	"github.com/lienthong/lienthong/schemas"
)

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, schemas.Vietnam)

// fetchFrom reads tab, answering with the table's clock as the server time
// (a Date header written by the clock that stamps the records).
func fetchFrom(tab *httpxtest.LiveTable) httpx.KeysetFetch {
	return fetchSkewed(tab, 0)
}

// fetchSkewed is fetchFrom with the server time skew ahead of the table's
// clock (behind when negative).
func fetchSkewed(tab *httpxtest.LiveTable, skew time.Duration) httpx.KeysetFetch {
	return fetchWith(tab, func() time.Time { return tab.Now().Add(skew) })
}

// fetchNoDate reads tab with no server time (an answer without Date).
func fetchNoDate(tab *httpxtest.LiveTable) httpx.KeysetFetch { return fetchWith(tab, nil) }

func fetchWith(tab *httpxtest.LiveTable, date func() time.Time) httpx.KeysetFetch {
	return func(_ context.Context, since time.Time, page, size int) (httpx.KeysetPage, error) {
		rows, _ := tab.Query(since, page, size)
		var out []schemas.RawRecord
		for _, r := range rows {
			u := r.Updated
			out = append(out, schemas.RawRecord{ID: r.ID, Version: r.Version, Updated: &u,
				Payload: []byte(fmt.Sprintf(`{"id":%q,"v":%d}`, r.ID, r.Version))})
		}
		pg := httpx.KeysetPage{Records: out, Full: len(rows) == size}
		if date != nil {
			// The Date is written after the snapshot, to the second.
			pg.ServerTime = date().UTC().Truncate(time.Second)
		}
		return pg, nil
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
// version bumps, clock ticks and jumps, bursts of records in one second,
// quiet spells where only the clock moves), with crashes that drop a page
// before it is published, and checks that every dossier's final version is
// handed off and no version twice. Seeds vary how the server reports its
// time: not at all (no Date), the table's clock, a clock ahead of it by up to
// the tolerated skew (margin - 1 s), or one behind it.
func TestKeysetLiveTableRandom(t *testing.T) {
	for seed := int64(1); seed <= randomSeeds; seed++ {
		rng := rand.New(rand.NewSource(seed))
		tab := httpxtest.NewLiveTable(t0)
		var fetch httpx.KeysetFetch
		var dateMode string
		switch seed % 4 {
		case 0:
			fetch, dateMode = fetchNoDate(tab), "no date"
		case 1:
			fetch, dateMode = fetchFrom(tab), "table clock"
		case 2:
			skew := time.Duration(rng.Intn(int(httpx.DefaultCloseMargin/time.Second))) * time.Second
			fetch, dateMode = fetchSkewed(tab, skew), fmt.Sprintf("ahead %v", skew)
		default:
			skew := -time.Duration(1+rng.Intn(10)) * time.Second
			fetch, dateMode = fetchSkewed(tab, skew), fmt.Sprintf("behind %v", -skew)
		}
		n := 0
		newID := func() string { n++; return fmt.Sprintf("H-%05d", n) }
		for s := 0; s < 6; s++ {
			for i := rng.Intn(25); i > 0; i-- {
				tab.Put(newID())
			}
			tab.Tick(time.Duration(rng.Intn(3)) * time.Second)
		}
		mutating, quiet := true, false
		tab.BeforeQuery = func(int) {
			if !mutating {
				return
			}
			if rng.Intn(12) == 0 {
				quiet = !quiet
			}
			if quiet {
				// Nothing is written; the clock runs on, so seconds close.
				if rng.Intn(2) == 0 {
					tab.Tick(time.Second)
				}
				return
			}
			for m := rng.Intn(4); m > 0; m-- {
				ids := tab.IDs()
				switch x := rng.Intn(20); {
				case x < 9 && len(ids) > 0:
					tab.Put(ids[rng.Intn(len(ids))]) // update: moves to the end
				case x < 15:
					tab.Put(newID())
				case x < 17:
					tab.Tick(time.Second)
				case x < 18:
					tab.Tick(time.Duration(2+rng.Intn(8)) * time.Second)
				default: // a burst in one second
					for i := 3 + rng.Intn(20); i > 0; i-- {
						tab.Put(newID())
					}
				}
			}
		}
		sizes := []int{1, 2, 3, 5, 7, 50}
		k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: sizes[rng.Intn(len(sizes))], Fetch: fetch, MaxSteps: 1 + rng.Intn(3)}
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
					t.Fatalf("seed %d (%s): %s handed off twice", seed, dateMode, key)
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
				t.Fatalf("seed %d (%s): %s handed off twice", seed, dateMode, key)
			}
			seen[key] = true
		}
		for id, v := range tab.Latest() {
			if !seen[fmt.Sprintf("%s@%d", id, v)] {
				t.Fatalf("seed %d (%s, page size %d): %s@%d never handed off", seed, dateMode, k.PageSize, id, v)
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
	k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: 10, Fetch: func(_ context.Context, since time.Time, page, size int) (httpx.KeysetPage, error) {
		var out []schemas.RawRecord
		for _, r := range recs {
			if r.Updated == nil || !r.Updated.Before(since) {
				out = append(out, r)
			}
		}
		return httpx.KeysetPage{Records: out}, nil
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

// cursorField reads one field of a keyset cursor (its JSON form).
func cursorField(t *testing.T, cur []byte, name string) (string, bool) {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(cur, &c); err != nil {
		t.Fatalf("cursor %s: %v", cur, err)
	}
	v, ok := c[name]
	if !ok {
		return "", false
	}
	return fmt.Sprint(v), true
}

// pullCounting pulls once and counts the fetches it made.
func pullCounting(t *testing.T, k *httpx.Keyset, tab *httpxtest.LiveTable, cur []byte) (httpx.Page, int) {
	t.Helper()
	q := tab.Queries()
	p, err := k.Pull(context.Background(), cur)
	if err != nil {
		t.Fatal(err)
	}
	return p, tab.Queries() - q
}

// TestKeysetClosesBurstSecond: a bulk import puts more records in one second
// than fit a page, and nothing newer follows. Once the server's clock is past
// that second by the margin, the walk that hands the second off closes it,
// and later polls read one page each instead of walking the second again;
// without a server time the second is walked at every poll, as before.
func TestKeysetClosesBurstSecond(t *testing.T) {
	for _, withDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("date=%v", withDate), func(t *testing.T) {
			tab := httpxtest.NewLiveTable(t0)
			tab.Fill("A", 1200)
			tab.Tick(10 * time.Second)
			fetch := fetchNoDate(tab)
			if withDate {
				fetch = fetchFrom(tab)
			}
			k := &httpx.Keyset{Start: t0.Add(-time.Hour), PageSize: 500, Fetch: fetch}
			keys, cur := drain(t, k, nil, 100)
			if len(keys) != 1200 {
				t.Fatalf("handed off %d, want 1200", len(keys))
			}
			for i := 0; i < 5; i++ {
				p, n := pullCounting(t, k, tab, cur)
				if len(p.Records) != 0 || p.More {
					t.Fatalf("idle poll %d: %d records, more %v", i, len(p.Records), p.More)
				}
				if withDate && n > 1 {
					t.Fatalf("idle poll %d read %d pages, want at most 1", i, n)
				}
				if !withDate && n != 3 {
					t.Fatalf("idle poll %d without Date read %d pages, want the 3-page re-walk", i, n)
				}
				cur = p.Cursor
			}
			if withDate {
				if since, _ := cursorField(t, cur, "since"); since != t0.Add(time.Second).Format(time.RFC3339Nano) {
					t.Fatalf("since %s, want the next whole second %s", since, t0.Add(time.Second).Format(time.RFC3339Nano))
				}
			}
			// A record of the burst updated later moves to a newer second.
			tab.Tick(time.Second)
			tab.Put("A-0007")
			keys, cur = drain(t, k, cur, 100)
			if fmt.Sprint(keys) != "[A-0007@2]" {
				t.Fatalf("after the update got %v", keys)
			}
			for i := 0; i < 3; i++ {
				p, n := pullCounting(t, k, tab, cur)
				if len(p.Records) != 0 || p.More || n > 1 {
					t.Fatalf("idle poll %d after the update: %d records, more %v, %d pages", i, len(p.Records), p.More, n)
				}
				cur = p.Cursor
			}
		})
	}
}

// TestKeysetCloseNeedsWalkStart: what closes a second is the server time of
// the walk's page-1 read, carried in the cursor across Pulls — not that of a
// later page: records could enter the second behind a walk that started
// while it was current.
func TestKeysetCloseNeedsWalkStart(t *testing.T) {
	tab := httpxtest.NewLiveTable(t0)
	tab.Fill("A", 1200)
	tab.Tick(2 * time.Second) // within the margin: the second may still grow
	// Start at the second: page 1 starts the up walk.
	k := &httpx.Keyset{Start: t0, PageSize: 500, Fetch: fetchFrom(tab), MaxSteps: 1}
	var cur []byte
	got := 0
	for i := 1; i <= 3; i++ {
		p, err := k.Pull(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		got += len(p.Records)
		cur = p.Cursor
		if i == 1 {
			if w, ok := cursorField(t, cur, "walk"); !ok || w == "" {
				t.Fatal("up-walk cursor without its start time")
			}
			tab.Tick(10 * time.Second) // past the margin for pages 2 and 3
		}
	}
	if got != 1200 {
		t.Fatalf("handed off %d, want 1200", got)
	}
	if since, _ := cursorField(t, cur, "since"); since != t0.Format(time.RFC3339Nano) {
		t.Fatalf("a walk started within the margin closed the second: since %s", since)
	}
	// The next walk starts past the margin and closes it.
	keys, cur := drain(t, k, cur, 100)
	if len(keys) != 0 {
		t.Fatalf("re-walk handed off %v", keys)
	}
	if since, _ := cursorField(t, cur, "since"); since != t0.Add(time.Second).Format(time.RFC3339Nano) {
		t.Fatalf("since %s after a walk started past the margin", since)
	}
	if _, n := pullCounting(t, k, tab, cur); n != 1 {
		t.Fatalf("idle poll read %d pages", n)
	}
}

// TestKeysetOldCursorNeverCloses: a cursor written mid-walk by the previous
// version has no walk start time; that walk ends as before (the second is
// walked again), and the next walk, with a known start, closes it.
func TestKeysetOldCursorNeverCloses(t *testing.T) {
	tab := httpxtest.NewLiveTable(t0)
	tab.Fill("A", 1200)
	tab.Tick(10 * time.Second)
	old := &httpx.Keyset{Start: t0, PageSize: 500, Fetch: fetchNoDate(tab), MaxSteps: 1}
	var cur []byte
	for i := 0; i < 2; i++ {
		p, err := old.Pull(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		cur = p.Cursor
	}
	if _, ok := cursorField(t, cur, "walk"); ok {
		t.Fatal("walk start without a server time")
	}
	if ph, _ := cursorField(t, cur, "phase"); ph != "up" {
		t.Fatalf("expected an up-walk cursor, phase %q", ph)
	}
	k := &httpx.Keyset{Start: t0, PageSize: 500, Fetch: fetchFrom(tab), MaxSteps: 1}
	p, err := k.Pull(context.Background(), cur) // page 3, short
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 200 {
		t.Fatalf("page 3 handed off %d", len(p.Records))
	}
	if since, _ := cursorField(t, p.Cursor, "since"); since != t0.Format(time.RFC3339Nano) {
		t.Fatalf("a walk of unknown start closed the second: since %s", since)
	}
	keys, cur := drain(t, k, p.Cursor, 100)
	if len(keys) != 0 {
		t.Fatalf("re-walk handed off %v", keys)
	}
	if since, _ := cursorField(t, cur, "since"); since != t0.Add(time.Second).Format(time.RFC3339Nano) {
		t.Fatalf("the next walk did not close the second: since %s", since)
	}
}

// TestKeysetCloseFromFractionalStart: a listing that reads since to the
// second (Thái Nguyên formats dd/MM/yyyy HH:mm:ss) answers a Start that is
// not whole with the records of its second, all older than Start. Closing
// moves since to the next whole second, not Start + 1 s (which would make
// the listing read that second again), and skips nothing after it.
func TestKeysetCloseFromFractionalStart(t *testing.T) {
	tab := httpxtest.NewLiveTable(t0)
	tab.Fill("A", 7) // at t0, before Start
	tab.Tick(10 * time.Second)
	inner := fetchFrom(tab)
	truncating := func(ctx context.Context, since time.Time, page, size int) (httpx.KeysetPage, error) {
		return inner(ctx, since.Truncate(time.Second), page, size)
	}
	start := t0.Add(500 * time.Millisecond)
	k := &httpx.Keyset{Start: start, PageSize: 3, Fetch: truncating}
	keys, cur := drain(t, k, nil, 100)
	if len(keys) != 0 {
		t.Fatalf("records older than Start handed off: %v", keys)
	}
	if since, _ := cursorField(t, cur, "since"); since != t0.Add(time.Second).Format(time.RFC3339Nano) {
		t.Fatalf("since %s, want the whole second after Start", since)
	}
	if _, n := pullCounting(t, k, tab, cur); n != 1 {
		t.Fatalf("idle poll read %d pages", n)
	}
	tab.Put("B-1")
	tab.Put("A-0003")
	keys, _ = drain(t, k, cur, 100)
	if fmt.Sprint(keys) != "[A-0003@2 B-1@1]" {
		t.Fatalf("after Start got %v", keys)
	}
}

func TestHeaderDate(t *testing.T) {
	want := time.Date(2026, 11, 21, 1, 0, 10, 0, time.UTC)
	for _, c := range []struct {
		date string
		want time.Time
	}{
		{"Sat, 21 Nov 2026 01:00:10 GMT", want},
		{"Saturday, 21-Nov-26 01:00:10 GMT", want}, // RFC 850
		{"Sat Nov 21 01:00:10 2026", want},         // asctime
		{"", time.Time{}},
		{"hôm nay", time.Time{}},
	} {
		h := http.Header{}
		if c.date != "" {
			h.Set("Date", c.date)
		}
		if got := httpx.HeaderDate(h); !got.Equal(c.want) {
			t.Errorf("Date %q: got %v, want %v", c.date, got, c.want)
		}
	}
	if got := httpx.HeaderDate(nil); !got.IsZero() {
		t.Errorf("nil header: %v", got)
	}
}
