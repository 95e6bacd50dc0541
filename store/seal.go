package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Encryption at rest
//
// The columns that can hold personal data — ledger.canonical (the
// canonical dossier: the applicant's ID number, name, birth date, phone,
// email, address), quarantine.payload (the raw source record),
// idempotency.result (a portal's answer, which may echo the dossier) and
// payment_notice.payload (a payment notification as received, which may
// name the payer) — are stored sealed. A stored value is one of:
//
//	empty                                   an empty value (never sealed)
//	0x00 || plaintext                       in clear: written before encryption
//	                                        (migration 0003 tagged those rows) or
//	                                        by a store opened WithoutEncryption
//	0x01 || key id (4) || nonce (12) ||     AES-256-GCM under the key with that id,
//	    ciphertext || tag (16)              random nonce per value
//
// The plaintext under AES-GCM is one byte saying how the value is packed,
// 0x00 as is or 0x01 compressed (S2 block format), and the packed value.
// Values are compressed before they are encrypted because ciphertext does
// not compress: a canonical dossier (about 2.5 KB of JSON) then stays about
// half its size and inline in its PostgreSQL row, as it was when the
// database compressed it, instead of going to TOAST on every write. The
// price is that a sealed value's length says how compressible it was,
// which matters only to someone who can both plant chosen text in a
// dossier and watch the length of its stored value.
//
// The key id is the first 4 bytes of HMAC-SHA256(key, "lienthong store key
// id"): it names the key without revealing it, so a store configured with
// several keys (WithEncryptionKeys) knows which one opens a value. The
// additional data of the AEAD is the 5-byte header, the column and the row's
// key (dossier ID, idempotency key, source and dossier ID of a quarantined
// record, reference of a payment notice): a value altered, or moved to
// another row or column, does not open.
//
// Random 96-bit nonces keep AES-GCM safe for about 2^32 values per key.
// Every ledger write seals a new value, so rotate the key well before that
// (at 100 million writes a year, that is decades; under a sustained
// 20,000/s, days): WithEncryptionKeys(new, old), then Reseal, then drop the
// old key.

// EncryptionKeyLen is the length of an encryption key: AES-256.
const EncryptionKeyLen = 32

// ErrNoEncryptionKey is returned (wrapped) by Open when neither
// WithEncryptionKey nor WithoutEncryption was given, and by Reseal on a
// store opened WithoutEncryption.
var ErrNoEncryptionKey = errors.New("no encryption key configured: pass store.WithEncryptionKey (32 bytes), or store.WithoutEncryption() for a development store that keeps personal data in clear")

// ErrDecrypt is returned (wrapped) when a stored value cannot be opened:
// sealed under a key the store was not given, altered, or not in a known
// format. The error names the column and the key id.
var ErrDecrypt = errors.New("cannot decrypt stored value")

// Stored value formats: the first byte of a non-empty value.
const (
	sealClear  byte = 0x00
	sealAESGCM byte = 0x01
)

const (
	keyIDLen      = 4
	sealHeaderLen = 1 + keyIDLen
	sealNonceLen  = 12
	sealTagLen    = 16
	// SealOverhead is how many bytes sealing adds at most to a non-empty
	// value (a value that compresses grows less, or shrinks).
	SealOverhead = sealHeaderLen + sealNonceLen + 1 + sealTagLen
)

// How a value is packed under the encryption: its first plaintext byte.
const (
	packRaw byte = 0x00
	packS2  byte = 0x01
)

// minCompress is the shortest value worth compressing; a value is kept
// compressed only if that saves an eighth of it.
const minCompress = 128

// Columns holding sealed values: part of the additional data, so a value
// only opens in the column it was sealed for.
const (
	SealLedgerCanonical   = "ledger.canonical"
	SealQuarantinePayload = "quarantine.payload"
	SealIdempotencyResult = "idempotency.result"
	SealNoticePayload     = "payment_notice.payload"
)

// QuarantineRowKey is the row key a quarantined record's payload is sealed
// under: its source and dossier ID (the store assigns the row ID only on
// insert).
func QuarantineRowKey(source, dossierID string) string {
	return source + "\x00" + dossierID
}

// NoticeRowKey is the row key a payment notice's payload is sealed under:
// its Ref (the store assigns the row ID only on insert).
func NoticeRowKey(ref string) string {
	return ref
}

