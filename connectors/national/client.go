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
	"net/http"
	"sync"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
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
	opLogin             = "national: login"
	maxErrorBodyInError = 200 // characters of an error answer kept in Error.Message
)

// Config is where and how to reach the portal. Every value comes from the
// hub's configuration. Each call is bounded by HTTPClient's Timeout
// (httpx.DefaultTimeout when it has none).
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
	http httpx.Transport

	mu       sync.Mutex
	sessions map[string]string // dstcode → session
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("national: base URL is required")
	}
	var timeout time.Duration
	if cfg.HTTPClient != nil {
		timeout = cfg.HTTPClient.Timeout
	}
	return &Client{cfg: cfg, http: httpx.NewTransport(cfg.HTTPClient, timeout, 0), sessions: map[string]string{}}, nil
}

// ItemResult is the portal's answer for one item, in the order sent.
type ItemResult struct {
	MaHoSo    string `json:"MaHoSo"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// Error is a call-level failure. Transient ones (internal error, overload,
// transport failures, 5xx) may be retried; others need a person. Code is
// the portal's error_code, Status the HTTP status of a non-2xx answer.
type Error = httpx.Error

// NotProcessed reports whether the portal certainly did not carry out the
// call: it refused it before looking at the items (HTTP 429 overload, HTTP
// 503 unavailable). Other failures (a timeout, a lost connection, "99") may
// have come after the items were processed.
func NotProcessed(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
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
		return nil, &Error{Op: "national: " + service, Message: fmt.Sprintf("%d results for %d items", len(res), n)}
	}
	return res, nil
}

// call posts one service call, logging in first if there is no session and
// once more if the portal says the session expired.
func (c *Client) call(ctx context.Context, u Unit, path, service string, body map[string]any, out any) error {
	op := "national: " + service
	for attempt := 0; ; attempt++ {
		session, err := c.session(ctx, u)
		if err != nil {
			return err
		}
		req := map[string]any{"session": session, "madonvi": u.MaDonVi, "service": service}
		for k, v := range body {
			req[k] = v
		}
		raw, err := c.post(ctx, u, path, op, req)
		if err != nil {
			return err
		}
		var head struct {
			ErrorCode json.RawMessage `json:"error_code"`
			Message   string          `json:"message"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return &Error{Op: op, Message: "answer is not JSON", Err: err}
		}
		switch code := codeString(head.ErrorCode); code {
		case CodeOK, "0":
			if err := json.Unmarshal(raw, out); err != nil {
				return &Error{Op: op, Message: "unreadable answer", Err: err}
			}
			return nil
		case codeSessionExpired:
			c.dropSession(u.DstCode, session)
			if attempt == 0 {
				continue
			}
			return &Error{Op: op, Code: code, Message: head.Message, Transient: true}
		case codeInternal:
			return &Error{Op: op, Code: code, Message: head.Message, Transient: true}
		default:
			return &Error{Op: op, Code: code, Message: head.Message}
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
	raw, err := c.post(ctx, u, "/api/auth/login", opLogin, map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return "", err
	}
	var ans struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Session   string          `json:"session"`
		Message   string          `json:"message"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", &Error{Op: opLogin, Message: "answer is not JSON", Err: err}
	}
	code := codeString(ans.ErrorCode)
	if (code != "0" && code != CodeOK) || ans.Session == "" {
		// A refused login will not fix itself; an internal error may.
		return "", &Error{Op: opLogin, Code: code, Message: ans.Message, Transient: code == codeInternal}
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

// post sends one call and returns the body of its 2xx answer. Failures
// are *Error with Op op, except the caller's own cancellation or deadline,
// returned as ctx.Err().
func (c *Client) post(ctx context.Context, u Unit, path, op string, body any) ([]byte, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", op, err)
	}
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, path), bytes.NewReader(buf))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("dstcode", u.DstCode)
		return req, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// Only an overload carries Retry-After here: a 5xx is retried on the
	// caller's own backoff, as 408 and other refusals are not retried.
	switch {
	case resp.Status == http.StatusTooManyRequests:
		return nil, &Error{Op: op, Status: resp.Status, Message: "rate limited", Transient: true, RetryAfter: httpx.ParseRetryAfter(resp.Header.Get("Retry-After"))}
	case resp.Status >= 500:
		return nil, &Error{Op: op, Status: resp.Status, Message: httpx.Clip(string(resp.Body), maxErrorBodyInError), Transient: true}
	case resp.Status >= 300:
		return nil, &Error{Op: op, Status: resp.Status, Message: httpx.Clip(string(resp.Body), maxErrorBodyInError)}
	}
	return resp.Body, nil
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
