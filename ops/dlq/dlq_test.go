package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// testBrokers is the embedded Kafka broker (kfake over TCP) of this binary.
// One partition per topic: what a test publishes it reads back in order.
var testBrokers []string

func TestMain(m *testing.M) { broker.TestMain(m, broker.Config{Partitions: 1}, &testBrokers) }

// testStore is a real store as the tests use it.
type testStore interface {
	Store
	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
	Timeline(ctx context.Context, dossierID string) ([]store.Event, error)
	OpenSettlement(ctx context.Context, s store.Settlement) (store.Settlement, bool, error)
	UpdateSettlement(ctx context.Context, kind, ref string, u store.SettlementUpdate) (store.Settlement, bool, error)
	GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error)
}

func newSQLite(t *testing.T) testStore {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newPostgres(t *testing.T) testStore {
	t.Helper()
	st, err := sqlstore.OpenPostgres(context.Background(), pgtest.Schema(t), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var stores = []struct {
	name string
	open func(t *testing.T) testStore
}{{"sqlite", newSQLite}, {"postgres", newPostgres}}

// env is a Service over a real store and the embedded broker, with topics
// of its own.
type env struct {
	st     testStore
	pub    *kafka.Publisher
	topics router.Topics
	svc    *Service
}

func newEnv(t *testing.T, st testStore) *env {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: testBrokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	topics := router.Topics{Prefix: "t" + watermill.NewShortUUID() + "."}
	return &env{st: st, pub: pub, topics: topics, svc: New(st, pub, topics, "test-hub")}
}

// add quarantines entries and returns them as stored, IDs assigned.
func (e *env) add(t *testing.T, entries ...store.QuarantineEntry) []store.QuarantineEntry {
	t.Helper()
	ctx := context.Background()
	before, err := e.st.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddQuarantine(ctx, entries); err != nil {
		t.Fatal(err)
	}
	all, err := e.st.ListQuarantine(ctx, store.QuarantineFilter{Offset: len(before)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(entries) {
		t.Fatalf("added %d entries, found %d", len(entries), len(all))
	}
	return all
}

func (e *env) state(t *testing.T, id int64) string {
	t.Helper()
	got, err := e.st.GetQuarantine(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got.State
}

// received is one message read back from a topic.
type received struct {
	key    string
	body   []byte
	source string
	entry  string
}

// drain publishes a sentinel to topic and returns every message before it
// (earlier sentinels aside): exactly what is on the topic, with no waiting
// for messages that may still come.
func (e *env) drain(t *testing.T, topic string) []received {
	t.Helper()
	sentinel := message.NewMessage(watermill.NewUUID(), []byte("sentinel"))
	sentinel.Metadata.Set("sentinel", "1")
	if err := e.pub.Publish(topic, sentinel); err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: testBrokers, FetchMaxWait: 100 * time.Millisecond,
		// In partition order: the sentinel published last comes last.
		WindowMessages: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for {
		select {
		case m := <-ch:
			m.Ack()
			if m.UUID == sentinel.UUID {
				return out
			}
			if m.Metadata.Get("sentinel") != "" { // an earlier drain's
				continue
			}
			info, _ := kafka.MessageInfoFromCtx(m.Context())
			out = append(out, received{key: string(info.Key), body: m.Payload, source: m.Metadata.Get(schemas.MetadataSource), entry: m.Metadata.Get(MetadataEntry)})
		case <-ctx.Done():
			t.Fatalf("topic %s: sentinel not read within 30s (%d messages before)", topic, len(out))
		}
	}
}

func TestReplayEachFormat(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			testReplayEachFormat(t, newEnv(t, s.open(t)))
		})
	}
}

func testReplayEachFormat(t *testing.T, e *env) {
	ctx := context.Background()
	canonical := []byte(`{"id":"000.00.19.H55-261121-0007",  "source":"thainguyen","source_version":2}`)
	rawMsg := []byte("not a raw record \x00\xff")
	notice := []byte("\x00LT\x01 a notice sealed under a key since lost")
	entries := e.add(t,
		store.QuarantineEntry{Source: "sonla", DossierID: "000.00.14.H52-261121-0001", Version: 3, Field: "thuTuc.ma",
			Reason: "sonla: dossier 000.00.14.H52-261121-0001: thuTuc.ma: unknown procedure", Format: schemas.FormatJSON,
			Payload: []byte(`{"maHoSo":"000.00.14.H52-261121-0001","hoTen":"Lò Văn Minh"}`)},
		store.QuarantineEntry{Source: "hatinh", DossierID: "000.00.42.H25-261121-0003", Version: 1001, Field: "TRANG_THAI",
			Reason: "hatinh: TRANG_THAI: unknown status", Format: schemas.FormatXML,
			Payload: []byte(`<HOSO SEQ="1001"><MA_HO_SO>000.00.42.H25-261121-0003</MA_HO_SO></HOSO>`)},
		store.QuarantineEntry{Source: "thainguyen", DossierID: "000.00.19.H55-261121-0007", Version: 2, Field: "national:22",
			Reason: "national portal answered 22", Format: schemas.FormatCanonical, Payload: canonical},
		store.QuarantineEntry{Source: "sonla", DossierID: "sonla#0", Field: "message",
			Reason: "raw message x is not a raw record", Format: schemas.FormatRawMessage, Payload: rawMsg},
		store.QuarantineEntry{Source: "hatinh", DossierID: "000.00.42.H25-261121-0004", Field: "message",
			Reason: "message y on notices cannot be opened", Format: schemas.FormatNotice, Payload: notice},
	)
	before := time.Now()
	for _, q := range entries {
		if err := e.svc.Replay(ctx, q.ID); err != nil {
			t.Fatalf("replay %s entry: %v", q.Format, err)
		}
	}

	// json, then the raw message, on raw.sonla, in replay order.
	sonla := e.drain(t, e.topics.Raw("sonla"))
	if len(sonla) != 2 {
		t.Fatalf("raw.sonla holds %d messages, want 2", len(sonla))
	}
	checkRawRecord(t, sonla[0], entries[0], before)
	if r := sonla[1]; r.key != "sonla#0" || string(r.body) != string(rawMsg) || r.source != "sonla" {
		t.Errorf("raw message replayed as key %q source %q body %q", r.key, r.source, r.body)
	}
	hatinh := e.drain(t, e.topics.Raw("hatinh"))
	if len(hatinh) != 1 {
		t.Fatalf("raw.hatinh holds %d messages, want 1", len(hatinh))
	}
	checkRawRecord(t, hatinh[0], entries[1], before)
	can := e.drain(t, e.topics.Canonical())
	if len(can) != 1 {
		t.Fatalf("canonical holds %d messages, want 1", len(can))
	}
	if r := can[0]; r.key != entries[2].DossierID || r.source != "thainguyen" || string(r.body) != string(canonical) ||
		r.entry != fmt.Sprint(entries[2].ID) {
		t.Errorf("canonical dossier replayed as key %q source %q entry %q body %s", r.key, r.source, r.entry, r.body)
	}
	// A notice, back on the notices topic as it was.
	notices := e.drain(t, e.topics.Notices())
	if len(notices) != 1 || notices[0].key != entries[4].DossierID || notices[0].source != "hatinh" ||
		string(notices[0].body) != string(notice) || notices[0].entry != fmt.Sprint(entries[4].ID) {
		t.Errorf("notice replayed as %+v", notices)
	}
	if got := e.drain(t, e.topics.Raw("thainguyen")); len(got) != 0 {
		t.Errorf("a canonical entry went to raw.thainguyen: %d messages", len(got))
	}

	for _, q := range entries {
		if st := e.state(t, q.ID); st != store.QuarantineReplayed {
			t.Errorf("entry %d (%s) is %s after replay", q.ID, q.Format, st)
		}
		// A second replay, or a discard, of a replayed entry is refused.
		err := e.svc.Replay(ctx, q.ID)
		if !errors.Is(err, ErrNotOpen) || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("second replay of entry %d: %v, want ErrNotOpen wrapping store.ErrInvalid", q.ID, err)
		}
		if err := e.svc.Discard(ctx, q.ID, "too late"); !errors.Is(err, ErrNotOpen) {
			t.Errorf("discard of replayed entry %d: %v, want ErrNotOpen", q.ID, err)
		}
		tl, err := e.st.Timeline(ctx, q.DossierID)
		if err != nil {
			t.Fatal(err)
		}
		if n := countEvents(tl, EventReplayed, fmt.Sprintf("entry %d", q.ID)); n != 1 {
			t.Errorf("dossier %s: %d %s events for entry %d, want 1: %+v", q.DossierID, n, EventReplayed, q.ID, tl)
		}
	}
	// Nothing more was published by the refused replays.
	if got := e.drain(t, e.topics.Raw("sonla")); len(got) != 2 {
		t.Errorf("raw.sonla holds %d messages after refused replays, want 2", len(got))
	}
	if got := e.drain(t, e.topics.Canonical()); len(got) != 1 {
		t.Errorf("canonical holds %d messages after refused replays, want 1", len(got))
	}
}

func checkRawRecord(t *testing.T, r received, q store.QuarantineEntry, before time.Time) {
	t.Helper()
	if r.key != q.DossierID || r.source != q.Source || r.entry != fmt.Sprint(q.ID) {
		t.Errorf("%s record replayed with key %q source %q entry %q, want %q %q %d", q.Format, r.key, r.source, r.entry, q.DossierID, q.Source, q.ID)
	}
	var rec schemas.RawRecord
	if err := json.Unmarshal(r.body, &rec); err != nil {
		t.Fatalf("%s record replayed as %q: %v", q.Format, r.body, err)
	}
	if rec.Source != q.Source || rec.ID != q.DossierID || rec.Version != q.Version || rec.Format != q.Format ||
		rec.Op != schemas.OpUpsert || string(rec.Payload) != string(q.Payload) || rec.Pulled.Before(before.Add(-time.Second)) {
		t.Errorf("replayed raw record %+v, from entry %+v", rec, q)
	}
}

func countEvents(tl []store.Event, kind, detail string) int {
	n := 0
	for _, ev := range tl {
		if ev.Kind == kind && ev.Detail == detail && ev.Instance == "test-hub" {
			n++
		}
	}
	return n
}

func TestReplayRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	ctx := context.Background()
	q := e.add(t,
		store.QuarantineEntry{Source: "sonla", DossierID: "D-1", Format: "yaml", Reason: "x", Payload: []byte("a: b")},
		store.QuarantineEntry{Source: "sonla", DossierID: "D-2", Format: "", Reason: "x", Payload: []byte("{}")},
		store.QuarantineEntry{Source: "", Field: "message", Format: schemas.FormatCanonical, Reason: "unreadable", Payload: []byte("{")},
	)
	for _, entry := range q {
		err := e.svc.Replay(ctx, entry.ID)
		if !errors.Is(err, ErrUnreplayable) || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("replay of entry with source %q format %q: %v, want ErrUnreplayable", entry.Source, entry.Format, err)
		}
		if st := e.state(t, entry.ID); st != store.QuarantineOpen {
			t.Errorf("unreplayable entry %d is %s", entry.ID, st)
		}
	}
	if err := e.svc.Replay(ctx, 99999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay of a missing entry: %v, want store.ErrNotFound", err)
	}
	if got := e.drain(t, e.topics.Raw("sonla")); len(got) != 0 {
		t.Errorf("refused replays published %d messages", len(got))
	}
	// Without a publisher, nothing is marked.
	ok := e.add(t, store.QuarantineEntry{Source: "sonla", DossierID: "D-3", Format: schemas.FormatJSON, Reason: "x", Payload: []byte("{}")})
	if err := New(e.st, nil, e.topics, "test-hub").Replay(ctx, ok[0].ID); err == nil || e.state(t, ok[0].ID) != store.QuarantineOpen {
		t.Errorf("replay without a publisher: %v, state %s", err, e.state(t, ok[0].ID))
	}
}

