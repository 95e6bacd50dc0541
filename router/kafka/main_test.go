package kafka_test

import (
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
)

// testBrokers are the addresses of the kfake broker shared by the tests of
// this binary (started in TestMain).
var testBrokers []string

const testPartitions = 4

func TestMain(m *testing.M) {
	broker.TestMain(m, broker.Config{Partitions: testPartitions}, &testBrokers)
}

func testLogger() watermill.LoggerAdapter {
	if os.Getenv("LIENTHONG_KAFKA_DEBUG") != "" {
		return watermill.NewStdLogger(true, true)
	}
	return watermill.NopLogger{}
}

// testSubscriberConfig has consumer-group timings suited to a local broker:
// rebalances are noticed within 100ms, acks committed within 100ms.
//
// RebalanceTimeout is below SessionTimeout (kfake's minimum, 6s) because of a
// kfake deviation from Kafka: a member waiting in JoinGroup is still subject
// to its session timeout there, and is dropped without an answer when it
// expires (Kafka counts waiting for the rebalance as heartbeating). So when
// one member is slow to rejoin (or gone without leaving), kfake would drop
// the members that did rejoin, whose JoinGroup then hangs for kafka-go's
// Timeout (5s) plus RebalanceTimeout. With RebalanceTimeout < SessionTimeout
// the rebalance is completed without the slow member first.
func testSubscriberConfig(brokers []string, group string) kafka.SubscriberConfig {
	return kafka.SubscriberConfig{
		Brokers:           brokers,
		ConsumerGroup:     group,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		CommitInterval:    100 * time.Millisecond,
		NackResendDelay:   10 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		// Multiplied subscribers in the suite hold messages they never ack;
		// keep rebalances from waiting long for them.
		RevokeGracePeriod: 200 * time.Millisecond,
	}
}
