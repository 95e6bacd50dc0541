package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lienthong/lienthong/router/kafka"
)

// TestInteropFranzGo: records written by our Publisher are readable by
// another Kafka client (franz-go) with key, value and headers intact, keys
// map to the same partition as with franz-go's default (murmur2) partitioner,
// and records written by franz-go are readable by our Subscriber.
func TestInteropFranzGo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "interop-" + watermill.NewShortUUID()

	keyed := message.NewMessage(watermill.NewUUID(), []byte("hello"))
	keyed.Metadata.Set(kafka.PartitionKeyMetadata, "order-42")
	keyed.Metadata.Set("trace", "abc")
	unkeyed := message.NewMessage(watermill.NewUUID(), []byte("world"))
	if err := mustPublisher(t, testBrokers).Publish(topic, keyed, unkeyed); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(testBrokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byValue := map[string]*kgo.Record{}
	for len(byValue) < 2 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of 2 records", len(byValue))
		}
		fs.EachRecord(func(r *kgo.Record) { byValue[string(r.Value)] = r })
	}
	headers := func(r *kgo.Record) map[string]string {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		return h
	}
	r := byValue["hello"]
	if string(r.Key) != "order-42" {
		t.Errorf("key %q, want order-42", r.Key)
	}
	want := map[string]string{kafka.UUIDHeader: keyed.UUID, kafka.PartitionKeyMetadata: "order-42", "trace": "abc"}
	if got := headers(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	if r2 := byValue["world"]; string(r2.Key) != unkeyed.UUID || headers(r2)[kafka.UUIDHeader] != unkeyed.UUID {
		t.Errorf("unkeyed record: key %q headers %v", r2.Key, headers(r2))
	}

	// franz-go's default partitioner hashes keys like the Java client
	// (murmur2), as does our default balancer: same key, same partition.
	prod, err := kgo.NewClient(kgo.SeedBrokers(testBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	fr := &kgo.Record{Topic: topic, Key: []byte("order-42"), Value: []byte("from-franz"),
		Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("franz")}}}
	if err := prod.ProduceSync(ctx, fr).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if fr.Partition != r.Partition {
		t.Errorf("franz-go put key order-42 in partition %d, we did in %d", fr.Partition, r.Partition)
	}

	// And our Subscriber reads franz-go's record: headers become metadata,
	// the UUID (no header) is derived from the record's coordinates.
	sub := mustSubscriber(t, testSubscriberConfig(testBrokers, ""))
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for {
		m := receive(t, ch, 20*time.Second)
		m.Ack()
		if string(m.Payload) != "from-franz" {
			continue
		}
		if want := fmt.Sprintf("%s/%d/%d", topic, fr.Partition, fr.Offset); m.UUID != want {
			t.Errorf("uuid %q, want %q", m.UUID, want)
		}
		if m.Metadata.Get("source") != "franz" {
			t.Errorf("metadata %v", m.Metadata)
		}
		info, _ := kafka.MessageInfoFromCtx(m.Context())
		if string(info.Key) != "order-42" || info.Partition != int(fr.Partition) {
			t.Errorf("message info %+v", info)
		}
		return
	}
}
