package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
)

func mustPublisher(t testing.TB, brokers []string) *kafka.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func mustSubscriber(t testing.TB, cfg kafka.SubscriberConfig) *kafka.Subscriber {
	t.Helper()
	sub, err := kafka.NewSubscriber(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// keyedMessages returns n messages spread over `keys` partition keys, with
// payload "<key>:<seq within key>".
func keyedMessages(n, keys int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		k := i % keys
		m := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "k%d:%d", k, i/keys))
		m.Metadata.Set(kafka.PartitionKeyMetadata, fmt.Sprintf("k%d", k))
		msgs[i] = m
	}
	return msgs
}

func receive(t *testing.T, ch <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatal("timeout waiting for a message")
	}
	return nil
}

// TestCommitAfterAck: only acked offsets are committed; an unacked message is
// the first one a new group member gets; a nacked message is redelivered
// before the messages after it.
func TestCommitAfterAck(t *testing.T) {
	t.Parallel()
	topic := "commit-" + watermill.NewShortUUID()
	group := "g-" + watermill.NewShortUUID()
	msgs := make([]*message.Message, 10)
	for i := range msgs {
		msgs[i] = message.NewMessage(fmt.Sprint("m", i), []byte(fmt.Sprint(i)))
		msgs[i].Metadata.Set(kafka.PartitionKeyMetadata, "same")
	}
	if err := mustPublisher(t, testBrokers).Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}

	sub1 := mustSubscriber(t, testSubscriberConfig(testBrokers, group))
	ch1, err := sub1.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		m := receive(t, ch1, 20*time.Second)
		if m.UUID != msgs[i].UUID {
			t.Fatalf("got %s, want %s", m.UUID, msgs[i].UUID)
		}
		m.Ack()
	}
	m := receive(t, ch1, 20*time.Second) // m5: never acked
	if m.UUID != "m5" {
		t.Fatalf("got %s, want m5", m.UUID)
	}
	select {
	case m := <-ch1:
		t.Fatalf("got %s before m5 was acked", m.UUID)
	case <-time.After(200 * time.Millisecond):
	}
	if err := sub1.Close(); err != nil {
		t.Fatal(err)
	}

	sub2 := mustSubscriber(t, testSubscriberConfig(testBrokers, group))
	ch2, err := sub2.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := receive(t, ch2, 20*time.Second)
		if m.UUID != "m5" {
			t.Fatalf("got %s, want m5 (first unacked)", m.UUID)
		}
		info, ok := kafka.MessageInfoFromCtx(m.Context())
		if !ok || info.Offset != 5 || string(info.Key) != "same" {
			t.Fatalf("message info %+v %v", info, ok)
		}
		m.Nack()
	}
	for i := 5; i < 10; i++ {
		m := receive(t, ch2, 20*time.Second)
		if m.UUID != msgs[i].UUID {
			t.Fatalf("got %s, want %s", m.UUID, msgs[i].UUID)
		}
		m.Ack()
	}
}

