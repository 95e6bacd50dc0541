package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/lienthong/lienthong/router/kafka/broker"
)

// TestReconnectBrokerRestart stops and restarts a persistent kfake broker on
// the same address twice while messages are being published and consumed by
// a consumer group: every message whose Publish succeeded is received (at
// least once).
func TestReconnectBrokerRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addrs()[0]
	brokers := []string{addr}
	var bMu sync.Mutex
	defer func() { bMu.Lock(); _ = b.Close(); bMu.Unlock() }()
	restart := func() {
		bMu.Lock()
		defer bMu.Unlock()
		start := time.Now()
		_ = b.Close()
		time.Sleep(200 * time.Millisecond) // clients notice the outage
		nb, err := broker.Start(ctx, broker.Config{Addr: addr, DataDir: dir, Partitions: testPartitions})
		if err != nil {
			t.Errorf("restart: %v", err)
			return
		}
		b = nb
		t.Logf("broker restarted in %s", time.Since(start))
	}

	topic := "reconnect-" + watermill.NewShortUUID()
	pub := mustPublisher(t, brokers)
	sub := mustSubscriber(t, testSubscriberConfig(brokers, "reconnect"))
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}

	const total, batch = 3000, 10
	var (
		mu        sync.Mutex
		published = map[string]bool{}
		received  = map[string]bool{}
		pubDone   = make(chan struct{})
	)
	go func() {
		defer close(pubDone)
		msgs := keyedMessages(total, 32)
		for i := 0; i < total; i += batch {
			switch i {
			case total / 3, 2 * total / 3:
				go restart()
			}
			chunk := msgs[i : i+batch]
			for attempt := 0; ; attempt++ {
				err := pub.Publish(topic, chunk...)
				if err == nil {
					break
				}
				if attempt > 100 {
					t.Errorf("publish keeps failing: %v", err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			for _, m := range chunk {
				published[m.UUID] = true
			}
			mu.Unlock()
			time.Sleep(time.Millisecond) // spread publishing over the restarts
		}
	}()

	deadline := time.After(90 * time.Second)
	pubFinished := false
	for {
		select {
		case m := <-ch:
			mu.Lock()
			received[m.UUID] = true
			mu.Unlock()
			m.Ack()
		case <-pubDone:
			pubFinished = true
			pubDone = nil
		case <-deadline:
			mu.Lock()
			t.Fatalf("received %d of %d published (publisher finished: %v)", len(received), len(published), pubFinished)
		}
		if pubFinished {
			mu.Lock()
			missing := 0
			for id := range published {
				if !received[id] {
					missing++
				}
			}
			n := len(published)
			mu.Unlock()
			if missing == 0 {
				if n != total {
					t.Fatalf("published %d of %d", n, total)
				}
				return
			}
		}
	}
}
