package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// testBrokers is the embedded Kafka broker (kfake over TCP) replays go to.
var testBrokers []string

func TestMain(m *testing.M) { broker.TestMain(m, broker.Config{Partitions: 1}, &testBrokers) }

// province is one province's seeded data: a dossier with a payment, a
// delivery and a quarantined record, and the personal data they hold.
type province struct {
	source, code string
	dossier      string
	cccd, phone  string
	email        string
	payRef       string
	order        string
	entry        int64 // open quarantine entry
	entryReason  string
}

var provinces = []*province{
	{source: "sonla", code: "14", dossier: "SL-2026-000001", cccd: "014090001234", phone: "0912345678",
		email: "lan.nguyen@example.vn", payRef: "PAY-SL-1", order: "KQ-SL-2026-000001", entryReason: "sonla: ngayNop: NOT A DATE"},
	{source: "hatinh", code: "42", dossier: "HT-2026-000002", cccd: "042088005678", phone: "0987654321",
		email: "binh.tran@example.vn", payRef: "PAY-HT-2", order: "KQ-HT-2026-000002", entryReason: "hatinh: NGAY_NOP: NOT A DATE"},
}

// sharedCCCD applies in both provinces: one citizen, two dossiers.
const sharedCCCD = "001199000042"

type fixture struct {
	st       *sqlstore.Store
	srv      *httptest.Server
	counters *progress.Counters
	tokens   map[string]string // name → secret
	revoked  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{st: st, counters: progress.New(), tokens: map[string]string{}}
	for _, p := range provinces {
		f.seed(t, p)
	}
	for name, tok := range map[string][2]string{
		"national": {store.RoleNational, ""}, "sonla": {store.RoleProvincial, "14"},
		"hatinh": {store.RoleProvincial, "42"}, "postal": {store.RolePostal, ""}, "revoked": {store.RoleNational, ""},
	} {
		secret, tk, err := auth.NewToken(tok[0], tok[1], "test "+name)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = secret
		if name == "revoked" {
			if err := st.RevokeToken(ctx, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: testBrokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	topics := router.Topics{Prefix: fmt.Sprintf("api%d.", time.Now().UnixNano())}
	breakers := breaker.New(breaker.Settings{}, nil)
	for _, name := range []string{"sonla", "hatinh", "national", "vnpost"} {
		_ = breakers.Do(ctx, name, func(context.Context) error { return nil }, nil)
	}
	s := api.New(api.Config{
		Store: st,
		Sources: []api.Source{
			{Name: "sonla", Province: "14", Label: "Sơn La"},
			{Name: "hatinh", Province: "42", Label: "Hà Tĩnh"},
		},
		Targets:    []string{"national", "vnpost"},
		Counters:   f.counters,
		Breakers:   breakers,
		Lag:        func(string) time.Duration { return 2 * time.Second },
		Quarantine: dlq.New(st, pub, topics, "api-test"),
		Log:        slog.New(slog.DiscardHandler),
		Reconciler: marking{st},
	})
	s.Sample(context.Background(), time.Now().Add(-time.Minute))
	f.counters.Add("sonla", progress.Synced, 30)
	f.counters.Add("hatinh", progress.Synced, 12)
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// marking resyncs by marking the drift resyncing, as the reconciler does
// once it has republished the dossiers (the pipeline is not under test).
type marking struct{ st *sqlstore.Store }

func (m marking) Resync(ctx context.Context, ids []string) (int, error) {
	return len(ids), m.st.MarkResyncing(ctx, ids)
}

func (f *fixture) seed(t *testing.T, p *province) {
	t.Helper()
	ctx := context.Background()
	d := schemas.Dossier{ID: p.dossier, Source: p.source, SourceVersion: 3, ProvinceCode: p.code, Status: 4,
		Applicant: schemas.Applicant{Name: "Nguyễn Thị Lan", IDType: schemas.IDTypeCCCD, IDNumber: p.cccd,
			BirthDate: "1990-05-12", Phone: p.phone, Email: p.email},
		ResultAddress: &schemas.Recipient{Name: "Nguyễn Thị Lan", Phone: p.phone}}
	canonical, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutLedger(ctx, []store.LedgerEntry{{DossierID: p.dossier, Source: p.source, Province: p.code,
		Procedure: "1.000894", Version: 3, Status: 4, Canonical: canonical,
		NationalState: store.NationalHeld, NationalVersion: 3, NationalSteps: 2, NationalAt: time.Now(),
		DueAt: time.Now()}}); err != nil { // due in the current month: in the on-time report's default period
		t.Fatal(err)
	}
	if err := f.st.PutDrift(ctx, []store.Drift{{DossierID: p.dossier, Source: p.source, Province: p.code,
		Kind: store.DriftFieldDiffers, Fields: []string{"TrichYeuHoSo"}, Detail: "1 field(s) differ"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.IndexIdentities(ctx, []store.IdentityLink{{DossierID: p.dossier, Source: p.source, IDNumber: p.cccd},
		{DossierID: p.dossier, Source: p.source, IDNumber: sharedCCCD}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AppendEvents(ctx, []store.Event{
		{DossierID: p.dossier, Source: p.source, Version: 3, Kind: "normalised", Detail: "status 4"},
		{DossierID: p.dossier, Source: p.source, Version: 3, Kind: "national.update", Detail: "00"},
		{DossierID: p.dossier, Source: p.source, Version: 3, Kind: "writeback.THANH_TOAN", Detail: "ok"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.CreatePayment(ctx, store.Payment{Ref: p.payRef, DossierID: p.dossier, Source: p.source,
		FeeCodes: []string{"LP01"}, Amount: 50000, State: store.PaymentPending}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.CreateDelivery(ctx, store.Delivery{OrderNumber: p.order, DossierID: p.dossier, Source: p.source,
		State: store.DeliveryNew, COD: 50000}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.UpdateDelivery(ctx, p.order, store.DeliveryUpdate{State: store.DeliveryOrdered, ItemCode: "EB123VN",
		Status: 15, StatusAt: time.Now(), Problem: "15: returning to sender"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddQuarantine(ctx, []store.QuarantineEntry{{Source: p.source, DossierID: p.dossier, Version: 4,
		Field: "ngayNop", Reason: p.entryReason, Format: schemas.FormatJSON, Payload: []byte(`{"maHoSo":"` + p.dossier + `"}`)}}); err != nil {
		t.Fatal(err)
	}
	entries, err := f.st.ListQuarantine(ctx, store.QuarantineFilter{Source: p.source})
	if err != nil || len(entries) != 1 {
		t.Fatalf("quarantine of %s: %v %v", p.source, entries, err)
	}
	p.entry = entries[0].ID
}

func (f *fixture) call(t *testing.T, method, path, token string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// paths are the requests that reach an endpoint's data of province p: by
// its IDs, and by filters naming its source.
func paths(e api.Endpoint, p *province) []string {
	id := func(s string) string { return strings.Replace(e.Pattern, "{id}", s, 1) }
	switch e.Pattern {
	case "/api/dossiers":
		return []string{"/api/dossiers?cccd=" + p.cccd, "/api/dossiers?cccd=" + sharedCCCD}
	case "/api/dossiers/{id}":
		return []string{id(p.dossier)}
	case "/api/payments":
		return []string{e.Pattern, e.Pattern + "?state=new,pending,paid", e.Pattern + "?stale=1ns"}
	case "/api/deliveries":
		return []string{e.Pattern, e.Pattern + "?problems=true", e.Pattern + "?inflight=false"}
	case "/api/dlq":
		return []string{e.Pattern, e.Pattern + "?source=" + p.source, e.Pattern + "?dossier=" + p.dossier, e.Pattern + "?state=all",
			e.Pattern + "?format=csv&state=all", e.Pattern + "?format=csv&source=" + p.source}
	case "/api/dlq/replay": // unfiltered, it replays the caller's own: tried on its own below
		return []string{e.Pattern + "?source=" + p.source, e.Pattern + "?dossier=" + p.dossier}
	case "/api/ontime":
		return []string{e.Pattern, e.Pattern + "?source=" + p.source, e.Pattern + "?format=csv", e.Pattern + "?format=csv&source=" + p.source}
	case "/api/drift":
		return []string{e.Pattern, e.Pattern + "?source=" + p.source, e.Pattern + "?state=all",
			e.Pattern + "?format=csv&source=" + p.source}
	case "/api/drift/{id}/resync":
		return []string{id(p.dossier)}
	case "/api/drift/resync":
		return []string{e.Pattern + "?source=" + p.source}
	case "/api/dlq/{id}", "/api/dlq/{id}/replay", "/api/dlq/{id}/discard":
		return []string{id(fmt.Sprint(p.entry))}
	}
	return []string{e.Pattern}
}

// markers are what would betray that a response holds province p's data.
func (p *province) markers() []string {
	return []string{p.dossier, p.payRef, p.order, p.entryReason, `"` + p.source + `"`, p.cccd, p.phone, p.email}
}

// TestProvincialIsolation tries every endpoint, with every request that
// names the other province's data, with a provincial token: nothing of
// the other province comes back, and nothing of it changes. The same
// requests with the province's own data do answer, so the test can tell.
func TestProvincialIsolation(t *testing.T) {
	f := newFixture(t)
	sonla, hatinh := provinces[0], provinces[1]
	discard := `{"reason":"isolation test"}`
	for _, e := range api.Endpoints {
		for _, path := range paths(e, hatinh) {
			code, body := f.call(t, e.Method, path, f.tokens["sonla"], discard)
			for _, m := range hatinh.markers() {
				if strings.Contains(body, m) && !strings.Contains(path, m) { // an error may echo the request
					t.Errorf("%s %s with the Sơn La token: HTTP %d reveals %q:\n%.400s", e.Method, path, code, m, body)
				}
			}
			if code == http.StatusOK && (strings.Contains(e.Pattern, "{id}") && e.Pattern != "/api/dossiers/{id}" || e.Pattern == "/api/dossiers/{id}") {
				t.Errorf("%s %s with the Sơn La token: HTTP 200 for another province's item", e.Method, path)
			}
		}
	}
	// Nothing of Hà Tĩnh's changed: its entry is still open.
	got, err := f.st.GetQuarantine(context.Background(), hatinh.entry)
	if err != nil || got.State != store.QuarantineOpen {
		t.Errorf("Hà Tĩnh's entry after the Sơn La token's operations: %q %v; want open", got.State, err)
	}
	// The same requests for its own province answer with its data.
	for _, e := range api.Endpoints {
		if e.Operation || !contains(e.Roles, store.RoleProvincial) {
			continue
		}
		path := paths(e, sonla)[0]
		code, body := f.call(t, e.Method, path, f.tokens["sonla"], "")
		if code != http.StatusOK {
			t.Errorf("%s %s with the Sơn La token: HTTP %d %s", e.Method, path, code, body)
			continue
		}
		if e.Pattern == "/api/ontime" { // counts, no dossier
			if !strings.Contains(body, `"source":"sonla"`) {
				t.Errorf("%s %s with the Sơn La token: its own source is not in %.300s", e.Method, path, body)
			}
			continue
		}
		if e.Pattern != "/api/me" && e.Pattern != "/api/overview" && !strings.Contains(body, sonla.dossier) {
			t.Errorf("%s %s with the Sơn La token: its own dossier is not in %.300s", e.Method, path, body)
		}
	}
	// Its own operations work, and only on its own entries.
	if code, body := f.call(t, "POST", "/api/dlq/replay", f.tokens["sonla"], ""); code != http.StatusOK || !strings.Contains(body, `"replayed":1`) {
		t.Errorf("replay all with the Sơn La token: HTTP %d %s; want 1 replayed", code, body)
	}
	got, _ = f.st.GetQuarantine(context.Background(), hatinh.entry)
	if got.State != store.QuarantineOpen {
		t.Errorf("Hà Tĩnh's entry after a Sơn La replay-all: %q", got.State)
	}
	if got, _ := f.st.GetQuarantine(context.Background(), sonla.entry); got.State != store.QuarantineReplayed {
		t.Errorf("Sơn La's entry after its replay-all: %q", got.State)
	}
	// Refused operations are audited as refused.
	audit, err := f.st.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, a := range audit {
		if a.Province == "14" && a.Outcome == auth.OutcomeRefused {
			refused++
		}
	}
	if refused < 2 { // the replay and the discard of Hà Tĩnh's entry
		t.Errorf("%d refused operations of the Sơn La token in the audit log (%+v)", refused, audit)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRoles: no token or a revoked one is 401 on every endpoint; each
// role is refused the endpoints not open to it; the postal viewer sees
// every province's deliveries and no dossier data.
func TestRoles(t *testing.T) {
	f := newFixture(t)
	for _, e := range api.Endpoints {
		path := paths(e, provinces[0])[0]
		for _, tok := range []string{"", f.tokens["revoked"], "lt_not-a-token"} {
			if code, body := f.call(t, e.Method, path, tok, "{}"); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %.8q: HTTP %d %s; want 401", e.Method, path, tok, code, body)
			}
		}
		for _, role := range []string{"national", "sonla", "postal"} {
			r := map[string]string{"national": store.RoleNational, "sonla": store.RoleProvincial, "postal": store.RolePostal}[role]
			if contains(e.Roles, r) {
				continue
			}
			if code, body := f.call(t, e.Method, path, f.tokens[role], "{}"); code != http.StatusForbidden {
				t.Errorf("%s %s with the %s token: HTTP %d %.200s; want 403", e.Method, path, role, code, body)
			}
		}
	}
	code, body := f.call(t, "GET", "/api/deliveries?problems=true", f.tokens["postal"], "")
	if code != http.StatusOK || !strings.Contains(body, provinces[0].order) || !strings.Contains(body, provinces[1].order) {
		t.Errorf("postal deliveries: HTTP %d %s; want both provinces' failed deliveries", code, body)
	}
	code, body = f.call(t, "GET", "/api/overview", f.tokens["postal"], "")
	if code != http.StatusOK || strings.Contains(body, `"sonla"`) || !strings.Contains(body, `"vnpost"`) {
		t.Errorf("postal overview: HTTP %d %s; want the targets and no source", code, body)
	}
	if code, body := f.call(t, "GET", "/api/nothing", f.tokens["national"], ""); code != http.StatusNotFound {
		t.Errorf("unknown endpoint: HTTP %d %s", code, body)
	}
	if code, body := f.call(t, "GET", "/api/openapi.yaml", "", ""); code != http.StatusOK || !strings.Contains(body, "openapi: 3") {
		t.Errorf("openapi.yaml: HTTP %d %.100s", code, body)
	}
}

// TestDossier: the national operator finds a dossier by CCCD and by
// MaHoSo; its record comes masked with its timeline and targets.
func TestDossier(t *testing.T) {
	f := newFixture(t)
	p := provinces[1]
	code, body := f.call(t, "GET", "/api/dossiers?cccd="+sharedCCCD, f.tokens["national"], "")
	if code != http.StatusOK || !strings.Contains(body, provinces[0].dossier) || !strings.Contains(body, p.dossier) {
		t.Fatalf("search by CCCD: HTTP %d %s; want both dossiers", code, body)
	}
	code, body = f.call(t, "GET", "/api/dossiers/"+p.dossier, f.tokens["national"], "")
	if code != http.StatusOK {
		t.Fatalf("dossier: HTTP %d %s", code, body)
	}
	for _, m := range []string{p.cccd, p.phone, p.email, "1990-05-12"} {
		if strings.Contains(body, m) {
			t.Errorf("dossier answer holds %q unmasked:\n%s", m, body)
		}
	}
	var got struct {
		Dossier  schemas.Dossier `json:"dossier"`
		Timeline []struct {
			Kind string `json:"kind"`
		} `json:"timeline"`
		Targets struct {
			National struct {
				State string `json:"state"`
				Steps int    `json:"steps"`
			} `json:"national"`
			Payments   []struct{ Ref string }         `json:"payments"`
			Deliveries []struct{ OrderNumber string } `json:"deliveries"`
			Province   []struct{ Kind string }        `json:"province"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if a := got.Dossier.Applicant; a.IDNumber != "0420******78" || a.Phone != "0987****21" || a.Email != "b***@example.vn" || a.Name != "Nguyễn Thị Lan" {
		t.Errorf("masked applicant %+v", a)
	}
	if got.Dossier.ResultAddress == nil || got.Dossier.ResultAddress.Phone != "0987****21" {
		t.Errorf("masked recipient %+v", got.Dossier.ResultAddress)
	}
	if len(got.Timeline) != 3 || got.Targets.National.State != store.NationalHeld || got.Targets.National.Steps != 2 ||
		len(got.Targets.Payments) != 1 || len(got.Targets.Deliveries) != 1 || len(got.Targets.Province) != 1 {
		t.Errorf("timeline and targets: %s", body)
	}
	if code, _ := f.call(t, "GET", "/api/dossiers/NO-SUCH", f.tokens["national"], ""); code != http.StatusNotFound {
		t.Errorf("unknown dossier: HTTP %d", code)
	}
	if code, _ := f.call(t, "GET", "/api/dossiers?cccd=12ab", f.tokens["national"], ""); code != http.StatusBadRequest {
		t.Errorf("malformed cccd: HTTP %d", code)
	}
}

// TestOverview: rates from the history, the lag, the breakers and the
// quarantine counts.
func TestOverview(t *testing.T) {
	f := newFixture(t)
	code, body := f.call(t, "GET", "/api/overview", f.tokens["national"], "")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %s", code, body)
	}
	var got struct {
		Sources []struct {
			Source         string  `json:"source"`
			PerMinute      float64 `json:"per_minute"`
			LagSeconds     float64 `json:"lag_seconds"`
			QuarantineOpen int     `json:"quarantine_open"`
			Breaker        string  `json:"breaker"`
			LastSuccess    *time.Time
		} `json:"sources"`
		Targets []struct {
			Target    string   `json:"target"`
			PerMinute float64  `json:"per_minute"`
			Lag       *float64 `json:"lag_seconds"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Sources) != 2 || got.Sources[0].Source != "sonla" || got.Sources[0].QuarantineOpen != 1 ||
		got.Sources[0].LagSeconds != 2 || got.Sources[0].Breaker != "closed" {
		t.Errorf("sources: %s", body)
	}
	// 30 acknowledged in the minute since the sample (a little more than
	// a minute has passed by now).
	if pm := got.Sources[0].PerMinute; pm < 25 || pm > 30.01 {
		t.Errorf("sonla per minute %v; want about 30", pm)
	}
	if len(got.Targets) != 2 || got.Targets[0].Target != "national" || got.Targets[0].Lag == nil || got.Targets[0].PerMinute < 35 {
		t.Errorf("targets: %s", body)
	}
	// The provincial view holds its own source only.
	_, body = f.call(t, "GET", "/api/overview", f.tokens["hatinh"], "")
	if strings.Contains(body, `"sonla"`) || !strings.Contains(body, `"hatinh"`) {
		t.Errorf("Hà Tĩnh's overview: %s", body)
	}
}

// TestMask: the masks of the examples.
func TestMask(t *testing.T) {
	for in, want := range map[string]string{"019012345612": "0190******12", "0912345678": "0912****78", "123456789": "12*****89", "1234": "1**4", "": ""} {
		if got := api.MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q; want %q", in, got, want)
		}
	}
	if got := api.MaskEmail("lan.nguyen@example.vn"); got != "l***@example.vn" {
		t.Errorf("MaskEmail: %q", got)
	}
}
