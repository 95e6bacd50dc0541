package kafka

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

const (
	// PartitionKeyMetadata is the metadata key the DefaultMarshaler reads the
	// Kafka record key (and so the partition) from. Messages with the same
	// key land in the same partition and are delivered in publish order.
	PartitionKeyMetadata = "partition_key"

	// UUIDHeader is the Kafka header carrying the Watermill message UUID.
	// Same name as watermill-kafka, so both can read each other's records.
	UUIDHeader = "_watermill_message_uuid"
)

// Marshaler turns a Watermill message into a Kafka record.
type Marshaler interface {
	Marshal(topic string, msg *message.Message) (kafkago.Message, error)
}

// Unmarshaler turns a consumed Kafka record into a Watermill message.
type Unmarshaler interface {
	Unmarshal(kafkago.Message) (*message.Message, error)
}

// KeyFunc returns the Kafka record key of msg.
type KeyFunc func(topic string, msg *message.Message) ([]byte, error)

// DefaultMarshaler encodes records so that any Kafka client can read them:
// value = payload bytes, key = partition key, headers = metadata plus the
// message UUID in UUIDHeader.
type DefaultMarshaler struct {
	// KeyFunc overrides how the record key is chosen. Nil means
	// DefaultKeyFunc.
	KeyFunc KeyFunc
}

var (
	_ Marshaler   = DefaultMarshaler{}
	_ Unmarshaler = DefaultMarshaler{}
)

// DefaultKeyFunc uses the PartitionKeyMetadata metadata value and falls back
// to the message UUID (which spreads unrelated messages over partitions).
func DefaultKeyFunc(_ string, msg *message.Message) ([]byte, error) {
	if k := msg.Metadata.Get(PartitionKeyMetadata); k != "" {
		return []byte(k), nil
	}
	return []byte(msg.UUID), nil
}

// Marshal implements Marshaler.
func (m DefaultMarshaler) Marshal(topic string, msg *message.Message) (kafkago.Message, error) {
	keyFn := m.KeyFunc
	if keyFn == nil {
		keyFn = DefaultKeyFunc
	}
	key, err := keyFn(topic, msg)
	if err != nil {
		return kafkago.Message{}, fmt.Errorf("partition key of message %s: %w", msg.UUID, err)
	}
	headers := make([]kafkago.Header, 0, len(msg.Metadata)+1)
	headers = append(headers, kafkago.Header{Key: UUIDHeader, Value: []byte(msg.UUID)})
	for k, v := range msg.Metadata {
		if k == UUIDHeader {
			continue
		}
		headers = append(headers, kafkago.Header{Key: k, Value: []byte(v)})
	}
	return kafkago.Message{
		Topic:   topic,
		Key:     key,
		Value:   msg.Payload,
		Headers: headers,
	}, nil
}

// Unmarshal implements Unmarshaler. Records written by other clients without
// a UUID header get a deterministic UUID "<topic>/<partition>/<offset>", so a
// redelivered record keeps its identity.
func (DefaultMarshaler) Unmarshal(km kafkago.Message) (*message.Message, error) {
	uuid := ""
	md := make(message.Metadata, len(km.Headers))
	for _, h := range km.Headers {
		if h.Key == UUIDHeader {
			uuid = string(h.Value)
			continue
		}
		md[h.Key] = string(h.Value)
	}
	if uuid == "" {
		uuid = fmt.Sprintf("%s/%d/%d", km.Topic, km.Partition, km.Offset)
	}
	msg := message.NewMessage(uuid, km.Value)
	msg.Metadata = md
	return msg, nil
}
