package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// publicOps are the operations served without a token.
var publicOps = []string{"GET /api/openapi.yaml"}

// loadSpec loads openapi.yaml and validates it as OpenAPI 3.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	return doc
}

// operations are the document's operations by "METHOD /path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

var (
	camelCase  = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	pathParams = regexp.MustCompile(`\{([^}]+)\}`)
)

// TestOpenAPI: the specification is valid OpenAPI 3, documents every route
// the API serves, with the roles' refusals, and nothing it does not serve;
// and it keeps the project's rules: every operation has a unique camelCase
// operationId, a summary and a declared tag; every protected one documents
// 401, the public ones do not; every path parameter is declared; every
// error answer is a shared response with the {"error": "…"} body.
func TestOpenAPI(t *testing.T) {
	doc := loadSpec(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q; want 3.x", doc.OpenAPI)
	}
	if l := doc.Info.License; l == nil || l.Name == "" {
		t.Error("info.license is missing")
	}
	ops := operations(doc)

	served := map[string]bool{}
	for _, key := range publicOps {
		served[key] = true
	}
	for _, e := range api.Endpoints {
		key := e.Method + " " + e.Pattern
		served[key] = true
		op, ok := ops[key]
		if !ok {
			t.Errorf("%s is not documented", key)
			continue
		}
		want := []string{"200", "401"}
		if len(e.Roles) < 3 {
			want = append(want, "403")
		} else if op.Responses.Value("403") != nil {
			t.Errorf("%s: 403 documented, but every role may use it", key)
		}
		if strings.Contains(e.Pattern, "{id}") {
			want = append(want, "404")
		}
		for _, code := range want {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: response %s not documented", key, code)
			}
		}
	}

	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(ops)) {
		op := ops[key]
		if !served[key] {
			t.Errorf("%s is documented but not served", key)
		}
		switch {
		case op.OperationID == "":
			t.Errorf("%s: no operationId", key)
		case !camelCase.MatchString(op.OperationID):
			t.Errorf("%s: operationId %q is not camelCase", key, op.OperationID)
		case ids[op.OperationID] != "":
			t.Errorf("%s: operationId %q is %s's too", key, op.OperationID, ids[op.OperationID])
		}
		ids[op.OperationID] = key
		if strings.TrimSpace(op.Summary) == "" {
			t.Errorf("%s: no summary", key)
		}
		if len(op.Tags) == 0 {
			t.Errorf("%s: no tag", key)
		}
		for _, tag := range op.Tags {
			if !tags[tag] {
				t.Errorf("%s: tag %q is not declared under tags", key, tag)
			}
		}

		public := op.Security != nil && len(*op.Security) == 0
		if public != slices.Contains(publicOps, key) {
			t.Errorf("%s: public (security: []) is %v; want %v", key, public, !public)
		}
		switch has401 := op.Responses.Value("401") != nil; {
		case public && has401:
			t.Errorf("%s: public (security: []), but documents 401", key)
		case !public && !has401:
			t.Errorf("%s: needs a token, but does not document 401", key)
		}

		_, path, _ := strings.Cut(key, " ")
		declared := map[string]bool{}
		for _, p := range append(doc.Paths.Value(path).Parameters, op.Parameters...) {
			if p.Value.In == openapi3.ParameterInPath {
				declared[p.Value.Name] = p.Value.Required
			}
		}
		inPath := map[string]bool{}
		for _, m := range pathParams.FindAllStringSubmatch(path, -1) {
			inPath[m[1]] = true
			if required, ok := declared[m[1]]; !ok || !required {
				t.Errorf("%s: path parameter %q is not declared (required, in: path)", key, m[1])
			}
		}
		for name := range declared {
			if !inPath[name] {
				t.Errorf("%s: path parameter %q is not in the path", key, name)
			}
		}

		for code, ref := range op.Responses.Map() {
			if code < "4" || public {
				continue
			}
			if !strings.HasPrefix(ref.Ref, "#/components/responses/") {
				t.Errorf("%s: response %s is not a shared one (components/responses)", key, code)
			}
			mt := ref.Value.Content.Get("application/json")
			if mt == nil || !isError(mt.Schema) {
				t.Errorf("%s: response %s does not answer the Error schema as application/json", key, code)
			}
		}
	}
}

