package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode"
)

// Options configures a store at Open.
type Options struct {
	// Identity hashes identity numbers for the identity index; nil when no
	// key was configured.
	Identity *IdentityHasher
	// Sealer encrypts the personal-data columns; ApplyOptions makes sure
	// one was chosen (WithEncryptionKey, WithEncryptionKeys or
	// WithoutEncryption).
	Sealer *Sealer

	clear, keyed bool
}

// Option changes Options.
type Option func(*Options) error

// WithIdentityKey sets the secret key of the identity index. Identity
// numbers are stored only as HMAC-SHA256 under this key, so a copy of the
// database alone does not reveal them, and changing the key orphans the
// existing index (re-index after a rotation).
func WithIdentityKey(key []byte) Option {
	return func(o *Options) error {
		h, err := NewIdentityHasher(key)
		if err != nil {
			return err
		}
		o.Identity = h
		return nil
	}
}

// WithEncryptionKey sets the key (EncryptionKeyLen bytes) that encrypts the
// personal-data columns at rest (see Sealer). Losing it loses those
// columns; a copy of the database without it reveals none of them.
func WithEncryptionKey(key []byte) Option {
	return WithEncryptionKeys(key)
}

// WithEncryptionKeys is WithEncryptionKey during a key rotation: new values
// are sealed under current, and values sealed under any of old still open.
// Reseal rewrites the values not under current; once it has run, the old
// keys can be dropped.
func WithEncryptionKeys(current []byte, old ...[]byte) Option {
	return func(o *Options) error {
		s, err := NewSealer(current, old...)
		if err != nil {
			return err
		}
		o.Sealer, o.keyed = s, true
		return nil
	}
}

// WithoutEncryption opens a store that writes personal data in clear, for
// a throw-away development or test store only. A store that is given no
// encryption option refuses to open, so production cannot fall back to
// clear text by a missing setting.
func WithoutEncryption() Option {
	return func(o *Options) error {
		o.Sealer, o.clear = ClearSealer(), true
		return nil
	}
}

// ApplyOptions applies opts in order. Exactly one of WithEncryptionKey(s)
// and WithoutEncryption is required: without it the error wraps
// ErrNoEncryptionKey.
func ApplyOptions(opts []Option) (Options, error) {
	var o Options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Options{}, fmt.Errorf("apply options: %w", err)
		}
	}
	switch {
	case o.clear && o.keyed:
		return Options{}, fmt.Errorf("apply options: both an encryption key and WithoutEncryption given: %w", ErrInvalid)
	case o.Sealer == nil:
		return Options{}, fmt.Errorf("apply options: %w", ErrNoEncryptionKey)
	}
	return o, nil
}

// MinIdentityKeyLen is the shortest identity key accepted. CCCDs have only
// 12 digits, so without a strong secret the HMAC could be brute-forced.
const MinIdentityKeyLen = 32

// IdentityHasher computes the keyed digest of an identity number.
type IdentityHasher struct {
	key []byte
}

// NewIdentityHasher returns a hasher for key (at least MinIdentityKeyLen bytes).
func NewIdentityHasher(key []byte) (*IdentityHasher, error) {
	if len(key) < MinIdentityKeyLen {
		return nil, fmt.Errorf("identity key: %d bytes, need at least %d: %w", len(key), MinIdentityKeyLen, ErrInvalid)
	}
	return &IdentityHasher{key: append([]byte(nil), key...)}, nil
}

// Digest returns HMAC-SHA256(key, normalised number). ok is false for a
// number that is empty once normalised.
func (h *IdentityHasher) Digest(idNumber string) (digest []byte, ok bool) {
	n := NormaliseIDNumber(idNumber)
	if n == "" {
		return nil, false
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(n))
	return m.Sum(nil), true
}

// NormaliseIDNumber drops white space and upper-cases, so "0010 9900 1234"
// and "001099001234" index the same.
func NormaliseIDNumber(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
}
