// Package national is the connector to the National Public Service Portal's
// adapter API (spec §4): login with session renewal, DongBoHoSoMC,
// CapNhatTienDoHoSoMC and TraCuuHoSo.
package national

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxItems is the portal's limit of items per integration call.
const MaxItems = 100

// Item-level answer codes (spec §4).
const (
	CodeOK              = "00"
	CodeUnknownProc     = "21"
	CodeExists          = "22"
	CodeNotExists       = "23"
	CodeInvalidField    = "24"
	codeSessionExpired  = "98"
	codeInternal        = "99"
	codeLoginFailed     = "-1"
	serviceSync         = "DongBoHoSoMC"
	serviceSteps        = "CapNhatTienDoHoSoMC"
	serviceLookup       = "TraCuuHoSo"
	serviceCatalog      = "LayDanhSachTTHC"
	defaultHTTPTimeout  = 30 * time.Second
	maxErrorBodyInError = 200
)

// Config is where and how to reach the portal. Every value comes from the
// hub's configuration.
type Config struct {
	BaseURL    string
	Username   string
	Password   string
	HTTPClient *http.Client
}

// Unit is the province the calls are made for: the dstcode header and the
// madonvi body field.
type Unit struct {
	DstCode string
	MaDonVi string
}

// Client talks to the national portal. It keeps one session per dstcode and
// logs in again when the portal says the session expired.
type Client struct {
	cfg  Config
	http *http.Client

	mu       sync.Mutex
	sessions map[string]string // dstcode → session
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("national: base URL is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &Client{cfg: cfg, http: hc, sessions: map[string]string{}}, nil
}

// ItemResult is the portal's answer for one item, in the order sent.
type ItemResult struct {
	MaHoSo    string `json:"MaHoSo"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// Error is a call-level failure. Transient ones (internal error, overload,
// transport failures, 5xx) may be retried; others need a person.
type Error struct {
	Op         string
	Code       string // portal error_code, or HTTP status as text
	Message    string
	Transient  bool
	RetryAfter time.Duration // from a 429's Retry-After
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "national: %s", e.Op)
	if e.Code != "" {
		fmt.Fprintf(&b, ": code %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NotProcessed reports whether the portal certainly did not carry out the
// call: it refused it before looking at the items (HTTP 429 overload, HTTP
// 503 unavailable). Other failures (a timeout, a lost connection, "99") may
// have come after the items were processed.
func NotProcessed(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == "429" || e.Code == "503"
}

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Transient
	}
	// Context cancellation is the caller stopping, not the portal failing.
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// RetryAfter returns how long the portal asked us to wait, if it did.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Sync sends DongBoHoSoMC for items (at most MaxItems; callers chunk),
// isUpdating true for dossiers the portal holds.
func (c *Client) Sync(ctx context.Context, u Unit, updating bool, items []HoSo) ([]ItemResult, error) {
	if len(items) > MaxItems {
		return nil, fmt.Errorf("national: %s: %d items, at most %d a call", serviceSync, len(items), MaxItems)
	}
	flag := "False"
	if updating {
		flag = "True"
	}
	res, err := c.integration(ctx, u, serviceSync, map[string]any{"isUpdating": flag, "data": items})
	if err != nil {
		return nil, err
	}
	return checkResults(serviceSync, res, len(items))
}

// Steps sends CapNhatTienDoHoSoMC for steps (at most MaxItems), in order.
func (c *Client) Steps(ctx context.Context, u Unit, steps []Step) ([]ItemResult, error) {
	if len(steps) > MaxItems {
		return nil, fmt.Errorf("national: %s: %d items, at most %d a call", serviceSteps, len(steps), MaxItems)
	}
	res, err := c.integration(ctx, u, serviceSteps, map[string]any{"data": steps})
	if err != nil {
		return nil, err
	}
	return checkResults(serviceSteps, res, len(steps))
}

// Lookup asks whether the portal holds maHoSo (TraCuuHoSo) and returns what
// it holds, or nil.
func (c *Client) Lookup(ctx context.Context, u Unit, maHoSo string) (json.RawMessage, error) {
	var out struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := c.call(ctx, u, "/api/share", serviceLookup, map[string]any{"MaHoSo": maHoSo}, &out); err != nil {
		return nil, err
	}
	if len(out.Result) == 0 {
		return nil, nil
	}
	return out.Result[0], nil
}

// Procedure is one entry of the national procedure catalogue.
type Procedure struct {
	MaTTHC     string          `json:"MaTTHC"`
	TenTTHC    string          `json:"TenTTHC"`
	MaLinhVuc  string          `json:"MaLinhVuc"`
	TenLinhVuc string          `json:"TenLinhVuc"`
	MucDo      json.RawMessage `json:"MucDo"`
}

// Catalog fetches the procedure catalogue (LayDanhSachTTHC).
func (c *Client) Catalog(ctx context.Context, u Unit) ([]Procedure, error) {
	var out struct {
		Result []Procedure `json:"result"`
	}
	if err := c.call(ctx, u, "/api/share", serviceCatalog, map[string]any{}, &out); err != nil {
		return nil, err
	}
	return out.Result, nil
}

type integrationAnswer struct {
	Result []ItemResult `json:"result"`
}

func (c *Client) integration(ctx context.Context, u Unit, service string, body map[string]any) ([]ItemResult, error) {
	var out integrationAnswer
	if err := c.call(ctx, u, "/api/integration", service, body, &out); err != nil {
		return nil, err
	}
	return out.Result, nil
}

func checkResults(service string, res []ItemResult, n int) ([]ItemResult, error) {
	if len(res) != n {
		return nil, &Error{Op: service, Message: fmt.Sprintf("%d results for %d items", len(res), n)}
	}
	return res, nil
}

// call posts one service call, logging in first if there is no session and
// once more if the portal says the session expired.
func (c *Client) call(ctx context.Context, u Unit, path, service string, body map[string]any, out any) error {
	for attempt := 0; ; attempt++ {
		session, err := c.session(ctx, u)
		if err != nil {
			return err
		}
		req := map[string]any{"session": session, "madonvi": u.MaDonVi, "service": service}
		for k, v := range body {
			req[k] = v
		}
		raw, err := c.post(ctx, u, path, service, req)
		if err != nil {
			return err
		}
		var head struct {
			ErrorCode json.RawMessage `json:"error_code"`
			Message   string          `json:"message"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return &Error{Op: service, Message: "answer is not JSON", Err: err}
		}
		switch code := codeString(head.ErrorCode); code {
		case CodeOK, "0":
			if err := json.Unmarshal(raw, out); err != nil {
				return &Error{Op: service, Message: "unreadable answer", Err: err}
			}
			return nil
		case codeSessionExpired:
			c.dropSession(u.DstCode, session)
			if attempt == 0 {
				continue
			}
			return &Error{Op: service, Code: code, Message: head.Message, Transient: true}
		case codeInternal:
			return &Error{Op: service, Code: code, Message: head.Message, Transient: true}
		default:
			return &Error{Op: service, Code: code, Message: head.Message}
		}
	}
}

