package broker_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lienthong/lienthong/router/kafka/broker"
)

const (
	topic      = "persisted"
	partitions = 3
	perPart    = 10
	committed  = 4 // group offset committed on every partition
)

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// poll reads until n records arrived (or fails after a timeout).
func poll(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d/%d records", len(recs), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Partition != recs[j].Partition {
			return recs[i].Partition < recs[j].Partition
		}
		return recs[i].Offset < recs[j].Offset
	})
	return recs
}

// TestRestartKeepsState proves what kfake's DataDir persists across Close and
// Start on the same address: topics (with their partition count), records,
// and consumer-group committed offsets.
func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b1, err := broker.Start(ctx, broker.Config{DataDir: dir, Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	addr := b1.Addrs()[0]

	// Auto-create the topic and write perPart records to each partition.
	prod := newClient(t, addr, kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := range partitions {
		for i := range perPart {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte("k"), Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	// A group member consumes and commits offset `committed` everywhere.
	grp := newClient(t, addr, kgo.ConsumerGroup("g"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := poll(t, grp, partitions*perPart)
	var toCommit []*kgo.Record
	for _, r := range got {
		if r.Offset == committed-1 {
			toCommit = append(toCommit, r)
		}
	}
	if err := grp.CommitRecords(ctx, toCommit...); err != nil {
		t.Fatal(err)
	}
	grp.Close() // leaves the group

	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2, err := broker.Start(ctx, broker.Config{Addr: addr, DataDir: dir, Partitions: 1})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer b2.Close()
	if b2.Addrs()[0] != addr {
		t.Fatalf("restarted on %s, want %s", b2.Addrs()[0], addr)
	}

	// Records (and the 3-partition topic, although the new default is 1).
	all := poll(t, newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), partitions*perPart)
	for i, r := range all {
		p, off := i/perPart, i%perPart
		if int(r.Partition) != p || int(r.Offset) != off || string(r.Value) != fmt.Sprintf("%d-%d", p, off) {
			t.Fatalf("record %d: partition %d offset %d value %q", i, r.Partition, r.Offset, r.Value)
		}
	}

	// Committed offsets: the group resumes at `committed`.
	resumed := poll(t, newClient(t, addr, kgo.ConsumerGroup("g"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), partitions*(perPart-committed))
	if len(resumed) != partitions*(perPart-committed) || resumed[0].Offset != committed {
		t.Fatalf("group resumed with %d records, first offset %d", len(resumed), resumed[0].Offset)
	}

	// New records get new offsets (the log was not reset).
	prod2 := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}
	if err := prod2.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != perPart {
		t.Fatalf("offset after restart %d, want %d", r.Offset, perPart)
	}
}

func TestContextCancelCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, broker.Config{SeedTopics: []string{"seeded"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addrs()[0]
	// The seeded topic exists with 2 partitions (no auto-creation asked).
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "seeded", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to seeded topic: %v", err)
	}
	cancel()
	// Once closed, the port is free again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b2, err := broker.Start(context.Background(), broker.Config{Addr: addr})
		if err == nil {
			b2.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port not released: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Close(); err != nil { // idempotent after ctx cancel
		t.Fatal(err)
	}
}
