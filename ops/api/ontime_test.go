package api_test

import (
	"encoding/json"
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
}
