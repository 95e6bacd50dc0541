package breaker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/httpx"
)

// query carries what personal data in a URL looks like; it must never show
// up in a log line or an open-breaker error.
const query = "/records?cccd=001099012345&token=s3cret"

// rec is one captured log record, attributes flattened to text.
type rec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   *sync.Mutex
	recs *[]rec
}

func newRecorder() recorder { return recorder{mu: &sync.Mutex{}, recs: &[]rec{}} }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r recorder) WithGroup(string) slog.Handler            { return r }
func (r recorder) Handle(_ context.Context, sr slog.Record) error {
	x := rec{level: sr.Level, msg: sr.Message, attrs: map[string]string{}}
	sr.Attrs(func(a slog.Attr) bool {
		x.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	*r.recs = append(*r.recs, x)
	r.mu.Unlock()
	return nil
}

func (r recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), *r.recs...)
}

// changes returns the state-change records as "LEVEL msg" lines.
func (r recorder) changes() []string {
	var out []string
	for _, x := range r.all() {
		if strings.HasPrefix(x.msg, "circuit breaker") {
			out = append(out, x.level.String()+" "+x.msg)
		}
	}
	return out
}

// checkClean fails when any log record mentions the server or the query.
func (r recorder) checkClean(t *testing.T, srvURL string) {
	t.Helper()
	for _, x := range r.all() {
		line := fmt.Sprint(x.msg, x.attrs)
		for _, bad := range []string{strings.TrimPrefix(srvURL, "http://"), "cccd", "s3cret", "records"} {
			if strings.Contains(line, bad) {
				t.Errorf("log line leaks %q: %s", bad, line)
			}
		}
	}
}

// portal is an httptest server whose answer status can be changed; it
// counts the requests that reach it.
type portal struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int64
}

func newPortal(t *testing.T, status int, configure ...func(*http.Server)) *portal {
	p := &portal{}
	p.status.Store(int32(status))
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		st := int(p.status.Load())
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(st)
		io.WriteString(w, `{"answer":"some body"}`)
	}))
	for _, c := range configure {
		c(p.Config)
	}
	p.Start()
	t.Cleanup(p.Close)
	return p
}

// connector builds what a connector has: an httpx.Transport whose client
// goes through the named breaker.
func connector(set *breaker.Set, name string, base http.RoundTripper, timeout time.Duration) httpx.Transport {
	return httpx.NewTransport(&http.Client{Transport: set.Transport(name, base)}, timeout, 0)
}

