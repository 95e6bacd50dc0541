package dlq

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

type apiClient struct {
	t   *testing.T
	url string
}

// do sends a request and decodes the JSON answer into a map.
func (c apiClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s %s: content type %q: %s", method, path, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return res.StatusCode, out
}

func itemIDs(t *testing.T, body map[string]any) []int64 {
	t.Helper()
	items, ok := body["items"].([]any)
	if !ok {
		t.Fatalf("no items in %v", body)
	}
	out := []int64{}
	for _, it := range items {
		m := it.(map[string]any)
		if _, ok := m["payload"]; ok {
			t.Errorf("listed item carries its payload: %v", m)
		}
		out = append(out, int64(m["id"].(float64)))
	}
	return out
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	q := filterFixture(t, e)
	bin := e.add(t,
		store.QuarantineEntry{Source: "sonla", DossierID: "D-BIN", Field: "message", Reason: "raw message is not a raw record",
			Format: schemas.FormatRawMessage, Payload: []byte{0xff, 0x00, 'x'}},
		store.QuarantineEntry{Source: "sonla", DossierID: "D-ODD", Reason: "odd", Format: "yaml", Payload: []byte("a: b")},
	)
	srv := httptest.NewServer(e.svc.Handler(nil))
	t.Cleanup(srv.Close)
	c := apiClient{t: t, url: srv.URL}
	t0 := q[0].At

	// Listing and its filters.
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", append(idsOf(q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), bin[0].ID, bin[1].ID)},
		{"?source=hatinh", idsOf(q, 1, 4, 7)},
		{"?reason=NOT+A+DATE", idsOf(q, 2, 5, 8)},
		{"?reason=" + url.QueryEscape("mã thủ tục") + "&limit=2&offset=1", idsOf(q, 4, 7)},
		{"?since=" + url.QueryEscape(t0.Add(3*time.Hour).Format(time.RFC3339)) + "&until=" + url.QueryEscape(t0.Add(5*time.Hour).In(time.FixedZone("ICT", 7*3600)).Format(time.RFC3339)), idsOf(q, 3, 4)},
		{"?field=f1&source=sonla", idsOf(q, 3, 5, 9)},
		{"?dossier=D-06", idsOf(q, 6)},
		{"?state=all&since=" + url.QueryEscape(t0.Add(10*time.Hour).Format(time.RFC3339)) + "&source=sonla&reason=date", idsOf(q, 11)},
		{"?state=replayed", idsOf(q, 10)},
	} {
		code, body := c.do("GET", "/api/dlq"+tc.query, "")
		if code != http.StatusOK {
			t.Fatalf("GET /api/dlq%s: %d %v", tc.query, code, body)
		}
		if got := itemIDs(t, body); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("GET /api/dlq%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	_, body := c.do("GET", "/api/dlq?dossier=D-05", "")
	item := body["items"].([]any)[0].(map[string]any)
	if item["source"] != "sonla" || item["reason"] != "sonla: ngayNop: NOT A DATE" || item["payload_size"] != 5.0 ||
		item["state"] != "open" || item["format"] != "json" || item["version"] != 5.0 || item["at"] != q[5].At.Format(time.RFC3339Nano) {
		t.Errorf("listed item %v", item)
	}
	for _, bad := range []string{"?since=yesterday", "?until=2026-13-01", "?limit=-1", "?limit=5000", "?offset=x",
		"?state=closed", "?sauce=sonla", "?source=sonla&source=hatinh"} {
		code, body := c.do("GET", "/api/dlq"+bad, "")
		if code != http.StatusBadRequest || body["error"] == "" {
			t.Errorf("GET /api/dlq%s: %d %v, want 400 with an error", bad, code, body)
		}
	}

	// Showing one entry: text, or base64 when not UTF-8.
	code, body := c.do("GET", fmt.Sprintf("/api/dlq/%d", q[4].ID), "")
	if code != http.StatusOK || body["payload"] != "xxxx" || body["payload_encoding"] != "text" || body["dossier_id"] != "D-04" ||
		body["reason"] != q[4].Reason || body["id"] != float64(q[4].ID) {
		t.Errorf("GET entry: %d %v", code, body)
	}
	code, body = c.do("GET", fmt.Sprintf("/api/dlq/%d", bin[0].ID), "")
	if code != http.StatusOK || body["payload_encoding"] != "base64" {
		t.Fatalf("GET binary entry: %d %v", code, body)
	}
	if p, err := base64.StdEncoding.DecodeString(body["payload"].(string)); err != nil || string(p) != "\xff\x00x" {
		t.Errorf("binary payload %q, %v", p, err)
	}
	if code, body := c.do("GET", "/api/dlq/424242", ""); code != http.StatusNotFound || body["error"] == "" {
		t.Errorf("GET missing entry: %d %v", code, body)
	}
	if code, _ := c.do("GET", "/api/dlq/abc", ""); code != http.StatusBadRequest {
		t.Errorf("GET /api/dlq/abc: %d, want 400", code)
	}

	// Replaying one entry, then again.
	path := fmt.Sprintf("/api/dlq/%d/replay", q[0].ID)
	if code, body := c.do("POST", path, ""); code != http.StatusOK || body["state"] != "replayed" {
		t.Fatalf("POST %s: %d %v", path, code, body)
	}
	if code, body := c.do("POST", path, ""); code != http.StatusConflict || !strings.Contains(body["error"].(string), "not open") {
		t.Errorf("POST %s again: %d %v, want 409", path, code, body)
	}
	if code, _ := c.do("POST", fmt.Sprintf("/api/dlq/%d/replay", bin[1].ID), ""); code != http.StatusConflict {
		t.Errorf("replay of an entry of unknown format: %d, want 409", code)
	}
	if code, _ := c.do("POST", "/api/dlq/424242/replay", ""); code != http.StatusNotFound {
		t.Errorf("replay of a missing entry: %d, want 404", code)
	}
	got := e.drain(t, e.topics.Raw("sonla"))
	if len(got) != 1 || got[0].key != "D-00" {
		t.Errorf("raw.sonla after one replay: %+v", got)
	}

	// Discarding.
	path = fmt.Sprintf("/api/dlq/%d/discard", q[3].ID)
	for _, bad := range []string{"", `{}`, `{"reason": "  "}`, `{"why": "x"}`, `not json`} {
		if code, body := c.do("POST", path, bad); code != http.StatusBadRequest || body["error"] == "" {
			t.Errorf("POST %s with %q: %d %v, want 400", path, bad, code, body)
		}
	}
	if code, body := c.do("POST", path, `{"reason": "procedure withdrawn"}`); code != http.StatusOK || body["state"] != "discarded" {
		t.Fatalf("POST %s: %d %v", path, code, body)
	}
	if code, _ := c.do("POST", path, `{"reason": "again"}`); code != http.StatusConflict {
		t.Errorf("second discard: %d, want 409", code)
	}
	if st := e.state(t, q[3].ID); st != store.QuarantineDiscarded {
		t.Errorf("discarded entry is %s", st)
	}

	// Bulk replay: every open hatinh entry, then nothing more.
	if code, body := c.do("POST", "/api/dlq/replay?source=hatinh&sorce=x", ""); code != http.StatusBadRequest {
		t.Errorf("bulk replay with a misspelt filter: %d %v, want 400", code, body)
	}
	if code, body := c.do("POST", "/api/dlq/replay?source=hatinh", ""); code != http.StatusOK || body["replayed"] != 3.0 {
		t.Fatalf("bulk replay: %d %v", code, body)
	}
	if code, body := c.do("POST", "/api/dlq/replay?source=hatinh", ""); code != http.StatusOK || body["replayed"] != 0.0 {
		t.Errorf("second bulk replay: %d %v", code, body)
	}
	if got := e.drain(t, e.topics.Raw("hatinh")); len(got) != 3 {
		t.Errorf("raw.hatinh holds %d messages, want 3", len(got))
	}
	// A bulk replay that meets an unreplayable entry stops there and says
	// how far it got.
	code, body = c.do("POST", "/api/dlq/replay?dossier=D-ODD", "")
	if code != http.StatusConflict || body["replayed"] != 0.0 || body["error"] == "" {
		t.Errorf("bulk replay of an unreplayable entry: %d %v", code, body)
	}
	if code, _ := c.do("POST", "/api/dlq/replay?state=discarded", ""); code != http.StatusBadRequest {
		t.Errorf("bulk replay of discarded entries: %d, want 400", code)
	}
}

// getCSV asks for path with accept (when not empty) and returns the CSV
// read back, BOM stripped, after checking the answer is a CSV attachment.
func getCSV(t *testing.T, url, accept string) [][]string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET %s (Accept %q): %d %v %s", url, accept, res.StatusCode, res.Header, raw)
	}
	body, ok := strings.CutPrefix(string(raw), "\xEF\xBB\xBF")
	if !ok {
		t.Fatalf("GET %s: no BOM: %.20q", url, raw)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return rows
}

func TestHTTPCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	q := filterFixture(t, e)
	formula := e.add(t, store.QuarantineEntry{Source: "hatinh", DossierID: "=1+1", Version: 3, Field: "@f",
		Reason: "=HYPERLINK(\"http://x\") Mã hồ sơ không hợp lệ", Format: schemas.FormatJSON, Payload: []byte(`{"cccd":"001234567890"}`)})[0]
	// hatinh's operator sees hatinh's entries only.
	visible := func(r *http.Request) ([]string, bool) {
		if r.Header.Get("X-Province") == "42" {
			return []string{"hatinh"}, false
		}
		return nil, true
	}
	province := map[string]string{"sonla": "14", "hatinh": "42"}
	srv := httptest.NewServer(e.svc.HandlerWith(visible, func(s string) string { return province[s] }))
	t.Cleanup(srv.Close)

	want := [][]string{{"id", "source", "province", "dossier_id", "version", "field", "reason", "format", "state", "at"}}
	for _, i := range []int{1, 4, 7} {
		want = append(want, []string{fmt.Sprint(q[i].ID), "hatinh", "42", q[i].DossierID, fmt.Sprint(q[i].Version), q[i].Field,
			"hatinh: Mã thủ tục không có trong danh mục", "json", "open", q[i].At.In(schemas.Vietnam).Format(time.RFC3339)})
	}
	want = append(want, []string{fmt.Sprint(formula.ID), "hatinh", "42", "'=1+1", "3", "'@f",
		"'=HYPERLINK(\"http://x\") Mã hồ sơ không hợp lệ", "json", "open", formula.At.In(schemas.Vietnam).Format(time.RFC3339)})
	for _, c := range []struct{ query, accept string }{
		{"?source=hatinh&format=csv", ""},
		{"?source=hatinh", "text/csv"},
		{"?source=hatinh", "application/json;q=0.9, text/csv"},
	} {
		got := getCSV(t, srv.URL+"/api/dlq"+c.query, c.accept)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("CSV of %s (Accept %q):\n got %q\nwant %q", c.query, c.accept, got, want)
		}
		for _, row := range got {
			if strings.Contains(strings.Join(row, ","), "001234567890") {
				t.Errorf("the CSV carries a payload: %q", row)
			}
		}
	}
	if !strings.HasSuffix(want[1][9], "+07:00") {
		t.Errorf("time %q not in Vietnam's zone", want[1][9])
	}

	// A provincial view: only its sources, in CSV as in JSON.
	req, _ := http.NewRequest("GET", srv.URL+"/api/dlq?format=csv&state=all", nil)
	req.Header.Set("X-Province", "42")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(raw), "\xEF\xBB\xBF"))).ReadAll()
	if err != nil || len(rows) != 6 { // header, hatinh's four of the fixture (one replayed) and the formula one
		t.Fatalf("hatinh's CSV: %v %q", err, rows)
	}
	for _, row := range rows[1:] {
		if row[1] != "hatinh" || row[2] != "42" {
			t.Errorf("hatinh's CSV lists %q", row)
		}
	}

	// Limits: up to export.MaxRows in CSV, 1000 in JSON; format is checked
	// and taken on the list only.
	if got := getCSV(t, srv.URL+"/api/dlq?format=csv&limit=100000&source=hatinh&offset=3", ""); len(got) != 2 {
		t.Errorf("limit 100000, offset 3: %q", got)
	}
	c := apiClient{t: t, url: srv.URL}
	for _, bad := range []string{"/api/dlq?format=csv&limit=100001", "/api/dlq?limit=1001&format=json", "/api/dlq?format=xlsx",
		"/api/dlq?format=csv&format=csv"} {
		if code, body := c.do("GET", bad, ""); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %v, want 400", bad, code, body)
		}
	}
	if code, body := c.do("POST", "/api/dlq/replay?format=csv", ""); code != http.StatusBadRequest {
		t.Errorf("POST /api/dlq/replay?format=csv: %d %v, want 400", code, body)
	}
}

