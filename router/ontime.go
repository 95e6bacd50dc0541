package router

import (
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// resolved reports whether status is a resolved one: the result is ready
// (9) or returned to the applicant (10).
func resolved(status int) bool {
	return status == schemas.StatusResolved || status == schemas.StatusReturned
}

// resolvedAt is when version d of a dossier says it first reached a
// resolved status, for the on-time report (store.LedgerEntry.ResolvedAt):
// the time (ThoiDiemXuLy) of its earliest step to status 9 or 10; failing
// such a step, when its status is 9 or 10, its end of processing
// (NgayKetThucXuLy), else its return (NgayTra), else the source's update
// time, else seen (when the hub read it). Zero: not resolved.
func resolvedAt(d *schemas.Dossier, seen time.Time) time.Time {
	var first time.Time
	for _, st := range d.Steps {
		if resolved(st.Status) && !st.At.IsZero() && (first.IsZero() || st.At.Before(first)) {
			first = st.At
		}
	}
	if !first.IsZero() || !resolved(d.Status) {
		return first
	}
	for _, t := range []*time.Time{d.ProcessingEndedAt, d.ReturnedAt, d.SourceUpdated} {
		if t != nil && !t.IsZero() {
			return *t
		}
	}
	return seen
}

// earliest is the earlier of a and b, a zero one being unknown.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