// get does one connector-style call and turns non-2xx answers into errors
// the way the connectors do.
func get(ctx context.Context, tr httpx.Transport, url string) (*httpx.Response, error) {
	resp, err := tr.Do(ctx, "sonla: list", func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url+query, nil)
	})
	if err != nil {
		return nil, err
	}
	if !resp.Success() {
		return resp, httpx.StatusError("sonla: list", resp)
	}
	return resp, nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	ctx := ctxT(t)
	log := newRecorder()
	set := breaker.New(breaker.Settings{Failures: 3, Timeout: time.Hour}, slog.New(log))
	p := newPortal(t, http.StatusServiceUnavailable)
	tr := connector(set, "sonla", nil, 5*time.Second)

	// Failures must be in a row: a success in between starts over.
	for i, st := range []int{503, 503, 200, 503, 503} {
		p.status.Store(int32(st))
		if _, err := get(ctx, tr, p.URL); (err != nil) != (st != 200) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if set.Open("sonla") {
		t.Fatal("open after two failures in a row")
	}
	// The third in a row opens it; the 503 itself still reaches the caller
	// as an answer, classified transient as always.
	resp, err := get(ctx, tr, p.URL)
	if !httpx.IsTransient(err) || resp == nil || resp.Status != 503 || errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("third failure: resp %+v err %v", resp, err)
	}
	if !set.Open("sonla") {
		t.Fatal("not open after three failures in a row")
	}
	hits := p.hits.Load()

	// While open nothing reaches the portal, and the error is transient.
	for range 3 {
		_, err := get(ctx, tr, p.URL)
		var he *httpx.Error
		if err == nil || !errors.As(err, &he) {
			t.Fatalf("while open: err = %v", err)
		}
		if !errors.Is(err, breaker.ErrOpen) || !httpx.IsTransient(err) || httpx.IsPermanent(err) {
			t.Fatalf("while open: %v: ErrOpen %v transient %v", err, errors.Is(err, breaker.ErrOpen), httpx.IsTransient(err))
		}
		if strings.Contains(err.Error(), "cccd") || strings.Contains(err.Error(), p.Listener.Addr().String()) {
			t.Fatalf("error leaks the URL: %v", err)
		}
	}
	// A client used directly (no httpx.Transport): the *url.Error from
	// http.Client.Do is still transient for httpx.IsTransient.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+query, nil)
	_, err = (&http.Client{Transport: set.Transport("sonla", nil)}).Do(req)
	var ue *url.Error
	if !errors.As(err, &ue) || !errors.Is(err, breaker.ErrOpen) || !httpx.IsTransient(err) {
		t.Fatalf("plain client while open: %v", err)
	}
	if got := p.hits.Load(); got != hits {
		t.Fatalf("%d requests reached the portal while open", got-hits)
	}

	st := set.Stats()["sonla"]
	want := breaker.Stat{State: "open", Requests: 6, Successes: 1, Failures: 5, Rejected: 4, StateChanges: 1}
	if st.LastSuccess.IsZero() {
		t.Fatalf("stats = %+v: no last success", st)
	}
	st.Since, st.LastSuccess = time.Time{}, time.Time{}
	if st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	if got := log.changes(); fmt.Sprint(got) != "[WARN circuit breaker open]" {
		t.Fatalf("state-change logs = %q", got)
	}
	r := log.all()[0]
	if r.attrs["endpoint"] != "sonla" || r.attrs["from"] != "closed" || r.attrs["failures_in_row"] != "3" || r.attrs["last_failure"] != "HTTP 503" {
		t.Fatalf("open log attrs = %v", r.attrs)
	}
	log.checkClean(t, p.URL)
}

func TestProbeAfterTimeout(t *testing.T) {
	ctx := ctxT(t)
	log := newRecorder()
	const timeout = 100 * time.Millisecond
	set := breaker.New(breaker.Settings{Failures: 1, Timeout: timeout, Poll: 5 * time.Millisecond}, slog.New(log))
	p := newPortal(t, http.StatusBadGateway)
	tr := connector(set, "national", nil, 5*time.Second)

	t0 := time.Now()
	if _, err := get(ctx, tr, p.URL); err == nil || errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("first call: %v", err)
	}
	// (Not set.Open: with a short Timeout it may be half-open already.)
	if got := log.changes(); fmt.Sprint(got) != "[WARN circuit breaker open]" {
		t.Fatalf("state-change logs = %q", got)
	}
	// After Timeout a probe goes; it fails, and the breaker opens again.
	if err := set.Wait(ctx, "national"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < timeout {
		t.Fatalf("Wait returned %v after opening, before Timeout", el)
	}
	if set.Open("national") || set.Stats()["national"].State != "half-open" {
		t.Fatalf("after Wait: %+v", set.Stats()["national"])
	}
	hits := p.hits.Load()
	if _, err := get(ctx, tr, p.URL); err == nil || errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("failed probe: %v", err)
	}
	if p.hits.Load() != hits+1 || len(log.changes()) != 3 {
		t.Fatalf("probe: hits %d→%d, state changes %q", hits, p.hits.Load(), log.changes())
	}

	// Next time the probe succeeds and closes the breaker.
	p.status.Store(http.StatusOK)
	if err := set.Wait(ctx, "national"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, tr, p.URL); err != nil {
		t.Fatalf("good probe: %v", err)
	}
	if st := set.Stats()["national"]; st.State != "closed" || st.StateChanges != 5 || st.Since.IsZero() {
		t.Fatalf("stats after recovery: %+v", st)
	}
	want := "[WARN circuit breaker open INFO circuit breaker half-open WARN circuit breaker open INFO circuit breaker half-open INFO circuit breaker closed]"
	if got := log.changes(); fmt.Sprint(got) != want {
		t.Fatalf("state-change logs = %q", got)
	}
	if r := log.all()[2]; r.attrs["probe_failed"] != "true" {
		t.Fatalf("reopen log attrs = %v", r.attrs)
	}
	log.checkClean(t, p.URL)
}

