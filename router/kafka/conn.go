package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASLConfig selects SASL authentication.
type SASLConfig struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string
	Username  string
	Password  string
}

func (c *SASLConfig) mechanism() (sasl.Mechanism, error) {
	if c == nil {
		return nil, nil
	}
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password)
	default:
		return nil, fmt.Errorf("unsupported SASL mechanism %q", c.Mechanism)
	}
}

// TopicCreation describes topics created on demand. Partitions and
// ReplicationFactor <= 0 mean "broker default".
type TopicCreation struct {
	Partitions        int
	ReplicationFactor int
}

func newTransport(clientID string, tlsCfg *tls.Config, mech sasl.Mechanism) *kafkago.Transport {
	return &kafkago.Transport{
		ClientID:    clientID,
		TLS:         tlsCfg,
		SASL:        mech,
		DialTimeout: 10 * time.Second,
		// Short metadata TTL: partition counts and leaders are re-read soon
		// after a topic is created or the broker restarts.
		MetadataTTL: 5 * time.Second,
	}
}

func newDialer(clientID string, tlsCfg *tls.Config, mech sasl.Mechanism) *kafkago.Dialer {
	return &kafkago.Dialer{
		ClientID:      clientID,
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}
}

// ensureTopic makes sure topic exists and returns its partition count. With
// create != nil it issues CreateTopics (ignoring "already exists"); otherwise
// it relies on broker-side auto-creation through a metadata request and, if
// the broker does not auto-create, waits until someone else creates it.
func ensureTopic(ctx context.Context, client *kafkago.Client, topic string, create *TopicCreation, logger watermill.LoggerAdapter) (int, error) {
	if create != nil {
		p, rf := create.Partitions, create.ReplicationFactor
		if p <= 0 {
			p = -1
		}
		if rf <= 0 {
			rf = -1
		}
		resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
			Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: p, ReplicationFactor: rf}},
		})
		if err != nil {
			return 0, fmt.Errorf("create topic %s: %w", topic, err)
		}
		if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return 0, fmt.Errorf("create topic %s: %w", topic, err)
		}
	}

	backoff := 50 * time.Millisecond
	for {
		n, err := topicPartitions(ctx, client, topic)
		if err == nil && n > 0 {
			return n, nil
		}
		if err != nil && !isRetriable(err) {
			return 0, fmt.Errorf("metadata of topic %s: %w", topic, err)
		}
		logger.Debug("Waiting for topic", watermill.LogFields{"topic": topic, "err": err})
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for topic %s: %w (last error: %v)", topic, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// topicPartitions asks for topic metadata with auto-creation allowed (the
// kafka-go Client.Metadata API has no such flag, hence the raw request).
func topicPartitions(ctx context.Context, client *kafkago.Client, topic string) (int, error) {
	resp, err := client.Transport.RoundTrip(ctx, client.Addr, &metadataAPI.Request{
		TopicNames:             []string{topic},
		AllowAutoTopicCreation: true,
	})
	if err != nil {
		return 0, err
	}
	for _, t := range resp.(*metadataAPI.Response).Topics {
		if t.Name != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return 0, kafkago.Error(t.ErrorCode)
		}
		return len(t.Partitions), nil
	}
	return 0, kafkago.UnknownTopicOrPartition
}

func isRetriable(err error) bool {
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary() || kerr == kafkago.UnknownTopicOrPartition
	}
	// Network errors (connection refused/reset, EOF while the broker
	// restarts) are worth retrying.
	return true
}

// kafkaLogger adapts kafka-go's Logger to Watermill's.
type kafkaLogger struct {
	l     watermill.LoggerAdapter
	error bool
}

func (k kafkaLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if k.error {
		k.l.Error("kafka-go", errors.New(msg), nil)
		return
	}
	k.l.Trace(msg, nil)
}
