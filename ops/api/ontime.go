package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

type onTimeRow struct {
	store.OnTimeRow
	Province string `json:"province"`
}

// OnTimeCSVHeader is the columns of the on-time report's CSV: a row's
// counts, with the period (the file says what it covers once opened) and
// the source's label for people.
var OnTimeCSVHeader = []string{"period", "source", "label", "province", "procedure", "due", "on_time", "late", "overdue_now", "open"}

// onTime is the on-time report (SLA) of a month or a quarter: per source
// and procedure, the dossiers whose due date (NgayHenTra) falls in it,
// resolved on time, late, overdue now or not yet due. A token sees its
// visible sources' only; source narrows to one of them. It answers CSV
// (format=csv or Accept: text/csv) without the totals, which a spreadsheet
// sums.
func (s *Server) onTime(w http.ResponseWriter, r *http.Request) {
	asCSV, err := exportable(r, "period", "source", "format")
	if err != nil {
		writeErr(w, err)
		return
	}
	now := time.Now()
	period, since, until, err := ParsePeriod(r.URL.Query().Get("period"), now)
	if err != nil {
		writeErr(w, err)
		return
	}
	f := store.OnTimeFilter{Sources: s.sourceNames(r), Since: since, Until: until, Now: now}
	if src := r.URL.Query().Get("source"); src != "" {
		// Another province's source is answered as an unknown one.
		if !s.canSeeSource(r, src) {
			writeError(w, http.StatusBadRequest, "source: not a source this token may see")
			return
		}
		f.Sources = []string{src}
	}
	rows, err := s.cfg.Store.OnTimeReport(r.Context(), f)
	if err != nil {
		s.fail(w, r, "on-time report", err)
		return
	}
	if asCSV {
		out := make([][]string, 0, len(rows))
		for _, row := range rows {
			src := s.source(row.Source)
			out = append(out, []string{period, row.Source, src.Label, src.Province, row.Procedure, export.Int(row.Due),
				export.Int(row.OnTime), export.Int(row.Late), export.Int(row.OverdueNow), export.Int(row.Open)})
		}
		_ = export.WriteCSV(w, "ontime-"+period+".csv", OnTimeCSVHeader, out)
		return
	}
	items := make([]onTimeRow, 0, len(rows))
	var total store.OnTimeRow
	for _, row := range rows {
		items = append(items, onTimeRow{row, s.provinceOf(row.Source)})
		total.Add(row)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"period": period, "since": since, "until": until, "now": now.In(schemas.Vietnam),
		"rows": items,
		"totals": map[string]int{"due": total.Due, "on_time": total.OnTime, "late": total.Late,
			"overdue_now": total.OverdueNow, "open": total.Open},
	})
}

var periodRE = regexp.MustCompile(`^(\d{4})-(?:(\d{2})|Q([1-4]))$`)

// ParsePeriod reads a period of the on-time report: a month (2026-11) or a
// quarter (2026-Q4) in Asia/Ho_Chi_Minh, the month of now when v is empty.
// It returns the period's name and its bounds, since inclusive, until
// exclusive. An invalid one wraps store.ErrInvalid.
func ParsePeriod(v string, now time.Time) (name string, since, until time.Time, err error) {
	if v == "" {
		v = now.In(schemas.Vietnam).Format("2006-01")
	}
	m := periodRE.FindStringSubmatch(v)
	if m == nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("period %q: want a month (2026-11) or a quarter (2026-Q4): %w", v, store.ErrInvalid)
	}
	year, _ := strconv.Atoi(m[1])
	months := 1
	month, _ := strconv.Atoi(m[2])
	if m[3] != "" {
		q, _ := strconv.Atoi(m[3])
		month, months = 3*q-2, 3
	}
	if year < 2000 || month < 1 || month > 12 {
		return "", time.Time{}, time.Time{}, fmt.Errorf("period %q: no such month: %w", v, store.ErrInvalid)
	}
	since = time.Date(year, time.Month(month), 1, 0, 0, 0, 0, schemas.Vietnam)
	return v, since, since.AddDate(0, months, 0), nil
}
