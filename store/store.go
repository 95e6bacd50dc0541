// Package store holds the types shared by the hub's durable stores: the
// ledger of dossiers and what the national portal acknowledged, the
// append-only provenance events, quarantined records, source cursors,
// idempotency keys, the identity index, leader leases, and the level-4
// state: payments, deliveries and payment notices (level4.go).
//
// store/sqlstore implements them once for two engines, PostgreSQL
// (production) and SQLite (the embedded default for `hub dev`);
// store/storetest is the conformance suite both engines pass.
//
// Conventions both engines follow, so callers can rely on them:
//   - Times are returned in UTC, truncated to microseconds (PostgreSQL's
//     precision). A zero time is stored as "no value" and returned as zero.
//   - Empty byte slices (Canonical, Payload) are returned as nil; a cursor
//     stored with an empty value is returned as a non-nil empty slice so it
//     can be told apart from "no cursor".
//   - Batched writes are atomic: the whole batch is written or none of it.
//
// Personal data at rest. The stores keep it only where they can protect it:
//   - LedgerEntry.Canonical, QuarantineEntry.Payload, idempotency results
//     and PaymentNotice.Payload are encrypted with AES-256-GCM under the key
//     of WithEncryptionKey before they are written, and decrypted when read;
//     the API returns them in clear. See Sealer for the format and
//     WithEncryptionKeys and Reseal for key rotation. Open refuses a store
//     with no key unless WithoutEncryption says clear text is wanted
//     (development only).
//   - Identity numbers (CCCD, CMND, tax code) are kept only as a keyed HMAC
//     in the identity index (WithIdentityKey), enough to find dossiers by
//     number and not to recover it.
//   - Every other column is stored in clear, so callers must not put
//     personal data in it: Event.Detail, QuarantineEntry.Reason and Field
//     (error texts name fields, never their values: see mapping.FieldError),
//     dossier IDs (the portal's MaHoSo), cursors, idempotency keys and
//     effects, lease names and holders.
package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when a single looked-up item does not
// exist. Test with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) for an argument the store refuses, such
// as an unknown quarantine state.
var ErrInvalid = errors.New("invalid argument")

// ErrKeyConflict is returned (wrapped) by ClaimIdempotency when the key was
// already claimed for a different effect: the caller built keys wrongly.
var ErrKeyConflict = errors.New("idempotency key claimed for another effect")

// ErrNoIdentityKey is returned (wrapped) by the identity index methods when
// the store was opened without WithIdentityKey.
var ErrNoIdentityKey = errors.New("no identity key configured")

// National states of a ledger entry.
const (
	NationalNone    = ""        // never sent
	NationalPending = "pending" // a create was sent and not confirmed
	NationalHeld    = "held"    // the portal holds it
)

// Quarantine states.
const (
	QuarantineOpen      = "open"
	QuarantineReplayed  = "replayed"
	QuarantineDiscarded = "discarded"
)

// ValidQuarantineState reports whether s is a state a quarantine entry may
// be set to.
func ValidQuarantineState(s string) bool {
	switch s {
	case QuarantineOpen, QuarantineReplayed, QuarantineDiscarded:
		return true
	}
	return false
}

// LedgerEntry is the hub's durable knowledge of one dossier: the latest
// canonical version pulled and what the national portal last acknowledged.
type LedgerEntry struct {
	DossierID   string
	Source      string
	Province    string // 14, 19, 42
	Procedure   string // MaTTHC
	Agency      string
	Version     int64 // source version of Canonical
	ContentHash string
	Status      int    // national status 1–10
	Canonical   []byte // canonical dossier JSON; encrypted at rest
	// KeepCanonical writes the entry but leaves the canonical dossier
	// stored for it as it is (Canonical is ignored; a dossier not stored
	// yet gets none): for the writes that follow the one that stored it,
	// which would only seal and send the same bytes again.
	KeepCanonical bool
	Deleted       bool

	// What the national portal last acknowledged.
	NationalState   string // NationalNone, NationalPending, NationalHeld
	NationalVersion int64  // source version last acknowledged by the national portal
	NationalSteps   int    // number of processing steps the portal has acknowledged
	// NationalStepKeys identify the acknowledged steps by content (see
	// mapping/national.StepKey), one per step: sources list repeated steps
	// in no fixed order, so a count alone cannot say which were sent. Rows
	// written before keys were kept have NationalSteps without keys.
	NationalStepKeys []string
	NationalAt       time.Time
	UpdatedAt        time.Time // set by the store on every write

	// For the on-time report (OnTimeReport), kept in clear so that it
	// reads no canonical dossier. Zero: unknown (rows written before
	// migration 0009 have neither).
	DueAt      time.Time // the dossier's NgayHenTra
	ResolvedAt time.Time // when it first reached status 9 or 10 (see router's resolvedAt)
}

