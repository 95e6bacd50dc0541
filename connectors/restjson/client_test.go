package restjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// pullAll pulls until More is false, failing on a version handed off twice.
func pullAll(t *testing.T, c *Client, cursor []byte, got map[string]int) []byte {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("no end")
		}
		p, err := c.Pull(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			key := httpx.RecordKey(r)
			if got[key]++; got[key] > 1 {
				t.Fatalf("%s handed off twice", key)
			}
		}
		cursor = p.Cursor
		if !p.More {
			return cursor
		}
	}
}

func checkLatest(t *testing.T, p *portal, got map[string]int) {
	t.Helper()
	for id, v := range p.tab.Latest() {
		if got[fmt.Sprintf("%s@%d", id, v)] != 1 {
			t.Errorf("%s@%d not handed off", id, v)
		}
	}
}

func TestPullSameSecondSplitAcrossPages(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("000.00.14.H52-261121", 7) // seven share one second; soLuong=3
	p.tab.Tick(time.Second)
	p.tab.Fill("000.00.14.H52-261121-B", 2)
	c := p.client(t, nil)
	got := map[string]int{}
	cur := pullAll(t, c, nil, got)
	if len(got) != 9 {
		t.Fatalf("got %d records, want 9", len(got))
	}
	checkLatest(t, p, got)
	// A later poll with nothing new hands off nothing.
	cur = pullAll(t, c, cur, got)
	p.tab.Tick(time.Second)
	p.tab.Put("000.00.14.H52-261121-0003")
	pullAll(t, c, cur, got)
	if got["000.00.14.H52-261121-0003@2"] != 1 || len(got) != 10 {
		t.Fatalf("update not picked up once: %v", got)
	}
	var cj map[string]any
	if err := json.Unmarshal(cur, &cj); err != nil {
		t.Fatalf("cursor is not JSON: %s", cur)
	}
}

// A dossier updated while the client is on page 2 moves to the end and
// shifts the others back; a page-number client would skip one.
func TestPullRecordMovesWhilePaging(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 7)
	p.tab.Tick(time.Second)
	p.tab.Fill("B", 5)
	moved := 0
	p.tab.BeforeQuery = func(page int) {
		if page == 2 && moved < 3 {
			moved++
			p.tab.Tick(time.Second)
			p.tab.Put(fmt.Sprintf("A-%04d", moved)) // one already read moves to the end
		}
	}
	c := p.client(t, nil)
	got := map[string]int{}
	pullAll(t, c, nil, got)
	p.tab.BeforeQuery = nil
	pullAll(t, c, nil, map[string]int{}) // sanity: a fresh start also works
	checkLatest(t, p, got)
	if moved == 0 {
		t.Fatal("scenario did not trigger")
	}
}

func TestPullThousandInOneSecondWithMoves(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("000.00.14.H52-261121", 1000)
	n := 0
	p.tab.BeforeQuery = func(page int) {
		if n++; n%3 == 0 && n < 60 {
			p.tab.Put(fmt.Sprintf("000.00.14.H52-261121-%04d", (n*37)%1000+1))
			if n%9 == 0 {
				p.tab.Tick(time.Second)
			}
		}
	}
	c := p.client(t, func(cfg *Config) { cfg.PageSize = 100 })
	got := map[string]int{}
	cur := pullAll(t, c, nil, got)
	p.tab.BeforeQuery = nil
	pullAll(t, c, cur, got)
	checkLatest(t, p, got)
}

func TestPullCrashResume(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 7)
	p.tab.Tick(time.Second)
	p.tab.Fill("B", 4)
	c := p.client(t, nil)
	var cursors [][]byte
	var batches [][]string
	var cur []byte
	for {
		pg, err := c.Pull(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, cur)
		var keys []string
		for _, r := range pg.Records {
			keys = append(keys, httpx.RecordKey(r))
		}
		batches = append(batches, keys)
		cur = pg.Cursor
		if !pg.More {
			break
		}
	}
	// "Crash" after publishing batch i but before storing its cursor: the
	// poller pulls again with cursors[i] and must get batch i and the rest.
	for i := range cursors {
		var want []string
		for _, b := range batches[i:] {
			want = append(want, b...)
		}
		var gotKeys []string
		c2 := p.client(t, nil) // a new process
		cc := cursors[i]
		for {
			pg, err := c2.Pull(context.Background(), cc)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range pg.Records {
				gotKeys = append(gotKeys, httpx.RecordKey(r))
			}
			cc = pg.Cursor
			if !pg.More {
				break
			}
		}
		if fmt.Sprint(gotKeys) != fmt.Sprint(want) {
			t.Fatalf("resume %d: got %v want %v", i, gotKeys, want)
		}
	}
}

