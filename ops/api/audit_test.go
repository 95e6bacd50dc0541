package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// get asks for path with token and accept and returns the status, the
// content type and the body.
func (f *fixture) get(t *testing.T, path, token, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), b.Bytes()
}

// readCSV is body's rows, after checking the BOM.
func readCSV(t *testing.T, what string, body []byte) [][]string {
	t.Helper()
	rest, ok := bytes.CutPrefix(body, []byte("\xEF\xBB\xBF"))
	if !ok {
		t.Fatalf("%s: no BOM: %.40q", what, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return rows
}

// TestAuditExport: /api/audit filters by time, actor and action and pages
// by offset, in JSON and CSV alike; the CSV has the documented columns,
// keeps Vietnamese text byte for byte and neutralises formulas.
func TestAuditExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	detail := "Mã hồ sơ không hợp lệ"
	entries := []store.AuditEntry{
		{At: t0, TokenID: "tk-sonla", Role: store.RoleProvincial, Province: "14", Action: "quarantine.replay", Target: "entry 1", Detail: detail, Outcome: "ok"},
		{At: t0.Add(time.Hour), TokenID: "tk-nat", Role: store.RoleNational, Action: "quarantine.discard", Target: "=cmd|' /C calc'!A0", Detail: "HTTP 200", Outcome: "ok"},
		{At: t0.Add(2 * time.Hour), TokenID: "tk-sonla", Role: store.RoleProvincial, Province: "14", Action: "quarantine.discard", Target: "entry 3", Detail: "HTTP 409", Outcome: "refused"},
		{At: t0.Add(3 * time.Hour), TokenID: "tk-nat", Role: store.RoleNational, Action: "quarantine.replay", Target: "entry 4", Detail: "@SUM(1)", Outcome: "ok"},
	}
	var ids []int64
	for _, e := range entries {
		id, err := f.st.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	national := f.tokens["national"]
	at := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339)) }
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"", ids},
		{"actor=tk-sonla", []int64{ids[0], ids[2]}},
		{"action=quarantine.replay", []int64{ids[0], ids[3]}},
		{"actor=tk-nat&action=quarantine.discard", []int64{ids[1]}},
		{"since=" + at(time.Hour), ids[1:]},
		{"until=" + at(2*time.Hour), ids[:2]},
		{"since=" + at(time.Hour) + "&until=" + url.QueryEscape(t0.Add(3*time.Hour).In(schemas.Vietnam).Format(time.RFC3339)), ids[1:3]},
		{"offset=1&limit=2", ids[1:3]},
		{"actor=tk-sonla&offset=1", ids[2:3]},
		{"since=1h", []int64{}}, // an hour before now: none of 2026's
		{"actor=nobody", []int64{}},
	} {
		// JSON.
		code, _, body := f.get(t, "/api/audit?"+c.query, national, "")
		var js struct{ Items []struct{ ID int64 } }
		if err := json.Unmarshal(body, &js); code != http.StatusOK || err != nil {
			t.Fatalf("GET /api/audit?%s: %d %v %s", c.query, code, err, body)
		}
		got := []int64{}
		for _, it := range js.Items {
			got = append(got, it.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("GET /api/audit?%s: %v; want %v", c.query, got, c.want)
		}
		// CSV, by format and by Accept.
		for _, v := range []struct{ query, accept string }{{"format=csv&" + c.query, ""}, {c.query, "text/csv"}} {
			code, ct, body := f.get(t, "/api/audit?"+v.query, national, v.accept)
			if code != http.StatusOK || ct != "text/csv; charset=utf-8" {
				t.Fatalf("GET /api/audit?%s (Accept %q): %d %q %s", v.query, v.accept, code, ct, body)
			}
			rows := readCSV(t, "audit "+v.query, body)
			got := []int64{}
			for _, row := range rows[1:] {
				var id int64
				_, _ = fmt.Sscan(row[0], &id)
				got = append(got, id)
			}
			if !slices.Equal(rows[0], api.AuditCSVHeader) || !slices.Equal(got, c.want) {
				t.Errorf("GET /api/audit?%s (Accept %q): columns %q, ids %v; want %v", v.query, v.accept, rows[0], got, c.want)
			}
		}
	}

	// Every column of the CSV, Vietnamese kept byte for byte, formulas
	// neutralised.
	_, _, body := f.get(t, "/api/audit?format=csv&since="+at(0)+"&until="+at(4*time.Hour), national, "")
	if !bytes.Contains(body, []byte(detail)) {
		t.Errorf("the CSV does not hold %q byte for byte", detail)
	}
	rows := readCSV(t, "audit", body)
	want := [][]string{
		{"id", "at", "token_id", "role", "province", "action", "target", "detail", "outcome"},
		{fmt.Sprint(ids[0]), "2026-11-21T08:00:00+07:00", "tk-sonla", "provincial", "14", "quarantine.replay", "entry 1", detail, "ok"},
		{fmt.Sprint(ids[1]), "2026-11-21T09:00:00+07:00", "tk-nat", "national", "", "quarantine.discard", "'=cmd|' /C calc'!A0", "HTTP 200", "ok"},
		{fmt.Sprint(ids[2]), "2026-11-21T10:00:00+07:00", "tk-sonla", "provincial", "14", "quarantine.discard", "entry 3", "HTTP 409", "refused"},
		{fmt.Sprint(ids[3]), "2026-11-21T11:00:00+07:00", "tk-nat", "national", "", "quarantine.replay", "entry 4", "'@SUM(1)", "ok"},
	}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", want) {
		t.Errorf("audit CSV:\n got %q\nwant %q", rows, want)
	}

	// National only, in CSV too.
	if code, ct, body := f.get(t, "/api/audit?format=csv", f.tokens["sonla"], ""); code != http.StatusForbidden || !strings.HasPrefix(ct, "application/json") {
		t.Errorf("audit CSV with the Sơn La token: %d %q %s", code, ct, body)
	}
}

// TestQuarantineExport: the quarantine's CSV through the API names each
// entry's province and keeps a provincial token to its own province.
func TestQuarantineExport(t *testing.T) {
	f := newFixture(t)
	sonla, hatinh := provinces[0], provinces[1]
	check := func(token string, want *province, not *province) {
		t.Helper()
		code, ct, body := f.get(t, "/api/dlq?state=all", token, "text/csv")
		if code != http.StatusOK || ct != "text/csv; charset=utf-8" {
			t.Fatalf("GET /api/dlq as CSV: %d %q %s", code, ct, body)
		}
		rows := readCSV(t, "quarantine", body)
		if !slices.Equal(rows[0], []string{"id", "source", "province", "dossier_id", "version", "field", "reason", "format", "state", "at"}) {
			t.Errorf("quarantine CSV columns %q", rows[0])
		}
		seen := false
		for _, row := range rows[1:] {
			if not != nil && (row[1] == not.source || row[2] == not.code) {
				t.Errorf("quarantine CSV lists %q", row)
			}
			if row[1] == want.source && row[3] == want.dossier {
				seen = true
				if row[2] != want.code || row[6] != want.entryReason {
					t.Errorf("quarantine CSV row %q", row)
				}
			}
		}
		if !seen {
			t.Errorf("quarantine CSV has no entry of %s: %q", want.source, rows)
		}
	}
	check(f.tokens["sonla"], sonla, hatinh)
	check(f.tokens["hatinh"], hatinh, sonla)
	check(f.tokens["national"], sonla, nil)
	check(f.tokens["national"], hatinh, nil)
}
