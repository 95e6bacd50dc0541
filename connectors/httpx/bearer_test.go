package httpx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
)

const (
	bearerID     = "client-7"
	bearerSecret = "s3cret-Zq9"
)

// tokenServer is an OAuth2 client-credentials server with one API path,
// /api/echo, that answers 200 with the request body for a known token.
type tokenServer struct {
	mu        sync.Mutex
	logins    int
	unauth    int
	tokens    map[string]bool
	expiresIn string // raw JSON for expires_in; "" leaves it out
	answer    string // when set, the token endpoint answers this body instead
	status    int    // when set, the token endpoint answers this status
	rejectAll bool   // every API call answers 401
	last      http.Header
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/base/oauth/token":
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
			io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret `+r.PostFormValue("client_secret")+`"}`)
			return
		}
		if r.PostFormValue("grant_type") != "client_credentials" ||
			r.PostFormValue("client_id") != bearerID || r.PostFormValue("client_secret") != bearerSecret {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		s.logins++
		tok := fmt.Sprintf("tok-%d-Xy7", s.logins)
		if s.answer != "" {
			io.WriteString(w, s.answer)
			return
		}
		s.tokens[tok] = true
		exp := ""
		if s.expiresIn != "" {
			exp = `,"expires_in":` + s.expiresIn
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer"%s}`, tok, exp)
	case "/base/api/echo":
		s.last = r.Header.Clone()
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.tokens[tok] || s.rejectAll {
			s.unauth++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, r.Body)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *tokenServer) counts() (logins, unauth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.unauth
}

func (s *tokenServer) revoke() {
	s.mu.Lock()
	s.tokens = map[string]bool{}
	s.mu.Unlock()
}

func (s *tokenServer) set(f func(*tokenServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type bearerEnv struct {
	srv  *tokenServer
	clk  *httpxtest.Clock
	logs *syncBuffer
	b    *httpx.Bearer
}

func newBearer(t *testing.T, expiresIn string) *bearerEnv {
	t.Helper()
	s := &tokenServer{tokens: map[string]bool{}, expiresIn: expiresIn}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	e := &bearerEnv{srv: s, clk: httpxtest.NewClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	e.b = &httpx.Bearer{
		Transport: httpx.NewTransport(hs.Client(), 5*time.Second, 0),
		BaseURL:   hs.URL + "/base/", TokenPath: "/oauth/token",
		ClientID: bearerID, ClientSecret: bearerSecret,
		Name:   "test",
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clk.Now,
	}
	return e
}

func (e *bearerEnv) echo(t *testing.T, body string) {
	t.Helper()
	resp, err := e.b.Do(context.Background(), "test: echo", http.MethodPost, "/api/echo", []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != body {
		t.Fatalf("echo: %d %q", resp.Status, resp.Body)
	}
}

func (e *bearerEnv) wantCounts(t *testing.T, logins, unauth int) {
	t.Helper()
	if l, u := e.srv.counts(); l != logins || u != unauth {
		t.Fatalf("logins %d 401s %d; want %d and %d", l, u, logins, unauth)
	}
}

// noSecrets fails when s shows the secret or a token.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, bearerSecret) || strings.Contains(s, "Xy7") {
		t.Fatalf("%s reveals a secret or token: %s", what, s)
	}
}

func TestBearerCachesToken(t *testing.T) {
	e := newBearer(t, "300")
	e.echo(t, `{"n":1}`)
	e.echo(t, `{"n":2}`)
	tok, err := e.b.Token(context.Background())
	if err != nil || tok != "tok-1-Xy7" {
		t.Fatalf("Token: %q %v", tok, err)
	}
	e.wantCounts(t, 1, 0)
	if !strings.Contains(e.logs.String(), `msg="test: logged in" expires_in=300`) {
		t.Fatalf("logs: %s", e.logs)
	}
	noSecrets(t, "log", e.logs.String())
}

func TestBearerHeaders(t *testing.T) {
	e := newBearer(t, "300")
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Idempotency-Key", "ref-1")
	hdr.Set("Authorization", "Basic nope") // the token wins
	if _, err := e.b.Do(context.Background(), "test: echo", http.MethodPost, "/api/echo", []byte(`{}`), hdr); err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	got := e.srv.last
	e.srv.mu.Unlock()
	for k, want := range map[string]string{
		"Authorization": "Bearer tok-1-Xy7", "Accept": "application/json",
		"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "ref-1",
	} {
		if got.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, got.Get(k), want)
		}
	}
	if hdr.Get("Authorization") != "Basic nope" {
		t.Error("caller's header changed")
	}
	// Answers other than 401 are the caller's to classify.
	resp, err := e.b.Do(context.Background(), "test: missing", http.MethodGet, "/api/missing", nil, nil)
	if err != nil || resp.Status != http.StatusNotFound {
		t.Fatalf("404: %v %v", resp, err)
	}
}

func TestBearerRenewsNearExpiry(t *testing.T) {
	for _, tc := range []struct {
		expiresIn string
		renewAt   time.Duration // 0: never
	}{
		{"300", 270 * time.Second},  // 30s early (the cap)
		{`"100"`, 90 * time.Second}, // a tenth early; a numeric string is read
		{"3600.0", 3570 * time.Second},
		{"", 0},       // no lifetime: kept until a 401
		{`"soon"`, 0}, // unreadable lifetime: likewise
	} {
		t.Run(tc.expiresIn, func(t *testing.T) {
			e := newBearer(t, tc.expiresIn)
			e.echo(t, "a")
			if tc.renewAt == 0 {
				e.clk.Add(1000 * time.Hour)
				e.echo(t, "b")
				e.wantCounts(t, 1, 0)
				return
			}
			e.clk.Add(tc.renewAt - time.Second)
			e.echo(t, "b")
			e.wantCounts(t, 1, 0)
			e.clk.Add(time.Second)
			e.echo(t, "c")
			e.wantCounts(t, 2, 0) // renewed before the server's expiry, no 401
		})
	}
}

func TestBearerReloginOnceOn401(t *testing.T) {
	e := newBearer(t, "300")
	e.echo(t, "a")
	e.srv.revoke() // e.g. the server restarted
	e.echo(t, "b")
	e.wantCounts(t, 2, 1)
	if !strings.Contains(e.logs.String(), `msg="test: token rejected, logging in again"`) {
		t.Fatalf("logs: %s", e.logs)
	}

	e.srv.set(func(s *tokenServer) { s.rejectAll = true })
	_, err := e.b.Do(context.Background(), "test: echo", http.MethodGet, "/api/echo", nil, nil)
	var he *httpx.Error
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || !errors.As(err, &he) ||
		he.Op != "test: echo" || he.Status != http.StatusUnauthorized {
		t.Fatalf("persistent 401: %#v", err)
	}
	e.wantCounts(t, 3, 3) // one re-login, not more
	noSecrets(t, "error", err.Error())
	noSecrets(t, "log", e.logs.String())

	// The rejected token was dropped: the next call logs in afresh.
	e.srv.set(func(s *tokenServer) { s.rejectAll = false })
	e.echo(t, "c")
	e.wantCounts(t, 4, 3)
}

func TestBearerBadCredentials(t *testing.T) {
	for _, status := range []int{0, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newBearer(t, "300")
			if status == 0 {
				e.b.ClientSecret = "wrong-" + bearerSecret // the server answers 400 invalid_client
			} else {
				e.srv.set(func(s *tokenServer) { s.status = status })
			}
			_, err := e.b.Do(context.Background(), "test: echo", http.MethodGet, "/api/echo", nil, nil)
			var he *httpx.Error
			if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || !errors.As(err, &he) || he.Op != "test: login" {
				t.Fatalf("%#v", err)
			}
			noSecrets(t, "error", err.Error())
			e.wantCounts(t, 0, 0)
		})
	}
	// A server failure at login is transient, not ErrAuth.
	e := newBearer(t, "300")
	e.srv.set(func(s *tokenServer) { s.status = http.StatusServiceUnavailable })
	if _, err := e.b.Token(context.Background()); errors.Is(err, httpx.ErrAuth) || !httpx.IsTransient(err) {
		t.Fatalf("503 at login: %v", err)
	}
}