func TestClientErrorsAreNotFailures(t *testing.T) {
	ctx := ctxT(t)
	set := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, nil)
	p := newPortal(t, http.StatusNotFound)
	tr := connector(set, "hatinh", nil, 5*time.Second)
	for _, st := range []int{400, 401, 403, 404, 409, 422, 404, 404} {
		p.status.Store(int32(st))
		if _, err := get(ctx, tr, p.URL); err == nil || httpx.IsTransient(err) {
			t.Fatalf("HTTP %d: %v", st, err)
		}
	}
	if st := set.Stats()["hatinh"]; st.State != "closed" || st.Failures != 0 || st.Successes != 8 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestTooManyRequestsIsAFailure(t *testing.T) {
	ctx := ctxT(t)
	set := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, nil)
	p := newPortal(t, http.StatusTooManyRequests)
	tr := connector(set, "payment", nil, 5*time.Second)
	for range 2 {
		_, err := get(ctx, tr, p.URL)
		// The answer passes through: the caller still sees Retry-After.
		if !httpx.IsTransient(err) || httpx.RetryAfter(err) != 7*time.Second {
			t.Fatalf("429: %v (retry after %v)", err, httpx.RetryAfter(err))
		}
	}
	if !set.Open("payment") {
		t.Fatal("429s did not open the breaker")
	}
	_, err := get(ctx, tr, p.URL)
	if !errors.Is(err, breaker.ErrOpen) || !httpx.IsTransient(err) {
		t.Fatalf("while open: %v", err)
	}
}

func TestTransportFailures(t *testing.T) {
	ctx := ctxT(t)
	log := newRecorder()
	set := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, slog.New(log))

	// A portal that answers too late: the connector's deadline fires.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	tr := connector(set, "vnpost", nil, 50*time.Millisecond)
	for range 2 {
		if _, err := get(ctx, tr, slow.URL); !httpx.IsTransient(err) || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("slow portal: %v", err)
		}
	}
	if !set.Open("vnpost") {
		t.Fatal("timeouts did not open the breaker")
	}
	if r := log.all()[0]; r.attrs["last_failure"] != "timeout" {
		t.Fatalf("open log attrs = %v", r.attrs)
	}

	// Nobody listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	tr = connector(set, "sms", nil, 5*time.Second)
	for range 2 {
		if _, err := get(ctx, tr, dead); !httpx.IsTransient(err) || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("dead portal: %v", err)
		}
	}
	if !set.Open("sms") {
		t.Fatal("connection failures did not open the breaker")
	}

	// A caller cancelling is not the system failing.
	p := newPortal(t, http.StatusOK)
	entered := make(chan struct{}, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	}))
	defer hang.Close()
	tr = connector(set, "thainguyen", nil, 5*time.Second)
	for range 5 {
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-entered; cancel() }()
		if _, err := get(cctx, tr, hang.URL); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v", err)
		}
		cancel()
	}
	if st := set.Stats()["thainguyen"]; st.State != "closed" || st.Failures != 0 || st.Requests != 5 {
		t.Fatalf("cancellations counted: %+v", st)
	}
	if _, err := get(ctx, tr, p.URL); err != nil {
		t.Fatal(err)
	}
	log.checkClean(t, slow.URL)
	log.checkClean(t, dead)
}

// trackBody records whether it was closed.
type trackBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