// TestHTTPSortTotal: the list sorts by a column either way and pages over
// the sorted entries; total counts every entry the filters select (a
// provincial view's own, a reason's matches), whatever the page; the CSV
// comes in the same order; a bulk replay takes no sort.
func TestHTTPSortTotal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newSQLite(t))
	q := filterFixture(t, e)
	visible := func(r *http.Request) ([]string, bool) {
		if r.Header.Get("X-Province") == "42" {
			return []string{"hatinh"}, false
		}
		return nil, true
	}
	srv := httptest.NewServer(e.svc.HandlerWith(visible, nil))
	t.Cleanup(srv.Close)
	c := apiClient{t: t, url: srv.URL}
	list := func(path string, province string) ([]int64, float64) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("X-Province", province)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %v", path, res.StatusCode, err, body)
		}
		total, ok := body["total"].(float64)
		if !ok {
			t.Fatalf("GET %s: no total in %v", path, body)
		}
		return itemIDs(t, body), total
	}
	reason := url.QueryEscape("NOT A DATE")
	for _, tc := range []struct {
		query, province string
		want            []int64
		total           float64
	}{
		{"", "", idsOf(q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 10},
		{"?limit=1", "", idsOf(q, 0), 10},
		{"?state=all&sort=-at&limit=3", "", idsOf(q, 11, 10, 9), 12},
		{"?sort=source&limit=5&offset=2", "", idsOf(q, 7, 0, 2, 3, 5), 10},
		{"?sort=-field&source=sonla", "", idsOf(q, 9, 5, 3, 8, 6, 2, 0), 7},
		{"?sort=state&state=all&source=hatinh", "", idsOf(q, 1, 4, 7, 10), 4},
		{"?sort=-dossier&limit=2&offset=1", "", idsOf(q, 8, 7), 10},
		{"?sort=id", "", idsOf(q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 10},
		// A reason is matched by the hub, not the store: the page and the
		// total alike.
		{"?reason=" + reason + "&sort=-id&limit=2", "", idsOf(q, 8, 5), 3},
		{"?reason=" + reason + "&sort=at&limit=1&offset=1", "", idsOf(q, 5), 3},
		{"?reason=" + reason + "&state=all&offset=3", "", idsOf(q, 11), 4},
		// A provincial view counts its own sources' only.
		{"?state=all&sort=-id&limit=2", "42", idsOf(q, 10, 7), 4},
		{"?source=sonla", "42", []int64{}, 0},
	} {
		got, total := list("/api/dlq"+tc.query, tc.province)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || total != tc.total {
			t.Errorf("GET /api/dlq%s (province %q): %v of %v; want %v of %v", tc.query, tc.province, got, total, tc.want, tc.total)
		}
	}
	rows := getCSV(t, srv.URL+"/api/dlq?format=csv&source=hatinh&sort=-id", "")
	if got := []string{rows[1][0], rows[2][0], rows[3][0]}; len(rows) != 4 || fmt.Sprint(got) != fmt.Sprint(idsOf(q, 7, 4, 1)) {
		t.Errorf("CSV sorted by -id: %q", rows)
	}
	for _, bad := range []string{"?sort=reason", "?sort=at&sort=-at", "?sort=AT", "?sort=--id"} {
		if code, body := c.do("GET", "/api/dlq"+bad, ""); code != http.StatusBadRequest || body["error"] == "" {
			t.Errorf("GET /api/dlq%s: %d %v, want 400", bad, code, body)
		}
	}
	if code, body := c.do("POST", "/api/dlq/replay?sort=at", ""); code != http.StatusBadRequest {
		t.Errorf("POST /api/dlq/replay?sort=at: %d %v, want 400", code, body)
	}
	if _, err := e.svc.ReplayAll(t.Context(), Filter{Sort: "-at"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ReplayAll with a sort: %v, want ErrInvalid", err)
	}
}
