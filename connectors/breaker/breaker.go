// Package breaker gives every external system the hub calls its own circuit
// breaker (sony/gobreaker/v2): each province, the national portal, payment,
// VNPost, the SMS gateway and the SMTP relay. A Set holds one breaker per
// endpoint name, created on first use.
//
// HTTP connectors get a breaker by using Set.Transport as their
// http.Client's Transport; the SMTP client goes through Set.Do. While a
// breaker is open, calls fail at once with an error that wraps ErrOpen and
// that the connectors classify as transient, and handlers that need the
// system call Set.Wait (or use Set.WaitMiddleware) before taking a message,
// so the messages stay in Kafka instead of being failed into quarantine.
// Handlers for other systems are not affected.
//
// State changes are logged (Warn when a breaker opens, Info when it goes
// half-open or closes) with the endpoint name and counts only: never a URL,
// an error text or anything from a request or an answer, since those can
// carry personal data.
package breaker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// Defaults for zero Settings fields.
const (
	DefaultFailures  = 5
	DefaultTimeout   = 5 * time.Second
	DefaultMaxProbes = 1
	DefaultPoll      = 200 * time.Millisecond
)

// State names, as Stat.State reports them.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// ErrOpen is wrapped by every error returned for a call the breaker refused:
// the breaker is open, or half-open with all its probes under way. The error
// itself is a transient *httpx.Error, so httpx.IsTransient (and the
// connectors' classifiers built on it) says "retry later".
var ErrOpen = errors.New("circuit breaker open")

// Settings configure every breaker of a Set. Zero fields take the defaults.
type Settings struct {
	// Failures in a row that open the breaker (default 5).
	Failures int
	// Timeout is how long the breaker stays open before it lets probes
	// through (default 5s).
	Timeout time.Duration
	// MaxProbes is the number of requests allowed while half-open (default
	// 1); that many successes in a row close the breaker, one failure opens
	// it again.
	MaxProbes int
	// Interval resets the closed-state counts periodically; 0 (the default)
	// never does, so only consecutive failures matter.
	Interval time.Duration
	// Poll is how often Wait looks at the breakers (default 200ms).
	Poll time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Failures <= 0 {
		s.Failures = DefaultFailures
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxProbes <= 0 {
		s.MaxProbes = DefaultMaxProbes
	}
	if s.Interval < 0 {
		s.Interval = 0
	}
	if s.Poll <= 0 {
		s.Poll = DefaultPoll
	}
	return s
}

// Stat is one endpoint's state and counts since the Set was created.
type Stat struct {
	State        string    `json:"state"`         // "closed", "open" or "half-open"
	Requests     uint64    `json:"requests"`      // calls the breaker let through
	Successes    uint64    `json:"successes"`     // of those, counted as successes
	Failures     uint64    `json:"failures"`      // of those, counted as failures
	Rejected     uint64    `json:"rejected"`      // calls refused (open, or half-open and busy)
	StateChanges uint64    `json:"state_changes"` // transitions, any direction
	Retries      uint64    `json:"retries"`       // reported by callers through CountRetry
	Since        time.Time `json:"since"`         // last state change; zero when there was none
	// LastSuccess is when the last call counted as a success ended; zero
	// when none has.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Set holds one breaker per endpoint name. It is safe for concurrent use.
// A nil *Set lets every call through and counts nothing, so components can
// run without breakers.
type Set struct {
	st  Settings
	log *slog.Logger

	mu sync.RWMutex
	m  map[string]*endpoint
}

// New returns an empty Set; breakers are created as endpoints are first
// used. A nil log means slog.Default().
func New(s Settings, log *slog.Logger) *Set {
	if log == nil {
		log = slog.Default()
	}
	return &Set{st: s.withDefaults(), log: log, m: map[string]*endpoint{}}
}

// endpoint is one breaker and its cumulative counts.
type endpoint struct {
	name string
	set  *Set
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]

	requests, successes, failures, rejected, changes, retries atomic.Uint64
	openedAt, changedAt, lastSuccess                          atomic.Int64 // unix nanoseconds
	lastFailure                                               atomic.Pointer[string]
}

// Outcomes handed to gobreaker's done callback.
var (
	errFailed   = errors.New("failed")
	errExcluded = errors.New("excluded")
)

func (s *Set) lookup(name string) *endpoint {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[name]
}

func (s *Set) endpoint(name string) *endpoint {
	if e := s.lookup(name); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[name]; e != nil {
		return e
	}
	e := &endpoint{name: name, set: s}
	failures := uint32(s.st.Failures)
	e.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          name,
		MaxRequests:   uint32(s.st.MaxProbes),
		Interval:      s.st.Interval,
		Timeout:       s.st.Timeout,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: e.onStateChange,
		IsExcluded:    func(err error) bool { return errors.Is(err, errExcluded) },
	})
	s.m[name] = e
	return e
}