// held opens a settlement and holds its writeback as the flows do, which
// quarantines it; it returns the entry.
func held(t *testing.T, st testStore, kind, ref, dossierID string) store.QuarantineEntry {
	t.Helper()
	ctx := context.Background()
	if _, _, err := st.OpenSettlement(ctx, store.Settlement{Kind: kind, Ref: ref, DossierID: dossierID, Source: "sonla"}); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(settlement.Payload{Kind: kind, Ref: ref, Reference: ref})
	if _, _, err := st.UpdateSettlement(ctx, kind, ref, store.SettlementUpdate{Refused: true, HoldAt: 1, State: store.SettlementClosed,
		Hold: &store.QuarantineEntry{Source: "sonla", DossierID: dossierID, Field: "writeback:THANH_TOAN",
			Reason: "sonla: dossier " + dossierID + ": writeback THANH_TOAN refused 1 times, last: HTTP 404", Format: schemas.FormatSettlement, Payload: payload}}); err != nil {
		t.Fatal(err)
	}
	q, err := st.ListQuarantine(ctx, store.QuarantineFilter{DossierID: dossierID})
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine of %s: %+v, %v", dossierID, q, err)
	}
	return q[0]
}

// A held writeback is replayed in the store, not through Kafka: its
// settlement is reopened for a new round. Discarding one leaves it held.
func TestReplaySettlement(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			st := s.open(t)
			ctx := context.Background()
			svc := New(st, nil, router.Topics{}, "test-hub") // no publisher needed
			e := held(t, st, store.SettlementPayment, "R-1", "D-1")
			if err := svc.Replay(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetSettlement(ctx, store.SettlementPayment, "R-1")
			if err != nil || got.Writeback != store.WritebackDue || got.State != store.SettlementOpen || got.Round != 1 || got.Attempts != 0 {
				t.Fatalf("settlement after the replay %+v, %v; want due, open, round 1", got, err)
			}
			if e2, _ := st.GetQuarantine(ctx, e.ID); e2.State != store.QuarantineReplayed {
				t.Errorf("entry %s after the replay", e2.State)
			}
			tl, _ := st.Timeline(ctx, "D-1")
			if len(tl) != 1 || tl[0].Kind != EventReplayed || !strings.Contains(tl[0].Detail, "round 1") {
				t.Errorf("timeline %+v; want the replay noted with its round", tl)
			}
			if err := svc.Replay(ctx, e.ID); !errors.Is(err, ErrNotOpen) {
				t.Errorf("second replay: %v, want ErrNotOpen", err)
			}

			d := held(t, st, store.SettlementDelivered, "KQ-2", "D-2")
			if err := svc.Discard(ctx, d.ID, "dossier withdrawn at the province"); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.GetSettlement(ctx, store.SettlementDelivered, "KQ-2"); got.Writeback != store.WritebackHeld {
				t.Errorf("discarded settlement %+v; want still held", got)
			}

			bad := store.QuarantineEntry{Source: "sonla", DossierID: "D-3", Field: "writeback:BUU_CHINH", Reason: "x",
				Format: schemas.FormatSettlement, Payload: []byte(`{"kind":""}`)}
			if err := st.AddQuarantine(ctx, []store.QuarantineEntry{bad}); err != nil {
				t.Fatal(err)
			}
			q, _ := st.ListQuarantine(ctx, store.QuarantineFilter{DossierID: "D-3"})
			if err := svc.Replay(ctx, q[0].ID); !errors.Is(err, ErrUnreplayable) {
				t.Errorf("replay of a settlement entry naming none: %v, want ErrUnreplayable", err)
			}
			// One naming a settlement the store does not hold: the entry
			// exists, so not ErrNotFound (an HTTP 404 says there is no entry).
			gone := store.QuarantineEntry{Source: "sonla", DossierID: "D-4", Field: "writeback:THANH_TOAN", Reason: "x",
				Format: schemas.FormatSettlement, Payload: []byte(`{"kind":"payment","ref":"NO-SUCH"}`)}
			if err := st.AddQuarantine(ctx, []store.QuarantineEntry{gone}); err != nil {
				t.Fatal(err)
			}
			q, _ = st.ListQuarantine(ctx, store.QuarantineFilter{DossierID: "D-4"})
			if err := svc.Replay(ctx, q[0].ID); !errors.Is(err, ErrUnreplayable) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("replay of a settlement entry naming an unknown one: %v, want ErrUnreplayable", err)
			}
		})
	}
}