func TestBodies(t *testing.T) {
	ctx := ctxT(t)
	set := breaker.New(breaker.Settings{Failures: 3, Timeout: time.Hour}, nil)
	var conns atomic.Int64
	p := newPortal(t, http.StatusInternalServerError, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	})
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr := connector(set, "sonla", base, 5*time.Second)

	// Failed answers reach the caller whole, and once read and closed the
	// connection goes back to the pool.
	for range 3 {
		resp, err := get(ctx, tr, p.URL)
		if err == nil || resp == nil || string(resp.Body) != `{"answer":"some body"}` {
			t.Fatalf("failed answer: %+v %v", resp, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three sequential calls: bodies not closed", n)
	}

	// A refused request's body is closed, as RoundTrippers must.
	body := &trackBody{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+query, body)
	resp, err := (&http.Client{Transport: set.Transport("sonla", base)}).Do(req)
	if !errors.Is(err, breaker.ErrOpen) || resp != nil {
		t.Fatalf("while open: %v %v", resp, err)
	}
	if !body.closed.Load() {
		t.Fatal("request body of a refused call left open")
	}
}

func TestWait(t *testing.T) {
	ctx := ctxT(t)
	const timeout = 150 * time.Millisecond
	set := breaker.New(breaker.Settings{Failures: 1, Timeout: timeout, Poll: 5 * time.Millisecond}, nil)

	// Probes that hang until released, so a probe can be held in flight.
	entered := make(chan struct{}, 10)
	release := make(chan int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		w.WriteHeader(<-release)
	}))
	defer srv.Close()
	tr := connector(set, "sonla", nil, 5*time.Second)

	// Nothing used yet: nothing blocks.
	if err := set.Wait(ctx, "sonla", "national"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	go func() { <-entered; release <- 503 }()
	if _, err := get(ctx, tr, srv.URL); err == nil {
		t.Fatal("503 passed")
	}
	if st := set.Stats()["sonla"]; st.StateChanges == 0 {
		t.Fatalf("not open: %+v", st)
	}

	// Other systems carry on while sonla is open.
	set.Transport("national", nil)
	if err := set.Wait(ctx, "national", "smtp"); err != nil {
		t.Fatal(err)
	}

	// A handler whose context ends while waiting gets its error back.
	cctx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() { waited <- set.Wait(cctx, "national", "sonla") }()
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on cancel = %v", err)
	}
	if err := set.Wait(cctx, "national"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a dead context = %v", err)
	}

	// Wait blocks while open, and lets a probe go once Timeout is over.
	if err := set.Wait(ctx, "national", "sonla"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < timeout {
		t.Fatalf("Wait returned %v after opening, before Timeout", el)
	}

	// While the probe is in flight the breaker admits nothing more: Wait
	// keeps blocking, calls are refused (transient) without reaching sonla.
	probe := make(chan error, 1)
	go func() { _, err := get(ctx, tr, srv.URL); probe <- err }()
	<-entered
	sctx, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	if err := set.Wait(sctx, "sonla"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a probe in flight = %v", err)
	}
	if _, err := get(ctx, tr, srv.URL); !errors.Is(err, breaker.ErrOpen) || !httpx.IsTransient(err) {
		t.Fatalf("second call while half-open: %v", err)
	}

	// The probe succeeds: the breaker closes and waiting handlers go on.
	waited = make(chan error, 1)
	go func() { waited <- set.Wait(ctx, "sonla") }()
	release <- 200
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if st := set.Stats()["sonla"]; st.State != "closed" || st.Rejected != 1 || st.Requests != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDo(t *testing.T) {
	ctx := ctxT(t)
	log := newRecorder()
	set := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, slog.New(log))
	var calls int
	send := func(err error) func(context.Context) error {
		return func(context.Context) error { calls++; return err }
	}
	transient := &httpx.Error{Op: "email: connect", Transient: true, Err: errors.New("connection refused")}
	refused := &httpx.Error{Op: "email: RCPT", Code: "550"}

	if err := set.Do(ctx, "smtp", send(nil), httpx.IsTransient); err != nil {
		t.Fatal(err)
	}
	// Permanent errors are the message's problem: not counted against the relay.
	for range 5 {
		if err := set.Do(ctx, "smtp", send(refused), httpx.IsTransient); err != refused {
			t.Fatalf("Do returned %v", err)
		}
	}
	// Cancellations are not counted either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range 5 {
		err := set.Do(cctx, "smtp", send(&httpx.Error{Op: "email: DATA", Err: context.Canceled}), nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	if set.Open("smtp") {
		t.Fatal("opened on permanent errors / cancellations")
	}
	// Transient ones are.
	for range 2 {
		if err := set.Do(ctx, "smtp", send(transient), httpx.IsTransient); err != transient {
			t.Fatalf("Do returned %v", err)
		}
	}
	if !set.Open("smtp") {
		t.Fatal("not open after two transient failures")
	}
	before := calls
	err := set.Do(ctx, "smtp", send(nil), httpx.IsTransient)
	if !errors.Is(err, breaker.ErrOpen) || !httpx.IsTransient(err) || calls != before {
		t.Fatalf("while open: %v (fn called %d times)", err, calls-before)
	}
	if httpx.RetryAfter(err) <= 0 || httpx.RetryAfter(err) > time.Hour {
		t.Fatalf("RetryAfter while open = %v", httpx.RetryAfter(err))
	}
	want := breaker.Stat{State: "open", Requests: 13, Successes: 6, Failures: 2, Rejected: 1, StateChanges: 1}
	st := set.Stats()["smtp"]
	if st.LastSuccess.IsZero() {
		t.Fatalf("stats = %+v: no last success", st)
	}
	st.Since, st.LastSuccess = time.Time{}, time.Time{}
	if st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}

	// nil failure counts every error; a panic counts and is passed on.
	set2 := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, nil)
	set2.Do(ctx, "relay", send(errors.New("boom")), nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		set2.Do(ctx, "relay", func(context.Context) error { panic("bad") }, nil)
	}()
	if !set2.Open("relay") {
		t.Fatalf("stats = %+v", set2.Stats()["relay"])
	}
}

