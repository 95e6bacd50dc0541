// Package seal encrypts the payloads of the hub's Kafka messages, so that
// neither a broker's disks nor whoever can read a topic without the key see
// the personal data they carry: names, identity numbers, birth dates,
// phones, emails and addresses of applicants, in the sources' raw records,
// the canonical dossiers and the notices.
//
// Publisher seals every payload it publishes; Opener, a router middleware,
// opens them before the handlers run, so handlers (and what they keep in
// the store: the ledger's canonical dossiers, quarantined payloads) see
// plaintext. The Kafka Publisher and Subscriber underneath stay
// payload-agnostic. Keys and metadata (headers) are not sealed: the hub
// keys messages by dossier code (MaHoSo) and puts only sources, times and
// entry numbers in metadata, never personal data.
//
// A sealed payload is Prefix followed by a value sealed by the store's key
// set (store.Sealer: AES-256-GCM, the key's id, a random nonce, compressed
// when that pays), bound to the message's partition key: it opens only as
// the payload of the dossier it was sealed for. The whole payload is
// sealed, which covers every personal field whatever the message's kind.
// Sealing uses the current key; opening any configured key, current or old,
// so messages still in Kafka when a key is rotated out to
// store.old_encryption_keys open. A payload without the prefix was written
// before the hub sealed (plaintext) and is handed on as it is.
package seal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/router/kafka"
)

// Prefix starts every sealed payload: a 0x00 byte, which no JSON, XML or
// text payload starts with, so a plaintext payload from before sealing is
// never taken for a sealed one; "LT"; and the format version, 1.
const Prefix = "\x00LT\x01"

// Column is the name sealed payloads are bound to in the key set's
// additional data, beside the partition key: a sealed Kafka payload does
// not open as a store column's value, nor the reverse.
const Column = "kafka.payload"

// Keys seals and opens values: store.Sealer with the store's key set.
type Keys interface {
	// Encrypts is false for a key set that writes values in clear.
	Encrypts() bool
	// SealedLen is the longest sealed form of a value of n bytes.
	SealedLen(n int) int
	// Seal appends plain, sealed for column and row, to dst.
	Seal(dst []byte, column, row string, plain []byte) []byte
	// OpenCopy opens a sealed value without changing it.
	OpenCopy(column, row string, stored []byte) ([]byte, error)
}

// ErrNoKey is returned by NewPublisher for a key set without a key.
var ErrNoKey = errors.New("kafka messages are sealed with the store's encryption key (store.encryption_key), and none is configured")

// IsSealed reports whether payload is sealed (starts with Prefix).
func IsSealed(payload []byte) bool { return bytes.HasPrefix(payload, []byte(Prefix)) }

// Publisher is a message.Publisher that seals every payload before the
// publisher it wraps sends it.
type Publisher struct {
	pub  message.Publisher
	keys Keys
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher sealing with keys' current key onto pub.
func NewPublisher(pub message.Publisher, keys Keys) (*Publisher, error) {
	if keys == nil || !keys.Encrypts() {
		return nil, ErrNoKey
	}
	return &Publisher{pub: pub, keys: keys}, nil
}

// Publish seals the payloads of msgs and publishes them to topic. msgs are
// left as they are (a caller retrying a failed publish hands the same
// messages again); what goes out are copies with the same UUID, metadata
// and context. Empty payloads stay empty, and payloads already sealed (a
// quarantined message that could not be opened, replayed once its key is
// configured again) go out as they are.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	size := 0
	for _, m := range msgs {
		if len(m.Payload) > 0 && !IsSealed(m.Payload) {
			size += len(Prefix) + p.keys.SealedLen(len(m.Payload))
		}
	}
	// One allocation for every sealed payload of the call.
	slab := make([]byte, 0, size)
	out := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		payload := m.Payload
		if len(payload) > 0 && !IsSealed(payload) {
			start := len(slab)
			slab = append(slab, Prefix...)
			slab = p.keys.Seal(slab, Column, m.Metadata.Get(kafka.PartitionKeyMetadata), payload)
			payload = slab[start:len(slab):len(slab)]
		}
		c := message.NewMessage(m.UUID, payload)
		c.Metadata = m.Metadata
		c.SetContext(m.Context())
		out[i] = c
	}
	if err := p.pub.Publish(topic, out...); err != nil {
		return fmt.Errorf("publish sealed: %w", err)
	}
	return nil
}

// Close closes the wrapped publisher.
func (p *Publisher) Close() error { return p.pub.Close() }

// Open returns the plaintext of msg's payload: the payload itself when it
// is not sealed (written before the hub sealed, or empty). It leaves msg as
// it is.
func Open(keys Keys, msg *message.Message) ([]byte, error) {
	if !IsSealed(msg.Payload) {
		return msg.Payload, nil
	}
	plain, err := keys.OpenCopy(Column, msg.Metadata.Get(kafka.PartitionKeyMetadata), msg.Payload[len(Prefix):])
	if err != nil {
		return nil, fmt.Errorf("open sealed payload: %w", err)
	}
	return plain, nil
}
