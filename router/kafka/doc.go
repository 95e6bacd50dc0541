// Package kafka is a Watermill Pub/Sub (message.Publisher,
// message.Subscriber) on github.com/segmentio/kafka-go.
//
// Publisher: Publish(topic, msgs...) marshals the messages (DefaultMarshaler:
// value = payload, key = metadata PartitionKeyMetadata or else the UUID,
// headers = metadata + UUIDHeader), groups them by partition (murmur2 of the
// key, like the Java client) into as few produce requests as BatchSize and
// BatchBytes allow, and returns only once the broker acknowledged all of them
// with acks=all. Delivery is at-least-once: on error the caller retries the
// call, possibly duplicating the records that had been written.
//
// Subscriber: with a ConsumerGroup, kafka-go's low-level consumer-group API
// (ConsumerGroup/Generation) assigns partitions to the group's members; each
// assigned partition is read by its own goroutine, which delivers one message,
// waits for Ack or Nack, and only then moves on. So messages of one partition
// key are handled in publish order, one at a time, while partitions proceed
// in parallel. Ack makes the offset committable (commits happen every
// CommitInterval, when partitions are revoked, and on Close: only offsets of
// acked messages, and of every earlier message of the partition, are ever
// committed). Nack redelivers the same message after NackResendDelay, before
// any later message of its partition (a record that cannot be unmarshaled
// is logged and skipped). Rebalances are eager: at every
// membership change the partitions are revoked and reassigned; a message in
// flight may then be delivered again (RevokeGracePeriod limits that).
// Without a ConsumerGroup every subscription reads all partitions (as they
// are at Subscribe time) from InitialOffset and commits nothing.
//
// The consumed message's Kafka coordinates are available through
// MessageInfoFromCtx(msg.Context()).
package kafka