func TestDiscard(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, s.open(t))
			ctx := context.Background()
			q := e.add(t,
				store.QuarantineEntry{Source: "sonla", DossierID: "D-1", Version: 4, Format: schemas.FormatJSON, Reason: "x", Payload: []byte("{}")},
				store.QuarantineEntry{Source: "sonla", Field: "message", Format: schemas.FormatRawMessage, Reason: "y", Payload: []byte("?")},
			)
			if err := e.svc.Discard(ctx, q[0].ID, "  \n "); !errors.Is(err, store.ErrInvalid) || errors.Is(err, ErrNotOpen) {
				t.Errorf("discard without a reason: %v, want store.ErrInvalid", err)
			}
			if err := e.svc.Discard(ctx, q[0].ID, "duplicate of\nD-0, already at the portal"); err != nil {
				t.Fatal(err)
			}
			if st := e.state(t, q[0].ID); st != store.QuarantineDiscarded {
				t.Errorf("discarded entry is %s", st)
			}
			tl, err := e.st.Timeline(ctx, "D-1")
			if err != nil {
				t.Fatal(err)
			}
			if n := countEvents(tl, EventDiscarded, fmt.Sprintf("entry %d: duplicate of D-0, already at the portal", q[0].ID)); n != 1 {
				t.Errorf("timeline %+v: want one %s event", tl, EventDiscarded)
			}
			if err := e.svc.Replay(ctx, q[0].ID); !errors.Is(err, ErrNotOpen) {
				t.Errorf("replay of a discarded entry: %v, want ErrNotOpen", err)
			}
			if err := e.svc.Discard(ctx, q[0].ID, "again"); !errors.Is(err, ErrNotOpen) {
				t.Errorf("second discard: %v, want ErrNotOpen", err)
			}
			// No dossier, no timeline: the discard still happens.
			if err := e.svc.Discard(ctx, q[1].ID, "test message"); err != nil {
				t.Fatal(err)
			}
			if st := e.state(t, q[1].ID); st != store.QuarantineDiscarded {
				t.Errorf("discarded entry without dossier is %s", st)
			}
			if err := e.svc.Discard(ctx, 99999, "gone"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("discard of a missing entry: %v, want store.ErrNotFound", err)
			}
		})
	}
}

