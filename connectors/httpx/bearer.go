package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Bearer is an OAuth2 client-credentials bearer token (Sơn La's portal,
// VNPost): it logs in with POST TokenPath (form grant_type=client_credentials,
// client_id, client_secret), keeps the token until a little before it
// expires, and sends requests with it, logging in again once when a request
// is answered 401.
//
// Set the fields before first use and leave them alone afterwards; use a
// Bearer through a pointer. It is safe for concurrent use. Concurrent
// callers may each log in; the servers hand out independent tokens, so that
// is harmless. Neither the secret nor a token ever appears in an error or a
// log message.
type Bearer struct {
	Transport    Transport
	BaseURL      string
	TokenPath    string // "/oauth/token", "/token"
	ClientID     string
	ClientSecret string
	Name         string           // prefixes the login op and the log messages ("sonla")
	Logger       *slog.Logger     // optional; debug messages only
	Now          func() time.Time // clock for token expiry (default time.Now)

	mu      sync.Mutex
	token   string
	expires time.Time // zero: the server gave no lifetime
}

// Token returns the cached token, logging in when there is none or it is
// about to expire.
func (b *Bearer) Token(ctx context.Context) (string, error) {
	b.mu.Lock()
	tok, exp := b.token, b.expires
	b.mu.Unlock()
	if tok != "" && (exp.IsZero() || b.now().Before(exp)) {
		return tok, nil
	}
	return b.login(ctx)
}

// Do sends method path (relative to BaseURL) with the token, body (nil for
// none) and hdr; Authorization and Accept: application/json are set over
// hdr. Any answer but a 401 is returned as it is, for the caller to
// classify. On a 401 it logs in again once and retries; a second 401 is a
// permanent *Error wrapping ErrAuth. Errors carry Op op, except a failed
// login, whose Op is "<Name>: login": 400 and 401/403 there are ErrAuth,
// an unreadable token answer is transient ErrMalformed.
func (b *Bearer) Do(ctx context.Context, op, method, path string, body []byte, hdr http.Header) (*Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := b.Token(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := b.Transport.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			req, err := http.NewRequestWithContext(ctx, method, JoinURL(b.BaseURL, path), rd)
			if err != nil {
				return nil, err
			}
			for k, v := range hdr {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept", "application/json")
			return req, nil
		})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusUnauthorized {
			return resp, nil
		}
		b.invalidate(tok)
		if attempt > 0 {
			return nil, &Error{Op: op, Status: resp.Status, Err: ErrAuth}
		}
		b.logger().Debug(b.prefixed("token rejected, logging in again"))
	}
}

// invalidate forgets tok unless another caller already replaced it.
func (b *Bearer) invalidate(tok string) {
	b.mu.Lock()
	if b.token == tok {
		b.token, b.expires = "", time.Time{}
	}
	b.mu.Unlock()
}

// login runs the client_credentials grant and caches its token.
func (b *Bearer) login(ctx context.Context) (string, error) {
	op := b.prefixed("login")
	form := url.Values{}
	form.Set("grant_type", "client_credentials")
	form.Set("client_id", b.ClientID)
	form.Set("client_secret", b.ClientSecret)
	body := form.Encode()
	resp, err := b.Transport.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, JoinURL(b.BaseURL, b.TokenPath), strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return "", err
	}
	if !resp.Success() {
		e := StatusError(op, resp)
		if resp.Status == http.StatusBadRequest {
			// OAuth answers invalid_client / unauthorized_client with 400.
			e.Err = ErrAuth
		}
		return "", e
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		return "", MalformedError(op, JSONError(err))
	}
	if t.AccessToken == "" {
		return "", MalformedError(op, errors.New("no access_token"))
	}
	var exp time.Time
	if secs, ok := JSONInt(t.ExpiresIn); ok && secs > 0 {
		life := time.Duration(secs) * time.Second
		// Renew a little before the server's expiry so a request does not
		// race it: a tenth of the lifetime, at most 30s.
		exp = b.now().Add(life - min(life/10, 30*time.Second))
	}
	b.mu.Lock()
	b.token, b.expires = t.AccessToken, exp
	b.mu.Unlock()
	b.logger().Debug(b.prefixed("logged in"), "expires_in", string(t.ExpiresIn))
	return t.AccessToken, nil
}

func (b *Bearer) prefixed(s string) string {
	if b.Name == "" {
		return s
	}
	return b.Name + ": " + s
}

func (b *Bearer) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Bearer) logger() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.New(slog.DiscardHandler)
}