func TestTokenRenewal(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 2)
	c := p.client(t, nil)
	ctx := context.Background()
	if _, err := c.Pull(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pull(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if logins, _ := p.counts(); logins != 1 {
		t.Fatalf("token not cached: %d logins", logins)
	}
	p.revokeAll() // the portal expired our token early
	pg, err := c.Pull(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if logins, unauth := p.counts(); len(pg.Records) != 2 || logins != 2 || unauth != 1 {
		t.Fatalf("records %d logins %d 401s %d", len(pg.Records), logins, unauth)
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 1)
	now := t0
	c := p.client(t, func(cfg *Config) { cfg.Now = func() time.Time { return now } })
	ctx := context.Background()
	c.Pull(ctx, nil)
	now = now.Add(200 * time.Second)
	c.Pull(ctx, nil)
	if logins, _ := p.counts(); logins != 1 {
		t.Fatalf("logins %d", logins)
	}
	now = now.Add(75 * time.Second) // 275s of 300: inside the renewal margin
	if _, err := c.Pull(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if logins, unauth := p.counts(); logins != 2 || unauth != 0 {
		t.Fatalf("logins %d 401s %d", logins, unauth)
	}
}

func TestBadCredentials(t *testing.T) {
	p := newPortal(t)
	c := p.client(t, func(cfg *Config) { cfg.ClientSecret = "wrong" })
	_, err := c.Pull(context.Background(), nil)
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatal("secret in error")
	}
}

func TestPersistent401IsPermanent(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 1)
	p.mu.Lock()
	p.rejectAll = true
	p.mu.Unlock()
	c := p.client(t, nil)
	_, err := c.Pull(context.Background(), nil)
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) {
		t.Fatalf("err %v", err)
	}
	if logins, unauth := p.counts(); logins != 2 || unauth != 2 {
		t.Fatalf("want one re-login: logins %d 401s %d", logins, unauth)
	}
}