// filterFixture quarantines a spread of entries: two sources, reasons in
// several cases, times an hour apart, one replayed and one discarded.
func filterFixture(t *testing.T, e *env) []store.QuarantineEntry {
	t.Helper()
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	var in []store.QuarantineEntry
	for i := range 12 {
		src, reason := "sonla", "sonla: thuTuc.ma: unknown procedure 1.00089"+fmt.Sprint(i)
		switch i % 3 {
		case 1:
			src, reason = "hatinh", "hatinh: Mã thủ tục không có trong danh mục"
		case 2:
			reason = "sonla: ngayNop: NOT A DATE"
		}
		in = append(in, store.QuarantineEntry{Source: src, DossierID: fmt.Sprintf("D-%02d", i), Version: int64(i), Field: "f" + fmt.Sprint(i%2),
			Reason: reason, Format: schemas.FormatJSON, Payload: []byte(strings.Repeat("x", i)), At: t0.Add(time.Duration(i) * time.Hour)})
	}
	in[10].State = store.QuarantineReplayed
	in[11].State = store.QuarantineDiscarded
	return e.add(t, in...)
}

func ids(items []Item) []int64 {
	out := []int64{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func idsOf(q []store.QuarantineEntry, idx ...int) []int64 {
	out := []int64{}
	for _, i := range idx {
		out = append(out, q[i].ID)
	}
	return out
}

func TestListFilters(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, s.open(t))
			e.svc.pageSize = 2 // filter across many pages
			q := filterFixture(t, e)
			t0 := q[0].At
			ctx := context.Background()
			cases := []struct {
				name string
				f    Filter
				want []int64
			}{
				{"open by default", Filter{}, idsOf(q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
				{"source", Filter{Source: "hatinh"}, idsOf(q, 1, 4, 7)},
				{"reason substring", Filter{Reason: "not a date"}, idsOf(q, 2, 5, 8)},
				{"reason any case, Vietnamese", Filter{Reason: "MÃ THỦ TỤC"}, idsOf(q, 1, 4, 7)},
				{"reason and source", Filter{Reason: "unknown procedure", Source: "sonla"}, idsOf(q, 0, 3, 6, 9)},
				{"reason, offset and limit", Filter{Reason: "procedure", Offset: 1, Limit: 2}, idsOf(q, 3, 6)},
				{"offset and limit", Filter{Offset: 3, Limit: 4}, idsOf(q, 3, 4, 5, 6)},
				{"since inclusive", Filter{Since: t0.Add(8 * time.Hour)}, idsOf(q, 8, 9)},
				{"until exclusive", Filter{Until: t0.Add(2 * time.Hour)}, idsOf(q, 0, 1)},
				{"since and until", Filter{Since: t0.Add(3 * time.Hour), Until: t0.Add(6 * time.Hour), Reason: "procedure"}, idsOf(q, 3)},
				{"field", Filter{Field: "f1", Source: "sonla"}, idsOf(q, 3, 5, 9)},
				{"dossier", Filter{DossierID: "D-04"}, idsOf(q, 4)},
				{"replayed", Filter{State: store.QuarantineReplayed}, idsOf(q, 10)},
				{"discarded", Filter{State: store.QuarantineDiscarded}, idsOf(q, 11)},
				{"all", Filter{State: StateAll, Since: t0.Add(9 * time.Hour)}, idsOf(q, 9, 10, 11)},
				{"no match", Filter{Reason: "no such reason"}, []int64{}},
			}
			for _, c := range cases {
				got, err := e.svc.List(ctx, c.f)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if fmt.Sprint(ids(got)) != fmt.Sprint(c.want) {
					t.Errorf("%s: got %v, want %v", c.name, ids(got), c.want)
				}
			}
			got, err := e.svc.List(ctx, Filter{DossierID: "D-05"})
			if err != nil || len(got) != 1 {
				t.Fatalf("list D-05: %v %v", got, err)
			}
			want := Item{ID: q[5].ID, Source: q[5].Source, DossierID: "D-05", Version: 5, Field: "f1", Reason: q[5].Reason,
				Format: schemas.FormatJSON, At: q[5].At, State: store.QuarantineOpen, PayloadSize: 5}
			if got[0] != want {
				t.Errorf("item %+v, want %+v", got[0], want)
			}
			for _, bad := range []Filter{{State: "closed"}, {Limit: MaxLimit + 1}, {Offset: -1}} {
				if _, err := e.svc.List(ctx, bad); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("list %+v: %v, want store.ErrInvalid", bad, err)
				}
			}
			// The default limit.
			many := make([]store.QuarantineEntry, DefaultLimit+5)
			for i := range many {
				many[i] = store.QuarantineEntry{Source: "bulk", Format: schemas.FormatJSON, Reason: "bulk"}
			}
			e.add(t, many...)
			e.svc.pageSize = 100
			if got, err := e.svc.List(ctx, Filter{Source: "bulk"}); err != nil || len(got) != DefaultLimit {
				t.Errorf("list without a limit: %d items, %v; want %d", len(got), err, DefaultLimit)
			}
			if got, err := e.svc.List(ctx, Filter{Reason: "BULK", Limit: 200}); err != nil || len(got) != DefaultLimit+5 {
				t.Errorf("list by reason, limit 200: %d items, %v; want %d", len(got), err, DefaultLimit+5)
			}
		})
	}
}

