package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/schemas"
)

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC) // 1 December in Việt Nam
	vn := func(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, schemas.Vietnam) }
	for _, c := range []struct {
		in, name     string
		since, until time.Time
	}{
		{"", "2026-12", vn(2026, 12), vn(2027, 1)},
		{"2026-11", "2026-11", vn(2026, 11), vn(2026, 12)},
		{"2026-Q4", "2026-Q4", vn(2026, 10), vn(2027, 1)},
		{"2027-Q1", "2027-Q1", vn(2027, 1), vn(2027, 4)},
	} {
		name, since, until, err := api.ParsePeriod(c.in, now)
		if err != nil || name != c.name || !since.Equal(c.since) || !until.Equal(c.until) {
			t.Errorf("ParsePeriod(%q) = %q %v %v %v; want %q %v %v", c.in, name, since, until, err, c.name, c.since, c.until)
		}
	}
	for _, bad := range []string{"2026-13", "2026-00", "2026-Q5", "2026-Q0", "26-11", "2026-11-01", "november", "1999-01"} {
		if _, _, _, err := api.ParsePeriod(bad, now); err == nil {
			t.Errorf("ParsePeriod(%q): no error", bad)
		}
	}
}

// TestOnTime: the report of the current month counts each token's visible
// dossiers (both seeded ones are due now, so not yet overdue), and no other
// period holds them.
func TestOnTime(t *testing.T) {
	f := newFixture(t)
	type report struct {
		Period string
		Rows   []struct {
			Source, Province, Procedure string
			Due, Open                   int
		}
		Totals map[string]int
	}
	get := func(path, token string) report {
		t.Helper()
		code, body := f.call(t, "GET", path, token, "")
		if code != 200 {
			t.Fatalf("%s: HTTP %d %s", path, code, body)
		}
		var r report
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get("/api/ontime", f.tokens["national"])
	if len(r.Rows) != 2 || r.Totals["due"] != 2 || r.Totals["open"]+r.Totals["overdue_now"] != 2 {
		t.Errorf("national: %+v; want both provinces' dossiers due", r)
	}
	r = get("/api/ontime", f.tokens["sonla"])
	if len(r.Rows) != 1 || r.Rows[0].Source != "sonla" || r.Rows[0].Province != "14" || r.Rows[0].Procedure != "1.000894" || r.Totals["due"] != 1 {
		t.Errorf("sonla: %+v; want its one dossier", r)
	}
	r = get("/api/ontime?source=hatinh", f.tokens["national"])
	if len(r.Rows) != 1 || r.Rows[0].Source != "hatinh" {
		t.Errorf("national, source=hatinh: %+v", r)
	}
	r = get("/api/ontime?period=2020-Q1", f.tokens["national"])
	if len(r.Rows) != 0 || r.Totals["due"] != 0 || r.Period != "2020-Q1" {
		t.Errorf("2020-Q1: %+v; want nothing due", r)
	}
	// The console shows the report's page and the reconciliation's (whose
	// API is operators' too) to operators, not to postal.
	for name, want := range map[string]bool{"national": true, "sonla": true, "postal": false} {
		var me struct{ Views []string }
		_, body := f.call(t, "GET", "/api/me", f.tokens[name], "")
		for _, view := range []string{"ontime", "drift"} {
			if err := json.Unmarshal([]byte(body), &me); err != nil || slices.Contains(me.Views, view) != want {
				t.Errorf("/api/me of the %s token: views %q, %v; want %s: %v", name, me.Views, err, view, want)
			}
		}
	}
}

// TestOnTimeExport: the on-time report's CSV, by format and by Accept, has
// the documented columns, the source's label in Vietnamese byte for byte,
// and keeps a provincial token to its own province's rows.
func TestOnTimeExport(t *testing.T) {
	f := newFixture(t)
	period := time.Now().In(schemas.Vietnam).Format("2006-01")
	header := []string{"period", "source", "label", "province", "procedure", "due", "on_time", "late", "overdue_now", "open"}
	csvOf := func(path, token, accept string) [][]string {
		t.Helper()
		code, ct, body := f.get(t, path, token, accept)
		if code != http.StatusOK || ct != "text/csv; charset=utf-8" {
			t.Fatalf("GET %s (Accept %q): %d %q %s", path, accept, code, ct, body)
		}
		rows := readCSV(t, path, body)
		if !slices.Equal(rows[0], header) || !slices.Equal(api.OnTimeCSVHeader, header) {
			t.Fatalf("GET %s: columns %q; want %q", path, rows[0], header)
		}
		return rows[1:]
	}
	// counts checks a row's source, label, province and counts: due 1,
	// resolved neither on time nor late, open or overdue.
	counts := func(what string, row []string, source, label, province string) {
		t.Helper()
		if row[0] != period || row[1] != source || row[2] != label || row[3] != province || row[4] != "1.000894" ||
			row[5] != "1" || row[6] != "0" || row[7] != "0" || !slices.Contains([]string{"1 0", "0 1"}, row[8]+" "+row[9]) {
			t.Errorf("%s: row %q; want %s's one dossier due in %s", what, row, source, period)
		}
	}
	national := f.tokens["national"]
	for _, v := range []struct{ path, accept string }{{"/api/ontime?format=csv", ""}, {"/api/ontime", "text/csv"}} {
		rows := csvOf(v.path, national, v.accept)
		if len(rows) != 2 {
			t.Fatalf("GET %s (Accept %q) with the national token: %q; want both provinces' rows", v.path, v.accept, rows)
		}
		slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(a[1], b[1]) })
		counts(v.path, rows[0], "hatinh", "Hà Tĩnh", "42")
		counts(v.path, rows[1], "sonla", "Sơn La", "14")
	}
	if _, _, body := f.get(t, "/api/ontime?format=csv", national, ""); !bytes.Contains(body, []byte("Sơn La")) {
		t.Errorf("the CSV does not hold %q byte for byte", "Sơn La")
	}

	// A provincial token: its own rows only, and another's source refused.
	rows := csvOf("/api/ontime?format=csv", f.tokens["sonla"], "")
	if len(rows) != 1 {
		t.Fatalf("CSV with the Sơn La token: %q; want its one row", rows)
	}
	counts("Sơn La token", rows[0], "sonla", "Sơn La", "14")
	if _, _, body := f.get(t, "/api/ontime?format=csv&source=sonla", f.tokens["sonla"], ""); bytes.Contains(body, []byte("hatinh")) || bytes.Contains(body, []byte("Hà Tĩnh")) {
		t.Errorf("CSV with the Sơn La token names Hà Tĩnh: %s", body)
	}
	if code, ct, body := f.get(t, "/api/ontime?format=csv&source=hatinh", f.tokens["sonla"], ""); code != http.StatusBadRequest || !strings.HasPrefix(ct, "application/json") {
		t.Errorf("CSV of Hà Tĩnh with the Sơn La token: %d %q %s; want 400 in JSON", code, ct, body)
	}
	if code, ct, body := f.get(t, "/api/ontime?format=csv", f.tokens["postal"], ""); code != http.StatusForbidden || !strings.HasPrefix(ct, "application/json") {
		t.Errorf("CSV with the postal token: %d %q %s; want 403 in JSON", code, ct, body)
	}

	// Another period: the header alone, in a file named after it.
	if rows := csvOf("/api/ontime?format=csv&period=2020-Q1", national, ""); len(rows) != 0 {
		t.Errorf("2020-Q1: %q; want no row", rows)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/ontime?format=csv&period=2020-Q1", nil)
	req.Header.Set("Authorization", "Bearer "+national)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename=ontime-2020-Q1.csv` {
		t.Errorf("Content-Disposition %q", cd)
	}
}