// Sealer seals personal-data values before they are written and opens them
// when read. It is safe for concurrent use.
type Sealer struct {
	current *sealKey   // nil: new values are written in clear
	keys    []*sealKey // current first, then older keys, for reading
}

type sealKey struct {
	id   [keyIDLen]byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer that seals new values under current and opens
// values sealed under current or any of old. Keys are EncryptionKeyLen
// bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{current}, old...) {
		sk, err := newSealKey(k)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("encryption key: %w", err)
			}
			return nil, fmt.Errorf("old encryption key %d: %w", i, err)
		}
		dup := false
		for _, have := range s.keys {
			if have.id == sk.id {
				dup = true
			}
		}
		if dup {
			continue // the same key given twice (ids of distinct keys colliding: 2^-32)
		}
		s.keys = append(s.keys, sk)
	}
	s.current = s.keys[0]
	return s, nil
}

// ClearSealer returns a Sealer that writes values in clear and opens only
// values in clear: the store of WithoutEncryption.
func ClearSealer() *Sealer { return &Sealer{} }

func newSealKey(key []byte) (*sealKey, error) {
	if len(key) != EncryptionKeyLen {
		return nil, fmt.Errorf("%d bytes, need %d: %w", len(key), EncryptionKeyLen, ErrInvalid)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sk := &sealKey{aead: aead}
	copy(sk.id[:], KeyID(key))
	return sk, nil
}

// KeyID returns the 4-byte id that names key in the values it seals.
func KeyID(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("lienthong store key id"))
	return m.Sum(nil)[:keyIDLen]
}

// Encrypts reports whether new values are encrypted (false: the store was
// opened WithoutEncryption).
func (s *Sealer) Encrypts() bool { return s.current != nil }

// CurrentHeader returns the prefix every value sealed now starts with:
// 0x01 and the current key id, or 0x00 when values are written in clear.
// A stored value not starting with it was written before the current key.
func (s *Sealer) CurrentHeader() []byte {
	if s.current == nil {
		return []byte{sealClear}
	}
	return append([]byte{sealAESGCM}, s.current.id[:]...)
}

// SealedLen returns the longest stored form of a value of n bytes.
func (s *Sealer) SealedLen(n int) int {
	switch {
	case n == 0:
		return 0
	case s.current == nil:
		return 1 + n
	}
	return n + SealOverhead
}

// Seal appends the stored form of plain, sealed for column and row, to dst
// and returns the extended slice. An empty plain appends nothing: empty
// values are stored empty.
func (s *Sealer) Seal(dst []byte, column, row string, plain []byte) []byte {
	dst, _ = s.seal(dst, column, row, plain, nil)
	return dst
}

// seal is Seal with a scratch buffer for compression, which it returns
// (grown) for the next call.
func (s *Sealer) seal(dst []byte, column, row string, plain, scratch []byte) ([]byte, []byte) {
	if len(plain) == 0 {
		return dst, scratch
	}
	if s.current == nil {
		return append(append(dst, sealClear), plain...), scratch
	}
	start := len(dst)
	dst = append(dst, sealAESGCM)
	dst = append(dst, s.current.id[:]...)
	// crypto/rand.Read never fails (it crashes the program if it would).
	var nonce [sealNonceLen]byte
	_, _ = rand.Read(nonce[:])
	dst = append(dst, nonce[:]...)
	var buf [128]byte
	ad := additionalData(buf[:0], dst[start:start+sealHeaderLen], column, row)

	// Pack the value after the header, then encrypt it in place.
	body := len(dst)
	pack, packed := packRaw, plain
	if len(plain) >= minCompress {
		scratch = s2.Encode(scratch, plain)
		if len(scratch) <= len(plain)-len(plain)/8 {
			pack, packed = packS2, scratch
		}
	}
	dst = append(dst, pack)
	dst = append(dst, packed...)
	return s.current.aead.Seal(dst[:body], nonce[:], dst[body:], ad), scratch
}

