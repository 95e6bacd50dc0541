package kafka_test

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lienthong/lienthong/broker"
)

// Temporary experiment: does kfake expire a member parked in JoinGroup?
func TestZZParkedJoinExpiry(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Partitions: 2, SeedTopics: []string{"exp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	logf := func(f string, a ...any) { t.Logf("%6.2fs "+f, append([]any{time.Since(start).Seconds()}, a...)...) }
	mk := func(name string, slow time.Duration) *kafkago.ConsumerGroup {
		cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
			ID: "g", Brokers: b.Addrs(), Topics: []string{"exp"},
			HeartbeatInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
			RebalanceTimeout: 20 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				gen, err := cg.Next(context.Background())
				if err != nil {
					logf("%s: Next error: %v", name, err)
					if err == kafkago.ErrGroupClosed {
						return
					}
					continue
				}
				logf("%s: generation %d assignments %v", name, gen.ID, gen.Assignments["exp"])
				gen.Start(func(ctx context.Context) {
					<-ctx.Done()
					if slow > 0 && gen.ID >= 2 {
						logf("%s: generation %d over, slow teardown %s", name, gen.ID, slow)
						time.Sleep(slow)
					}
				})
			}
		}()
		return cg
	}
	a := mk("A(slow)", 9*time.Second)
	defer a.Close()
	time.Sleep(2 * time.Second)
	c := mk("C", 0)
	defer c.Close()
	time.Sleep(2 * time.Second)
	logf("B joins")
	bb := mk("B", 0)
	defer bb.Close()
	time.Sleep(35 * time.Second)
}
