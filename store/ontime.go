package store

import "time"

// OnTimeFilter selects the dossiers of an on-time report: those of the
// ledger with a due date (NgayHenTra), not deleted, and not refused at
// intake (3) or withdrawn by the applicant (7), which have no result due.
type OnTimeFilter struct {
	// Sources, when not nil, keeps only those sources' dossiers; a non-nil
	// empty one matches nothing (as QuarantineFilter.Sources).
	Sources []string
	// Since (inclusive) and Until (exclusive) bound the due date; a zero
	// one does not bound it.
	Since, Until time.Time
	// Now divides the unresolved between overdue and open; zero is the
	// store's clock.
	Now time.Time
}

// OnTimeRow counts the dossiers of one source and procedure (MaTTHC). Due
// is all of them: OnTime + Late + OverdueNow + Open.
type OnTimeRow struct {
	Source    string `json:"source"`
	Procedure string `json:"procedure"`
	Due       int    `json:"due"`
	// OnTime: resolved at or before the due date.
	OnTime int `json:"on_time"`
	// Late: resolved after the due date.
	Late int `json:"late"`
	// OverdueNow: not resolved, and due before Now.
	OverdueNow int `json:"overdue_now"`
	// Open: not resolved, not yet due (due at or after Now).
	Open int `json:"open"`
}

// Add adds o's counts to r's.
func (r *OnTimeRow) Add(o OnTimeRow) {
	r.Due += o.Due
	r.OnTime += o.OnTime
	r.Late += o.Late
	r.OverdueNow += o.OverdueNow
	r.Open += o.Open
}
