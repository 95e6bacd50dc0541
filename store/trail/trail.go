// Package trail is the tamper-evident trail's algorithm: how an audit entry
// or a provenance event is hashed into its chain, how a chain is verified,
// and how a chain head is signed. It depends on the standard library only,
// so that an auditor's verifier (cmd/trailverify) can be built from it
// alone; docs/audit-trail.md describes the same algorithm in prose.
//
// Each row carries prev_hash, the hash of the previous row of its chain
// (empty for the first), and hash = SHA-256 over a domain tag, the row's
// fields and prev_hash, each length-prefixed (Encode). The audit log is one
// chain in ID order; a dossier's provenance events are one chain each, in
// ID order. A signed head commits to the audit chain's last entry and to
// the last event of every event chain (chains.go).
package trail

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
)

// Domain tags: a hash of one kind of row can never be one of another.
const (
	AuditTag = "lienthong.trail.v1.audit"
	EventTag = "lienthong.trail.v1.event"
	HeadTag  = "lienthong.trail.v1.head"
	// HeadV2Tag tags heads that also commit to the event chains and name
	// their key.
	HeadV2Tag = "lienthong.trail.v2.head"
)

// Encode is the canonical encoding hashed: each part as its length (8
// bytes, big-endian) and its bytes.
func Encode(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += 8 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.BigEndian.AppendUint64(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

func hash(tag string, prev []byte, fields ...string) []byte {
	return HashAfter(prefix(tag, fields...), prev)
}

// prefix is the encoding of a row's tag and fields, all but its prev_hash.
func prefix(tag string, fields ...string) []byte {
	parts := make([][]byte, 0, len(fields)+1)
	parts = append(parts, []byte(tag))
	for _, f := range fields {
		parts = append(parts, []byte(f))
	}
	return Encode(parts...)
}

// HashAfter is the hash of a row whose tag and fields encode as prefix, after
// prev: SHA-256(prefix ‖ enc(prev)).
func HashAfter(prefix, prev []byte) []byte {
	h := sha256.New()
	h.Write(prefix)
	h.Write(Encode(prev))
	return h.Sum(nil)
}

func num(v int64) string { return strconv.FormatInt(v, 10) }

// Audit is an audit entry as hashed. At is microseconds since the Unix
// epoch (UTC).
type Audit struct {
	At                                                       int64
	TokenID, Role, Province, Action, Target, Detail, Outcome string
}

// Hash is the entry's hash after prev.
func (a Audit) Hash(prev []byte) []byte {
	return hash(AuditTag, prev, num(a.At), a.TokenID, a.Role, a.Province, a.Action, a.Target, a.Detail, a.Outcome)
}

// Event is a provenance event as hashed. At is microseconds since the Unix
// epoch (UTC).
type Event struct {
	DossierID, Source string
	Version           int64
	Kind, Detail      string
	At                int64
	Instance          string
}

// Hash is the event's hash after prev.
func (e Event) Hash(prev []byte) []byte { return HashAfter(e.Prefix(), prev) }

// Prefix is the encoding of the event's tag and fields: its hash is
// HashAfter(Prefix, prev), which PostgreSQL finishes once it has read prev in
// the statement that appends the event (store/sqlstore).
func (e Event) Prefix() []byte {
	return prefix(EventTag, e.DossierID, e.Source, num(e.Version), e.Kind, e.Detail, num(e.At), e.Instance)
}

// Head is the trail's head at one time, signed. Version 1 heads (written
// before migration 0012) name the audit chain's last entry; version 2 heads
// also commit to every event chain's last event (chains.go) and name the
// key that signed them.
type Head struct {
	ID        int64
	Version   int
	At        int64 // microseconds since the epoch
	AuditID   int64 // 0: no audit entry yet
	AuditHash []byte
	// EventsThrough is the last event ID the head covers; EventsRoot is
	// Root over the chains' last events up to it (Chains of them).
	EventsThrough int64
	Chains        int64
	EventsRoot    []byte
	// Retention is how long the signer's configuration kept events, in
	// microseconds (0: for ever): a chain's signed event older than that
	// may have been pruned.
	Retention int64
	PublicKey []byte
	Signature []byte
}

// Message is what a head's signature signs.
func (h Head) Message() []byte {
	if h.Version < 2 {
		return Encode([]byte(HeadTag), []byte(num(h.At)), []byte(num(h.AuditID)), h.AuditHash)
	}
	return Encode([]byte(HeadV2Tag), []byte(num(h.At)), []byte(num(h.AuditID)), h.AuditHash,
		[]byte(num(h.EventsThrough)), []byte(num(h.Chains)), h.EventsRoot, []byte(num(h.Retention)), h.PublicKey)
}

// Sign signs h with key, as a version 2 head.
func (h Head) Sign(key ed25519.PrivateKey) Head {
	h.Version = 2
	h.PublicKey = key.Public().(ed25519.PublicKey)
	h.Signature = ed25519.Sign(key, h.Message())
	return h
}

// Verify reports whether h's signature is pub's.
func (h Head) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, h.Message(), h.Signature)
}

