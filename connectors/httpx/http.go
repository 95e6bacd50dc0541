package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults shared by the connectors.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBodyBytes = 64 << 20
)

// Response is a fully read HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Transport performs bounded round trips: each request gets its own
// deadline covering the body read, and bodies beyond Limit are refused
// rather than buffered without end.
type Transport struct {
	Client  *http.Client
	Timeout time.Duration
	Limit   int64
}

// NewTransport fills in defaults.
func NewTransport(c *http.Client, timeout time.Duration, limit int64) Transport {
	if c == nil {
		c = &http.Client{}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	return Transport{Client: c, Timeout: timeout, Limit: limit}
}

// Do sends the request built by build (called once per attempt so a body
// can be re-sent) and reads the whole answer. Errors are *Error with Op op.
func (t Transport) Do(ctx context.Context, op string, build func(ctx context.Context) (*http.Request, error)) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := build(ctx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		return nil, TransportError(op, scrubURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.Limit+1))
	if err != nil {
		return nil, TransportError(op, scrubURL(err))
	}
	if int64(len(body)) > t.Limit {
		return nil, &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("answer larger than %d bytes", t.Limit)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// scrubURL drops the URL from *url.Error: query strings may hold dates and
// codes, and some deployments put keys there; the Op already says what
// was called.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// JoinURL appends path to a base URL that may carry its own path prefix.
func JoinURL(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

// CheckBaseURL validates a configured base URL.
func CheckBaseURL(pkg, base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: BaseURL must be an absolute http(s) URL", pkg)
	}
	return nil
}

// Success reports a 2xx status.
func (r *Response) Success() bool { return r.Status >= 200 && r.Status < 300 }

// HeaderDate is the time in an answer's Date header (the server's clock, to
// the second), or zero when it is absent or unparsable.
func HeaderDate(h http.Header) time.Time {
	v := h.Get("Date")
	if v == "" {
		return time.Time{}
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}
	}
	return t
}
