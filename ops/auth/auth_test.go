package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a fresh SQLite store.
func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(ctxT(t), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// create makes a token and stores it.
func create(t *testing.T, st *sqlstore.Store, role, province, name string) (string, store.APIToken) {
	t.Helper()
	secret, tok, err := NewToken(role, province, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctxT(t), tok); err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

func TestNewToken(t *testing.T) {
	ctx := ctxT(t)
	st := openStore(t)
	seen := map[string]bool{}
	for _, c := range []struct{ role, province string }{
		{store.RoleNational, ""}, {store.RoleProvincial, "14"}, {store.RoleProvincial, "19"}, {store.RolePostal, ""},
	} {
		before := time.Now()
		secret, tok, err := NewToken(c.role, c.province, "Sở TT&TT "+c.province)
		if err != nil {
			t.Fatalf("%s %s: %v", c.role, c.province, err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, "lt_"))
		if !strings.HasPrefix(secret, "lt_") || err != nil || len(raw) != 32 || len(secret) != 46 || !wellFormed(secret) {
			t.Fatalf("secret %q: want lt_ and the base64url of 32 bytes (%v)", secret, err)
		}
		if want := sha256.Sum256([]byte(secret)); !bytes.Equal(tok.Hash, want[:]) || !bytes.Equal(Hash(secret), want[:]) {
			t.Fatalf("hash %x, want the SHA-256 of the secret %x", tok.Hash, want)
		}
		if len(tok.ID) != 12 || strings.Contains(secret, tok.ID) {
			t.Errorf("id %q: want 12 hex digits, not part of the secret", tok.ID)
		}
		if tok.Role != c.role || tok.Province != c.province || tok.Name != "Sở TT&TT "+c.province ||
			tok.CreatedAt.Before(before.Add(-time.Second)) || tok.CreatedAt != store.Normalise(tok.CreatedAt) ||
			!tok.LastUsedAt.IsZero() || tok.Revoked() {
			t.Errorf("token %+v", tok)
		}
		// Nothing of the token holds the secret, or its random part.
		v := reflect.ValueOf(tok)
		for i := range v.NumField() {
			if s, ok := v.Field(i).Interface().(string); ok && strings.Contains(s, secret[3:]) {
				t.Errorf("token field %s = %q holds the secret", v.Type().Field(i).Name, s)
			}
		}
		if seen[secret] || seen[tok.ID] {
			t.Fatal("a secret or id came twice")
		}
		seen[secret], seen[tok.ID] = true, true

		// As stored, and found again by the secret's hash.
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := st.TokenByHash(ctx, Hash(secret))
		if err != nil || !reflect.DeepEqual(got, tok) {
			t.Fatalf("stored token:\n got %+v, %v\nwant %+v", got, err, tok)
		}
	}
	for name, c := range map[string]struct{ role, province string }{
		"unknown role":             {"admin", ""},
		"no role":                  {"", ""},
		"provincial, no province":  {store.RoleProvincial, ""},
		"provincial, a name":       {store.RoleProvincial, "Hà Tĩnh"},
		"national with a province": {store.RoleNational, "14"},
		"postal with a province":   {store.RolePostal, "42"},
	} {
		if secret, _, err := NewToken(c.role, c.province, "x"); !errors.Is(err, store.ErrInvalid) || secret != "" {
			t.Errorf("%s: secret %q, err = %v; want ErrInvalid", name, secret, err)
		}
	}
}

func TestPrincipal(t *testing.T) {
	type can struct{ p14, p19, none, operate, postal bool }
	for _, c := range []struct {
		p    Principal
		want can
	}{
		{Principal{TokenID: "n", Role: store.RoleNational}, can{true, true, true, true, true}},
		{Principal{TokenID: "p", Role: store.RoleProvincial, Province: "14"}, can{true, false, false, true, true}},
		{Principal{TokenID: "v", Role: store.RolePostal}, can{false, false, false, false, true}},
		// Not as a token makes them: nothing.
		{Principal{TokenID: "p", Role: store.RoleProvincial}, can{false, false, false, true, true}},
		{Principal{TokenID: "x", Role: "admin", Province: "14"}, can{false, false, false, false, false}},
		{Principal{}, can{false, false, false, false, false}},
	} {
		got := can{c.p.CanSeeProvince("14"), c.p.CanSeeProvince("19"), c.p.CanSeeProvince(""), c.p.CanOperate(), c.p.CanSeePostal()}
		if got != c.want {
			t.Errorf("%+v: %+v, want %+v", c.p, got, c.want)
		}
	}
	tok := store.APIToken{ID: "abc", Role: store.RoleProvincial, Province: "42", Name: "n", Hash: []byte{1}}
	if p := PrincipalOf(tok); p != (Principal{TokenID: "abc", Role: store.RoleProvincial, Province: "42"}) {
		t.Errorf("principal of %+v = %+v", tok, p)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("a principal in an empty context")
	}
	p := Principal{TokenID: "abc", Role: store.RoleNational}
	if got, ok := FromContext(NewContext(context.Background(), p)); !ok || got != p {
		t.Errorf("from context = %+v, %v", got, ok)
	}
}

// countingStore counts the touches it passes on.
type countingStore struct {
	TokenStore
	touches atomic.Int32
}

func (c *countingStore) TouchToken(ctx context.Context, id string, at time.Time) error {
	c.touches.Add(1)
	return c.TokenStore.TouchToken(ctx, id, at)
}

// clock is a settable time for the middleware.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// server serves, behind the middleware over st, a handler answering the
// request's principal as JSON, and at /op the same behind RequireOperator.
func server(t *testing.T, st TokenStore, log *slog.Logger, now func() time.Time) *httptest.Server {
	t.Helper()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			t.Error("handler reached without a principal")
		}
		_ = json.NewEncoder(w).Encode(p)
	})
	mux := http.NewServeMux()
	mux.Handle("/", echo)
	mux.Handle("/op", RequireOperator(echo))
	srv := httptest.NewServer(middleware(st, log, now)(mux))
	t.Cleanup(srv.Close)
	return srv
}

