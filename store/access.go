package store

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// Access: the API tokens the hub's HTTP API accepts, and the audit log of
// what their holders did. A token's secret is never stored: only its
// SHA-256 (APIToken.Hash), enough to recognise the secret when it is
// presented and not to recover it (package auth makes tokens and checks
// them). Every column is stored in clear, so a token's name and an audit
// entry's target and detail must not hold personal data beyond the
// operator's own label for a token.

// Roles of a token.
const (
	// RoleNational is an operator of the national hub: every province.
	RoleNational = "national"
	// RoleProvincial is an operator of one province (APIToken.Province):
	// that province's dossiers only.
	RoleProvincial = "provincial"
	// RolePostal is a postal viewer: deliveries, no dossier data, no
	// operations.
	RolePostal = "postal"
)

// ValidRole reports whether r is a token role.
func ValidRole(r string) bool {
	switch r {
	case RoleNational, RoleProvincial, RolePostal:
		return true
	}
	return false
}

// ValidProvinceCode reports whether c is a national province code as the
// ledger keeps it (LedgerEntry.Province): two digits, such as "14", "19",
// "42".
func ValidProvinceCode(c string) bool {
	return len(c) == 2 && c[0] >= '0' && c[0] <= '9' && c[1] >= '0' && c[1] <= '9'
}

// APIToken is one API token as the store keeps it: never its secret.
type APIToken struct {
	ID       string // short public id, shown in lists and written in the audit log
	Hash     []byte // SHA-256 of the secret (sha256.Size bytes)
	Name     string // the operator's label: who or what holds it
	Role     string // RoleNational, RoleProvincial, RolePostal
	Province string // the province of a RoleProvincial token; "" for the others (all, or none)

	CreatedAt  time.Time // zero on create: set by the store
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: valid
}

// Revoked reports whether the token was revoked.
func (t APIToken) Revoked() bool { return !t.RevokedAt.IsZero() }

// AuditEntry is one operation recorded in the audit log, append-only.
type AuditEntry struct {
	ID       int64     // assigned by the store
	At       time.Time // zero: set by the store
	TokenID  string    // the token that asked ("" when none did, e.g. the command line)
	Role     string    // its role and province at the time
	Province string
	Action   string // what was asked, e.g. "quarantine.replay"; required
	Target   string // what it was asked of, e.g. a quarantine entry ID
	Detail   string // stored in clear: never personal data
	Outcome  string // e.g. "ok", "refused", "failed"
}

// AuditFilter selects audit entries. Empty fields do not filter. Since is
// inclusive, Until exclusive. Limit <= 0 means no limit; Offset skips
// that many of the entries selected. Results are ordered by ID, oldest
// first.
type AuditFilter struct {
	TokenID, Action string
	Since, Until    time.Time
	Limit, Offset   int
}

// PrepareToken checks t for CreateToken and returns it as the store writes
// it: times normalised, CreatedAt now when zero, Hash a copy. An empty ID,
// a Hash that is not a SHA-256, an unknown Role, a RoleProvincial token
// without a valid province code, or a province on a token of another role
// is an error wrapping ErrInvalid.
func PrepareToken(t APIToken, now time.Time) (APIToken, error) {
	switch {
	case t.ID == "":
		return APIToken{}, fmt.Errorf("token id required: %w", ErrInvalid)
	case len(t.Hash) != sha256.Size:
		return APIToken{}, fmt.Errorf("token %s: hash of %d bytes, want the %d of a SHA-256: %w", t.ID, len(t.Hash), sha256.Size, ErrInvalid)
	case !ValidRole(t.Role):
		return APIToken{}, fmt.Errorf("token %s: role %q: %w", t.ID, t.Role, ErrInvalid)
	case t.Role == RoleProvincial && !ValidProvinceCode(t.Province):
		return APIToken{}, fmt.Errorf("token %s: a provincial token needs a province code (two digits), not %q: %w", t.ID, t.Province, ErrInvalid)
	case t.Role != RoleProvincial && t.Province != "":
		return APIToken{}, fmt.Errorf("token %s: role %s takes no province (got %q): %w", t.ID, t.Role, t.Province, ErrInvalid)
	}
	t.Hash = append([]byte(nil), t.Hash...)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = Normalise(t.CreatedAt), Normalise(t.LastUsedAt), Normalise(t.RevokedAt)
	return t, nil
}

// PrepareAudit checks e for AppendAudit and returns it as the store writes
// it: At now when zero, normalised. An empty Action is an error wrapping
// ErrInvalid.
func PrepareAudit(e AuditEntry, now time.Time) (AuditEntry, error) {
	if e.Action == "" {
		return AuditEntry{}, fmt.Errorf("audit entry: action required: %w", ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = now
	}
	e.At = Normalise(e.At)
	e.ID = 0
	return e, nil
}
