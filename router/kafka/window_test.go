package kafka_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/router/kafka"
)

// TestWindowOrderPerKey: a window hands out many messages of a partition
// at once, yet never two of one key together, and each key's messages in
// order. With nacks (redeliveries) and a subscriber closed mid-window (a
// crash: messages in flight never acked, acked ones not yet committed), a
// new subscriber of the group carries on, every message is handled, and a
// key never skips ahead: after the crash it resumes at or before where it
// was.
func TestWindowOrderPerKey(t *testing.T) {
	t.Parallel()
	const (
		keys    = 40
		perKey  = 30
		total   = keys * perKey
		crashAt = total / 3
	)
	topic := "window-" + watermill.NewShortUUID()
	group := "g-" + watermill.NewShortUUID()
	if err := mustPublisher(t, testBrokers).Publish(topic, keyedMessages(total, keys)...); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		inFlight = map[string]bool{} // key → a message of it is being handled
		last     = map[string]int{}  // key → last seq acked
		handled  = map[string]bool{} // "key:seq" acked at least once
		acks     int
		perPart  = map[int]int{}
		maxPart  int // most messages of one partition in flight at once
		failures []string
	)
	fail := func(format string, args ...any) {
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	// run handles messages until stopAfter acks (0: until all are handled);
	// the messages it holds then are never acked, as in a crash.
	run := func(sub *kafka.Subscriber, stopAfter int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Error(err)
			return
		}
		finished := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			var m *message.Message
			select {
			case <-finished:
				return
			case <-ctx.Done():
				t.Error("timed out")
				return
			case mm, ok := <-ch:
				if !ok {
					return
				}
				m = mm
			}
			key, seqText, _ := strings.Cut(string(m.Payload), ":")
			seq, _ := strconv.Atoi(seqText)
			info, _ := kafka.MessageInfoFromCtx(m.Context())
			mu.Lock()
			if inFlight[key] {
				fail("%s:%d handed out while another message of %s is in flight", key, seq, key)
			}
			if l, ok := last[key]; (ok && seq > l+1) || (!ok && seq > 0) {
				fail("%s:%d handed out after %s:%d: skipped ahead", key, seq, key, last[key])
			}
			inFlight[key] = true
			perPart[info.Partition]++
			maxPart = max(maxPart, perPart[info.Partition])
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.N(4)) * time.Millisecond)
				mu.Lock()
				inFlight[key] = false
				perPart[info.Partition]--
				crashed := stopAfter > 0 && acks >= stopAfter
				nack := !crashed && rand.N(10) == 0
				if !crashed && !nack {
					last[key] = seq
					handled[string(m.Payload)] = true
					acks++
				}
				end := len(handled) == total || (stopAfter > 0 && acks >= stopAfter)
				mu.Unlock()
				switch {
				case crashed: // never acked nor nacked
				case nack:
					m.Nack()
				default:
					m.Ack()
				}
				if end {
					once.Do(func() { close(finished) })
				}
			}()
		}
	}

	cfg := testSubscriberConfig(testBrokers, group)
	cfg.WindowMessages = 32
	first := mustSubscriber(t, cfg)
	run(first, crashAt)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for k := range inFlight {
		inFlight[k] = false // the crashed subscriber's messages are gone
	}
	mu.Unlock()
	run(mustSubscriber(t, cfg), 0)

	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	if len(handled) != total {
		t.Fatalf("%d of %d messages handled", len(handled), total)
	}
	if maxPart < 2 {
		t.Fatalf("at most %d message of a partition in flight at once: the window is not used", maxPart)
	}
	t.Logf("up to %d messages of one partition in flight at once", maxPart)
}

// TestTopicWindowBound: over all partitions of a subscription no more
// messages are in flight than TopicWindowMessages, though each partition's
// window alone would allow more; every message is still handled.
func TestTopicWindowBound(t *testing.T) {
	t.Parallel()
	const total, keys, bound = 400, 40, 10
	cfg := testSubscriberConfig(testBrokers, "g-"+watermill.NewShortUUID())
	cfg.WindowMessages = 64
	cfg.TopicWindowMessages = bound
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, _, ch := subscribe(ctx, t, "topicwindow-", keyedMessages(total, keys), cfg)
	var (
		mu                  sync.Mutex
		inFlight, most, got int
		parts               = map[int]bool{}
	)
	for got < total {
		var m *message.Message
		select {
		case m = <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out after %d of %d messages", got, total)
		}
		info, _ := kafka.MessageInfoFromCtx(m.Context())
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		parts[info.Partition] = true
		got++
		mu.Unlock()
		go func() {
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			m.Ack()
		}()
	}
	mu.Lock()
	defer mu.Unlock()
	if most > bound {
		t.Fatalf("%d messages in flight at once, bound %d", most, bound)
	}
	if most < 2 || len(parts) < 2 {
		t.Fatalf("at most %d in flight over %d partitions: the test does not exercise the bound", most, len(parts))
	}
	t.Logf("up to %d messages in flight over %d partitions", most, len(parts))
}