// get requests path with the Authorization header auth ("": none) and
// returns the status, the body decoded and the response.
func get(t *testing.T, srv *httptest.Server, path, auth string) (int, map[string]string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]string{}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", path, b, err)
	}
	return resp.StatusCode, body, resp
}

// syncBuffer is a log destination the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMiddleware(t *testing.T) {
	ctx := ctxT(t)
	st := openStore(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := server(t, st, log, time.Now)

	natSecret, nat := create(t, st, store.RoleNational, "", "national desk")
	provSecret, prov := create(t, st, store.RoleProvincial, "19", "Thái Nguyên desk")
	postSecret, post := create(t, st, store.RolePostal, "", "VNPost")
	revSecret, rev := create(t, st, store.RoleProvincial, "42", "left the job")
	if err := st.RevokeToken(ctx, rev.ID); err != nil {
		t.Fatal(err)
	}
	unknownSecret, _, err := NewToken(store.RoleNational, "", "never stored")
	if err != nil {
		t.Fatal(err)
	}

	// Accepted: the principal reaches the handler.
	for _, c := range []struct {
		auth string
		want Principal
	}{
		{"Bearer " + natSecret, Principal{TokenID: nat.ID, Role: store.RoleNational}},
		{"bearer " + provSecret, Principal{TokenID: prov.ID, Role: store.RoleProvincial, Province: "19"}},
		{"  BEARER   " + postSecret + " ", Principal{TokenID: post.ID, Role: store.RolePostal}},
	} {
		code, body, _ := get(t, srv, "/dossiers?province=19", c.auth)
		got := Principal{TokenID: body["TokenID"], Role: body["Role"], Province: body["Province"]}
		if code != http.StatusOK || got != c.want {
			t.Errorf("%s: %d %+v; want 200 %+v", c.want.Role, code, body, c.want)
		}
	}

	// Refused: 401 with a JSON error, and the handler is not reached.
	for _, c := range []struct {
		name, auth, reason string
	}{
		{"no header", "", "missing bearer token"},
		{"another scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+natSecret)), "missing bearer token"},
		{"no token", "Bearer ", "missing bearer token"},
		{"scheme only", "Bearer", "missing bearer token"},
		{"the secret alone", natSecret, "missing bearer token"},
		{"malformed", "Bearer lt_not-a-secret", "unknown token"},
		{"truncated", "Bearer " + natSecret[:len(natSecret)-1], "unknown token"},
		{"the hash", "Bearer " + base64.RawURLEncoding.EncodeToString(nat.Hash), "unknown token"},
		{"unknown", "Bearer " + unknownSecret, "unknown token"},
		{"revoked", "Bearer " + revSecret, "token revoked"},
	} {
		code, body, resp := get(t, srv, "/", c.auth)
		if code != http.StatusUnauthorized || body["error"] != c.reason || len(body) != 1 {
			t.Errorf("%s: %d %v; want 401 {error: %q}", c.name, code, body, c.reason)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: content type %q", c.name, ct)
		}
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, ch)
		}
	}

	// The log names refusals, and the revoked token by its ID, never a
	// secret.
	out := logs.String()
	if !strings.Contains(out, "token revoked") || !strings.Contains(out, "token="+rev.ID) || !strings.Contains(out, "unknown token") {
		t.Errorf("log lacks the refusals:\n%s", out)
	}
	for _, secret := range []string{natSecret, provSecret, postSecret, revSecret, unknownSecret} {
		if strings.Contains(out, secret[3:13]) {
			t.Fatalf("the log holds a secret:\n%s", out)
		}
	}

	// Used tokens were recorded; the revoked one was not.
	for _, tok := range []store.APIToken{nat, prov, post} {
		got, err := st.TokenByHash(ctx, tok.Hash)
		if err != nil || got.LastUsedAt.IsZero() {
			t.Errorf("token %s: last used %v, %v; want set", tok.ID, got.LastUsedAt, err)
		}
	}
	if got, _ := st.TokenByHash(ctx, rev.Hash); !got.LastUsedAt.IsZero() {
		t.Errorf("revoked token recorded as used at %v", got.LastUsedAt)
	}
}