func TestBearerMalformedTokenAnswer(t *testing.T) {
	for _, answer := range []string{
		`<html>tok-Xy7</html>`,
		`{"access_token":"tok-Xy7"`,
		`{"access_token":42}`,
		`{"token_type":"Bearer","expires_in":300}`,
		`{"access_token":""}`,
	} {
		t.Run(answer, func(t *testing.T) {
			e := newBearer(t, "300")
			e.srv.set(func(s *tokenServer) { s.answer = answer })
			_, err := e.b.Token(context.Background())
			var he *httpx.Error
			if !errors.Is(err, httpx.ErrMalformed) || !httpx.IsTransient(err) || !errors.As(err, &he) || he.Op != "test: login" {
				t.Fatalf("%#v", err)
			}
			noSecrets(t, "error", err.Error())
		})
	}
}

func TestBearerConcurrent(t *testing.T) {
	e := newBearer(t, "300")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				if g == 0 && i%3 == 0 {
					e.srv.revoke()
				}
				if g == 1 {
					e.clk.Add(20 * time.Second)
				}
				body := fmt.Sprintf("%d-%d", g, i)
				resp, err := e.b.Do(context.Background(), "test: echo", http.MethodPost, "/api/echo", []byte(body), nil)
				switch {
				case errors.Is(err, httpx.ErrAuth):
					// Two revocations in a row can reject a fresh token too.
				case err != nil:
					errs <- err
				case resp.Status != 200 || string(resp.Body) != body:
					errs <- fmt.Errorf("%s: %d %q", body, resp.Status, resp.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	noSecrets(t, "log", e.logs.String())
}
