package store

import "time"

// Kinds of drift between the ledger and the national portal
// (ops/reconcile).
const (
	// DriftMissing: the ledger says the portal holds the dossier;
	// TraCuuHoSo does not know it.
	DriftMissing = "missing_at_national"
	// DriftOlderStatus: the portal holds another status (TrangThaiHoSo)
	// than the one the hub sent, or an older version than the ledger's
	// long after it should have had the newer.
	DriftOlderStatus = "older_status"
	// DriftFieldDiffers: same status, other fields differ.
	DriftFieldDiffers = "field_differs"
	// DriftUnknown: the portal holds a dossier the ledger records as never
	// acknowledged by it.
	DriftUnknown = "unknown_to_hub"
)

// DriftKinds lists every kind, in the order reports show them.
var DriftKinds = []string{DriftMissing, DriftOlderStatus, DriftFieldDiffers, DriftUnknown}

// States of a drift row.
const (
	DriftOpen      = "open"
	DriftResyncing = "resyncing" // sent through the pipeline again; not checked since
	DriftResolved  = "resolved"  // a later check found the copies equal
)

// Drift is one dossier's latest reconciliation finding. It holds no
// personal data: Fields names the national fields that differ, Detail
// gives statuses and versions only.
type Drift struct {
	DossierID  string    `json:"dossier_id"`
	Source     string    `json:"source"`
	Province   string    `json:"province"`
	Kind       string    `json:"kind"`
	Fields     []string  `json:"fields"`
	Detail     string    `json:"detail"`
	FoundAt    time.Time `json:"found_at"`   // first found, in this episode
	CheckedAt  time.Time `json:"checked_at"` // last checked
	State      string    `json:"state"`
	ResyncedAt time.Time `json:"resynced_at"` // zero: never resynced
}

// DriftFilter selects drift rows. Nil lists do not filter; a non-nil empty
// Sources matches nothing (as QuarantineFilter.Sources).
type DriftFilter struct {
	IDs     []string // dossier IDs; nil or empty: all
	Sources []string
	Kinds   []string
	States  []string
	Limit   int // <= 0: no limit
	Offset  int
}

// ReconcileFilter selects the ledger rows a reconciliation pass reads:
// those after After in dossier ID order, of Sources (nil: all), not
// deleted, Limit of them.
type ReconcileFilter struct {
	After   string
	Sources []string
	Limit   int
}