func TestReplayAll(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, s.open(t))
			e.svc.pageSize = 2
			q := filterFixture(t, e)
			ctx := context.Background()
			if _, err := e.svc.ReplayAll(ctx, Filter{State: store.QuarantineReplayed}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("replay all of replayed entries: %v, want store.ErrInvalid", err)
			}
			n, err := e.svc.ReplayAll(ctx, Filter{Source: "sonla", Reason: "UNKNOWN PROCEDURE", Since: q[1].At})
			if err != nil || n != 3 {
				t.Fatalf("replay all: %d, %v; want 3", n, err)
			}
			got := e.drain(t, e.topics.Raw("sonla"))
			var order []string
			for _, r := range got {
				order = append(order, r.key)
			}
			if fmt.Sprint(order) != "[D-03 D-06 D-09]" {
				t.Errorf("replayed %v, want [D-03 D-06 D-09], oldest first", order)
			}
			for i, entry := range q {
				want := store.QuarantineOpen
				switch i {
				case 3, 6, 9:
					want = store.QuarantineReplayed
				case 10:
					want = store.QuarantineReplayed
				case 11:
					want = store.QuarantineDiscarded
				}
				if st := e.state(t, entry.ID); st != want {
					t.Errorf("entry %d (%s) is %s, want %s", i, entry.DossierID, st, want)
				}
			}
			// Again: nothing left that matches.
			if n, err := e.svc.ReplayAll(ctx, Filter{Source: "sonla", Reason: "unknown procedure", Since: q[1].At}); err != nil || n != 0 {
				t.Errorf("second replay all: %d, %v; want 0", n, err)
			}
			// With a limit.
			if n, err := e.svc.ReplayAll(ctx, Filter{Source: "hatinh", Limit: 2}); err != nil || n != 2 {
				t.Errorf("replay all hatinh, limit 2: %d, %v", n, err)
			}
			if st := e.state(t, q[7].ID); st != store.QuarantineOpen {
				t.Errorf("entry past the limit is %s", st)
			}
		})
	}
}