func TestTransientAndPermanentErrors(t *testing.T) {
	p := newPortal(t)
	p.tab.Fill("A", 1)
	c := p.client(t, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
	ctx := context.Background()
	for _, tc := range []struct {
		status    int
		transient bool
	}{{503, true}, {500, true}, {429, true}, {400, false}, {404, false}, {299, true}} {
		p.mu.Lock()
		p.faults = []int{tc.status}
		p.mu.Unlock()
		_, err := c.Pull(ctx, nil)
		if err == nil || httpx.IsTransient(err) != tc.transient {
			t.Fatalf("status %d: err %v transient %v", tc.status, err, httpx.IsTransient(err))
		}
		if !strings.HasPrefix(err.Error(), "sonla: list page 1") {
			t.Fatalf("error lacks context: %v", err)
		}
		if tc.status == 429 && httpx.RetryAfter(err) != 7*time.Second {
			t.Fatalf("retry-after %v", httpx.RetryAfter(err))
		}
	}
	p.mu.Lock()
	p.hang = 2 * time.Second
	p.mu.Unlock()
	_, err := c.Pull(ctx, nil)
	if !httpx.IsTransient(err) {
		t.Fatalf("timeout not transient: %v", err)
	}
	p.mu.Lock()
	p.hang = 0
	p.mu.Unlock()
	if pg, err := c.Pull(ctx, nil); err != nil || len(pg.Records) != 1 {
		t.Fatalf("after faults: %v %v", pg, err)
	}
	down := p.client(t, func(cfg *Config) { cfg.BaseURL = "http://127.0.0.1:1" })
	if _, err := down.Pull(ctx, nil); !httpx.IsTransient(err) {
		t.Fatalf("connection refused not transient: %v", err)
	}
}

func TestMalformedRecordsPassOn(t *testing.T) {
	p := newPortal(t)
	p.tab.Put("OK-1")
	p.tab.PutBroken("WT-1", "wrongtypes")
	p.tab.PutBroken("NOID-1", "noid")
	p.tab.PutBroken("NOTIME-1", "notime")
	p.tab.PutBroken("SCALAR-1", "scalar")
	p.tab.Put("OK-2")
	c := p.client(t, func(cfg *Config) { cfg.PageSize = 50 })
	pg, err := c.Pull(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byPayload := map[string]schemas.RawRecord{}
	ids := []string{}
	for _, r := range pg.Records {
		ids = append(ids, r.ID)
		byPayload[string(r.Payload)] = r
		if r.Source != "sonla" || r.Op != schemas.OpUpsert || r.Format != schemas.FormatJSON || r.Pulled.IsZero() {
			t.Fatalf("bad envelope %+v", r)
		}
	}
	if len(pg.Records) != 6 {
		t.Fatalf("got %d records %v", len(pg.Records), ids)
	}
	for _, r := range pg.Records {
		switch {
		case r.ID == "WT-1":
			if r.Version != 1 || r.Updated == nil {
				t.Fatalf("wrong-typed phienBan not read leniently: %+v", r)
			}
			var m map[string]any
			if json.Unmarshal(r.Payload, &m) != nil || m["thuTuc"] != "1.000894" {
				t.Fatalf("payload not passed on: %s", r.Payload)
			}
		case r.ID == "NOTIME-1":
			if r.Updated != nil || r.Version != 1 {
				t.Fatalf("%+v", r)
			}
		case string(r.Payload) == `"không phải hồ sơ"`:
			if r.ID != "" {
				t.Fatal("scalar got an id")
			}
		}
	}
	noid := 0
	for _, r := range pg.Records {
		if r.ID == "" {
			noid++
		}
	}
	if noid != 2 {
		t.Fatalf("want 2 records without id, got %d (%v)", noid, ids)
	}
	// And they are not handed off again.
	pg2, err := c.Pull(context.Background(), pg.Cursor)
	if err != nil || len(pg2.Records) != 0 {
		t.Fatalf("repeat: %v %v", pg2.Records, err)
	}
}

func TestPortalCapsPageSize(t *testing.T) {
	p := newPortal(t)
	p.maxSize = 2
	p.tab.Fill("A", 5) // one second, more than the portal's cap
	c := p.client(t, func(cfg *Config) { cfg.PageSize = 10 })
	got := map[string]int{}
	pullAll(t, c, nil, got)
	if len(got) != 5 {
		t.Fatalf("got %v", got)
	}
}

func TestWriteback(t *testing.T) {
	p := newPortal(t)
	p.tab.Put("000.00.14.H52-261121-0001")
	c := p.client(t, nil)
	ctx := context.Background()
	ev := Event{DossierID: "000.00.14.H52-261121-0001", Kind: httpx.KindPayment, Reference: "TT-1",
		At: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), Content: "Đã thanh toán", Data: map[string]any{"soTien": 8000}}
	if err := c.Writeback(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := c.Writeback(ctx, ev); err != nil { // retried: same key, one effect
		t.Fatal(err)
	}
	p.mu.Lock()
	events := p.events
	p.mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("events %v", events)
	}
	e := events[0]
	if e["loai"] != "THANH_TOAN" || e["maThamChieu"] != "TT-1" || e["thoiDiem"] != "2026-11-21T16:00:00+07:00" ||
		e["noiDung"] != "Đã thanh toán" || e["duLieu"].(map[string]any)["soTien"] != float64(8000) {
		t.Fatalf("event %v", e)
	}
	ev.DossierID, ev.Reference = "000.00.14.H52-261121-9999", "TT-2"
	err := c.Writeback(ctx, ev)
	if !errors.Is(err, httpx.ErrNotFound) || !httpx.IsPermanent(err) {
		t.Fatalf("404: %v", err)
	}
	// 401 on writeback: re-login and retry.
	p.revokeAll()
	ev.DossierID, ev.Reference = "000.00.14.H52-261121-0001", "TT-3"
	if err := c.Writeback(ctx, ev); err != nil {
		t.Fatal(err)
	}
}

// TestPullClosesBurstSecond: more dossiers share one second than fit a page
// and nothing newer follows. Once the portal's Date is past that second by
// the margin, idle polls read one page instead of walking the whole second
// again; an answer without Date keeps the re-walk.
func TestPullClosesBurstSecond(t *testing.T) {
	for _, noDate := range []bool{false, true} {
		t.Run(fmt.Sprintf("noDate=%v", noDate), func(t *testing.T) {
			p := newPortal(t)
			p.mu.Lock()
			p.noDate = noDate
			p.mu.Unlock()
			p.tab.Fill("000.00.14.H52-261121", 7) // soLuong=3
			p.tab.Tick(10 * time.Second)
			c := p.client(t, nil)
			got := map[string]int{}
			cur := pullAll(t, c, nil, got)
			if len(got) != 7 {
				t.Fatalf("got %d records, want 7", len(got))
			}
			want := 1
			if noDate {
				want = 3
			}
			for i := 0; i < 3; i++ {
				q := p.tab.Queries()
				cur = pullAll(t, c, cur, got)
				if n := p.tab.Queries() - q; n != want {
					t.Fatalf("idle poll %d read %d pages, want %d", i, n, want)
				}
			}
			p.tab.Tick(time.Second)
			p.tab.Put("000.00.14.H52-261121-0002")
			pullAll(t, c, cur, got)
			if got["000.00.14.H52-261121-0002@2"] != 1 || len(got) != 8 {
				t.Fatalf("update not picked up once: %v", got)
			}
			checkLatest(t, p, got)
		})
	}
}