// onStateChange runs under the breaker's own lock: it must not call back
// into the breaker.
func (e *endpoint) onStateChange(_ string, from, to gobreaker.State) {
	now := time.Now()
	e.changes.Add(1)
	e.changedAt.Store(now.UnixNano())
	attrs := []any{
		"endpoint", e.name,
		"from", from.String(),
		"requests", e.requests.Load(),
		"failures", e.failures.Load(),
		"rejected", e.rejected.Load(),
		"retries", e.retries.Load(),
		"state_changes", e.changes.Load(),
	}
	switch to {
	case gobreaker.StateOpen:
		e.openedAt.Store(now.UnixNano())
		if from == gobreaker.StateHalfOpen {
			attrs = append(attrs, "probe_failed", true)
		} else {
			attrs = append(attrs, "failures_in_row", e.set.st.Failures)
		}
		if lf := e.lastFailure.Load(); lf != nil {
			attrs = append(attrs, "last_failure", *lf)
		}
		attrs = append(attrs, "open_for", e.set.st.Timeout.String())
		e.set.log.Warn("circuit breaker open", attrs...)
	case gobreaker.StateHalfOpen:
		e.set.log.Info("circuit breaker half-open", append(attrs, "max_probes", e.set.st.MaxProbes)...)
	default:
		e.set.log.Info("circuit breaker closed", attrs...)
	}
}

// allow asks the breaker for a slot. On refusal it counts the rejection and
// returns the transient error that wraps ErrOpen.
func (e *endpoint) allow() (func(error), error) {
	done, err := e.cb.Allow()
	if err != nil {
		e.rejected.Add(1)
		return nil, e.openError()
	}
	e.requests.Add(1)
	return done, nil
}

// finish reports one call's outcome: failure (with a data-free cause),
// exclusion (the caller cancelled) or success.
func (e *endpoint) finish(done func(error), outcome error, cause string) {
	switch outcome {
	case errFailed:
		e.failures.Add(1)
		e.lastFailure.Store(&cause)
	case nil:
		e.successes.Add(1)
		e.storeLastSuccess(time.Now().UnixNano())
	}
	done(outcome)
}

// storeLastSuccess moves lastSuccess forward to at; calls ending at the same
// time under concurrency never move it back.
func (e *endpoint) storeLastSuccess(at int64) {
	for {
		old := e.lastSuccess.Load()
		if at <= old || e.lastSuccess.CompareAndSwap(old, at) {
			return
		}
	}
}

func (e *endpoint) openError() error {
	he := &httpx.Error{Op: "breaker " + e.name, Transient: true, Err: ErrOpen}
	if at := e.openedAt.Load(); at != 0 {
		if d := time.Until(time.Unix(0, at).Add(e.set.st.Timeout)); d > 0 {
			he.RetryAfter = d
		}
	}
	return he
}

// admits reports whether a call would be let through now: closed, or
// half-open with a probe slot free.
func (e *endpoint) admits() bool {
	switch e.cb.State() {
	case gobreaker.StateOpen:
		return false
	case gobreaker.StateHalfOpen:
		c := e.cb.Counts()
		used := uint32(0)
		if c.Requests > c.TotalExclusions {
			used = c.Requests - c.TotalExclusions
		}
		return used < uint32(e.set.st.MaxProbes)
	}
	return true
}

// Transport returns a RoundTripper that runs each round trip of base (nil:
// http.DefaultTransport) through the breaker named name.
//
// Transport errors, timeouts, HTTP 5xx and 429 count as failures; any other
// answer (4xx are the caller's problem, not the system's) as a success; a
// round trip the caller cancelled counts as neither. Answers are handed
// back unchanged, failed ones included, so the caller still reads and
// closes their bodies and classifies them (Retry-After and all). While the
// breaker is open the round trip fails at once, without touching the
// network, with a transient *httpx.Error wrapping ErrOpen.
func (s *Set) Transport(name string, base http.RoundTripper) http.RoundTripper {
	return s.CheckedTransport(name, base, nil)
}

// AnswerCheck judges the body of a 2xx answer, for a system that reports
// its own failures inside an HTTP 200 (the national portal answers an
// internal error as {"error_code":"99"}). It returns a data-free cause
// when the answer is a failure of the system.
type AnswerCheck func(body []byte) (cause string, failed bool)

// CheckedTransport is Transport with check also run on every 2xx answer's
// body (read whole, then handed back unread to the caller); a failed check
// counts against the breaker like a 5xx. A nil check is Transport.
func (s *Set) CheckedTransport(name string, base http.RoundTripper, check AnswerCheck) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if s == nil {
		return base
	}
	return &roundTripper{ep: s.endpoint(name), base: base, check: check}
}

// maxCheckedBody bounds what CheckedTransport buffers of one answer.
const maxCheckedBody = 64 << 20