// Fingerprint names a public key: the first 8 bytes of its SHA-256, in hex.
func Fingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// CheckKey checks h's signature against the trusted keys (none: not
// checked) and says what is wrong, or "". A head names its key (version 1
// heads exported before migration 0012 may not: any trusted key may then
// have signed it).
func CheckKey(h Head, trusted []ed25519.PublicKey) string {
	if len(trusted) == 0 {
		return ""
	}
	if len(h.PublicKey) == 0 {
		for _, k := range trusted {
			if h.Verify(k) {
				return ""
			}
		}
		return "altered: its signature verifies with no trusted key"
	}
	if !slices.ContainsFunc(trusted, func(k ed25519.PublicKey) bool { return bytes.Equal(k, h.PublicKey) }) {
		return fmt.Sprintf("untrusted: signed by key %s, which is not a trusted key", Fingerprint(h.PublicKey))
	}
	if !h.Verify(h.PublicKey) {
		return fmt.Sprintf("altered: its signature does not verify with its key %s", Fingerprint(h.PublicKey))
	}
	return ""
}

// CheckHeads checks signed heads against the audit chain, whose stored
// hashes by ID are hashes: each head's signature must be a trusted key's
// (none: signatures unchecked), and the entry it names must be stored with
// the hash it names (an entry removed from the end of the chain shows
// here).
func CheckHeads(heads []Head, hashes map[int64][]byte, trusted []ed25519.PublicKey) []Problem {
	var out []Problem
	for _, h := range heads {
		bad := func(format string, args ...any) {
			out = append(out, Problem{"heads", h.ID, fmt.Sprintf(format, args...)})
		}
		if what := CheckKey(h, trusted); what != "" {
			bad("%s", what)
		}
		if h.AuditID == 0 {
			continue
		}
		stored, ok := hashes[h.AuditID]
		switch {
		case !ok:
			bad("removed: audit entry %d, the head it signed, is missing", h.AuditID)
		case !bytes.Equal(stored, h.AuditHash):
			bad("altered: audit entry %d does not have the hash it signed", h.AuditID)
		}
	}
	return out
}

// Link is one stored row of a chain: its ID, its stored prev_hash and hash
// (Hash nil: written before the trail), and the hash its fields give after
// its stored prev_hash.
type Link struct {
	ID         int64
	Prev, Hash []byte
	Computed   []byte
}

// Problem is one finding: the chain, the row, what is wrong.
type Problem struct {
	Chain string `json:"chain"`
	ID    int64  `json:"id"`
	What  string `json:"what"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: entry %d: %s", p.Chain, p.ID, p.What) }

// Result is what verifying a chain found.
type Result struct {
	Checked int // rows whose hash was checked
	Before  int // rows written before the trail (no hash)
	// Pruned: the chain's first remaining row follows rows no longer
	// stored (events pruned by retention).
	Pruned   bool
	Problems []Problem
}

// Verify checks links, a chain in ID order. mayBePruned: the chain may
// start after removed rows (an event chain, pruned by retention); the
// audit chain may not.
func Verify(chain string, links []Link, mayBePruned bool) Result {
	var r Result
	at := make(map[string]int, len(links))
	for i, l := range links {
		if l.Hash != nil {
			at[string(l.Hash)] = i
		}
	}
	var prev []byte // stored hash of the previous hashed row
	started := false
	for i, l := range links {
		bad := func(format string, args ...any) {
			r.Problems = append(r.Problems, Problem{chain, l.ID, fmt.Sprintf(format, args...)})
		}
		if l.Hash == nil {
			if started {
				bad("altered: its hash was removed")
			} else {
				r.Before++
			}
			continue
		}
		r.Checked++
		if !bytes.Equal(l.Computed, l.Hash) {
			bad("altered: its content does not match its hash")
		}
		switch {
		case !started && len(l.Prev) == 0:
		case !started && mayBePruned:
			r.Pruned = true
		case !started:
			bad("removed: the entries before it are missing")
		case bytes.Equal(l.Prev, prev):
		default:
			j, found := at[string(l.Prev)]
			switch {
			case len(l.Prev) == 0:
				bad("reordered: it starts the chain, but comes after entry %d", links[i-1].ID)
			case found && j > i:
				bad("reordered: it follows entry %d, which comes after it", links[j].ID)
			case found:
				bad("reordered: it follows entry %d, not the entry before it", links[j].ID)
			default:
				bad("removed: the entry before it (hash %s…) is missing", hex.EncodeToString(l.Prev[:min(len(l.Prev), 6)]))
			}
		}
		started = true
		prev = l.Hash
	}
	return r
}
