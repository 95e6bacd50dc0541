// Package sms sends applicant notifications through the SMS brand-name
// gateway (spec §7): POST /api/sms/send with HTTP Basic auth, one message
// per requestId. The gateway answers a repeated requestId with the first
// messageId and sends nothing, so a send that failed transiently can be
// retried with the same requestId without texting the applicant twice.
package sms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lienthong/lienthong/connectors/httpx"
	"golang.org/x/text/unicode/norm"
)

const sendPath = "/api/sms/send"

// MaxLength is the most characters a message may have: brand-name SMS are
// sent as one GSM part of at most 160 characters.
const MaxLength = 160

// Gateway answer codes (spec §7; the non-zero ones are modelled).
const (
	CodeOK       = "00"
	CodeAuth     = "01"
	CodeInvalid  = "02"
	CodeInternal = "99"
)

// Sentinels for requests refused before anything is sent. They never carry
// the number or the text.
var (
	ErrInvalidPhone   = errors.New("not a Vietnamese mobile number")
	ErrInvalidMessage = errors.New("message must be 1..160 ASCII characters")
	ErrNoRequestID    = errors.New("requestId is required")
)

// Config configures a Client. BaseURL, Username, Password and Brandname are
// required.
type Config struct {
	BaseURL    string
	Username   string
	Password   string
	Brandname  string
	HTTPClient *http.Client  // default: a plain http.Client
	Timeout    time.Duration // per request, body included (default 30s)
}

// Client sends SMS through one gateway account. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http httpx.Transport
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if err := httpx.CheckBaseURL("sms", cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("sms: Username and Password are required")
	}
	if cfg.Brandname == "" || !isASCII(cfg.Brandname) {
		return nil, errors.New("sms: Brandname is required and must be ASCII")
	}
	// Answers are tiny; a small limit keeps a misbehaving gateway cheap.
	return &Client{cfg: cfg, http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, 1<<20)}, nil
}

// IsTransient reports whether a Send error is worth retrying later (with
// the same requestId).
func IsTransient(err error) bool { return httpx.IsTransient(err) }

type sendRequest struct {
	Phone     string `json:"phone"`
	Message   string `json:"message"`
	Brandname string `json:"brandname"`
	RequestID string `json:"requestId"`
}

type sendAnswer struct {
	Code      string `json:"code"`
	MessageID string `json:"messageId"`
}

// Send texts message to phone and returns the gateway's messageId. phone may
// be written in any common form (0912345678, +84 912 345 678, 0912.345.678).
// message must already be plain ASCII (see ASCII) of at most MaxLength
// characters; requestID is the idempotency key. Errors are *httpx.Error:
// invalid input and gateway refusals are permanent, 5xx / 429 / transport
// failures transient, bad credentials wrap httpx.ErrAuth.
func (c *Client) Send(ctx context.Context, phone, message, requestID string) (string, error) {
	const op = "sms: send"
	intl, err := International(phone)
	if err != nil {
		return "", &httpx.Error{Op: op, Err: err}
	}
	if message == "" || !isASCII(message) || len(message) > MaxLength {
		return "", &httpx.Error{Op: op, Err: ErrInvalidMessage}
	}
	if strings.TrimSpace(requestID) == "" {
		return "", &httpx.Error{Op: op, Err: ErrNoRequestID}
	}
	body, err := json.Marshal(sendRequest{Phone: intl, Message: message, Brandname: c.cfg.Brandname, RequestID: requestID})
	if err != nil {
		return "", &httpx.Error{Op: op, Err: err}
	}
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, sendPath), strings.NewReader(string(body)))
		if err == nil {
			req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return "", err
	}
	var a sendAnswer
	jerr := json.Unmarshal(resp.Body, &a)
	if !resp.Success() {
		e := httpx.StatusError(op, resp)
		if jerr == nil {
			e.Code = a.Code
		}
		return "", e
	}
	if jerr != nil {
		return "", httpx.MalformedError(op, errors.New("answer is not JSON"))
	}
	switch {
	case a.Code == CodeOK && a.MessageID != "":
		return a.MessageID, nil
	case a.Code == CodeOK:
		// Retrying with the same requestId fetches the id without a resend.
		return "", httpx.MalformedError(op, errors.New("no messageId"))
	case a.Code == CodeInternal:
		// The gateway's own "try again later", whatever the HTTP status.
		return "", &httpx.Error{Op: op, Status: resp.Status, Code: a.Code, Transient: true}
	case a.Code == CodeAuth:
		return "", &httpx.Error{Op: op, Status: resp.Status, Code: a.Code, Err: httpx.ErrAuth}
	default:
		// The gateway's message text is left out: it may echo the number.
		return "", &httpx.Error{Op: op, Status: resp.Status, Code: a.Code, Err: httpx.ErrRejected}
	}
}

// mobile is the spec's mobile number pattern once separators are removed;
// the 84 form without '+' is what the gateway itself speaks.
var mobile = regexp.MustCompile(`^(?:0|\+84|84)([35789]\d{8})$`)

// International converts a Vietnamese mobile number written as 0912345678,
// +84 912 345 678, 0912.345.678 or 0912-345-678 to the gateway's form
// 84912345678. The error does not contain the number.
func International(phone string) (string, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '.', '-', '\t', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(phone))
	m := mobile.FindStringSubmatch(clean)
	if m == nil {
		return "", ErrInvalidPhone
	}
	return "84" + m[1], nil
}

// punctuation maps the typographic characters Vietnamese text commonly
// carries to ASCII, so that ASCII output is sendable more often.
var punctuation = strings.NewReplacer(
	"‘", "'", "’", "'", "“", `"`, "”", `"`,
	"–", "-", "—", "-", "…", "...",
)

// ASCII removes Vietnamese diacritics (NFD, then combining marks dropped;
// đ→d, Đ→D), maps typographic quotes, dashes and ellipses to ASCII and
// collapses runs of whitespace to one space. Other non-ASCII characters are
// kept, so that Send refuses them rather than sending garbled text.
func ASCII(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(punctuation.Replace(s)) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ':
			r = 'd'
		case r == 'Đ':
			r = 'D'
		}
		b.WriteRune(r)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
