package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinels a caller can test with errors.Is. They never carry response
// bodies, so no personal data ends up in logs through them.
var (
	// ErrAuth: the portal rejected our credentials (after one re-login where
	// the protocol has logins). Permanent until the configuration changes.
	ErrAuth = errors.New("authentication rejected")
	// ErrNotFound: the portal does not know the dossier (writeback 404).
	ErrNotFound = errors.New("not found")
	// ErrMalformed: the answer could not be read as a whole (not JSON / not
	// XML / no envelope). Classified transient: a truncated or garbled
	// answer is usually gone on retry.
	ErrMalformed = errors.New("malformed response")
	// ErrRejected: the portal answered but refused the request (writeback
	// result other than OK).
	ErrRejected = errors.New("rejected by portal")
	// ErrCursor: the stored cursor cannot be read.
	ErrCursor = errors.New("unreadable cursor")
)

// Error is a classified connector error. Op says what was being done
// ("sonla: list page 3"); Transient says whether retrying later can help.
type Error struct {
	Op         string
	Status     int    // HTTP status, 0 when there was no answer
	Code       string // SOAP faultcode or the portal's own result code
	Message    string // SOAP faultstring or similar, from the portal; never a body dump
	Transient  bool
	RetryAfter time.Duration // from Retry-After on 429/503, 0 when absent
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	switch {
	case e.Code != "" && e.Status != 0:
		sep()
		fmt.Fprintf(&b, "fault %s (HTTP %d)", e.Code, e.Status)
	case e.Code != "":
		sep()
		fmt.Fprintf(&b, "fault %s", e.Code)
	case e.Status != 0:
		sep()
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	if e.Message != "" {
		sep()
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		sep()
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err is worth retrying later: timeouts,
// connection failures, 5xx, 429, SOAP soap:Server faults, garbled answers.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// IsPermanent reports whether err will not go away by retrying: 4xx other
// than a 401 the connector already handled, soap:Client faults, bad
// credentials, unreadable cursors.
func IsPermanent(err error) bool { return err != nil && !IsTransient(err) }

// RetryAfter returns the delay the portal asked for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// TransportError classifies a failed round trip (no HTTP answer). All are
// transient except a cancellation by the caller.
func TransportError(op string, err error) *Error {
	return &Error{Op: op, Transient: !errors.Is(err, context.Canceled), Err: err}
}

// StatusError classifies a non-2xx answer that carries nothing more specific.
func StatusError(op string, r *Response) *Error {
	e := &Error{Op: op, Status: r.Status}
	switch {
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		e.Err = ErrAuth
	case r.Status == http.StatusNotFound:
		e.Err = ErrNotFound
	case r.Status == http.StatusRequestTimeout, r.Status == http.StatusTooEarly,
		r.Status == http.StatusTooManyRequests, r.Status >= 500:
		e.Transient = true
		e.RetryAfter = ParseRetryAfter(r.Header.Get("Retry-After"))
	}
	return e
}

// MalformedError wraps a parse failure of a whole answer.
func MalformedError(op string, cause error) *Error {
	return &Error{Op: op, Transient: true, Err: fmt.Errorf("%w: %v", ErrMalformed, cause)}
}

// JSONError describes a JSON decoding failure for MalformedError: it keeps
// the decoder's complaint but never quotes the body.
func JSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("unexpected %s for %s", te.Value, te.Field)
	}
	return errors.New("invalid JSON")
}

// ParseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date,
// as a wait from now: never negative, 0 when absent, unreadable or past.
func ParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Clip shortens portal-supplied text (fault strings, error answers) for
// error messages: trimmed, at most max characters (runes, never half a
// UTF-8 sequence), "…" when cut.
func Clip(s string, max int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}
