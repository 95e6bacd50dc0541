package trail

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Verifier gathers a trail's rows, in any order, and checks them (Report).
// It keeps three hashes per row in memory.
type Verifier struct {
	audit  []Link
	events map[string][]Link
	heads  []Head
	// Key, when set, is the public key the heads must be signed with.
	Key ed25519.PublicKey
}

// Audit adds the audit entry id with its stored prev_hash and hash.
func (v *Verifier) Audit(id int64, a Audit, prev, hash []byte) {
	v.audit = append(v.audit, Link{ID: id, Prev: prev, Hash: hash, Computed: a.Hash(prev)})
}

// Event adds the event id with its stored prev_hash and hash.
func (v *Verifier) Event(id int64, e Event, prev, hash []byte) {
	if v.events == nil {
		v.events = map[string][]Link{}
	}
	v.events[e.DossierID] = append(v.events[e.DossierID], Link{ID: id, Prev: prev, Hash: hash, Computed: e.Hash(prev)})
}

// Head adds a signed head.
func (v *Verifier) Head(h Head) { v.heads = append(v.heads, h) }

// Report is what a verification found.
type Report struct {
	Audit Result `json:"audit"`
	// Events sums the event chains' results; Chains counts them and
	// Pruned those that start after pruned events.
	Events        Result    `json:"events"`
	Chains        int       `json:"chains"`
	PrunedChains  int       `json:"pruned_chains"`
	Heads         int       `json:"heads"`
	HeadsUnsigned bool      `json:"heads_unchecked,omitempty"` // no key to check signatures with
	Problems      []Problem `json:"problems"`
}

// OK reports whether nothing was wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Summary is a line saying what was checked.
func (r Report) Summary() string {
	s := fmt.Sprintf("audit log: %d entries checked, %d before the trail; events: %d checked in %d dossier chains (%d start after pruned events), %d before the trail; %d signed heads",
		r.Audit.Checked, r.Audit.Before, r.Events.Checked, r.Chains, r.PrunedChains, r.Events.Before, r.Heads)
	if r.HeadsUnsigned {
		s += " (signatures not checked: no key)"
	}
	return s
}

// Report checks every chain and head.
func (v *Verifier) Report() Report {
	byID := func(a, b Link) int { return int(min(max(a.ID-b.ID, -1), 1)) }
	var r Report
	slices.SortFunc(v.audit, byID)
	r.Audit = Verify("audit", v.audit, false)
	r.Problems = append(r.Problems, r.Audit.Problems...)
	dossiers := make([]string, 0, len(v.events))
	for d := range v.events {
		dossiers = append(dossiers, d)
	}
	slices.Sort(dossiers)
	for _, d := range dossiers {
		links := v.events[d]
		slices.SortFunc(links, byID)
		c := Verify("events of "+d, links, true)
		r.Chains++
		r.Events.Checked += c.Checked
		r.Events.Before += c.Before
		if c.Pruned {
			r.PrunedChains++
		}
		r.Problems = append(r.Problems, c.Problems...)
	}
	hashes := make(map[int64][]byte, len(v.audit))
	for _, l := range v.audit {
		hashes[l.ID] = l.Hash
	}
	r.Heads, r.HeadsUnsigned = len(v.heads), v.Key == nil && len(v.heads) > 0
	r.Problems = append(r.Problems, CheckHeads(v.heads, hashes, v.Key)...)
	r.Events.Problems, r.Audit.Problems = nil, nil
	return r
}

// Record is one line of an export (JSON Lines): a "key" line (the public
// key heads are signed with), then "audit", "event" and "head" lines.
// Times are microseconds since the Unix epoch; hashes and signatures are
// base64 (JSON's []byte), a null hash a row from before the trail.
type Record struct {
	Type string `json:"type"`
	ID   int64  `json:"id,omitempty"`
	At   int64  `json:"at,omitempty"`
	// audit
	TokenID  string `json:"token_id,omitempty"`
	Role     string `json:"role,omitempty"`
	Province string `json:"province,omitempty"`
	Action   string `json:"action,omitempty"`
	Target   string `json:"target,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	// event
	DossierID string `json:"dossier_id,omitempty"`
	Source    string `json:"source,omitempty"`
	Version   int64  `json:"version,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Instance  string `json:"instance,omitempty"`
	// both
	Detail   string `json:"detail,omitempty"`
	PrevHash []byte `json:"prev_hash,omitempty"`
	Hash     []byte `json:"hash,omitempty"`
	// head
	AuditID   int64  `json:"audit_id,omitempty"`
	AuditHash []byte `json:"audit_hash,omitempty"`
	Signature []byte `json:"signature,omitempty"`
	// key
	PublicKey []byte `json:"public_key,omitempty"`
}

// AuditRecord is a for an export.
func AuditRecord(id int64, a Audit, prev, hash []byte) Record {
	return Record{Type: "audit", ID: id, At: a.At, TokenID: a.TokenID, Role: a.Role, Province: a.Province,
		Action: a.Action, Target: a.Target, Detail: a.Detail, Outcome: a.Outcome, PrevHash: prev, Hash: hash}
}

// EventRecord is e for an export.
func EventRecord(id int64, e Event, prev, hash []byte) Record {
	return Record{Type: "event", ID: id, At: e.At, DossierID: e.DossierID, Source: e.Source, Version: e.Version,
		Kind: e.Kind, Detail: e.Detail, Instance: e.Instance, PrevHash: prev, Hash: hash}
}

// HeadRecord is h for an export.
func HeadRecord(h Head) Record {
	return Record{Type: "head", ID: h.ID, At: h.At, AuditID: h.AuditID, AuditHash: h.AuditHash, Signature: h.Signature}
}

// Add adds one record to v.
func (v *Verifier) Add(r Record) error {
	switch r.Type {
	case "key":
		if len(r.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("key: %d bytes, want %d", len(r.PublicKey), ed25519.PublicKeySize)
		}
		if v.Key == nil {
			v.Key = r.PublicKey
		}
	case "audit":
		v.Audit(r.ID, Audit{At: r.At, TokenID: r.TokenID, Role: r.Role, Province: r.Province, Action: r.Action,
			Target: r.Target, Detail: r.Detail, Outcome: r.Outcome}, r.PrevHash, r.Hash)
	case "event":
		v.Event(r.ID, Event{DossierID: r.DossierID, Source: r.Source, Version: r.Version, Kind: r.Kind,
			Detail: r.Detail, At: r.At, Instance: r.Instance}, r.PrevHash, r.Hash)
	case "head":
		v.Head(Head{ID: r.ID, At: r.At, AuditID: r.AuditID, AuditHash: r.AuditHash, Signature: r.Signature})
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	return nil
}

// ReadExport adds every line of an export to v.
func (v *Verifier) ReadExport(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := v.Add(r); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}