// isError reports whether s is the Error schema, or all of it and more.
func isError(s *openapi3.SchemaRef) bool {
	if s == nil {
		return false
	}
	if s.Ref == "#/components/schemas/Error" {
		return true
	}
	return s.Value != nil && slices.ContainsFunc(s.Value.AllOf, isError)
}

// probe is a request that answers an operation with a known status.
type probe struct {
	op, path, token, body string
	header                map[string]string
	want                  int
}

// TestOpenAPIAnswers tries every operation into each of its documented
// answers, and checks each answer against the document: its status is
// documented for the operation, and its body matches the schema. Every
// status documented must be answered by one probe at least, so that the
// document lists nothing the handlers cannot answer.
func TestOpenAPIAnswers(t *testing.T) {
	doc := loadSpec(t)
	ops := operations(doc)
	f := newFixture(t)
	sonla, hatinh := provinces[0], provinces[1]
	// A held writeback's entry whose payload names no settlement: it cannot
	// be replayed.
	ctx := context.Background()
	if err := f.st.AddQuarantine(ctx, []store.QuarantineEntry{{Source: sonla.source, DossierID: "SL-UNREPLAYABLE",
		Version: 1, Field: "settlement", Reason: "held", Format: schemas.FormatSettlement, Payload: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	national, postal := f.tokens["national"], f.tokens["postal"]
	sonlaTok, hatinhTok := f.tokens["sonla"], f.tokens["hatinh"]
	entry := func(id int64, rest string) string { return fmt.Sprintf("/api/dlq/%d%s", id, rest) }
	discard := `{"reason":"a test"}`

	probes := []probe{
		{op: "GET /api/me", path: "/api/me", token: postal, want: 200},
		{op: "GET /api/overview", path: "/api/overview", token: national, want: 200},
		{op: "GET /api/overview", path: "/api/overview", token: postal, want: 200},

		{op: "GET /api/dossiers", path: "/api/dossiers?cccd=" + sharedCCCD, token: sonlaTok, want: 200},
		{op: "GET /api/dossiers", path: "/api/dossiers?cccd=12ab", token: national, want: 400},
		{op: "GET /api/dossiers", path: "/api/dossiers?cccd=1&name=x", token: national, want: 400},
		{op: "GET /api/dossiers", path: "/api/dossiers?cccd=" + sharedCCCD, token: postal, want: 403},

		{op: "GET /api/dossiers/{id}", path: "/api/dossiers/" + sonla.dossier, token: national, want: 200},
		{op: "GET /api/dossiers/{id}", path: "/api/dossiers/" + sonla.dossier, token: hatinhTok, want: 404},
		{op: "GET /api/dossiers/{id}", path: "/api/dossiers/NO-SUCH", token: national, want: 404},
		{op: "GET /api/dossiers/{id}", path: "/api/dossiers/" + sonla.dossier, token: postal, want: 403},

		{op: "GET /api/payments", path: "/api/payments?state=new,pending,paid&stale=1ns", token: national, want: 200},
		{op: "GET /api/payments", path: "/api/payments?state=lost", token: national, want: 400},
		{op: "GET /api/payments", path: "/api/payments?stale=never", token: national, want: 400},
		{op: "GET /api/payments", path: "/api/payments?limit=1001", token: national, want: 400},
		{op: "GET /api/payments", path: "/api/payments", token: postal, want: 403},

		{op: "GET /api/deliveries", path: "/api/deliveries?problems=true", token: postal, want: 200},
		{op: "GET /api/deliveries", path: "/api/deliveries?inflight=maybe", token: national, want: 400},
		{op: "GET /api/deliveries", path: "/api/deliveries?province=14", token: national, want: 400},

		{op: "GET /api/audit", path: "/api/audit", token: national, want: 200},
		{op: "GET /api/audit", path: "/api/audit?since=24h&until=2099-01-01T00:00:00Z&actor=x&action=quarantine.replay&limit=5&offset=1", token: national, want: 200},
		{op: "GET /api/audit", path: "/api/audit?format=csv&limit=100000", token: national, want: 200},
		{op: "GET /api/audit", path: "/api/audit", token: national, header: map[string]string{"Accept": "text/csv"}, want: 200},
		{op: "GET /api/audit", path: "/api/audit?limit=0", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?limit=1001", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?format=csv&limit=100001", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?format=xml", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?since=yesterday", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?offset=-1", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?actor=a&actor=b", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit?token=x", token: national, want: 400},
		{op: "GET /api/audit", path: "/api/audit", token: sonlaTok, want: 403},
		{op: "GET /api/audit", path: "/api/audit?format=csv", token: sonlaTok, want: 403},

		{op: "GET /api/ontime", path: "/api/ontime", token: sonlaTok, want: 200},
		{op: "GET /api/ontime", path: "/api/ontime?period=2026-Q4&source=sonla", token: national, want: 200},
		{op: "GET /api/ontime", path: "/api/ontime?format=csv&source=sonla", token: sonlaTok, want: 200},
		{op: "GET /api/ontime", path: "/api/ontime?period=2026-Q4", token: national, header: map[string]string{"Accept": "text/csv"}, want: 200},
		{op: "GET /api/ontime", path: "/api/ontime?format=xml", token: national, want: 400},
		{op: "GET /api/ontime", path: "/api/ontime?period=2026-13", token: national, want: 400},
		{op: "GET /api/ontime", path: "/api/ontime?source=hatinh", token: sonlaTok, want: 400},
		{op: "GET /api/ontime", path: "/api/ontime?province=14", token: national, want: 400},
		{op: "GET /api/ontime", path: "/api/ontime", token: postal, want: 403},

		{op: "GET /api/drift", path: "/api/drift", token: sonlaTok, want: 200},
		{op: "GET /api/drift", path: "/api/drift?state=all&kind=field_differs&source=sonla&limit=5&offset=0", token: national, want: 200},
		{op: "GET /api/drift", path: "/api/drift?format=csv", token: national, want: 200},
		{op: "GET /api/drift", path: "/api/drift?kind=lost", token: national, want: 400},
		{op: "GET /api/drift", path: "/api/drift?source=hatinh", token: sonlaTok, want: 400},
		{op: "GET /api/drift", path: "/api/drift", token: postal, want: 403},

		{op: "POST /api/drift/{id}/resync", path: "/api/drift/" + sonla.dossier + "/resync", token: sonlaTok, want: 200},
		{op: "POST /api/drift/{id}/resync", path: "/api/drift/" + sonla.dossier + "/resync", token: hatinhTok, want: 404},
		{op: "POST /api/drift/{id}/resync", path: "/api/drift/" + sonla.dossier + "/resync", token: postal, want: 403},
		{op: "POST /api/drift/resync", path: "/api/drift/resync?source=hatinh&kind=field_differs", token: national, want: 200},
		{op: "POST /api/drift/resync", path: "/api/drift/resync?state=all", token: national, want: 400},
		{op: "POST /api/drift/resync", path: "/api/drift/resync", token: postal, want: 403},

		{op: "GET /api/dlq", path: "/api/dlq?state=all&limit=0&offset=0", token: sonlaTok, want: 200},
		{op: "GET /api/dlq", path: "/api/dlq?state=all&format=csv", token: sonlaTok, want: 200},
		{op: "GET /api/dlq", path: "/api/dlq?limit=100000", token: national, header: map[string]string{"Accept": "text/csv"}, want: 200},
		{op: "GET /api/dlq", path: "/api/dlq?format=csv&limit=100001", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq?state=all&sort=-at&limit=1&offset=1", token: national, want: 200},
		{op: "GET /api/dlq", path: "/api/dlq?sort=reason", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq?state=closed", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq?since=yesterday", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq?source=sonla&source=hatinh", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq?limit=1001", token: national, want: 400},
		{op: "GET /api/dlq", path: "/api/dlq", token: postal, want: 403},

		{op: "GET /api/dlq/{id}", path: entry(sonla.entry, ""), token: sonlaTok, want: 200},
		{op: "GET /api/dlq/{id}", path: "/api/dlq/abc", token: national, want: 400},
		{op: "GET /api/dlq/{id}", path: entry(sonla.entry, ""), token: hatinhTok, want: 404},
		{op: "GET /api/dlq/{id}", path: entry(999999, ""), token: national, want: 404},
		{op: "GET /api/dlq/{id}", path: entry(sonla.entry, ""), token: postal, want: 403},

		{op: "POST /api/dlq/{id}/replay", path: entry(sonla.entry, "/replay"), token: hatinhTok, want: 404},
		{op: "POST /api/dlq/{id}/replay", path: entry(sonla.entry, "/replay"), token: sonlaTok, want: 200},
		{op: "POST /api/dlq/{id}/replay", path: entry(sonla.entry, "/replay"), token: sonlaTok, want: 409}, // replayed
		{op: "POST /api/dlq/{id}/replay", path: "/api/dlq/0/replay", token: national, want: 400},
		{op: "POST /api/dlq/{id}/replay", path: entry(sonla.entry, "/replay"), token: postal, want: 403},

		{op: "POST /api/dlq/replay", path: "/api/dlq/replay?dossier=" + hatinh.dossier + "&limit=1&offset=0", token: national, want: 200},
		{op: "POST /api/dlq/replay", path: "/api/dlq/replay?dossier=SL-UNREPLAYABLE&state=open", token: national, want: 409},
		{op: "POST /api/dlq/replay", path: "/api/dlq/replay?state=all", token: national, want: 400},
		{op: "POST /api/dlq/replay", path: "/api/dlq/replay?sorce=sonla", token: national, want: 400},
		{op: "POST /api/dlq/replay", path: "/api/dlq/replay", token: postal, want: 403},

		{op: "POST /api/dlq/{id}/discard", path: entry(hatinh.entry, "/discard"), token: national, body: `{"reason":" "}`, want: 400},
		{op: "POST /api/dlq/{id}/discard", path: entry(hatinh.entry, "/discard"), token: national, body: `{"why":"x"}`, want: 400},
		{op: "POST /api/dlq/{id}/discard", path: "/api/dlq/-1/discard", token: national, body: discard, want: 400},
		{op: "POST /api/dlq/{id}/discard", path: entry(hatinh.entry, "/discard"), token: sonlaTok, body: discard, want: 404},
		{op: "POST /api/dlq/{id}/discard", path: entry(hatinh.entry, "/discard"), token: hatinhTok, body: discard, want: 409}, // replayed above
		{op: "POST /api/dlq/{id}/discard", path: entry(hatinh.entry, "/discard"), token: postal, body: discard, want: 403},

		{op: "GET /api/openapi.yaml", path: "/api/openapi.yaml", want: 200},
		{op: "GET /api/openapi.yaml", path: "/api/openapi.yaml", header: map[string]string{"Range": "bytes=0-99"}, want: 206},
		{op: "GET /api/openapi.yaml", path: "/api/openapi.yaml", header: map[string]string{"If-None-Match": "*"}, want: 304},
		{op: "GET /api/openapi.yaml", path: "/api/openapi.yaml", header: map[string]string{"If-Match": `"v1"`}, want: 412},
		{op: "GET /api/openapi.yaml", path: "/api/openapi.yaml", header: map[string]string{"Range": "bytes=999999-"}, want: 416},
	}
	// A discard that succeeds, on an entry of its own.
	if err := f.st.AddQuarantine(ctx, []store.QuarantineEntry{{Source: hatinh.source, DossierID: hatinh.dossier,
		Version: 5, Field: "ngayNop", Reason: "to discard", Format: schemas.FormatJSON, Payload: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	open, err := f.st.ListQuarantine(ctx, store.QuarantineFilter{Source: hatinh.source, State: store.QuarantineOpen})
	if err != nil || len(open) == 0 {
		t.Fatalf("hatinh's open entries: %v %v", open, err)
	}
	probes = append(probes, probe{op: "POST /api/dlq/{id}/discard", path: entry(open[len(open)-1].ID, "/discard"),
		token: hatinhTok, body: discard, want: 200})
	// Without a token, or with a revoked one: 401 on every protected operation.
	for _, e := range api.Endpoints {
		path := strings.ReplaceAll(e.Pattern, "{id}", fmt.Sprint(sonla.entry))
		probes = append(probes, probe{op: e.Method + " " + e.Pattern, path: path, body: discard, want: 401},
			probe{op: e.Method + " " + e.Pattern, path: path, token: f.tokens["revoked"], body: discard, want: 401})
	}

	answered := map[string]map[string]bool{}
	try := func(p probe) {
		t.Helper()
		op, ok := ops[p.op]
		if !ok {
			t.Errorf("probe of %s: no such operation in the document", p.op)
			return
		}
		method, pattern, _ := strings.Cut(p.op, " ")
		req, err := http.NewRequest(method, f.srv.URL+p.path, strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		if p.token != "" {
			req.Header.Set("Authorization", "Bearer "+p.token)
		}
		for k, v := range p.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != p.want {
			t.Errorf("%s %s: HTTP %d %.200s; the probe wants %d", method, p.path, resp.StatusCode, body, p.want)
		}
		if answered[p.op] == nil {
			answered[p.op] = map[string]bool{}
		}
		answered[p.op][fmt.Sprint(resp.StatusCode)] = true
		if op.Responses.Value(fmt.Sprint(resp.StatusCode)) == nil { // also 304, which the validator passes over
			t.Errorf("%s %s: HTTP %d is not documented for %s", method, p.path, resp.StatusCode, p.op)
			return
		}
		if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/csv") {
			checkCSV(t, method+" "+p.path, op.Responses.Value(fmt.Sprint(resp.StatusCode)).Value.Content.Get("text/csv"), body)
		}
		route := &routers.Route{Spec: doc, Path: pattern, PathItem: doc.Paths.Value(pattern), Method: method, Operation: op}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
			t.Errorf("%s %s: HTTP %d does not answer as documented: %v", method, p.path, resp.StatusCode, err)
		}
	}
	for _, p := range probes {
		try(p)
	}
	// No operation, as the description says: an unknown path, or a method a
	// path does not take, answers 404 with a token and 401 without.
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/nothing", national, 404}, {"DELETE", "/api/me", national, 404},
		{"PUT", "/api/dlq/1/replay", national, 404}, {"POST", "/api/openapi.yaml", "", 401},
	} {
		if code, body := f.call(t, c.method, c.path, c.token, ""); code != c.want {
			t.Errorf("%s %s: HTTP %d %.200s; want %d", c.method, c.path, code, body, c.want)
		}
	}
	// A store that fails: every protected operation answers 500.
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range api.Endpoints {
		try(probe{op: e.Method + " " + e.Pattern, path: strings.ReplaceAll(e.Pattern, "{id}", fmt.Sprint(sonla.entry)),
			token: national, body: discard, want: 500})
	}

	for _, key := range slices.Sorted(maps.Keys(ops)) {
		for code := range ops[key].Responses.Map() {
			if !answered[key][code] {
				t.Errorf("%s: response %s is documented, but no probe got it", key, code)
			}
		}
	}
}

// checkCSV checks a text/csv answer against its documented media type: it
// starts with the UTF-8 byte-order mark and parses as CSV whose header row
// is the documented columns (x-csv-columns), every row as wide.
func checkCSV(t *testing.T, what string, mt *openapi3.MediaType, body []byte) {
	t.Helper()
	if mt == nil {
		t.Errorf("%s: answers text/csv, which is not documented", what)
		return
	}
	var want []string
	if cols, ok := mt.Extensions["x-csv-columns"].([]any); ok {
		for _, c := range cols {
			want = append(want, fmt.Sprint(c))
		}
	}
	if len(want) == 0 {
		t.Errorf("%s: text/csv documents no x-csv-columns", what)
		return
	}
	rest, ok := bytes.CutPrefix(body, []byte("\xEF\xBB\xBF"))
	if !ok {
		t.Errorf("%s: the CSV does not start with the UTF-8 BOM: %.20q", what, body)
		return
	}
	rows, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Errorf("%s: not CSV with a header: %v %.200q", what, err, rest)
		return
	}
	if !slices.Equal(rows[0], want) {
		t.Errorf("%s: CSV columns %q; documented %q", what, rows[0], want)
	}
}

// probed are the statuses TestOpenAPIAnswers makes the handlers answer.
var probed = []string{"StatusOK", "StatusBadRequest", "StatusUnauthorized", "StatusForbidden", "StatusNotFound",
	"StatusConflict", "StatusInternalServerError"}

// TestOpenAPIStatuses: the handlers write no status that
// TestOpenAPIAnswers does not try, so that a new one is documented and
// probed.
func TestOpenAPIStatuses(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../dlq/http.go", "../auth/middleware.go")
	status := regexp.MustCompile(`http\.(Status[A-Za-z]+)`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range status.FindAllSubmatch(b, -1) {
			if !slices.Contains(probed, string(m[1])) {
				t.Errorf("%s writes http.%s: document it in openapi.yaml and probe it in TestOpenAPIAnswers", name, m[1])
			}
		}
		if bytes.Contains(b, []byte("http.Error(")) {
			t.Errorf("%s answers with http.Error (text/plain): the API answers {\"error\": \"…\"}", name)
		}
	}
}