// Event is one provenance record. Events are append-only.
type Event struct {
	DossierID string
	Source    string
	Version   int64
	Kind      string    // "pulled", "normalised", "quarantined", "national.create", "national.update", "national.steps", ...
	Detail    string    // e.g. answer code, reason — never personal data: stored in clear
	At        time.Time // zero: set by the store
	Instance  string
}

// QuarantineEntry is a record that could not be normalised or pushed, kept
// with its raw payload so it can be replayed or discarded by an operator.
type QuarantineEntry struct {
	ID        int64 // assigned by the store
	Source    string
	DossierID string
	Version   int64
	Field     string
	Reason    string // the full error text, stored in clear: it must not quote personal data
	Format    string
	Payload   []byte    // raw record as pulled; encrypted at rest
	At        time.Time // zero: set by the store
	State     string    // QuarantineOpen (default when empty), QuarantineReplayed, QuarantineDiscarded
}

// QuarantineFilter selects quarantine entries. Empty fields do not filter,
// except Sources. Since is inclusive, Until exclusive. Limit <= 0 means no
// limit. Results are ordered by ID, oldest first, unless Sort says
// otherwise, so paging with Offset is stable and a replay keeps the order
// records were quarantined in.
type QuarantineFilter struct {
	Source, DossierID, Field, State string
	// Sources, when not nil, keeps only entries whose Source is one of
	// them, on top of the other fields (Source included). A nil Sources does
	// not filter; a non-nil empty one matches nothing, so a caller scoping
	// to the sources someone may see fails closed when they may see none.
	Sources       []string
	Since, Until  time.Time
	Limit, Offset int
	// Sort orders the entries by one of QuarantineSortKeys, ascending, or
	// descending after a "-" ("-at": newest first); entries that tie are
	// in ID order, the same way round, so that pages neither repeat nor
	// skip one. Text sorts by its bytes on every engine. "" is "id".
	Sort string
}

// QuarantineSortKeys are the keys QuarantineFilter.Sort takes: the entry's
// ID, time, source, dossier ID, field and state.
var QuarantineSortKeys = []string{"id", "at", "source", "dossier", "field", "state"}

// ParseQuarantineSort reads a QuarantineFilter.Sort: its key ("id" for
// "") and whether it is descending. Any other key wraps ErrInvalid.
func ParseQuarantineSort(s string) (key string, desc bool, err error) {
	key, desc = strings.CutPrefix(s, "-")
	if s == "" {
		key = "id"
	}
	if !slices.Contains(QuarantineSortKeys, key) {
		return "", false, fmt.Errorf("sort %q: want one of %s, or one of them after a - for descending: %w",
			s, strings.Join(QuarantineSortKeys, ", "), ErrInvalid)
	}
	return key, desc, nil
}

// IdentityLink ties a dossier to an applicant's identity number (CCCD, CMND
// or tax code). The number is only ever kept as a keyed HMAC.
type IdentityLink struct {
	DossierID string
	Source    string
	IDNumber  string
}

// DedupeLedger returns entries with one entry per DossierID, the last one in
// slice order winning, sorted by DossierID. A multi-row upsert cannot touch
// the same row twice, and "last write wins" is what a caller replaying a
// batch in order expects. Sorting makes concurrent batches lock rows in the
// same order, so overlapping batches wait for each other instead of
// deadlocking.
//
// A later entry that keeps the canonical dossier takes the earlier one's.
func DedupeLedger(entries []LedgerEntry) []LedgerEntry {
	idx := make(map[string]int, len(entries))
	out := make([]LedgerEntry, 0, len(entries))
	for _, e := range entries {
		if i, ok := idx[e.DossierID]; ok {
			if e.KeepCanonical && !out[i].KeepCanonical {
				e.Canonical, e.KeepCanonical = out[i].Canonical, false
			}
			out[i] = e
			continue
		}
		idx[e.DossierID] = len(out)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DossierID < out[j].DossierID })
	return out
}

// JoinStepKeys is how the store keeps NationalStepKeys in one column.
func JoinStepKeys(keys []string) string { return strings.Join(keys, " ") }

// SplitStepKeys reads a column written by JoinStepKeys; "" is no keys.
func SplitStepKeys(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// Now is the store's clock for values it sets itself: UTC, microseconds.
func Now() time.Time {
	return Normalise(time.Now())
}

// Normalise brings t to the precision and zone the stores return.
func Normalise(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// NilIfEmpty maps empty byte slices to nil, as stores return them.
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Write is what one step of the national sink records at once: quarantine
// entries, identity links, ledger rows and provenance events. A store
// writes it in one transaction (PostgreSQL in one round trip), so a crash
// leaves all of it or none.
type Write struct {
	Quarantine []QuarantineEntry
	Identities []IdentityLink
	Ledger     []LedgerEntry
	Events     []Event
}

// Empty reports whether w writes nothing.
func (w Write) Empty() bool {
	return len(w.Quarantine) == 0 && len(w.Identities) == 0 && len(w.Ledger) == 0 && len(w.Events) == 0
}
