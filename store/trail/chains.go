package trail

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	gohash "hash"
	"slices"
	"strconv"
	"time"
)

// A version 2 head commits to the last event of every dossier's chain up to
// an event ID (its cut): each chain's ChainHead is a leaf, the leaves fall
// into Buckets by their dossier, and the head signs Root over the buckets'
// digests. The signer keeps the leaves and the digests of the last head it
// signed, so a head costs a look at the buckets whose chains moved, not at
// every chain; a verifier recomputes everything from the leaves.
const (
	BucketTag = "lienthong.trail.v2.bucket"
	ChainsTag = "lienthong.trail.v2.chains"
	// Buckets is how many buckets the chains fall into.
	Buckets = 1 << 16
)

// ChainHead is an event chain's last event under a signed head: its ID,
// hash and time (microseconds since the epoch), which says whether
// retention may have pruned it.
type ChainHead struct {
	DossierID string
	EventID   int64
	Hash      []byte
	At        int64
}

// Bucket is the bucket of a dossier's chain: the first two bytes of the
// SHA-256 of its ID, big-endian.
func Bucket(dossierID string) int {
	sum := sha256.Sum256([]byte(dossierID))
	return int(binary.BigEndian.Uint16(sum[:2]))
}

// BucketDigest is the digest of one bucket's chain heads, in the byte
// order of their dossier IDs (heads is sorted so).
func BucketDigest(heads []ChainHead) []byte {
	slices.SortFunc(heads, func(a, b ChainHead) int { return cmp.Compare(a.DossierID, b.DossierID) })
	h := sha256.New()
	var e encoder
	e.write(h, []byte(BucketTag))
	for _, c := range heads {
		e.write(h, []byte(c.DossierID))
		e.number(h, c.EventID)
		e.write(h, c.Hash)
		e.number(h, c.At)
	}
	return h.Sum(nil)
}

// encoder writes enc(x) into a hash without allocating: a root goes over
// up to 65,536 buckets every minute.
type encoder struct{ buf [32]byte }

func (e *encoder) write(h gohash.Hash, p []byte) {
	h.Write(binary.BigEndian.AppendUint64(e.buf[:0], uint64(len(p))))
	h.Write(p)
}

// number writes enc of v in decimal.
func (e *encoder) number(h gohash.Hash, v int64) {
	d := strconv.AppendInt(e.buf[8:8], v, 10)
	binary.BigEndian.PutUint64(e.buf[:8], uint64(len(d)))
	h.Write(e.buf[:8+len(d)])
}

// BucketSum is a bucket holding at least one chain: how many, and their
// digest.
type BucketSum struct {
	Bucket int
	Chains int64
	Digest []byte
}

// Root is what a head signs over the buckets (sorted by bucket), empty
// ones left out.
func Root(buckets []BucketSum) []byte {
	slices.SortFunc(buckets, func(a, b BucketSum) int { return cmp.Compare(a.Bucket, b.Bucket) })
	h := sha256.New()
	var e encoder
	e.write(h, []byte(ChainsTag))
	for _, b := range buckets {
		e.number(h, int64(b.Bucket))
		e.number(h, b.Chains)
		e.write(h, b.Digest)
	}
	return h.Sum(nil)
}

// SumBuckets groups chain heads by bucket and digests each bucket.
func SumBuckets(heads []ChainHead) map[int]BucketSum {
	by := map[int][]ChainHead{}
	for _, c := range heads {
		b := Bucket(c.DossierID)
		by[b] = append(by[b], c)
	}
	out := make(map[int]BucketSum, len(by))
	for b, cs := range by {
		out[b] = BucketSum{Bucket: b, Chains: int64(len(cs)), Digest: BucketDigest(cs)}
	}
	return out
}

// sameSum reports whether two bucket sums are one.
func sameSum(a, b BucketSum) bool { return a.Chains == b.Chains && bytes.Equal(a.Digest, b.Digest) }

// RootOf is Root over sums, whatever their order, and the chains they hold.
func RootOf(sums map[int]BucketSum) ([]byte, int64) {
	list := make([]BucketSum, 0, len(sums))
	var n int64
	for _, b := range sums {
		list = append(list, b)
		n += b.Chains
	}
	return Root(list), n
}

// Signer is what signs heads: its key, the earlier keys of this hub still
// trusted (the signer checks the last head with them before it builds on
// it), and the event retention configured, which each head records.
type Signer struct {
	Key       ed25519.PrivateKey
	Previous  []ed25519.PublicKey
	Retention time.Duration // 0 or less: events are kept for ever
}

// Trusted is the signer's public key and the earlier ones.
func (s Signer) Trusted() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{s.Key.Public().(ed25519.PublicKey)}, s.Previous...)
}