// requarantining publishes, then quarantines the record again at once, as
// the normaliser does with a record that fails again.
type requarantining struct {
	message.Publisher
	st testStore
}

func (p requarantining) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		var rec schemas.RawRecord
		if err := json.Unmarshal(m.Payload, &rec); err != nil {
			return err
		}
		if err := p.st.AddQuarantine(context.Background(), []store.QuarantineEntry{{Source: rec.Source, DossierID: rec.ID,
			Version: rec.Version, Reason: "still broken", Format: rec.Format, Payload: rec.Payload}}); err != nil {
			return err
		}
	}
	return nil
}

func TestReplayAllDoesNotChaseRequarantined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	e.svc = New(e.st, requarantining{e.pub, e.st}, e.topics, "test-hub")
	e.svc.pageSize = 2
	for i := range 5 {
		e.add(t, store.QuarantineEntry{Source: "sonla", DossierID: fmt.Sprint("D-", i), Reason: "still broken", Format: schemas.FormatJSON, Payload: []byte("{}")})
	}
	n, err := e.svc.ReplayAll(context.Background(), Filter{Reason: "broken"})
	if err != nil || n != 5 {
		t.Fatalf("replay all: %d, %v; want 5", n, err)
	}
	open, err := e.svc.List(context.Background(), Filter{})
	if err != nil || len(open) != 5 {
		t.Fatalf("open entries after replay: %d, %v; want the 5 quarantined again", len(open), err)
	}
}

