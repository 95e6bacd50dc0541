package simctl

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, o Options) (*Controller, *httptest.Server) {
	t.Helper()
	if o.InternalError == nil {
		o.InternalError = func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error_code": "X"})
		}
	}
	c := NewController(o)
	mux := http.NewServeMux()
	c.Register(mux)
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(c.Wrap(mux))
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c, srv
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func postFaults(t *testing.T, srv *httptest.Server, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPatchKeepsOmittedKeys(t *testing.T) {
	c, srv := newTestServer(t, Options{SessionTTL: 300 * time.Second})
	if c.Faults().SessionTTLS != 300 {
		t.Fatalf("initial session_ttl_s %d", c.Faults().SessionTTLS)
	}
	postFaults(t, srv, `{"latency_ms":5,"error_rate":0.25}`)
	postFaults(t, srv, `{"malformed_rate":0.5}`)
	f := c.Faults()
	if f.LatencyMS != 5 || f.ErrorRate != 0.25 || f.MalformedRate != 0.5 || f.SessionTTLS != 300 {
		t.Errorf("faults %+v", f)
	}
	for _, bad := range []string{`{"error_rate":2}`, `{"latency_ms":-1}`, `{"nope":1}`, `[`} {
		if code, _ := postFaults(t, srv, bad); code != http.StatusBadRequest {
			t.Errorf("%s: status %d", bad, code)
		}
	}
	if code, body, _ := get(t, srv.URL+"/_sim/faults"); code != 200 || !strings.Contains(body, `"malformed_rate":0.5`) {
		t.Errorf("GET faults %d %s", code, body)
	}
}

func TestDownAndErrorSpareSimPaths(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	postFaults(t, srv, `{"down":true}`)
	if code, _, _ := get(t, srv.URL+"/api"); code != http.StatusServiceUnavailable {
		t.Errorf("down: %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/_sim/health"); code != 200 {
		t.Errorf("health while down: %d", code)
	}
	postFaults(t, srv, `{"down":false,"error_rate":1}`)
	if code, body, _ := get(t, srv.URL+"/api"); code != 500 || !strings.Contains(body, `"X"`) {
		t.Errorf("error_rate: %d %s", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/_sim/health"); code != 200 {
		t.Errorf("health with errors: %d", code)
	}
	postFaults(t, srv, `{"error_rate":0}`)
	if code, body, _ := get(t, srv.URL+"/api"); code != 200 || body != "ok" {
		t.Errorf("healthy: %d %s", code, body)
	}
}

func TestLatency(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	postFaults(t, srv, `{"latency_ms":120,"jitter_ms":30}`)
	start := time.Now()
	get(t, srv.URL+"/api")
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Errorf("latency %v", d)
	}
	start = time.Now()
	get(t, srv.URL+"/_sim/health")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("/_sim/ delayed %v", d)
	}
}

func TestTimeoutHoldsThenDrops(t *testing.T) {
	_, srv := newTestServer(t, Options{Hold: 150 * time.Millisecond})
	postFaults(t, srv, `{"timeout_rate":1}`)
	start := time.Now()
	resp, err := http.Get(srv.URL + "/api")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("held request answered %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("dropped after %v", d)
	}
	// A client that gives up frees the handler at once.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("expected client timeout")
	}
}

func TestTimeoutReleasedByClose(t *testing.T) {
	c, srv := newTestServer(t, Options{}) // default 60 s hold
	postFaults(t, srv, `{"timeout_rate":1}`)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/api")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("held request should be dropped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the held request")
	}
}

func TestRateLimit(t *testing.T) {
	var retry int
	_, srv := newTestServer(t, Options{RateLimited: func(w http.ResponseWriter, r *http.Request, s int) {
		retry = s
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}})
	postFaults(t, srv, `{"rate_limit_rps":1}`)
	if code, _, _ := get(t, srv.URL+"/api"); code != 200 {
		t.Fatalf("first request %d", code)
	}
	code, _, h := get(t, srv.URL+"/api")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "7" || retry < 1 {
		t.Errorf("second request %d retry %d", code, retry)
	}

	_, srv2 := newTestServer(t, Options{}) // default 429 writer
	postFaults(t, srv2, `{"rate_limit_rps":0.5}`)
	get(t, srv2.URL+"/api")
	code, _, h = get(t, srv2.URL+"/api")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Errorf("default limiter %d Retry-After %q", code, h.Get("Retry-After"))
	}
}

func TestCorruptsIsStable(t *testing.T) {
	hits := 0
	for v := range 2000 {
		a, ca := Corrupts("000.00.14.H52-261121-0001", v, 0.3)
		b, cb := Corrupts("000.00.14.H52-261121-0001", v, 0.3)
		if a != b || ca != cb {
			t.Fatal("unstable")
		}
		if a {
			hits++
		}
		if hit, _ := Corrupts("x", v, 0); hit {
			t.Fatal("rate 0 corrupts")
		}
		if hit, _ := Corrupts("x", v, 1); !hit {
			t.Fatal("rate 1 spares")
		}
	}
	if hits < 500 || hits > 700 {
		t.Errorf("%d of 2000 hit at rate 0.3", hits)
	}
	if WrongCentury("014095001234") != "014295001234" || WrongCentury("014395001234") != "014195001234" {
		t.Error("WrongCentury")
	}
	if k := KindsFrom(3); len(k) != 7 || k[0] != CorruptionKinds[3] {
		t.Errorf("KindsFrom %v", k)
	}
}
