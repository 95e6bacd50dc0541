package hub_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/ops/tracing/tracingtest"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/ingest"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// testBrokers is the embedded Kafka broker (kfake over TCP) of this binary.
var testBrokers []string

func TestMain(m *testing.M) { broker.TestMain(m, broker.Config{Partitions: 4}, &testBrokers) }

// world is a hub's surroundings over real TCP: the shared kfake broker, a
// PostgreSQL schema, the simulators, and a configuration whose topics and
// groups are this test's own.
type world struct {
	t      *testing.T
	sims   *devenv.Sims
	dsn    string
	cfg    hub.Config
	prefix string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	sims, err := devenv.Start(devenv.Options{})
	if err != nil {
		t.Fatalf("start simulators: %v", err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	w := &world{t: t, sims: sims, dsn: pgtest.Schema(t), prefix: "seal-" + watermill.NewShortUUID() + "."}
	w.cfg = sims.HubConfig(testBrokers, hub.StoreConfig{PostgresDSN: w.dsn})
	w.cfg.Instance = "sealtest"
	w.cfg.Kafka.TopicPrefix, w.cfg.Kafka.GroupPrefix = w.prefix, w.prefix
	w.cfg.Kafka.Partitions = 4 // light on a shared machine; the hub's default is more
	w.cfg.Payment.QueryAfter = time.Second
	return w
}

// withKeys configures the encryption keys (current first, then old ones)
// and opens the store with them.
func (w *world) withKeys(keys ...[]byte) *sqlstore.Store {
	w.t.Helper()
	w.cfg.Store.EncryptionKey = base64.StdEncoding.EncodeToString(keys[0])
	w.cfg.Store.OldEncryptionKeys = nil
	for _, k := range keys[1:] {
		w.cfg.Store.OldEncryptionKeys = append(w.cfg.Store.OldEncryptionKeys, base64.StdEncoding.EncodeToString(k))
	}
	w.cfg.Store.IdentityKey = base64.StdEncoding.EncodeToString(storetest.IdentityKey)
	st, err := sqlstore.OpenPostgres(context.Background(), w.dsn,
		store.WithIdentityKey(storetest.IdentityKey), store.WithEncryptionKeys(keys[0], keys[1:]...))
	if err != nil {
		w.t.Fatalf("open store: %v", err)
	}
	w.t.Cleanup(func() { _ = st.Close() })
	return st
}

// run starts a hub; stop stops it and waits.
func (w *world) run(st hub.Store) (stop func()) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logBuf bytes.Buffer
	logW := &syncWriter{w: &logBuf}
	log := slog.New(slog.NewJSONHandler(logW, nil))
	done := make(chan error, 1)
	go func() { done <- hub.New(w.cfg, st, nil, log).Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("hub: %v", err)
			}
		case <-time.After(30 * time.Second):
			w.t.Errorf("hub did not stop within 30 s")
		}
		if w.t.Failed() {
			logW.mu.Lock()
			defer logW.mu.Unlock()
			lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
			w.t.Logf("hub log (last 30 lines):\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	}
	w.t.Cleanup(stop)
	return stop
}

// syncWriter serialises the hub's log writes into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// generate makes n dossiers at src, each advanced steps changes at once,
// and returns their IDs.
func (w *world) generate(src string, n, steps int, seed int64, shape map[string]any) []string {
	w.t.Helper()
	req := map[string]any{"count": n, "seed": seed, "steps": steps}
	if shape != nil {
		req["shape"] = shape
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(w.sims.URLs[src]+"/_sim/generate", "application/json", bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var res simctl.GenerateResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		w.t.Fatalf("generate at %s: %s %v", src, resp.Status, err)
	}
	return res.Created
}

// waitHeld waits until the national portal holds the final version of every
// dossier (by source) as the ledger records it.
func (w *world) waitHeld(st *sqlstore.Store, ids map[string][]string, limit time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var behind []string
		for src, list := range ids {
			l, err := st.GetLedger(context.Background(), list)
			if err != nil {
				w.t.Fatal(err)
			}
			for _, id := range list {
				item, ok := w.sims.Book(src).Current(id)
				if !ok {
					w.t.Fatalf("%s has no dossier %s", src, id)
				}
				e := l[id]
				if e.NationalState != store.NationalHeld || e.NationalVersion < int64(item.Version) {
					behind = append(behind, src+"/"+id)
				}
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("not at the national portal after %s: %v", limit, behind)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// topicRecords reads every record of every topic whose name starts with
// prefix, as anyone with access to the broker could: a plain kafka-go
// reader per partition, no consumer group, no key.
func topicRecords(t *testing.T, prefix string) map[string][]kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", testBrokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]kafkago.Message{}
	for _, p := range parts {
		if !strings.HasPrefix(p.Topic, prefix) {
			continue
		}
		if _, ok := out[p.Topic]; !ok {
			out[p.Topic] = nil
		}
		lc, err := kafkago.DialLeader(ctx, "tcp", testBrokers[0], p.Topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := lc.ReadOffsets()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last <= first {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: testBrokers, Topic: p.Topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", p.Topic, p.ID, err)
			}
			out[p.Topic] = append(out[p.Topic], m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

var (
	cccdRE  = regexp.MustCompile(`\b0\d{11}\b`)
	phoneRE = regexp.MustCompile(`(\+84 ?|\b0)[35789][\d .]{8,11}\b`)
	emailRE = regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.]+`)
)

// personal are the personal values a test knows the hub handled.
type personal map[string]string // value → what it is

// add notes the personal data of a canonical dossier.
func (p personal) add(d *schemas.Dossier) {
	note := func(kind, v string) {
		if len(v) >= 5 { // short values would match by chance
			p[v] = kind + " of " + d.ID
		}
	}
	note("name", d.Applicant.Name)
	note("identity number", d.Applicant.IDNumber)
	note("phone", d.Applicant.Phone)
	note("email", d.Applicant.Email)
	note("address", d.Applicant.Address.Detail)
	if r := d.ResultAddress; r != nil {
		note("recipient", r.Name)
		note("recipient phone", r.Phone)
		note("recipient address", r.Address.Detail)
	}
}

func (p personal) count(kind string) int {
	n := 0
	for _, what := range p {
		if strings.HasPrefix(what, kind+" of ") {
			n++
		}
	}
	return n
}

// leaks returns what of the known personal values b holds: as it is, and,
// when b is JSON (as every message the hub writes in clear is), in any of
// its strings, base64-decoded strings included (a raw record's payload is
// bytes), where CCCD, phone and email patterns are looked for as well.
func (p personal) leaks(b []byte) []string {
	var found []string
	look := func(s []byte, patterns bool) {
		for v, what := range p {
			if bytes.Contains(s, []byte(v)) {
				found = append(found, what)
			}
		}
		if patterns {
			for _, re := range []*regexp.Regexp{cccdRE, phoneRE, emailRE} {
				if m := re.Find(s); m != nil {
					found = append(found, fmt.Sprintf("%q matching %s", m, re))
				}
			}
		}
	}
	look(b, false)
	var v any
	if json.Unmarshal(b, &v) != nil {
		return found
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			look([]byte(x), true)
			if dec, err := base64.StdEncoding.DecodeString(x); err == nil && utf8.Valid(dec) {
				look(dec, true)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}

func isJSON(b []byte) bool { return json.Valid(b) }

// TestKafkaCarriesNoPersonalData runs the hub against kfake over TCP with a
// real store while it pulls, normalises and syncs dossiers (some of them
// quarantined, one replayed from the quarantine, one paid online and so
// resynced, notices raised for all of them), then reads every topic it
// wrote with a plain Kafka client: no payload, header or key holds any of
// the names, identity numbers, phones, emails or addresses it handled, and
// no payload is in clear. The store still has them in clear behind its own
// encryption: the ledger's canonical dossiers and the quarantined payloads
// are what the hub read, not ciphertext.
//
// The hub traces meanwhile: the trace context (traceparent) rides in every
// record's headers, readable, and neither it nor any span attribute
// exported holds personal data.
func TestKafkaCarriesNoPersonalData(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	spans := tracingtest.NewReceiver()
	defer spans.Close()
	w.cfg.Tracing = hub.TracingConfig{OTLPEndpoint: spans.URL()}
	st := w.withKeys(storetest.EncryptionKey)
	// Every Hà Tĩnh record is served broken: they go to quarantine.
	if err := w.sims.PatchFaults(devenv.NameHaTinh, map[string]any{"malformed_rate": 1.0}); err != nil {
		t.Fatal(err)
	}
	stop := w.run(st)

	synced := map[string][]string{
		devenv.NameSonLa:      w.generate(devenv.NameSonLa, 3, 2, 11, nil),
		devenv.NameThaiNguyen: w.generate(devenv.NameThaiNguyen, 3, 2, 12, nil),
	}
	broken := w.generate(devenv.NameHaTinh, 2, 1, 13, nil)
	// A level-4 dossier waiting for its fees online: paying them makes the
	// hub resync it onto the canonical topic.
	paid := w.generate(devenv.NameSonLa, 1, 3, 14, map[string]any{"level4": true, "result": "post", "pay": "online", "plan": []int{2, 4, 6}})
	synced[devenv.NameSonLa] = append(synced[devenv.NameSonLa], paid...)

	w.waitHeld(st, synced, 60*time.Second)
	waitFor(t, "the Hà Tĩnh records in quarantine", 30*time.Second, func() bool {
		q, err := st.ListQuarantine(ctx, store.QuarantineFilter{Source: devenv.NameHaTinh})
		return err == nil && len(q) >= len(broken)
	})
	rng := rand.New(rand.NewPCG(1, 2))
	waitFor(t, "the online payment settled", 60*time.Second, func() bool {
		w.sims.PayPending(0, rng)
		p, err := st.ListPayments(ctx, store.PaymentFilter{DossierIDs: paid, States: []string{store.PaymentPaid}})
		return err == nil && len(p) > 0
	})

	// An operator replays a quarantined record through the hub's API.
	secret, tok, err := auth.NewToken(store.RoleNational, "", "seal test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	q, err := st.ListQuarantine(ctx, store.QuarantineFilter{Source: devenv.NameHaTinh})
	if err != nil || len(q) == 0 {
		t.Fatalf("quarantine: %v %v", q, err)
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/api/dlq/%d/replay", w.sims.HubAddr, q[0].ID), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("replay: %s", resp.Status)
	}
	waitFor(t, "the replayed record quarantined again", 30*time.Second, func() bool {
		q2, err := st.ListQuarantine(ctx, store.QuarantineFilter{Source: devenv.NameHaTinh})
		return err == nil && len(q2) > len(q)
	})
	var recs map[string][]kafkago.Message
	waitFor(t, "the resync on the canonical topic", 30*time.Second, func() bool {
		recs = topicRecords(t, w.prefix)
		for _, m := range recs[w.prefix+"canonical"] {
			for _, h := range m.Headers {
				if h.Key == router.MetadataResync {
					return true
				}
			}
		}
		return false
	})
	stop()

	// What the hub handled, from the ledger: in clear there, as the store
	// opens it.
	known := personal{}
	for src, ids := range synced {
		l, err := st.GetLedger(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			var d schemas.Dossier
			if err := json.Unmarshal(l[id].Canonical, &d); err != nil {
				t.Fatalf("ledger canonical of %s/%s is not the dossier in clear: %v", src, id, err)
			}
			known.add(&d)
		}
	}
	for _, kind := range []string{"name", "identity number", "phone", "email"} {
		if n := known.count(kind); n < 3 {
			t.Fatalf("only %d %ss known: the check would prove little (%v)", n, kind, known)
		}
	}
	all, err := st.ListQuarantine(ctx, store.QuarantineFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		// The source's record as it came (Hà Tĩnh XML), not ciphertext.
		if len(e.Payload) == 0 || e.Payload[0] == 0 || !utf8.Valid(e.Payload) || !bytes.Contains(e.Payload, []byte("<")) {
			t.Errorf("quarantine entry %d (%s %s): payload is not the record in clear: %.40q", e.ID, e.Source, e.DossierID, e.Payload)
		}
	}

	want := []string{"raw." + devenv.NameSonLa, "raw." + devenv.NameThaiNguyen, "raw." + devenv.NameHaTinh, "canonical", "notices"}
	for _, name := range want {
		if len(recs[w.prefix+name]) == 0 {
			t.Errorf("topic %s has no records: the check would not cover it", name)
		}
	}
	replayed := 0
	total := 0
	resyncTraces := map[string]bool{}
	for topic, list := range recs {
		for _, m := range list {
			total++
			where := fmt.Sprintf("%s partition %d offset %d", topic, m.Partition, m.Offset)
			checkTraceHeaders(t, where, m.Headers, resyncTraces)
			for _, l := range known.leaks(m.Value) {
				t.Errorf("%s: payload holds %s", where, l)
			}
			if isJSON(m.Value) {
				t.Errorf("%s: payload in clear: %.80s", where, m.Value)
			}
			for _, l := range known.leaks(m.Key) {
				t.Errorf("%s: key holds %s", where, l)
			}
			for _, h := range m.Headers {
				for _, l := range known.leaks(h.Value) {
					t.Errorf("%s: header %s holds %s", where, h.Key, l)
				}
				if h.Key == router.MetadataReplayOf {
					replayed++
				}
			}
		}
	}
	if replayed == 0 {
		t.Errorf("no replayed record found on the topics")
	}
	t.Logf("%d records on %d topics read; %d personal values looked for", total, len(recs), len(known))
	checkSpans(t, spans.Spans(), known, resyncTraces)
}

// checkTraceHeaders checks that a record carries a W3C traceparent (all
// but a record an operator replayed from the quarantine through the API,
// whose trace starts at its handler) and notes the traces resyncs carry.
func checkTraceHeaders(t *testing.T, where string, headers []kafkago.Header, resyncTraces map[string]bool) {
	t.Helper()
	h := map[string]string{}
	for _, x := range headers {
		h[x.Key] = string(x.Value)
	}
	tp := h[tracing.MetadataTraceParent]
	if tp == "" {
		if h[router.MetadataReplayOf] == "" {
			t.Errorf("%s: no traceparent header (headers %v)", where, h)
		}
		return
	}
	if !traceparentRE.MatchString(tp) {
		t.Errorf("%s: traceparent %q is not W3C's", where, tp)
	}
	if h[router.MetadataResync] != "" {
		resyncTraces[strings.Split(tp, "-")[1]] = true
	}
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`)

// checkSpans checks the spans the hub exported: the stages and the level-4
// effects are there, no attribute holds personal data, and a resync's trace
// goes on from the payment's settlement to the national sink.
func checkSpans(t *testing.T, spans []tracingtest.Span, known personal, resyncTraces map[string]bool) {
	t.Helper()
	names := map[string]int{}
	byTrace := map[string][]tracingtest.Span{}
	for _, s := range spans {
		names[s.Name]++
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		if s.Instance() != "sealtest" {
			t.Errorf("span %s: service.instance.id %q", s.Name, s.Instance())
		}
		for k, v := range s.Attrs {
			for _, l := range known.leaks([]byte(v)) {
				t.Errorf("span %s: attribute %s holds %s", s.Name, k, l)
			}
			for _, re := range []*regexp.Regexp{cccdRE, phoneRE, emailRE} {
				if m := re.FindString(v); m != "" {
					t.Errorf("span %s: attribute %s holds %q matching %s", s.Name, k, m, re)
				}
			}
		}
	}
	for _, want := range []string{"pull " + devenv.NameSonLa, "normalise-" + devenv.NameSonLa, "national", "national DongBoHoSoMC",
		"national CapNhatTienDoHoSoMC", "fees", "notices", "notify-sms", "notify sms", "payment create", "payment notification",
		"settle payment", "writeback"} {
		if names[want] == 0 {
			t.Errorf("no span %q among %v", want, names)
		}
	}
	if len(resyncTraces) == 0 {
		t.Error("no resync carried a trace")
	}
	for id := range resyncTraces {
		var settled, national bool
		for _, s := range byTrace[id] {
			settled = settled || s.Name == "settle payment"
			national = national || s.Name == "national"
		}
		if !settled || !national {
			t.Errorf("trace %s of a resync: settlement span %v, national span %v", id, settled, national)
		}
	}
	t.Logf("%d spans in %d traces: %v", len(spans), len(byTrace), names)
}

// TestKafkaKeyRotation: messages sealed under a key are still read after
// that key was rotated out to old_encryption_keys, a message written in
// clear before sealing existed (by a hub of the previous release) is still
// handled, and one sealed under a key the hub does not have is quarantined
// once, by the national sink, while the messages behind it go on.
func TestKafkaKeyRotation(t *testing.T) {
	ctx := context.Background()
	oldKey := storetest.EncryptionKey
	newKey := storetest.OtherEncryptionKey
	w := newWorld(t)

	// Before the rotation: the national portal is down, so the canonical
	// messages wait in Kafka, sealed under the old key.
	st := w.withKeys(oldKey)
	if err := w.sims.PatchFaults(devenv.NameNational, map[string]any{"down": true}); err != nil {
		t.Fatal(err)
	}
	stop := w.run(st)
	ids := map[string][]string{
		devenv.NameSonLa:      w.generate(devenv.NameSonLa, 3, 2, 21, nil),
		devenv.NameThaiNguyen: w.generate(devenv.NameThaiNguyen, 3, 2, 22, nil),
	}
	waitFor(t, "every final version normalised", 60*time.Second, func() bool {
		for src, list := range ids {
			for _, id := range list {
				item, _ := w.sims.Book(src).Current(id)
				events, err := st.Timeline(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, e := range events {
					found = found || (e.Kind == "normalised" && e.Version == int64(item.Version))
				}
				if !found {
					return false
				}
			}
		}
		return true
	})
	stop()
	canonical := w.prefix + "canonical"
	before := topicRecords(t, w.prefix)[canonical]
	if len(before) == 0 {
		t.Fatal("no canonical records")
	}
	oldID := store.KeyID(oldKey)
	for _, m := range before {
		if isJSON(m.Value) || !bytes.Contains(m.Value[:min(len(m.Value), 16)], oldID) {
			t.Fatalf("canonical offset %d is not sealed under the old key (id %x): %.60q", m.Offset, oldID, m.Value)
		}
	}

	// A record a hub of the previous release published, in clear: a Sơn La
	// dossier the portal itself no longer lists, so only this message can
	// bring it to the national portal.
	src := ids[devenv.NameSonLa][0]
	item, _ := w.sims.Book(devenv.NameSonLa).Current(src)
	legacyID := src[:len(src)-4] + "9990"
	rec := schemas.RawRecord{Source: devenv.NameSonLa, ID: legacyID, Version: int64(item.Version), Op: schemas.OpUpsert,
		Format: schemas.FormatJSON, Payload: bytes.ReplaceAll(item.Data, []byte(src), []byte(legacyID)), Pulled: time.Now()}
	msg, err := ingest.RawMessage(&rec)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: testBrokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Publish(w.prefix+"raw."+devenv.NameSonLa, msg); err != nil {
		t.Fatal(err)
	}
	// And a canonical message sealed under a key this hub never had: four
	// consumer groups read the topic, the national sink quarantines it, once.
	lostKeys, err := store.NewSealer(bytes.Repeat([]byte{0xC}, store.EncryptionKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	lostPub, err := seal.NewPublisher(plain, lostKeys)
	if err != nil {
		t.Fatal(err)
	}
	lost := message.NewMessage(watermill.NewUUID(), []byte(`{"id":"`+ids[devenv.NameThaiNguyen][0]+`","source":"thainguyen"}`))
	lost.Metadata.Set(kafka.PartitionKeyMetadata, ids[devenv.NameThaiNguyen][0])
	lost.Metadata.Set(schemas.MetadataSource, devenv.NameThaiNguyen)
	if err := lostPub.Publish(canonical, lost); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	// The rotation: the new key is current, the old one is kept for what it
	// sealed (in Kafka and in the store).
	st2 := w.withKeys(newKey, oldKey)
	if err := w.sims.PatchFaults(devenv.NameNational, map[string]any{"down": false}); err != nil {
		t.Fatal(err)
	}
	w.run(st2)
	more := w.generate(devenv.NameThaiNguyen, 1, 1, 23, nil)
	w.waitHeld(st2, ids, 60*time.Second)
	w.waitHeld(st2, map[string][]string{devenv.NameThaiNguyen: more}, 60*time.Second)
	waitFor(t, "the legacy record at the national portal", 30*time.Second, func() bool {
		l, err := st2.GetLedger(ctx, []string{legacyID})
		return err == nil && l[legacyID].NationalState == store.NationalHeld
	})
	waitFor(t, "the message sealed under an unknown key quarantined", 30*time.Second, func() bool {
		q, err := st2.ListQuarantine(ctx, store.QuarantineFilter{})
		return err == nil && len(q) > 0
	})
	time.Sleep(time.Second) // every consumer group has had the message by now
	q, err := st2.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Format != schemas.FormatCanonical || q[0].DossierID != lost.Metadata.Get(kafka.PartitionKeyMetadata) ||
		!strings.Contains(q[0].Reason, lost.UUID) || !strings.Contains(q[0].Reason, "cannot be opened") || !seal.IsSealed(q[0].Payload) {
		t.Errorf("quarantine: %+v, want the one message sealed under an unknown key, once, as it came", q)
	}
	newID := store.KeyID(newKey)
	after := topicRecords(t, w.prefix)[canonical]
	sealedNew := 0
	for _, m := range after {
		if bytes.Contains(m.Value[:min(len(m.Value), 16)], newID) {
			sealedNew++
		}
	}
	if sealedNew == 0 {
		t.Errorf("no canonical record sealed under the new key (id %x) after the rotation", newID)
	}
}