func TestStatsAndRetries(t *testing.T) {
	ctx := ctxT(t)
	log := newRecorder()
	set := breaker.New(breaker.Settings{Failures: 1, Timeout: time.Hour}, slog.New(log))
	for range 3 {
		set.CountRetry("vnpost")
	}
	set.Do(ctx, "smtp", func(context.Context) error { return nil }, nil)
	set.Do(ctx, "vnpost", func(context.Context) error { return errors.New("down") }, nil)

	stats := set.Stats()
	if len(stats) != 2 || fmt.Sprint(set.Names()) != "[smtp vnpost]" {
		t.Fatalf("stats = %+v", stats)
	}
	if st := stats["vnpost"]; st.Retries != 3 || st.State != "open" || st.Failures != 1 || st.StateChanges != 1 {
		t.Fatalf("vnpost = %+v", st)
	}
	if st := stats["smtp"]; st.State != "closed" || st.Requests != 1 || st.Successes != 1 || !st.Since.IsZero() {
		t.Fatalf("smtp = %+v", st)
	}
	if set.Open("unknown") {
		t.Fatal("unknown endpoint open")
	}
	if _, ok := set.Stats()["unknown"]; ok {
		t.Fatal("Open created an endpoint")
	}
	var open rec
	for _, r := range log.all() {
		if r.msg == "circuit breaker open" {
			open = r
		}
	}
	if open.level != slog.LevelWarn || open.attrs["endpoint"] != "vnpost" || open.attrs["retries"] != "3" || open.attrs["last_failure"] != "error" {
		t.Fatalf("open log = %+v", open)
	}
}

