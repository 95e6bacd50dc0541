package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// testBrokers is the embedded Kafka broker (kfake over TCP) of this binary.
// One partition per topic: what a test publishes it reads back in order.
var testBrokers []string

func TestMain(m *testing.M) { broker.TestMain(m, broker.Config{Partitions: 1}, &testBrokers) }

var (
	keyA = bytes.Repeat([]byte{0xA}, store.EncryptionKeyLen)
	keyB = bytes.Repeat([]byte{0xB}, store.EncryptionKeyLen)
	keyC = bytes.Repeat([]byte{0xC}, store.EncryptionKeyLen)
)

const secret = `{"applicant":{"name":"Nguyễn Thị Hoa","idNumber":"014195001234","phone":"0912345678"}}`

func sealer(t testing.TB, current []byte, old ...[]byte) *store.Sealer {
	t.Helper()
	s, err := store.NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kafkaPublisher(t *testing.T) *kafka.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: testBrokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func sealedPublisher(t *testing.T, keys seal.Keys) *seal.Publisher {
	t.Helper()
	pub, err := seal.NewPublisher(kafkaPublisher(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func msg(key, payload string) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), []byte(payload))
	m.Metadata.Set(kafka.PartitionKeyMetadata, key)
	m.Metadata.Set(schemas.MetadataSource, "sonla")
	return m
}

// records reads a topic's records with a plain kafka-go reader: no key, as
// anyone with access to the broker could.
func records(t *testing.T, topic string, n int) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: testBrokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafkago.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %d of %d records: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func TestPublisherSeals(t *testing.T) {
	topic := "seal-" + watermill.NewShortUUID()
	pub := sealedPublisher(t, sealer(t, keyA))
	m := msg("000.00.14.H52-261121-0001", secret)
	m.Metadata.Set("pulled", "2026-11-21T08:00:00Z")
	empty := msg("D-empty", "")
	if err := pub.Publish(topic, m, empty); err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != secret {
		t.Fatal("Publish changed the caller's message")
	}
	recs := records(t, topic, 2)
	r := recs[0]
	if !seal.IsSealed(r.Value) || bytes.Contains(r.Value, []byte("014195001234")) || bytes.Contains(r.Value, []byte("Hoa")) {
		t.Fatalf("record value not sealed: %q", r.Value)
	}
	if !bytes.HasPrefix(r.Value[len(seal.Prefix)+1:], store.KeyID(keyA)) {
		t.Errorf("sealed value does not name the key: %x", r.Value[:12])
	}
	if string(r.Key) != "000.00.14.H52-261121-0001" {
		t.Errorf("key %q", r.Key)
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[kafka.UUIDHeader] != m.UUID || headers["pulled"] != "2026-11-21T08:00:00Z" || headers["source"] != "sonla" {
		t.Errorf("headers %v", headers)
	}
	if len(recs[1].Value) != 0 {
		t.Errorf("empty payload published as %q", recs[1].Value)
	}

	// The plaintext, to whoever has the key; bound to the partition key.
	got := message.NewMessage(m.UUID, r.Value)
	got.Metadata.Set(kafka.PartitionKeyMetadata, string(r.Key))
	plain, err := seal.Open(sealer(t, keyA), got)
	if err != nil || string(plain) != secret {
		t.Fatalf("open = %q, %v", plain, err)
	}
	if !seal.IsSealed(got.Payload) {
		t.Fatal("Open changed the message")
	}
	got.Metadata.Set(kafka.PartitionKeyMetadata, "another dossier")
	if _, err := seal.Open(sealer(t, keyA), got); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("opened under another partition key: %v", err)
	}

	// Already sealed: goes out as it is, not sealed twice.
	again := message.NewMessage(watermill.NewUUID(), r.Value)
	again.Metadata.Set(kafka.PartitionKeyMetadata, string(r.Key))
	if err := pub.Publish(topic, again); err != nil {
		t.Fatal(err)
	}
	if v := records(t, topic, 3)[2].Value; !bytes.Equal(v, r.Value) {
		t.Errorf("a sealed payload was sealed again")
	}
}

func TestPublisherNeedsAKey(t *testing.T) {
	for name, keys := range map[string]seal.Keys{"clear": store.ClearSealer(), "nil": nil} {
		if _, err := seal.NewPublisher(kafkaPublisher(t), keys); !errors.Is(err, seal.ErrNoKey) {
			t.Errorf("%s: err = %v, want ErrNoKey", name, err)
		}
	}
}

// handled is what a test handler saw.
type handled struct {
	mu   sync.Mutex
	seen []string
}

func (h *handled) handle(msg *message.Message) error {
	h.mu.Lock()
	h.seen = append(h.seen, msg.Metadata.Get(kafka.PartitionKeyMetadata)+"="+string(msg.Payload))
	h.mu.Unlock()
	return nil
}

func (h *handled) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.mu.Lock()
		seen := append([]string(nil), h.seen...)
		h.mu.Unlock()
		if len(seen) >= n {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of %d messages: %v", len(seen), n, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runRouter runs a router with the opener on topic: an "owner" handler,
// which quarantines what it cannot open, and an "other" one, which skips it.
// The owner's first attempt at every message fails, so each is opened again
// on its redelivery.
func runRouter(t *testing.T, topic string, op *seal.Opener) (owner, other *handled) {
	t.Helper()
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.AddMiddleware(op.Middleware)
	owner, other = &handled{}, &handled{}
	var failedMu sync.Mutex // messages of other keys are handled together
	failed := map[string]bool{}
	for name, h := range map[string]*handled{"owner": owner, "other": other} {
		sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: testBrokers,
			ConsumerGroup: topic + "-" + name, FetchMaxWait: 100 * time.Millisecond, NackResendDelay: 10 * time.Millisecond,
			SessionTimeout: 6 * time.Second, RebalanceTimeout: 5 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
			JoinGroupBackoff: 200 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		handle := h.handle
		if name == "owner" {
			handle = func(msg *message.Message) error {
				failedMu.Lock()
				first := !failed[msg.UUID]
				failed[msg.UUID] = true
				failedMu.Unlock()
				if first {
					return errors.New("first attempt fails")
				}
				return h.handle(msg)
			}
		}
		r.AddConsumerHandler(name, topic, sub, handle)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("router: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	<-r.Running()
	return owner, other
}

func newStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestOpenerRotationPlaintextAndUnopenable: handlers see plaintext whether
// the message was sealed under the current key, under a key since rotated
// out to the old keys, or written in clear before the hub sealed; a message
// sealed under a key the hub does not have is quarantined by the owning
// handler, with the reason naming where it was, skipped by the other, and
// the messages behind it are handled.
func TestOpenerRotationPlaintextAndUnopenable(t *testing.T) {
	ctx := context.Background()
	topic := "seal-" + watermill.NewShortUUID()
	// Before the rotation: sealed under A. Before sealing: in clear.
	// Elsewhere: sealed under C, a key this hub never had.
	if err := sealedPublisher(t, sealer(t, keyA)).Publish(topic, msg("D1", `{"v":"under the old key"}`)); err != nil {
		t.Fatal(err)
	}
	if err := kafkaPublisher(t).Publish(topic, msg("D2", `{"v":"in clear"}`)); err != nil {
		t.Fatal(err)
	}
	lost := msg("D3", `{"v":"under an unknown key"}`)
	if err := sealedPublisher(t, sealer(t, keyC)).Publish(topic, lost); err != nil {
		t.Fatal(err)
	}
	// After the rotation: B current, A old.
	keys := sealer(t, keyB, keyA)
	if err := sealedPublisher(t, keys).Publish(topic, msg("D4", `{"v":"under the new key"}`), msg("D5", "")); err != nil {
		t.Fatal(err)
	}

	st := newStore(t)
	var quarantined []string
	var mu sync.Mutex
	op := &seal.Opener{Keys: keys, Store: st, QuarantineBy: map[string]string{"owner": schemas.FormatRawMessage},
		Instance: "test", Quarantined: func(source string) {
			mu.Lock()
			quarantined = append(quarantined, source)
			mu.Unlock()
		}}
	owner, other := runRouter(t, topic, op)
	want := []string{`D1={"v":"under the old key"}`, `D2={"v":"in clear"}`, `D4={"v":"under the new key"}`, `D5=`}
	for name, h := range map[string]*handled{"owner": owner, "other": other} {
		// In any order: each message has a key of its own.
		got := h.wait(t, len(want))
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s handled %v, want %v", name, got, want)
		}
	}

	q, err := st.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 {
		t.Fatalf("quarantine: %+v, want the one message sealed under an unknown key, once", q)
	}
	e := q[0]
	keyID := fmt.Sprintf("%x", store.KeyID(keyC))
	for _, part := range []string{lost.UUID, topic, "partition 0", "offset 2", keyID, "store.old_encryption_keys"} {
		if !strings.Contains(e.Reason, part) {
			t.Errorf("reason %q does not name %q", e.Reason, part)
		}
	}
	if e.Source != "sonla" || e.DossierID != "D3" || e.Field != "message" || e.Format != schemas.FormatRawMessage || !seal.IsSealed(e.Payload) {
		t.Errorf("entry %+v", e)
	}
	// With the lost key configured again, the entry's payload opens: a
	// replay (which publishes a sealed payload as it is) then goes through.
	again := message.NewMessage(watermill.NewUUID(), e.Payload)
	again.Metadata.Set(kafka.PartitionKeyMetadata, e.DossierID)
	if plain, err := seal.Open(sealer(t, keyB, keyA, keyC), again); err != nil || string(plain) != `{"v":"under an unknown key"}` {
		t.Errorf("quarantined payload with its key = %q, %v", plain, err)
	}
	events, err := st.Timeline(ctx, "D3")
	if err != nil || len(events) != 1 || events[0].Kind != "quarantined" {
		t.Errorf("timeline of D3: %+v, %v", events, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(quarantined) != "[sonla]" {
		t.Errorf("told of quarantined %v", quarantined)
	}
}
