package trail

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Verifier gathers a trail's rows, in any order, and checks them (Report).
// It keeps three hashes per row in memory.
type Verifier struct {
	audit   []Link
	events  map[string][]Link
	heads   []Head
	chains  []ChainHead
	buckets []BucketSum
	// Keys are the trusted public keys: a head must be signed with one of
	// them. None: the export's own key lines are trusted, and with none
	// of those either signatures are not checked.
	Keys       []ed25519.PublicKey
	exportKeys []ed25519.PublicKey
	// Now is the time verification judges pruned chains at (zero: the
	// export's time, else the clock's): a chain's signed event may be gone
	// if it is older than the retention its heads recorded.
	Now      time.Time
	exported time.Time
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

// Chain adds an event chain's head as the signer keeps it.
func (v *Verifier) Chain(c ChainHead) { v.chains = append(v.chains, c) }

// Bucket adds a bucket's sum as the signer keeps it (optional: it names
// the bucket of a chain head removed or altered).
func (v *Verifier) Bucket(b BucketSum) { v.buckets = append(v.buckets, b) }

// Report is what a verification found.
type Report struct {
	Audit Result `json:"audit"`
	// Events sums the event chains' results; Chains counts them and
	// Pruned those that start after pruned events.
	Events        Result `json:"events"`
	Chains        int    `json:"chains"`
	PrunedChains  int    `json:"pruned_chains"`
	Heads         int    `json:"heads"`
	HeadsUnsigned bool   `json:"heads_unchecked,omitempty"` // no key to check signatures with
	// EventsHead is the last head over the event chains (0: none), which
	// covers the events up to EventsThrough: SignedEvents of those stored,
	// in SignedChains chains, of which PrunedSigned have been pruned
	// whole. UnsignedEvents came after it.
	EventsHead     int64 `json:"events_head"`
	EventsThrough  int64 `json:"events_through"`
	SignedEvents   int   `json:"signed_events"`
	SignedChains   int   `json:"signed_chains"`
	PrunedSigned   int   `json:"pruned_signed_chains"`
	UnsignedEvents int   `json:"unsigned_events"`
	// Keys are the fingerprints of the trusted keys.
	Keys     []string  `json:"keys,omitempty"`
	Problems []Problem `json:"problems"`
}

// OK reports whether nothing was wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Summary is a line saying what was checked.
func (r Report) Summary() string {
	s := fmt.Sprintf("audit log: %d entries checked, %d before the trail; events: %d checked in %d dossier chains (%d start after pruned events), %d before the trail; %d signed heads",
		r.Audit.Checked, r.Audit.Before, r.Events.Checked, r.Chains, r.PrunedChains, r.Events.Before, r.Heads)
	switch {
	case r.HeadsUnsigned:
		s += " (signatures not checked: no key)"
	case len(r.Keys) > 0:
		s += " (trusted keys " + strings.Join(r.Keys, ", ") + ")"
	}
	if r.EventsHead != 0 {
		s += fmt.Sprintf("; head %d covers events up to %d: %d events in %d chains (%d pruned whole since)",
			r.EventsHead, r.EventsThrough, r.SignedEvents, r.SignedChains, r.PrunedSigned)
	}
	return s + fmt.Sprintf("; %d events not yet under a signed head", r.UnsignedEvents)
}

// Report checks every chain and head.
func (v *Verifier) Report() Report {
	byID := func(a, b Link) int { return cmp.Compare(a.ID, b.ID) }
	var r Report
	slices.SortFunc(v.audit, byID)
	r.Audit = Verify("audit", v.audit, false)
	r.Problems = append(r.Problems, r.Audit.Problems...)
	dossiers := make([]string, 0, len(v.events))
	for d, links := range v.events {
		dossiers = append(dossiers, d)
		slices.SortFunc(links, byID)
	}
	slices.Sort(dossiers)
	for _, d := range dossiers {
		c := Verify("events of "+d, v.events[d], true)
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
	trusted := v.Keys
	if len(trusted) == 0 {
		trusted = v.exportKeys
	}
	for _, k := range trusted {
		r.Keys = append(r.Keys, Fingerprint(k))
	}
	slices.SortFunc(v.heads, func(a, b Head) int { return cmp.Compare(a.ID, b.ID) })
	r.Heads, r.HeadsUnsigned = len(v.heads), len(trusted) == 0 && len(v.heads) > 0
	r.Problems = append(r.Problems, CheckHeads(v.heads, hashes, trusted)...)
	v.checkChains(&r, trusted)
	r.Events.Problems, r.Audit.Problems = nil, nil
	return r
}

// checkChains checks the event chains against the last head over them:
// the chain heads the signer keeps must give the root it signed, and each
// must be its chain's last event up to the head's cut, still stored with
// the hash signed, unless retention may have pruned it. Heads whose key
// does not check (a problem already) count for neither: a forged last
// head, or a short retention, must not excuse a removed chain.
func (v *Verifier) checkChains(r *Report, trusted []ed25519.PublicKey) {
	var head *Head
	minKeep := int64(0) // the shortest retention a head recorded
	for i, h := range v.heads {
		if h.Version >= 2 && CheckKey(h, trusted) == "" {
			head = &v.heads[i]
			if h.Retention > 0 && (minKeep == 0 || h.Retention < minKeep) {
				minKeep = h.Retention
			}
		}
	}
	through := int64(0)
	if head != nil {
		through = head.EventsThrough
		r.EventsHead, r.EventsThrough, r.SignedChains = head.ID, through, len(v.chains)
		v.checkRoot(r, *head)
	}
	now := v.Now
	if now.IsZero() {
		now = v.exported
	}
	if now.IsZero() {
		now = time.Now()
	}
	leaves := make(map[string]ChainHead, len(v.chains))
	for _, c := range v.chains {
		leaves[c.DossierID] = c
	}
	dossiers := make([]string, 0, len(v.events)+len(leaves))
	for d := range v.events {
		dossiers = append(dossiers, d)
	}
	for d := range leaves {
		if _, ok := v.events[d]; !ok {
			dossiers = append(dossiers, d)
		}
	}
	slices.Sort(dossiers)
	for _, d := range dossiers {
		chain, links := "events of "+d, v.events[d]
		bad := func(id int64, format string, args ...any) {
			r.Problems = append(r.Problems, Problem{chain, id, fmt.Sprintf(format, args...)})
		}
		var covered []Link // hashed events up to the cut
		for _, l := range links {
			switch {
			case l.Hash == nil:
			case head != nil && l.ID <= through:
				r.SignedEvents++
				covered = append(covered, l)
			default:
				r.UnsignedEvents++
			}
		}
		leaf, ok := leaves[d]
		if head == nil || !ok {
			if len(covered) > 0 {
				bad(covered[0].ID, "removed: its chain's signed head is missing, though head %d covers it", head.ID)
			}
			continue
		}
		at := slices.IndexFunc(links, func(l Link) bool { return l.ID == leaf.EventID })
		earlier := len(links) > 0 && links[0].ID < leaf.EventID
		switch {
		case at >= 0 && !bytes.Equal(links[at].Hash, leaf.Hash):
			bad(leaf.EventID, "altered: it is not the event head %d signed", head.ID)
		case at >= 0:
		case earlier:
			bad(leaf.EventID, "removed: the chain's last event under head %d is missing", head.ID)
		case minKeep > 0 && leaf.At < now.UnixMicro()-minKeep:
			r.PrunedSigned++ // pruned by retention: old enough
		case len(links) == 0:
			bad(leaf.EventID, "removed: the whole chain, which head %d signed up to this event, is missing", head.ID)
		default:
			bad(leaf.EventID, "removed: the chain's last event under head %d is missing, with those before it", head.ID)
		}
		for _, l := range covered {
			if l.ID > leaf.EventID {
				bad(l.ID, "inserted: it comes after its chain's last event under head %d, before that head's cut", head.ID)
			}
		}
	}
}

// checkRoot checks the chain heads against the root head signed, and
// names the buckets that do not match when the signer's bucket sums do.
func (v *Verifier) checkRoot(r *Report, head Head) {
	sums := SumBuckets(v.chains)
	if root, n := RootOf(sums); bytes.Equal(root, head.EventsRoot) && n == head.Chains {
		return
	}
	stored := make(map[int]BucketSum, len(v.buckets))
	for _, b := range v.buckets {
		stored[b.Bucket] = b
	}
	if root, n := RootOf(stored); len(stored) > 0 && bytes.Equal(root, head.EventsRoot) && n == head.Chains {
		all := slices.Sorted(maps.Keys(sums))
		for b := range stored {
			if _, ok := sums[b]; !ok {
				all = append(all, b)
			}
		}
		slices.Sort(all)
		for _, b := range all {
			if !sameSum(stored[b], sums[b]) {
				r.Problems = append(r.Problems, Problem{"chain heads", int64(b), fmt.Sprintf(
					"removed or altered: the %d chain heads kept in bucket %d do not give the %d head %d signed",
					sums[b].Chains, b, stored[b].Chains, head.ID)})
			}
		}
		return
	}
	r.Problems = append(r.Problems, Problem{"heads", head.ID, fmt.Sprintf(
		"altered: the %d chain heads kept do not give the root it signed over %d chains", len(v.chains), head.Chains)})
}

// Record is one line of an export (JSON Lines): an "export" line (when it
// was written), "key" lines (the trusted public keys), then "audit",
// "event", "head", "chain" and "bucket" lines.
// Times are microseconds since the Unix epoch; hashes, keys and signatures
// are base64 (JSON's []byte), a null hash a row from before the trail.
type Record struct {
	Type string `json:"type"`
	// ID is the row's; a chain's event's; a bucket's number.
	ID int64 `json:"id,omitempty"`
	At int64 `json:"at,omitempty"`
	// audit
	TokenID  string `json:"token_id,omitempty"`
	Role     string `json:"role,omitempty"`
	Province string `json:"province,omitempty"`
	Action   string `json:"action,omitempty"`
	Target   string `json:"target,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	// event, chain
	DossierID string `json:"dossier_id,omitempty"`
	Source    string `json:"source,omitempty"`
	Version   int64  `json:"version,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Instance  string `json:"instance,omitempty"`
	// audit, event
	Detail   string `json:"detail,omitempty"`
	PrevHash []byte `json:"prev_hash,omitempty"`
	Hash     []byte `json:"hash,omitempty"`
	// head (Version: the head's)
	AuditID       int64  `json:"audit_id,omitempty"`
	AuditHash     []byte `json:"audit_hash,omitempty"`
	EventsThrough int64  `json:"events_through,omitempty"`
	Chains        int64  `json:"chains,omitempty"`
	EventsRoot    []byte `json:"events_root,omitempty"`
	Retention     int64  `json:"retention,omitempty"`
	Signature     []byte `json:"signature,omitempty"`
	// bucket (Chains: how many)
	Digest []byte `json:"digest,omitempty"`
	// key, head
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
	return Record{Type: "head", ID: h.ID, Version: int64(h.Version), At: h.At, AuditID: h.AuditID, AuditHash: h.AuditHash,
		EventsThrough: h.EventsThrough, Chains: h.Chains, EventsRoot: h.EventsRoot, Retention: h.Retention,
		PublicKey: h.PublicKey, Signature: h.Signature}
}

// ChainRecord is c for an export.
func ChainRecord(c ChainHead) Record {
	return Record{Type: "chain", DossierID: c.DossierID, ID: c.EventID, Hash: c.Hash, At: c.At}
}

// BucketRecord is b for an export.
func BucketRecord(b BucketSum) Record {
	return Record{Type: "bucket", ID: int64(b.Bucket), Chains: b.Chains, Digest: b.Digest}
}

// Add adds one record to v.
func (v *Verifier) Add(r Record) error {
	switch r.Type {
	case "export":
		v.exported = time.UnixMicro(r.At)
	case "key":
		if len(r.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("key: %d bytes, want %d", len(r.PublicKey), ed25519.PublicKeySize)
		}
		v.exportKeys = append(v.exportKeys, r.PublicKey)
	case "audit":
		v.Audit(r.ID, Audit{At: r.At, TokenID: r.TokenID, Role: r.Role, Province: r.Province, Action: r.Action,
			Target: r.Target, Detail: r.Detail, Outcome: r.Outcome}, r.PrevHash, r.Hash)
	case "event":
		v.Event(r.ID, Event{DossierID: r.DossierID, Source: r.Source, Version: r.Version, Kind: r.Kind,
			Detail: r.Detail, At: r.At, Instance: r.Instance}, r.PrevHash, r.Hash)
	case "head":
		v.Head(Head{ID: r.ID, Version: int(max(r.Version, 1)), At: r.At, AuditID: r.AuditID, AuditHash: r.AuditHash,
			EventsThrough: r.EventsThrough, Chains: r.Chains, EventsRoot: r.EventsRoot, Retention: r.Retention,
			PublicKey: r.PublicKey, Signature: r.Signature})
	case "chain":
		v.Chain(ChainHead{DossierID: r.DossierID, EventID: r.ID, Hash: r.Hash, At: r.At})
	case "bucket":
		v.Bucket(BucketSum{Bucket: int(r.ID), Chains: r.Chains, Digest: r.Digest})
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