// SealAll seals values (row keys in rows, same length) for column into one
// allocation and returns the stored forms. nil and empty values come back
// as non-nil empty slices. It is the batch form for the hot path.
func (s *Sealer) SealAll(column string, rows []string, values [][]byte) [][]byte {
	total, longest := 0, 0
	for _, v := range values {
		total += s.SealedLen(len(v))
		longest = max(longest, len(v))
	}
	slab := make([]byte, 0, total)
	var scratch []byte
	if s.current != nil && longest >= minCompress {
		scratch = make([]byte, s2.MaxEncodedLen(longest))
	}
	out := make([][]byte, len(values))
	for i, v := range values {
		start := len(slab)
		slab, scratch = s.seal(slab, column, rows[i], v, scratch)
		out[i] = slab[start:len(slab):len(slab)]
	}
	return out
}

// Open returns the value stored for column and row. An empty stored value
// is nil. The result may share stored's memory (a value sealed under a key
// is decrypted in place).
func (s *Sealer) Open(column, row string, stored []byte) ([]byte, error) {
	return s.open(column, row, stored, true)
}

// OpenCopy is Open that leaves stored as it is, for bytes that may be opened
// again: a Kafka message handed to a handler once more after a failed
// attempt still holds its sealed payload.
func (s *Sealer) OpenCopy(column, row string, stored []byte) ([]byte, error) {
	return s.open(column, row, stored, false)
}

func (s *Sealer) open(column, row string, stored []byte, inPlace bool) ([]byte, error) {
	if len(stored) == 0 {
		return nil, nil
	}
	switch stored[0] {
	case sealClear:
		return NilIfEmpty(stored[1:]), nil
	case sealAESGCM:
	default:
		return nil, fmt.Errorf("%s: unknown value format 0x%02x: %w", column, stored[0], ErrDecrypt)
	}
	if len(stored) < SealOverhead {
		return nil, fmt.Errorf("%s: sealed value of %d bytes is truncated: %w", column, len(stored), ErrDecrypt)
	}
	header := stored[:sealHeaderLen]
	id := header[1:]
	var k *sealKey
	for _, have := range s.keys {
		if string(have.id[:]) == string(id) {
			k = have
			break
		}
	}
	if k == nil {
		if len(s.keys) == 0 {
			return nil, fmt.Errorf("%s: value sealed under key id %s, but the store was opened WithoutEncryption: %w",
				column, hex.EncodeToString(id), ErrDecrypt)
		}
		return nil, fmt.Errorf("%s: value sealed under key id %s, which is not configured (configured: %s; give older keys to WithEncryptionKeys): %w",
			column, hex.EncodeToString(id), s.keyIDs(), ErrDecrypt)
	}
	nonce := stored[sealHeaderLen : sealHeaderLen+sealNonceLen]
	ct := stored[sealHeaderLen+sealNonceLen:]
	var buf [128]byte
	ad := additionalData(buf[:0], header, column, row)
	dst := ct[:0]
	if !inPlace {
		dst = make([]byte, 0, len(ct))
	}
	plain, err := k.aead.Open(dst, nonce, ct, ad)
	if err != nil {
		return nil, fmt.Errorf("%s: value sealed under key id %s does not authenticate (altered, or moved from another row): %w",
			column, hex.EncodeToString(id), ErrDecrypt)
	}
	if len(plain) == 0 {
		return nil, fmt.Errorf("%s: sealed value has no packing byte: %w", column, ErrDecrypt)
	}
	switch plain[0] {
	case packRaw:
		return NilIfEmpty(plain[1:]), nil
	case packS2:
		v, err := s2.Decode(nil, plain[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: decompress: %v: %w", column, err, ErrDecrypt)
		}
		return NilIfEmpty(v), nil
	}
	return nil, fmt.Errorf("%s: unknown packing 0x%02x: %w", column, plain[0], ErrDecrypt)
}

// IsCurrent reports whether stored is empty or already in the form values
// are written in now (the current key, or clear for WithoutEncryption).
func (s *Sealer) IsCurrent(stored []byte) bool {
	if len(stored) == 0 {
		return true
	}
	h := s.CurrentHeader()
	return len(stored) >= len(h) && string(stored[:len(h)]) == string(h)
}

func (s *Sealer) keyIDs() string {
	out := ""
	for i, k := range s.keys {
		if i > 0 {
			out += ", "
		}
		out += hex.EncodeToString(k.id[:])
	}
	return out
}

func additionalData(dst, header []byte, column, row string) []byte {
	dst = append(dst, header...)
	dst = append(dst, column...)
	dst = append(dst, 0)
	return append(dst, row...)
}