func TestLastSuccess(t *testing.T) {
	ctx := ctxT(t)
	set := breaker.New(breaker.Settings{Failures: 10}, slog.New(newRecorder()))
	set.Do(ctx, "smtp", func(context.Context) error { return errors.New("down") }, nil)
	if st := set.Stats()["smtp"]; !st.LastSuccess.IsZero() {
		t.Fatalf("last success %v after a failure only, want zero", st.LastSuccess)
	}
	if b, err := json.Marshal(set.Stats()["smtp"]); err != nil || strings.Contains(string(b), "last_success") {
		t.Fatalf("never succeeded: %s, %v; want no last_success", b, err)
	}

	before := time.Now()
	set.Do(ctx, "smtp", func(context.Context) error { return nil }, nil)
	after := time.Now()
	first := set.Stats()["smtp"].LastSuccess
	if first.Before(before) || first.After(after) {
		t.Fatalf("last success %v, want between %v and %v", first, before, after)
	}

	// A failure, a cancelled call and an error the caller does not count
	// against the system: only the last is a success.
	set.Do(ctx, "smtp", func(context.Context) error { return errors.New("down") }, nil)
	set.Do(ctx, "smtp", func(context.Context) error { return context.Canceled }, nil)
	if st := set.Stats()["smtp"]; !st.LastSuccess.Equal(first) {
		t.Fatalf("last success %v after a failure and a cancellation, want %v", st.LastSuccess, first)
	}
	time.Sleep(time.Millisecond)
	set.Do(ctx, "smtp", func(context.Context) error { return errors.New("bad address") }, func(error) bool { return false })
	st := set.Stats()["smtp"]
	if !st.LastSuccess.After(first) || st.Successes != 2 {
		t.Fatalf("after a success: %+v, want last success after %v", st, first)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"last_success":"`) {
		t.Fatalf("json %s, %v; want last_success", b, err)
	}

	// Over HTTP: a 4xx answer counts as a success, a 5xx does not.
	code := atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	c := &http.Client{Transport: set.Transport("hatinh", nil)}
	get := func(status int) {
		t.Helper()
		code.Store(int32(status))
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(http.StatusBadGateway)
	if st := set.Stats()["hatinh"]; !st.LastSuccess.IsZero() {
		t.Fatalf("hatinh last success %v after a 502, want zero", st.LastSuccess)
	}
	before = time.Now()
	get(http.StatusNotFound)
	if st := set.Stats()["hatinh"]; st.LastSuccess.Before(before) || st.LastSuccess.After(time.Now()) {
		t.Fatalf("hatinh last success %v after a 404 at %v", st.LastSuccess, before)
	}
}

func TestNilSet(t *testing.T) {
	ctx := ctxT(t)
	var set *breaker.Set
	p := newPortal(t, http.StatusServiceUnavailable)
	tr := connector(set, "sonla", nil, 5*time.Second)
	for range 10 {
		if _, err := get(ctx, tr, p.URL); errors.Is(err, breaker.ErrOpen) {
			t.Fatal(err)
		}
	}
	if p.hits.Load() != 10 {
		t.Fatalf("hits = %d", p.hits.Load())
	}
	set.CountRetry("sonla")
	if set.Open("sonla") || set.Stats() != nil || set.Wait(ctx, "sonla") != nil {
		t.Fatal("nil set not a pass-through")
	}
	if err := set.Do(ctx, "smtp", func(context.Context) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent is for the race detector: many callers, state flipping.
func TestConcurrent(t *testing.T) {
	ctx := ctxT(t)
	set := breaker.New(breaker.Settings{Failures: 2, Timeout: 5 * time.Millisecond, MaxProbes: 2, Poll: time.Millisecond}, slog.New(newRecorder()))
	p := newPortal(t, http.StatusOK)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"sonla", "hatinh"}[g%2]
			tr := connector(set, name, nil, 5*time.Second)
			for i := range 40 {
				if g == 0 && i%5 == 0 {
					p.status.Store(int32([]int{200, 503}[i/5%2]))
				}
				wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				set.Wait(wctx, name)
				cancel()
				if _, err := get(ctx, tr, p.URL); err != nil && !httpx.IsTransient(err) {
					t.Errorf("non-transient error: %v", err)
				}
				set.CountRetry(name)
				set.Open(name)
				set.Stats()
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, st := range set.Stats() {
		total += st.Requests + st.Rejected
	}
	if total != 8*40 {
		t.Fatalf("requests+rejected = %d, want %d", total, 8*40)
	}
}