// TestWindowSupersede: with SupersedeBy, a key's messages queued behind the
// one in flight give way to the last one queued when its version is not
// lower, and it says how many it replaced; a message republished with an
// older version (every tenth here and each key's last, as a resync)
// replaces nothing newer and is handed out after it. A key's messages still come one at a time and in
// order, each key's last message is handled, every message is handled or
// replaced, and all of them are committed.
func TestWindowSupersede(t *testing.T) {
	t.Parallel()
	const keys, perKey = 20, 25
	const total = keys * perKey
	cfg := testSubscriberConfig(testBrokers, "g-"+watermill.NewShortUUID())
	cfg.SupersedeBy = "version"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	msgs := keyedMessages(total, keys)
	version := func(i int) int { // message i's version: its place, or an older one
		if seq := i / keys; seq%10 == 9 || seq == perKey-1 {
			return seq - 5
		}
		return i / keys
	}
	for i, m := range msgs {
		m.Metadata.Set("version", strconv.Itoa(version(i)))
	}
	topic, sub, ch := subscribe(ctx, t, "supersede-", msgs, cfg)
	var (
		mu                           sync.Mutex
		inFlight                     = map[string]bool{}
		last                         = map[string]int{}
		accounted, handled, replaced int
		acks                         sync.WaitGroup
	)
	for accounted < total {
		var m *message.Message
		select {
		case m = <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out with %d of %d messages handled or replaced", accounted, total)
		}
		key, seqText, _ := strings.Cut(string(m.Payload), ":")
		seq, _ := strconv.Atoi(seqText)
		n := 0
		if v := m.Metadata.Get(kafka.MetadataSuperseded); v != "" {
			n, _ = strconv.Atoi(v)
		}
		mu.Lock()
		if inFlight[key] {
			t.Errorf("%s:%d handed out while another message of %s is in flight", key, seq, key)
		}
		if l, ok := last[key]; ok && seq != l+1+n {
			t.Errorf("%s:%d after %s:%d replaces %d messages: want %d", key, seq, key, l, n, seq-l-1)
		}
		inFlight[key], last[key] = true, seq
		handled++
		replaced += n
		accounted += 1 + n
		mu.Unlock()
		acks.Add(1)
		go func() {
			defer acks.Done()
			time.Sleep(20 * time.Millisecond) // the key's next messages queue meanwhile
			mu.Lock()
			inFlight[key] = false
			mu.Unlock()
			m.Ack()
		}()
	}
	mu.Lock()
	for k, l := range last {
		if l != perKey-1 {
			t.Errorf("%s: last message handled %d, want %d", k, l, perKey-1)
		}
	}
	mu.Unlock()
	if replaced == 0 || handled <= 2*keys {
		t.Fatalf("%d handled, %d replaced: the test does not exercise SupersedeBy", handled, replaced)
	}
	t.Logf("%d messages handled, %d replaced by newer ones", handled, replaced)
	// Replaced messages were committed with the others: the group has
	// nothing left to hand out.
	acks.Wait()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	again := mustSubscriber(t, cfg)
	ch2, err := again.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch2:
		t.Fatalf("message %s handed out again after all were committed", m.Payload)
	case <-time.After(3 * time.Second):
	}
}

// subscribe publishes msgs to a new topic named from prefix and subscribes
// to it with cfg.
func subscribe(ctx context.Context, t *testing.T, prefix string, msgs []*message.Message, cfg kafka.SubscriberConfig) (string, *kafka.Subscriber, <-chan *message.Message) {
	t.Helper()
	topic := prefix + watermill.NewShortUUID()
	if err := mustPublisher(t, testBrokers).Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscriber(t, cfg)
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return topic, sub, ch
}
