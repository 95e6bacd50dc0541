package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lienthong/lienthong/store"
)

// TokenStore is what Middleware needs of the hub's store (store/sqlstore).
type TokenStore interface {
	TokenByHash(ctx context.Context, hash []byte) (store.APIToken, error)
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// TouchEvery is how often, at most, Middleware records that a token was
// used (store.APIToken.LastUsedAt): a busy token does not cost a write per
// request.
const TouchEvery = time.Minute

// touchTimeout bounds the write that records a token's use.
const touchTimeout = 5 * time.Second

// Middleware authenticates every request by its "Authorization: Bearer
// <secret>" header and puts its Principal in the request's context
// (FromContext). A request without a token, or with an unknown or revoked
// one, is answered 401 with {"error": "…"} and goes no further; a failing
// store is 500. It records each token's use at most once per TouchEvery
// (per process, and not sooner than the stored LastUsedAt allows). Refusals
// are logged with the token's ID when it is known: never the secret, nor
// the header. log nil is slog.Default().
func Middleware(st TokenStore, log *slog.Logger) func(http.Handler) http.Handler {
	return middleware(st, log, time.Now)
}

func middleware(st TokenStore, log *slog.Logger, now func() time.Time) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	a := &authenticator{st: st, log: log, now: now, touched: map[string]time.Time{}}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := a.authenticate(w, r)
			if !ok {
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
		})
	}
}

type authenticator struct {
	st  TokenStore
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // token ID → when this process last touched it
}

// authenticate returns the principal of r, or answers r itself and
// returns false.
func (a *authenticator) authenticate(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	secret, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		a.refuse(w, r, reasonMissing, "")
		return Principal{}, false
	}
	if !wellFormed(secret) {
		a.refuse(w, r, "unknown token", "")
		return Principal{}, false
	}
	tok, err := a.st.TokenByHash(r.Context(), Hash(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.refuse(w, r, "unknown token", "")
		return Principal{}, false
	case err != nil:
		a.log.Error("api token check failed", "error", err.Error(), "method", r.Method, "path", r.URL.Path)
		writeError(w, http.StatusInternalServerError, "token check failed")
		return Principal{}, false
	case tok.Revoked():
		a.refuse(w, r, "token revoked", tok.ID)
		return Principal{}, false
	case !store.ValidRole(tok.Role):
		a.refuse(w, r, "token has no valid role", tok.ID)
		return Principal{}, false
	}
	a.touch(r.Context(), tok)
	return PrincipalOf(tok), true
}

// bearer returns the credentials of an "Authorization: Bearer …" header.
func bearer(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// touch records tok's use unless it was recorded less than TouchEvery ago,
// by this process or (LastUsedAt) another. A failure is logged, not the
// request's: the token was valid.
func (a *authenticator) touch(ctx context.Context, tok store.APIToken) {
	now := a.now()
	a.mu.Lock()
	last := a.touched[tok.ID]
	if tok.LastUsedAt.After(last) {
		last = tok.LastUsedAt
	}
	due := now.Sub(last) >= TouchEvery
	if due {
		a.touched[tok.ID] = now
	}
	a.mu.Unlock()
	if !due {
		return
	}
	// Not the request's context: a client that goes away must not leave
	// the use unrecorded until the next TouchEvery.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), touchTimeout)
	defer cancel()
	if err := a.st.TouchToken(ctx, tok.ID, now); err != nil {
		a.log.Warn("api token: recording its use failed", "token", tok.ID, "error", err.Error())
	}
}

// reasonMissing is the refusal of a request that presented no token.
const reasonMissing = "missing bearer token"

// refuse answers r 401 for reason, and logs it.
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, reason, tokenID string) {
	attrs := []any{"reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr}
	if tokenID != "" {
		attrs = append(attrs, "token", tokenID)
	}
	a.log.Info("api request refused", attrs...)
	challenge := `Bearer realm="lienthong"`
	if reason != reasonMissing { // RFC 6750: a token was presented, and is refused
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, reason)
}

// RequireOperator lets only operators (Principal.CanOperate) through to
// next: anyone else is answered 403, a request without a principal (not
// behind Middleware) 401.
func RequireOperator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="lienthong"`)
			writeError(w, http.StatusUnauthorized, "not authenticated")
		case !p.CanOperate():
			writeError(w, http.StatusForbidden, "an operator role (national or provincial) is required")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