type roundTripper struct {
	ep    *endpoint
	base  http.RoundTripper
	check AnswerCheck
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	done, err := t.ep.allow()
	if err != nil {
		// The RoundTripper contract: the request body is closed, even on
		// errors.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	outcome, cause := errFailed, "panic"
	defer func() { t.ep.finish(done, outcome, cause) }()

	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		outcome, cause = classifyErr(req.Context(), err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		outcome, cause = errFailed, "HTTP "+strconv.Itoa(resp.StatusCode)
	case t.check != nil && resp.StatusCode/100 == 2:
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxCheckedBody))
		resp.Body.Close()
		if rerr != nil {
			outcome, cause = classifyErr(req.Context(), rerr)
			return nil, rerr
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		outcome, cause = nil, ""
		if c, failed := t.check(body); failed {
			outcome, cause = errFailed, c
		}
	default:
		outcome, cause = nil, ""
	}
	return resp, err
}

// CloseIdleConnections passes through to base, so http.Client's method of
// that name keeps working.
func (t *roundTripper) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// classifyErr sorts a failed call: a cancellation by the caller is
// excluded, anything else is a failure. The cause never quotes err.
func classifyErr(ctx context.Context, err error) (error, string) {
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return errExcluded, ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errFailed, "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errFailed, "timeout"
	}
	return errFailed, "error"
}

// Do runs fn through the breaker named name, for systems not reached over
// HTTP (the SMTP relay). failure decides which errors fn returns count
// against the system (email.IsTransient, say: a refused address is not the
// relay's fault); nil counts every error. A cancellation (ctx cancelled,
// or an error wrapping context.Canceled) counts as neither success nor
// failure, whatever failure says. While the breaker is open Do
// returns at once a transient *httpx.Error wrapping ErrOpen, without
// calling fn. A nil *Set just calls fn.
func (s *Set) Do(ctx context.Context, name string, fn func(ctx context.Context) error, failure func(error) bool) error {
	if s == nil {
		return fn(ctx)
	}
	e := s.endpoint(name)
	done, err := e.allow()
	if err != nil {
		return err
	}
	outcome, cause := errFailed, "panic"
	defer func() { e.finish(done, outcome, cause) }()

	err = fn(ctx)
	outcome, cause = nil, ""
	if err != nil {
		outcome, cause = classifyErr(ctx, err)
		if outcome == errFailed && failure != nil && !failure(err) {
			outcome, cause = nil, ""
		}
	}
	return err
}

// Wait blocks while any of the named breakers would refuse a call: open,
// or half-open with all its probes under way. Half-open with a free slot
// does not block: a probe may go. It returns nil when all admit calls, or
// ctx.Err() when ctx ends first (also when ctx has already ended). Names
// never used yet are closed. Handlers call Wait before taking a message.
func (s *Set) Wait(ctx context.Context, names ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	var tick *time.Ticker
	for {
		if s.admitsAll(names) {
			return nil
		}
		if tick == nil {
			tick = time.NewTicker(s.st.Poll)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Set) admitsAll(names []string) bool {
	for _, n := range names {
		if e := s.lookup(n); e != nil && !e.admits() {
			return false
		}
	}
	return true
}

// Open reports whether the named breaker is open. Half-open is not open.
func (s *Set) Open(name string) bool {
	if s == nil {
		return false
	}
	e := s.lookup(name)
	return e != nil && e.cb.State() == gobreaker.StateOpen
}

// Stats returns every endpoint's state and counts, keyed by name.
func (s *Set) Stats() map[string]Stat {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	eps := make([]*endpoint, 0, len(s.m))
	for _, e := range s.m {
		eps = append(eps, e)
	}
	s.mu.RUnlock()
	out := make(map[string]Stat, len(eps))
	for _, e := range eps {
		st := Stat{
			State:        e.cb.State().String(),
			Requests:     e.requests.Load(),
			Successes:    e.successes.Load(),
			Failures:     e.failures.Load(),
			Rejected:     e.rejected.Load(),
			StateChanges: e.changes.Load(),
			Retries:      e.retries.Load(),
		}
		if at := e.changedAt.Load(); at != 0 {
			st.Since = time.Unix(0, at)
		}
		if at := e.lastSuccess.Load(); at != 0 {
			st.LastSuccess = time.Unix(0, at)
		}
		out[e.name] = st
	}
	return out
}

// Names returns the endpoint names in use, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.m))
	for n := range s.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CountRetry records one retry of a call to the named endpoint; callers'
// retry loops report each retry here. Retries are logged at Debug and in
// every state-change line.
func (s *Set) CountRetry(name string) {
	if s == nil {
		return
	}
	e := s.endpoint(name)
	n := e.retries.Add(1)
	s.log.Debug("retry", "endpoint", name, "retries", n)
}
