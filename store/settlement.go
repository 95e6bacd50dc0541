package store

import (
	"fmt"
	"time"
)

// Settlements are the effects the hub still owes after an event it has
// recorded: a payment paid (fees flow), a result delivered by VNPost or its
// cash on delivery collected (postal tracking). Each is the writeback to the
// province plus effects of the hub's own (the dossier republished to the
// national sink, the applicant told). The row is written before the event's
// source moves on (the IPN answered, the tracking cursor stored), so a crash
// loses none of them; a background pass carries them out, retrying with a
// backoff, and counts the province's permanent refusals of the writeback so
// that a restart does not reset the count. A writeback refused too often is
// held: quarantined for an operator, and no longer tried until one replays
// it. No column holds personal data.

// Settlement kinds.
const (
	SettlementPayment   = "payment"   // Ref is the payment's MaThamChieu
	SettlementDelivered = "delivered" // Ref is the VNPost order number
	SettlementCOD       = "cod"       // Ref is the VNPost order number
)

// Settlement states.
const (
	// SettlementOpen: something is still owed; the pass tries it at NextAt.
	SettlementOpen = "open"
	// SettlementClosed: nothing the hub will do by itself any more, because
	// everything is done or the writeback is held.
	SettlementClosed = "closed"
)

// Writeback states of a settlement.
const (
	WritebackDue  = "due"
	WritebackDone = "done"
	// WritebackHeld: refused for good too many times; quarantined until an
	// operator replays it (ReopenSettlement) or discards it.
	WritebackHeld = "held"
)

// Settlement is one event's owed effects. Kind and Ref are the key.
type Settlement struct {
	Kind      string // SettlementPayment…
	Ref       string
	DossierID string
	Source    string
	State     string // SettlementOpen | SettlementClosed
	Writeback string // WritebackDue | WritebackDone | WritebackHeld
	// Attempts counts the province's permanent refusals of the writeback in
	// this round.
	Attempts int
	// Round counts the operator's replays of a held writeback; each round
	// writes back under a reference of its own, since the portals answer a
	// repeated reference with their first answer.
	Round int
	// Tries counts the passes that left the settlement open, for the backoff.
	Tries int
	// LastError is why the last pass left it open (an error text: names
	// dossiers, references and answer codes, never personal data).
	LastError string
	NextAt    time.Time // when the pass tries it next; set by the store on open
	CreatedAt time.Time // set by the store
	UpdatedAt time.Time // set by the store on every write
}

// SettlementUpdate records one pass's outcome. Zero fields keep the stored
// value.
type SettlementUpdate struct {
	// Round: the update applies only while the settlement is in this round,
	// so a pass that began before an operator's replay changes nothing.
	Round int
	// FromWriteback: the update applies only while the writeback is in one
	// of these states; empty: any.
	FromWriteback []string
	State         string
	Writeback     string
	// Refused counts one more permanent refusal of the writeback. With
	// HoldAt > 0, the same statement holds the writeback once Attempts
	// reach HoldAt, so concurrent passes hold it once between them.
	Refused bool
	HoldAt  int
	// Hold is added to the quarantine, in the same transaction, when this
	// update holds the writeback: the entry exists if and only if the
	// writeback is held.
	Hold *QuarantineEntry
	// Tried counts one more pass that left the settlement open.
	Tried     bool
	LastError string
	NextAt    time.Time
}

// SettlementFilter selects settlements. Empty fields do not filter. Results
// are ordered by NextAt, then Kind and Ref.
type SettlementFilter struct {
	Kinds      []string
	States     []string
	Writeback  []string
	DossierIDs []string
	DueBy      time.Time // only NextAt <= DueBy
	Limit      int       // <= 0: no limit
}

// ValidSettlementKind reports whether s is a settlement kind.
func ValidSettlementKind(s string) bool {
	switch s {
	case SettlementPayment, SettlementDelivered, SettlementCOD:
		return true
	}
	return false
}

// ValidSettlementState reports whether s is a settlement state.
func ValidSettlementState(s string) bool { return s == SettlementOpen || s == SettlementClosed }

// ValidWritebackState reports whether s is a writeback state of a settlement.
func ValidWritebackState(s string) bool {
	switch s {
	case WritebackDue, WritebackDone, WritebackHeld:
		return true
	}
	return false
}

// PrepareSettlement checks s for OpenSettlement and returns it as the store
// writes it: open, writeback due, no attempts, round 0, NextAt now unless
// given, times normalised. An unknown Kind or an empty Ref or DossierID is
// an error wrapping ErrInvalid.
func PrepareSettlement(s Settlement, now time.Time) (Settlement, error) {
	switch {
	case !ValidSettlementKind(s.Kind):
		return Settlement{}, fmt.Errorf("kind %q: %w", s.Kind, ErrInvalid)
	case s.Ref == "" || s.DossierID == "":
		return Settlement{}, fmt.Errorf("ref and dossier id required: %w", ErrInvalid)
	}
	now = Normalise(now)
	next := Normalise(s.NextAt)
	if next.IsZero() {
		next = now
	}
	return Settlement{
		Kind: s.Kind, Ref: s.Ref, DossierID: s.DossierID, Source: s.Source,
		State: SettlementOpen, Writeback: WritebackDue, NextAt: next, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// PrepareSettlementUpdate checks u for UpdateSettlement and returns it with
// its times normalised. Unknown states, a negative Round or HoldAt, or a
// Hold without Refused is an error wrapping ErrInvalid.
func PrepareSettlementUpdate(u SettlementUpdate) (SettlementUpdate, error) {
	switch {
	case u.State != "" && !ValidSettlementState(u.State):
		return SettlementUpdate{}, fmt.Errorf("state %q: %w", u.State, ErrInvalid)
	case u.Writeback != "" && !ValidWritebackState(u.Writeback):
		return SettlementUpdate{}, fmt.Errorf("writeback state %q: %w", u.Writeback, ErrInvalid)
	case u.Round < 0 || u.HoldAt < 0:
		return SettlementUpdate{}, fmt.Errorf("negative round or hold bound: %w", ErrInvalid)
	case u.Hold != nil && (!u.Refused || u.HoldAt <= 0):
		return SettlementUpdate{}, fmt.Errorf("a quarantine entry goes with a counted refusal and a bound: %w", ErrInvalid)
	}
	for _, w := range u.FromWriteback {
		if !ValidWritebackState(w) {
			return SettlementUpdate{}, fmt.Errorf("from writeback state %q: %w", w, ErrInvalid)
		}
	}
	if u.Hold != nil {
		if u.Hold.State != "" && !ValidQuarantineState(u.Hold.State) {
			return SettlementUpdate{}, fmt.Errorf("quarantine state %q: %w", u.Hold.State, ErrInvalid)
		}
		h := *u.Hold
		u.Hold = &h
	}
	u.NextAt = Normalise(u.NextAt)
	return u, nil
}