func TestRequireOperator(t *testing.T) {
	st := openStore(t)
	srv := server(t, st, slog.New(slog.DiscardHandler), time.Now)
	for _, c := range []struct {
		role, province string
		want           int
	}{
		{store.RoleNational, "", http.StatusOK},
		{store.RoleProvincial, "14", http.StatusOK},
		{store.RolePostal, "", http.StatusForbidden},
	} {
		secret, _ := create(t, st, c.role, c.province, c.role)
		code, body, _ := get(t, srv, "/op", "Bearer "+secret)
		if code != c.want || (c.want == http.StatusForbidden) != (body["error"] != "") {
			t.Errorf("%s: %d %v; want %d", c.role, code, body, c.want)
		}
	}
	if code, body, _ := get(t, srv, "/op", ""); code != http.StatusUnauthorized || body["error"] == "" {
		t.Errorf("no token: %d %v", code, body)
	}

	// Not behind the middleware: no principal, 401.
	bare := httptest.NewServer(RequireOperator(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("reached without a principal")
	})))
	defer bare.Close()
	if code, body, _ := get(t, bare, "/", ""); code != http.StatusUnauthorized || body["error"] == "" {
		t.Errorf("without the middleware: %d %v", code, body)
	}
}

// TestTouch records a token's use at most once a minute, per process and
// across processes (the stored LastUsedAt).
func TestTouch(t *testing.T) {
	ctx := ctxT(t)
	st := openStore(t)
	secret, tok := create(t, st, store.RoleNational, "", "busy")
	counted := &countingStore{TokenStore: st}
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	srv := server(t, counted, slog.New(slog.DiscardHandler), clk.now)
	lastUsed := func() time.Time {
		t.Helper()
		got, err := st.TokenByHash(ctx, tok.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	call := func() {
		t.Helper()
		if code, body, _ := get(t, srv, "/", "Bearer "+secret); code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
	}

	// Many requests at once: one write.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(call)
	}
	wg.Wait()
	if n := counted.touches.Load(); n != 1 || lastUsed() != t0 {
		t.Fatalf("20 requests: %d touches, last used %v; want 1 at %v", n, lastUsed(), t0)
	}
	clk.set(t0.Add(59 * time.Second))
	call()
	if n := counted.touches.Load(); n != 1 || lastUsed() != t0 {
		t.Fatalf("59s later: %d touches, last used %v; want still 1 at %v", n, lastUsed(), t0)
	}
	t1 := t0.Add(time.Minute)
	clk.set(t1)
	call()
	call()
	if n := counted.touches.Load(); n != 2 || lastUsed() != t1 {
		t.Fatalf("a minute later: %d touches, last used %v; want 2, at %v", n, lastUsed(), t1)
	}

	// Another process, which never touched it, sees the stored time.
	other := &countingStore{TokenStore: st}
	srv2 := server(t, other, slog.New(slog.DiscardHandler), func() time.Time { return t1.Add(30 * time.Second) })
	if code, _, _ := get(t, srv2, "/", "Bearer "+secret); code != http.StatusOK || other.touches.Load() != 0 {
		t.Fatalf("another process 30s after the last touch: %d, %d touches; want none", code, other.touches.Load())
	}
}

// failingStore fails every look-up.
type failingStore struct{ TokenStore }

func (failingStore) TokenByHash(context.Context, []byte) (store.APIToken, error) {
	return store.APIToken{}, errors.New("connection refused")
}

func TestStoreFailure(t *testing.T) {
	var logs syncBuffer
	srv := server(t, failingStore{}, slog.New(slog.NewTextHandler(&logs, nil)), time.Now)
	secret, _, err := NewToken(store.RoleNational, "", "x")
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, srv, "/", "Bearer "+secret)
	if code != http.StatusInternalServerError || body["error"] == "" || strings.Contains(body["error"], "refused") {
		t.Errorf("store down: %d %v; want 500 without the store's error", code, body)
	}
	if out := logs.String(); !strings.Contains(out, "connection refused") || strings.Contains(out, secret[3:13]) {
		t.Errorf("log:\n%s", out)
	}
}

