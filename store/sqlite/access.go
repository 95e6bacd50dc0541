package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Access: API tokens and the audit log. The rules both stores share are in
// store/access.go.

// =============================================================================
// API tokens

const tokenColumns = `id, hash, name, role, province, created_at, last_used_at, revoked_at`

func scanToken(row store.Scanner) (store.APIToken, error) {
	var (
		t             store.APIToken
		created       int64
		used, revoked sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Name, &t.Role, &t.Province, &created, &used, &revoked); err != nil {
		return store.APIToken{}, err
	}
	t.CreatedAt = fromMicros(created)
	t.LastUsedAt, t.RevokedAt = fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

// CreateToken records t. A zero CreatedAt is the store's clock. An ID or
// hash already stored, an empty ID, a Hash that is not a SHA-256, an
// unknown Role, or a province that does not fit the role (see
// store.PrepareToken) is an error wrapping store.ErrInvalid.
func (s *Store) CreateToken(ctx context.Context, t store.APIToken) error {
	n, err := store.PrepareToken(t, store.Now())
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `
INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		n.ID, n.Hash, n.Name, n.Role, n.Province, micros(n.CreatedAt), nullMicros(n.LastUsedAt), nullMicros(n.RevokedAt))
	if err != nil {
		return fmt.Errorf("create token %s: %w", n.ID, err)
	}
	if written, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create token %s: %w", n.ID, err)
	} else if written == 0 {
		return fmt.Errorf("create token %s: id or hash already stored: %w", n.ID, store.ErrInvalid)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not (the caller refuses a revoked one), or an error wrapping
// store.ErrNotFound. The error never quotes the hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	t, err := one(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash), scanToken)
	if err != nil {
		return store.APIToken{}, fmt.Errorf("token by hash: %w", err)
	}
	return t, nil
}

// TouchToken records that the token id was used at at (zero: the store's
// clock). LastUsedAt only moves forward. No token id is an error wrapping
// store.ErrNotFound.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = store.Now()
	}
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, ?2), ?2) WHERE id = ?1`,
		id, micros(store.Normalise(at)))
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return affected(res, "touch token "+id)
}

// RevokeToken revokes the token id now. Revoking it again keeps the first
// time. No token id is an error wrapping store.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1`,
		id, micros(store.Now()))
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return affected(res, "revoke token "+id)
}

// affected is nil if res changed a row, else an error wrapping
// store.ErrNotFound.
func affected(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// ListTokens returns every token, revoked ones included, by CreatedAt then
// ID.
func (s *Store) ListTokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	out, err := all(rows, err, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// =============================================================================
// Audit log

const auditColumns = `id, at, token_id, role, province, action, target, detail, outcome`

func scanAudit(row store.Scanner) (store.AuditEntry, error) {
	var (
		e  store.AuditEntry
		at int64
	)
	if err := row.Scan(&e.ID, &at, &e.TokenID, &e.Role, &e.Province, &e.Action, &e.Target, &e.Detail, &e.Outcome); err != nil {
		return store.AuditEntry{}, err
	}
	e.At = fromMicros(at)
	return e, nil
}

// AppendAudit records e and returns the ID the store gave it. A zero At is
// the store's clock. An empty Action is an error wrapping store.ErrInvalid.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (id int64, err error) {
	if e, err = store.PrepareAudit(e, store.Now()); err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `
INSERT INTO audit_log (at, token_id, role, province, action, target, detail, outcome)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		micros(e.At), e.TokenID, e.Role, e.Province, e.Action, e.Target, e.Detail, e.Outcome)
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// ListAudit returns the audit entries f selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var w where
	if f.TokenID != "" {
		w.add("token_id = ?", f.TokenID)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		w.add("at >= ?", micros(store.Normalise(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", micros(store.Normalise(f.Until)))
	}
	q := w.query(`SELECT `+auditColumns+` FROM audit_log`, `id`, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