// TestConsumerGroupRebalance: two members of a group share the partitions;
// when the second joins and later the first leaves, partitions move without
// losing messages or breaking per-key order.
func TestConsumerGroupRebalance(t *testing.T) {
	t.Parallel()
	topic := "rebalance-" + watermill.NewShortUUID()
	group := "g-" + watermill.NewShortUUID()
	const total, keys = 400, 16
	msgs := keyedMessages(total, keys)
	if err := mustPublisher(t, testBrokers).Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}

	type rec struct {
		member  string
		payload string
	}
	var (
		mu        sync.Mutex
		received  []rec
		firstSeen = map[string]bool{}
		done      = make(chan struct{})
	)
	consume := func(name string, ch <-chan *message.Message) {
		for m := range ch {
			time.Sleep(2 * time.Millisecond) // slow handler: rebalances happen mid-stream
			mu.Lock()
			received = append(received, rec{name, string(m.Payload)})
			firstSeen[m.UUID] = true
			if len(firstSeen) == total {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			mu.Unlock()
			m.Ack()
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(firstSeen) }
	waitFor := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d/%d messages", count(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	subA := mustSubscriber(t, testSubscriberConfig(testBrokers, group))
	chA, err := subA.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	go consume("A", chA)
	waitFor(50)

	subB := mustSubscriber(t, testSubscriberConfig(testBrokers, group))
	chB, err := subB.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	go consume("B", chB)
	waitFor(200)
	// Both members hold partitions now, and none twice.
	var all []int
	eventually(t, "both members assigned", func() bool {
		a, b := subA.Assigned()[topic], subB.Assigned()[topic]
		all = slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
		return len(a) > 0 && len(b) > 0 && len(slices.Compact(slices.Clone(all))) == len(all)
	})
	if err := subA.Close(); err != nil {
		t.Fatal(err)
	}
	if a := subA.Assigned(); len(a) != 0 {
		t.Fatalf("a closed subscriber reports partitions %v", a)
	}
	eventually(t, "the remaining member assigned every partition", func() bool {
		return slices.Equal(subB.Assigned()[topic], all)
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d/%d messages", count(), total)
	}

	mu.Lock()
	defer mu.Unlock()
	// Per key, first deliveries are in publish order; redeliveries only
	// repeat a suffix of what was already delivered (at-least-once).
	next := map[string]int{}
	byMember := map[string]int{}
	dups := 0
	for _, r := range received {
		byMember[r.member]++
		k, seqStr, _ := strings.Cut(r.payload, ":")
		seq, _ := strconv.Atoi(seqStr)
		switch {
		case seq == next[k]:
			next[k]++
		case seq < next[k]:
			dups++
		default:
			t.Fatalf("key %s: got seq %d before %d", k, seq, next[k])
		}
	}
	t.Logf("deliveries per member %v, redeliveries %d", byMember, dups)
	if byMember["A"] == 0 || byMember["B"] == 0 {
		t.Fatalf("partitions not shared: %v", byMember)
	}
}

// eventually fails t unless cond holds within 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevokeGracePeriod: a message being handled when a rebalance starts may
// still be acked within RevokeGracePeriod; its offset is then committed
// before the partitions are reassigned, so it is not delivered again.
// (Without the grace period, the eager rebalance would redeliver it even if
// the partition stayed with the same member.)
func TestRevokeGracePeriod(t *testing.T) {
	t.Parallel()
	topic := "grace-" + watermill.NewShortUUID()
	group := "g-" + watermill.NewShortUUID()
	msgs := make([]*message.Message, 3)
	for i := range msgs {
		msgs[i] = message.NewMessage(fmt.Sprint("m", i), nil)
		msgs[i].Metadata.Set(kafka.PartitionKeyMetadata, "same")
	}
	if err := mustPublisher(t, testBrokers).Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	cfg := testSubscriberConfig(testBrokers, group)
	cfg.RevokeGracePeriod = 5 * time.Second
	chA, err := mustSubscriber(t, cfg).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	m0 := receive(t, chA, 20*time.Second)
	if m0.UUID != "m0" {
		t.Fatalf("got %s", m0.UUID)
	}
	chB, err := mustSubscriber(t, cfg).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the rebalance starts; A waits for m0's ack
	if m0.Context().Err() != nil {
		t.Fatal("message context cancelled during the grace period")
	}
	m0.Ack()

	got := map[string]int{}
	timeout := time.After(1500 * time.Millisecond)
	for {
		select {
		case m := <-chA:
			got[m.UUID]++
			m.Ack()
		case m := <-chB:
			got[m.UUID]++
			m.Ack()
		case <-timeout:
			if got["m0"] != 0 || got["m1"] != 1 || got["m2"] != 1 {
				t.Fatalf("deliveries after the rebalance: %v", got)
			}
			return
		}
	}
}

// TestCloseLeavesGroupDuringRebalance: a subscription that ends while its
// group rebalances leaves the group at once. kafka-go's ConsumerGroup does
// not send LeaveGroup when it is closed while handling a RebalanceInProgress
// error; the member would stay registered until its session timed out, and
// every rebalance meanwhile would wait for it, leaving the other members
// without partitions.
func TestCloseLeavesGroupDuringRebalance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	brokers := b.Addrs()
	topic := "leave-" + watermill.NewShortUUID()
	group := "g-" + watermill.NewShortUUID()
	if err := mustPublisher(t, brokers).Publish(topic, message.NewMessage("m0", nil)); err != nil {
		t.Fatal(err)
	}
	sub := mustSubscriber(t, testSubscriberConfig(brokers, group))
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 20*time.Second).Ack() // the member is in a generation

	// From now on the group rebalances for ever: heartbeats and SyncGroups
	// are answered REBALANCE_IN_PROGRESS, so kafka-go loops JoinGroup,
	// SyncGroup, error.
	c := b.Cluster()
	var syncs atomic.Int32
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SyncGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		syncs.Add(1)
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil, true
	})
	deadline := time.Now().Add(20 * time.Second)
	for syncs.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the member did not rejoin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	// Well within the member's 6s session timeout.
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if len(g.Members) != 0 {
			t.Fatalf("group %s still has %d member(s) after Close (state %s)", g.GroupID, len(g.Members), g.GroupState)
		}
	}
}
