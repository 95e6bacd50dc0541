package vnpost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// tokenFor returns a cached bearer token, logging in when there is none or
// it is about to expire.
func (c *Client) tokenFor(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, exp := c.token, c.expires
	c.mu.Unlock()
	if tok != "" && (exp.IsZero() || c.now().Before(exp)) {
		return tok, nil
	}
	return c.login(ctx)
}

// invalidate forgets tok unless another caller already replaced it.
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token, c.expires = "", time.Time{}
	}
	c.mu.Unlock()
}

// login runs the client_credentials grant. Concurrent callers may each log
// in; VNPost hands out independent tokens, so that is harmless.
func (c *Client) login(ctx context.Context) (string, error) {
	const op = "vnpost: login"
	form := url.Values{}
	form.Set("grant_type", "client_credentials")
	form.Set("client_id", c.cfg.ClientID)
	form.Set("client_secret", c.cfg.ClientSecret)
	body := form.Encode()
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, tokenPath), strings.NewReader(body))
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
		e := httpx.StatusError(op, resp)
		if resp.Status == http.StatusBadRequest {
			// OAuth answers invalid_client / unauthorized_client with 400.
			e.Err = httpx.ErrAuth
		}
		return "", e
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		return "", httpx.MalformedError(op, jsonErr(err))
	}
	if t.AccessToken == "" {
		return "", httpx.MalformedError(op, errors.New("no access_token"))
	}
	var exp time.Time
	if secs, ok := jsonInt(t.ExpiresIn); ok && secs > 0 {
		life := time.Duration(secs) * time.Second
		// Renew a little before VNPost's expiry so a request does not race
		// it: a tenth of the lifetime, at most 30s.
		exp = c.now().Add(life - min(life/10, 30*time.Second))
	}
	c.mu.Lock()
	c.token, c.expires = t.AccessToken, exp
	c.mu.Unlock()
	c.log.Debug("vnpost: logged in", "expires_in", string(t.ExpiresIn))
	return t.AccessToken, nil
}

// authorized sends a request with the bearer token; on 401 it logs in again
// once and retries. A second 401 is a permanent ErrAuth.
func (c *Client) authorized(ctx context.Context, op, method, path string, body []byte) (*httpx.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.tokenFor(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			req, err := http.NewRequestWithContext(ctx, method, httpx.JoinURL(c.cfg.BaseURL, path), rd)
			if err != nil {
				return nil, err
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
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
		c.invalidate(tok)
		if attempt > 0 {
			return nil, &httpx.Error{Op: op, Status: resp.Status, Err: httpx.ErrAuth}
		}
		c.log.Debug("vnpost: token rejected, logging in again")
	}
}
