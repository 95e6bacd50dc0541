package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/mapping"
	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
)

// sourceDossier is one dossier as a provincial simulator lists it.
type sourceDossier struct {
	ID      string `json:"maHoSo"`
	Version int64  `json:"version"`
	Status  int    `json:"status"`
	Deleted bool   `json:"deleted"`
}

type sourceVersion struct {
	Version int64 `json:"version"`
	Status  int   `json:"status"`
	Seq     int64 `json:"seq"`
}

// history returns a dossier's versions at its portal.
func history(t testing.TB, base, id string) []sourceVersion {
	var hist []sourceVersion
	getJSON(t, base+"/_sim/dossiers/"+url.PathEscape(id)+"/history", &hist)
	return hist
}

// hubVersion translates a portal's dossier version into the version the hub
// orders by: the same number, except for a change feed, whose order is the
// feed SEQ of that version.
func hubVersion(source string, hist []sourceVersion, version int64) int64 {
	if kindOf(source) != schemas.KindXMLFeed {
		return version
	}
	for _, h := range hist {
		if h.Version == version {
			return h.Seq
		}
	}
	return -1
}

// malformed is one corruption a simulator served.
type malformed struct {
	ID      string `json:"maHoSo"`
	Version int64  `json:"version"`
	Field   string `json:"field"`
	Kind    string `json:"kind"`
}

// nationalDossier is what the national simulator holds for one dossier.
type nationalDossier struct {
	HoSo    map[string]any   `json:"HOSO"`
	History []nationalRecord `json:"history"`
}

type nationalRecord struct {
	Service    string         `json:"service"`
	IsUpdating string         `json:"isUpdating"`
	Item       map[string]any `json:"item"`
}

func getJSON(t testing.TB, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: decode: %v: %.300s", u, err, body)
	}
}

func getRaw(t testing.TB, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	return body
}

func postJSON(t testing.TB, u string, in any) {
	t.Helper()
	send(t, "POST", u, in)
}

// send makes a control call with a JSON body (none when body is nil),
// failing on a status of 300 or more.
func send(t testing.TB, method, u string, body any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: HTTP %d %s", method, u, resp.StatusCode, b)
	}
}

func listSource(t testing.TB, base string) []sourceDossier {
	var out struct {
		Total int             `json:"total"`
		Items []sourceDossier `json:"items"`
	}
	getJSON(t, base+"/_sim/dossiers", &out)
	return out.Items
}

// expectedHoSo maps the source's final record the way the hub must have:
// source format → canonical → national HOSO, as JSON values.
func expectedHoSo(t testing.TB, source, base string, d sourceDossier) (map[string]any, []map[string]any, error) {
	raw := getRaw(t, base+"/_sim/dossiers/"+url.PathEscape(d.ID))
	rec := schemas.RawRecord{Source: source, ID: d.ID, Version: d.Version, Op: schemas.OpUpsert, Format: schemas.FormatXML, Payload: raw}
	if kindOf(source) == schemas.KindRESTJSON {
		rec.Format = schemas.FormatJSON
	}
	c, err := devMapper.Normalize(rec)
	if err != nil {
		return nil, nil, err
	}
	hoso := asJSON(t, natmap.HoSo(c)).(map[string]any)
	var steps []map[string]any
	for _, s := range natmap.Steps(c) {
		steps = append(steps, asJSON(t, s).(map[string]any))
	}
	return hoso, steps, nil
}

func asJSON(t testing.TB, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffFields lists the fields where got and want differ.
func diffFields(want, got map[string]any) []string {
	var diffs []string
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if !reflect.DeepEqual(normNum(want[k]), normNum(got[k])) {
			diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", k, want[k], got[k]))
		}
	}
	return diffs
}

// normNum lets 4 and "4" compare equal, since a portal may echo either.
func normNum(v any) any {
	switch x := v.(type) {
	case float64:
		return fmt.Sprint(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normNum(x[i])
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normNum(e)
		}
		return out
	}
	return v
}

// isSubsequence reports whether got appears in want in order (repeats of a
// version re-sent after a retry allowed).
func isSubsequence(got, want []int) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
	}
	return true
}

func statusOf(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case string:
		var n int
		fmt.Sscan(x, &n)
		return n
	}
	return -1
}

func shorten(ss []string, n int) string {
	if len(ss) > n {
		return strings.Join(ss[:n], "; ") + fmt.Sprintf("; … (%d more)", len(ss)-n)
	}
	return strings.Join(ss, "; ")
}

// devMapper maps the records of devenv's portals, as the hub does.
var devMapper = func() *mapping.Mapper {
	var srcs []mapping.Source
	for _, p := range devenv.DevPortals() {
		srcs = append(srcs, mapping.Source{Name: p.Name, Kind: p.Kind, Province: p.Province()})
	}
	m, err := mapping.New(srcs...)
	if err != nil {
		panic(err)
	}
	return m
}()

// kindOf is the interface kind of devenv's portal source.
func kindOf(source string) string {
	p, _ := devenv.DevPortal(source)
	return p.Kind
}
