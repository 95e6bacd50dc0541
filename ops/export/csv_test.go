package export_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/export"
)

func TestWriteCSV(t *testing.T) {
	rec := httptest.NewRecorder()
	reason := "Mã hồ sơ không hợp lệ"
	rows := [][]string{
		{"1", reason, "=HYPERLINK(\"http://x\")"},
		{"2", "+1", "-2"},
		{"3", "@SUM(A1)", "a,\"quoted\"\nline"},
		{"4", "", "\tx"},
	}
	if err := export.WriteCSV(rec, "quarantine.csv", []string{"id", "reason", "detail"}, rows); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":        "text/csv; charset=utf-8",
		"Content-Disposition": "attachment; filename=quarantine.csv",
		"Cache-Control":       "no-store",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q; want %q", k, got, want)
		}
	}
	body := rec.Body.Bytes()
	if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
		t.Fatalf("no BOM: %q", body[:min(10, len(body))])
	}
	if !bytes.Contains(body, []byte("\r\n")) {
		t.Error("lines do not end in CRLF")
	}
	got, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"id", "reason", "detail"},
		{"1", reason, "'=HYPERLINK(\"http://x\")"},
		{"2", "'+1", "'-2"},
		{"3", "'@SUM(A1)", "a,\"quoted\"\nline"},
		{"4", "", "'\tx"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back:\n got %q\nwant %q", got, want)
	}
	if got[1][1] != reason || !strings.Contains(string(body), reason) {
		t.Errorf("Vietnamese text not byte-exact: %q", got[1][1])
	}
}

func TestTime(t *testing.T) {
	if got := export.Time(time.Date(2026, 11, 21, 1, 2, 3, 4, time.UTC)); got != "2026-11-21T08:02:03+07:00" {
		t.Errorf("Time: %q", got)
	}
	if got := export.Time(time.Time{}); got != "" {
		t.Errorf("zero Time: %q", got)
	}
}

func TestWantsCSV(t *testing.T) {
	for _, c := range []struct {
		query, accept string
		want, err     bool
	}{
		{"", "", false, false},
		{"format=csv", "", true, false},
		{"format=json", "text/csv", false, false},
		{"format=csv", "application/json", true, false},
		{"format=xlsx", "", false, true},
		{"format=csv&format=csv", "", false, true},
		{"", "text/csv", true, false},
		{"", "text/csv; charset=utf-8", true, false},
		{"", "application/json", false, false},
		{"", "application/json, text/csv;q=0.5", false, false},
		{"", "application/json;q=0.5, text/csv", true, false},
		{"", "text/csv;q=0", false, false},
		{"", "text/html,application/xhtml+xml,*/*;q=0.8", false, false},
		{"", "*/*", false, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/x?"+c.query, nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		got, err := export.WantsCSV(r)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("?%s Accept %q: %v, %v; want %v, error %v", c.query, c.accept, got, err, c.want, c.err)
		}
	}
}
