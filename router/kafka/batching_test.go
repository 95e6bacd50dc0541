package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
)

// TestPublishBatches: one Publish call of many messages becomes one produce
// request per partition (BatchSize permitting), not one per message, and
// returns only once they were all acknowledged.
func TestPublishBatches(t *testing.T) {
	t.Parallel()
	b, err := broker.Start(context.Background(), broker.Config{Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var produces, records atomic.Int64
	b.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		produces.Add(1)
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(p.Records); err == nil {
					records.Add(int64(batch.NumRecords))
				}
			}
		}
		return nil, nil, false // observe only; kfake handles the request
	})

	// 1000 keyed messages spread over 4 partitions: at most ~300 per
	// partition, so a batch size of 500 allows one produce per partition.
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: b.Addrs(), BatchSize: 500}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	topic := "batch-" + watermill.NewShortUUID()
	const n = 1000
	if err := pub.Publish(topic, keyedMessages(n, 64)...); err != nil {
		t.Fatal(err)
	}
	// Publish returned: every record is in a produce request the broker
	// answered.
	if got := records.Load(); got != n {
		t.Fatalf("broker saw %d records, want %d", got, n)
	}
	if got := produces.Load(); got > testPartitions {
		t.Fatalf("%d produce requests for %d messages over %d partitions", got, n, testPartitions)
	}
	t.Logf("%d messages in %d produce requests", n, produces.Load())
}
