package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// PublisherConfig configures NewPublisher.
type PublisherConfig struct {
	// Brokers are the bootstrap broker addresses (host:port). Required.
	Brokers []string

	// Marshaler encodes messages. Nil means DefaultMarshaler{}.
	Marshaler Marshaler

	// Balancer maps a record key to a partition. Nil means
	// kafkago.Murmur2Balancer{}, the Java client's default
	// partitioner, so other producers (Java, franz-go, librdkafka with
	// murmur2) put the same key in the same partition.
	Balancer kafkago.Balancer

	// Linger is how long a partial batch waits for more messages (from
	// concurrent Publish calls) before it is sent. Zero means "send at once":
	// all messages of one Publish call for a partition still go in the same
	// produce request.
	Linger time.Duration

	// BatchSize is the maximum number of records per produce request and
	// partition. Zero means 100. (kafka-go pre-allocates a batch of this
	// capacity, so very large values cost memory on small publishes.)
	BatchSize int

	// BatchBytes caps the size of one produce request per partition. Zero
	// means 1 MiB, Kafka's default message.max.bytes.
	BatchBytes int64

	// Compression codec of produced batches (kafkago.Gzip, Snappy, Lz4,
	// Zstd). Zero means none.
	Compression kafkago.Compression

	// MaxAttempts is how many times a produce request is tried before
	// Publish fails. Zero means 10.
	MaxAttempts int

	// WriteTimeout bounds one produce request. Zero means 10s.
	WriteTimeout time.Duration

	// CreateTopics, when non-nil, makes the publisher create each topic with
	// these settings before its first publish. Nil relies on the broker's
	// auto.create.topics.enable.
	CreateTopics *TopicCreation

	// TLS enables TLS when non-nil.
	TLS *tls.Config

	// SASL enables SASL authentication when non-nil.
	SASL *SASLConfig

	// ClientID is sent to the broker. Empty means "lienthong".
	ClientID string
}

func (c *PublisherConfig) setDefaults() {
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
	if c.Balancer == nil {
		c.Balancer = &kafkago.Murmur2Balancer{}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "lienthong"
	}
}

// Publisher is a Watermill publisher writing to Kafka with kafka-go. It is
// safe for concurrent use; concurrent Publish calls share produce requests.
type Publisher struct {
	cfg       PublisherConfig
	logger    watermill.LoggerAdapter
	writer    *kafkago.Writer
	transport *kafkago.Transport
	client    *kafkago.Client

	mu      sync.RWMutex // held for reading by Publish, for writing by Close
	closed  bool
	topicMu sync.Mutex
	topics  map[string]struct{} // topics already created (CreateTopics)
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher creates a Publisher. It does not connect until the first
// Publish.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka publisher: no brokers")
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	cfg.setDefaults()
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	transport := newTransport(cfg.ClientID, cfg.TLS, mech)
	linger := cfg.Linger
	if linger <= 0 {
		// kafka-go treats 0 as its 1s default; 1ns fires immediately, and the
		// messages of one WriteMessages call are all added to the batch
		// under the partition writer's lock before the timer can flush it.
		linger = time.Nanosecond
	}
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Balancer:     cfg.Balancer,
		MaxAttempts:  cfg.MaxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: linger,
		WriteTimeout: cfg.WriteTimeout,
		// Publish must only return once the record is replicated: the hub
		// advances its source cursors on success.
		RequiredAcks:           kafkago.RequireAll,
		Async:                  false,
		Compression:            cfg.Compression,
		Transport:              transport,
		AllowAutoTopicCreation: cfg.CreateTopics == nil,
		Logger:                 kafkaLogger{l: logger},
		ErrorLogger:            kafkaLogger{l: logger, error: true},
	}
	return &Publisher{
		cfg:       cfg,
		logger:    logger,
		writer:    w,
		transport: transport,
		client:    &kafkago.Client{Addr: w.Addr, Transport: transport, Timeout: cfg.WriteTimeout},
		topics:    map[string]struct{}{},
	}, nil
}

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("kafka publisher closed")

// Publish writes msgs to topic and returns once the broker acknowledged all
// of them (acks=all). Messages are split by partition and sent in as few
// produce requests as BatchSize/BatchBytes allow; within a partition they
// keep their order. On error, some messages may have been written (the
// caller should retry the whole call: delivery is at-least-once).
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx := context.Background()
	if err := p.ensureTopic(ctx, topic); err != nil {
		return err
	}

	records := make([]kafkago.Message, len(msgs))
	for i, msg := range msgs {
		rec, err := p.cfg.Marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", msg.UUID, err)
		}
		rec.Topic = topic
		records[i] = rec
	}

	var err error
	for attempt := 1; ; attempt++ {
		err = p.writer.WriteMessages(ctx, records...)
		if err == nil {
			return nil
		}
		// WriteErrors means produce requests were attempted (and retried
		// MaxAttempts times by kafka-go); anything else failed before any
		// record was sent (metadata lookup, e.g. while the broker
		// restarts), so the whole call can be retried safely.
		var werr kafkago.WriteErrors
		if errors.As(err, &werr) || !isRetriable(err) || attempt >= p.cfg.MaxAttempts {
			break
		}
		p.logger.Debug("Publish failed before producing, retrying", watermill.LogFields{"topic": topic, "err": err, "attempt": attempt})
		time.Sleep(min(time.Duration(attempt)*100*time.Millisecond, time.Second))
	}
	return fmt.Errorf("publish %d messages to %s: %w", len(msgs), topic, err)
}

func (p *Publisher) ensureTopic(ctx context.Context, topic string) error {
	if p.cfg.CreateTopics == nil {
		return nil
	}
	p.topicMu.Lock()
	defer p.topicMu.Unlock()
	if _, ok := p.topics[topic]; ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	if _, err := ensureTopic(ctx, p.client, topic, p.cfg.CreateTopics, p.logger); err != nil {
		return err
	}
	p.topics[topic] = struct{}{}
	return nil
}

// Close waits for in-flight Publish calls (which flush their batches), then
// releases connections. Idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	return err
}