func (c *Client) session(ctx context.Context, u Unit) (string, error) {
	c.mu.Lock()
	s := c.sessions[u.DstCode]
	c.mu.Unlock()
	if s != "" {
		return s, nil
	}
	raw, err := c.post(ctx, u, "/api/auth/login", "login", map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return "", err
	}
	var ans struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Session   string          `json:"session"`
		Message   string          `json:"message"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", &Error{Op: "login", Message: "answer is not JSON", Err: err}
	}
	code := codeString(ans.ErrorCode)
	if (code != "0" && code != CodeOK) || ans.Session == "" {
		// A refused login will not fix itself; an internal error may.
		return "", &Error{Op: "login", Code: code, Message: ans.Message, Transient: code == codeInternal}
	}
	c.mu.Lock()
	c.sessions[u.DstCode] = ans.Session
	c.mu.Unlock()
	return ans.Session, nil
}

func (c *Client) dropSession(dst, session string) {
	c.mu.Lock()
	if c.sessions[dst] == session {
		delete(c.sessions, dst)
	}
	c.mu.Unlock()
}

func (c *Client) post(ctx context.Context, u Unit, path, op string, body any) ([]byte, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("national: %s: encode: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.cfg.BaseURL, "/")+path, bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("national: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("dstcode", u.DstCode)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Op: op, Transient: true, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &Error{Op: op, Transient: true, Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, &Error{Op: op, Code: "429", Message: "rate limited", Transient: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode >= 500:
		return nil, &Error{Op: op, Code: strconv.Itoa(resp.StatusCode), Message: snippet(raw), Transient: true}
	case resp.StatusCode >= 300:
		return nil, &Error{Op: op, Code: strconv.Itoa(resp.StatusCode), Message: snippet(raw)}
	}
	return raw, nil
}

// InternalError is a breaker.AnswerCheck for the portal: it answers its
// own internal error ("99", retry later) with HTTP 200, which must count
// against the portal's circuit breaker as a 5xx would. Item codes and an
// expired session ("98") are not the portal failing.
func InternalError(body []byte) (cause string, failed bool) {
	var head struct {
		ErrorCode json.RawMessage `json:"error_code"`
	}
	if json.Unmarshal(body, &head) != nil {
		// Not JSON from a 2xx: the portal is not answering as it should.
		return "unreadable answer", true
	}
	if codeString(head.ErrorCode) == codeInternal {
		return "error_code " + codeInternal, true
	}
	return "", false
}

// codeString reads error_code whether the portal sent it as a string or a
// number (login answers 0, calls answer "00").
func codeString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return string(raw)
}

func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrorBodyInError {
		s = s[:maxErrorBodyInError] + "…"
	}
	return s
}