func TestAudit(t *testing.T) {
	ctx := ctxT(t)
	st := openStore(t)
	p := Principal{TokenID: "a1b2c3d4e5f6", Role: store.RoleProvincial, Province: "14"}
	before := time.Now()
	if err := Audit(ctx, st, p, ActionReplay, "12", "entry 12 of sonla", OutcomeOK); err != nil {
		t.Fatal(err)
	}
	if err := Audit(ctx, st, Principal{TokenID: "v", Role: store.RolePostal}, ActionDiscard, "13", "", OutcomeRefused); err != nil {
		t.Fatal(err)
	}
	if err := Audit(ctx, st, p, "", "12", "", OutcomeOK); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no action: err = %v, want ErrInvalid", err)
	}
	got, err := st.ListAudit(ctx, store.AuditFilter{TokenID: p.TokenID})
	if err != nil || len(got) != 1 {
		t.Fatalf("audit of %s = %+v, %v", p.TokenID, got, err)
	}
	e := got[0]
	want := store.AuditEntry{ID: e.ID, At: e.At, TokenID: p.TokenID, Role: p.Role, Province: "14", Action: ActionReplay,
		Target: "12", Detail: "entry 12 of sonla", Outcome: OutcomeOK}
	if e != want || e.At.Before(before.Add(-time.Second)) {
		t.Errorf("audit entry:\n got %+v\nwant %+v", e, want)
	}
	all, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil || len(all) != 2 || all[1].Outcome != OutcomeRefused || all[1].Role != store.RolePostal {
		t.Errorf("audit log = %+v, %v", all, err)
	}
}
