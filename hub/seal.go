package hub

import (
	"encoding/base64"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/store"
)

// MessageKeys is the key set the hub seals its Kafka messages with: the
// store's, so one rotation (encryption_key, old_encryption_keys) covers
// both.
func (c StoreConfig) MessageKeys() (*store.Sealer, error) {
	k, err := c.Keys()
	if err != nil {
		return nil, err
	}
	if k.Encryption == nil {
		return nil, fmt.Errorf("store.encryption_key: %w", seal.ErrNoKey)
	}
	s, err := store.NewSealer(k.Encryption, k.OldEncryption...)
	if err != nil {
		return nil, fmt.Errorf("store keys: %w", err)
	}
	return s, nil
}

// WithKeys returns c configured with k, for a hub whose keys come from
// somewhere else than its configuration file (the key files of `hub dev`).
func (c StoreConfig) WithKeys(k StoreKeys) StoreConfig {
	enc := func(b []byte) string {
		if b == nil {
			return ""
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	c.EncryptionKey, c.IdentityKey, c.OldEncryptionKeys = enc(k.Encryption), enc(k.Identity), nil
	c.SigningKey, c.TrailPreviousKeys = enc(k.Signing), nil
	for _, o := range k.OldEncryption {
		c.OldEncryptionKeys = append(c.OldEncryptionKeys, enc(o))
	}
	for _, p := range k.TrailPrevious {
		c.TrailPreviousKeys = append(c.TrailPreviousKeys, enc(p))
	}
	return c
}

// NewPublisher returns the publisher the hub publishes with: Kafka as
// configured (PublisherConfig), every payload sealed with the store's key
// set. For tools that publish as the hub does, such as `hub dlq replay`.
func NewPublisher(c Config, logger watermill.LoggerAdapter) (*seal.Publisher, error) {
	keys, err := c.Store.MessageKeys()
	if err != nil {
		return nil, err
	}
	return newPublisher(c.PublisherConfig(), keys, logger)
}

func newPublisher(pc kafka.PublisherConfig, keys seal.Keys, logger watermill.LoggerAdapter) (*seal.Publisher, error) {
	kp, err := kafka.NewPublisher(pc, logger)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	pub, err := seal.NewPublisher(kp, keys)
	if err != nil {
		_ = kp.Close()
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	return pub, nil
}
