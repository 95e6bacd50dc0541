package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lienthong/lienthong/router/kafka"
)

// Benchmarks compare our Pub/Sub with bare kafka-go on the same kfake broker
// (started in TestMain), with 1 KiB messages. Run e.g.:
//
//	go test ./router/kafka/ -run '^$' -bench . -benchtime 20000x
const (
	benchPayloadSize = 1024
	benchBatch       = 100 // messages per Publish / WriteMessages call
)

var benchPayload = bytes.Repeat([]byte("x"), benchPayloadSize)

func benchMessages(n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), benchPayload)
		msgs[i].Metadata.Set(kafka.PartitionKeyMetadata, fmt.Sprint(i%64))
	}
	return msgs
}

func benchRecords(msgs []*message.Message) []kafkago.Message {
	recs := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		recs[i], _ = kafka.DefaultMarshaler{}.Marshal("", m)
	}
	return recs
}

// bareWriter is a kafka-go Writer configured like our Publisher (acks=all,
// murmur2, same batch limits, no linger) so that the difference is our
// layer, not settings.
func bareWriter(topic string) *kafkago.Writer {
	return &kafkago.Writer{
		Addr:                   kafkago.TCP(testBrokers...),
		Topic:                  topic,
		Balancer:               &kafkago.Murmur2Balancer{},
		RequiredAcks:           kafkago.RequireAll,
		BatchSize:              500,
		BatchBytes:             1 << 20,
		BatchTimeout:           time.Nanosecond,
		AllowAutoTopicCreation: true,
	}
}

func reportRate(b *testing.B) {
	b.StopTimer() // exclude deferred Close calls from ns/op
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPublish(b *testing.B) {
	b.Run("ours/batch", func(b *testing.B) {
		topic := "bench-pub-" + watermill.NewShortUUID()
		pub := mustPublisher(b, testBrokers)
		msgs := benchMessages(benchBatch)
		_ = pub.Publish(topic, msgs[0]) // create the topic outside the timer
		b.SetBytes(benchPayloadSize)
		b.ResetTimer()
		for i := 0; i < b.N; i += benchBatch {
			if err := pub.Publish(topic, msgs[:min(benchBatch, b.N-i)]...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("kafka-go/batch", func(b *testing.B) {
		topic := "bench-pub-" + watermill.NewShortUUID()
		w := bareWriter(topic)
		defer w.Close()
		recs := benchRecords(benchMessages(benchBatch))
		_ = w.WriteMessages(context.Background(), recs[0])
		b.SetBytes(benchPayloadSize)
		b.ResetTimer()
		for i := 0; i < b.N; i += benchBatch {
			if err := w.WriteMessages(context.Background(), recs[:min(benchBatch, b.N-i)]...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	// One message per call from many goroutines: concurrent calls share
	// produce requests.
	b.Run("ours/parallel-single", func(b *testing.B) {
		topic := "bench-pub-" + watermill.NewShortUUID()
		pub := mustPublisher(b, testBrokers)
		msgs := benchMessages(1)
		_ = pub.Publish(topic, msgs[0])
		b.SetBytes(benchPayloadSize)
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := pub.Publish(topic, msgs[0]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
	b.Run("kafka-go/parallel-single", func(b *testing.B) {
		topic := "bench-pub-" + watermill.NewShortUUID()
		w := bareWriter(topic)
		defer w.Close()
		recs := benchRecords(benchMessages(1))
		_ = w.WriteMessages(context.Background(), recs[0])
		b.SetBytes(benchPayloadSize)
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := w.WriteMessages(context.Background(), recs[0]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
}

// BenchmarkEndToEnd publishes b.N messages (in calls of benchBatch) while a
// consumer-group subscriber receives and acks them; it stops when all were
// received.
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("ours", func(b *testing.B) {
		topic := "bench-e2e-" + watermill.NewShortUUID()
		pub := mustPublisher(b, testBrokers)
		sub := mustSubscriber(b, kafka.SubscriberConfig{Brokers: testBrokers, ConsumerGroup: "bench-" + topic})
		if err := sub.SubscribeInitialize(topic); err != nil {
			b.Fatal(err)
		}
		ch, err := sub.Subscribe(context.Background(), topic)
		if err != nil {
			b.Fatal(err)
		}
		msgs := benchMessages(benchBatch)
		b.SetBytes(benchPayloadSize)
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i += benchBatch {
				if err := pub.Publish(topic, msgs[:min(benchBatch, b.N-i)]...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		for range b.N {
			select {
			case m := <-ch:
				m.Ack()
			case <-time.After(30 * time.Second):
				b.Fatal("timeout")
			}
		}
		reportRate(b)
	})
	b.Run("kafka-go", func(b *testing.B) {
		topic := "bench-e2e-" + watermill.NewShortUUID()
		w := bareWriter(topic)
		defer w.Close()
		recs := benchRecords(benchMessages(benchBatch))
		// kafka-go's group Reader, committing asynchronously every second
		// like our Subscriber.
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers:        testBrokers,
			GroupID:        "bench-" + topic,
			Topic:          topic,
			MinBytes:       1,
			MaxBytes:       10 << 20,
			MaxWait:        500 * time.Millisecond,
			CommitInterval: time.Second,
			StartOffset:    kafkago.FirstOffset,
		})
		defer r.Close()
		// Create the topic before the reader joins.
		if err := mustSubscriber(b, kafka.SubscriberConfig{Brokers: testBrokers}).SubscribeInitialize(topic); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchPayloadSize)
		b.ResetTimer()
		go func() {
			for i := 0; i < b.N; i += benchBatch {
				if err := w.WriteMessages(context.Background(), recs[:min(benchBatch, b.N-i)]...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for range b.N {
			if _, err := r.ReadMessage(ctx); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}