// TestNormalPath replays two Sơn La records through the real normaliser: the
// one whose cause was fixed reaches the canonical topic; the one still
// broken is quarantined again, as a new entry.
func TestNormalPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, err := os.ReadFile("../../mapping/restjson/testdata/spec_example.json")
	if err != nil {
		t.Fatal(err)
	}
	const goodID = "000.00.14.H52-261121-0001"
	q := e.add(t,
		store.QuarantineEntry{Source: "sonla", DossierID: goodID, Version: 3, Field: "thuTuc.ma",
			Reason: "sonla: thuTuc.ma: not in the catalogue", Format: schemas.FormatJSON, Payload: good},
		store.QuarantineEntry{Source: "sonla", DossierID: "000.00.14.H52-261121-0002", Version: 1,
			Reason: "sonla: payload: not JSON", Format: schemas.FormatJSON, Payload: []byte(`{"maHoSo": "000.00.14.H52-261121-0002", `)},
	)

	mapper, err := mapping.New(mapping.Source{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14"})
	if err != nil {
		t.Fatal(err)
	}
	norm := router.NewNormaliser(mapper, e.st, nil, slog.New(slog.DiscardHandler), "test-hub")
	go norm.Run(ctx)
	r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: testBrokers, ConsumerGroup: "normalise-" + watermill.NewShortUUID(),
		FetchMaxWait: 100 * time.Millisecond, CommitInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.AddHandler("normalise", e.topics.Raw("sonla"), sub, e.topics.Canonical(), e.pub, norm.Handle)
	go func() { _ = r.Run(ctx) }()
	defer r.Close()
	<-r.Running()

	for _, entry := range q {
		if err := e.svc.Replay(ctx, entry.ID); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	var again []Item
	for {
		again, err = e.svc.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(again) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(again) != 1 || again[0].DossierID != "000.00.14.H52-261121-0002" || again[0].ID <= q[1].ID {
		t.Fatalf("open entries after the replay: %+v; want the broken record quarantined again as a new entry", again)
	}
	// The good record is normalised beside the broken one, not before it.
	can := e.drain(t, e.topics.Canonical())
	for len(can) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		can = e.drain(t, e.topics.Canonical())
	}
	if len(can) != 1 || can[0].key != goodID {
		t.Fatalf("canonical topic holds %+v, want dossier %s", can, goodID)
	}
	var d schemas.Dossier
	if err := json.Unmarshal(can[0].body, &d); err != nil || d.ID != goodID || d.SourceVersion != 3 || d.Source != "sonla" {
		t.Errorf("canonical dossier %+v, %v", d, err)
	}
	tl, err := e.st.Timeline(ctx, goodID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range tl {
		kinds = append(kinds, ev.Kind)
	}
	if fmt.Sprint(kinds) != "[quarantine.replayed normalised]" {
		t.Errorf("timeline of the fixed dossier: %v", kinds)
	}
}
