package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

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
		used, revoked pgtype.Timestamptz
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Name, &t.Role, &t.Province, &t.CreatedAt, &used, &revoked); err != nil {
		return store.APIToken{}, err
	}
	t.CreatedAt = store.Normalise(t.CreatedAt)
	t.LastUsedAt, t.RevokedAt = fromTstz(used), fromTstz(revoked)
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
	tag, err := s.pool.Exec(ctx, `
INSERT INTO api_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING`,
		n.ID, n.Hash, n.Name, n.Role, n.Province, n.CreatedAt, tstz(n.LastUsedAt), tstz(n.RevokedAt))
	if err != nil {
		return fmt.Errorf("create token %s: %w", n.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create token %s: id or hash already stored: %w", n.ID, store.ErrInvalid)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not (the caller refuses a revoked one), or an error wrapping
// store.ErrNotFound. The error never quotes the hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	t, err := one(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = $1`, hash), scanToken)
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
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = greatest(last_used_at, $2) WHERE id = $1`,
		id, store.Normalise(at))
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RevokeToken revokes the token id now. Revoking it again keeps the first
// time. No token id is an error wrapping store.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, store.Now())
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListTokens returns every token, revoked ones included, by CreatedAt then
// ID.
func (s *Store) ListTokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
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
	var e store.AuditEntry
	if err := row.Scan(&e.ID, &e.At, &e.TokenID, &e.Role, &e.Province, &e.Action, &e.Target, &e.Detail, &e.Outcome); err != nil {
		return store.AuditEntry{}, err
	}
	e.At = store.Normalise(e.At)
	return e, nil
}

// AppendAudit records e and returns the ID the store gave it. A zero At is
// the store's clock. An empty Action is an error wrapping store.ErrInvalid.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (id int64, err error) {
	if e, err = store.PrepareAudit(e, store.Now()); err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	if err := s.pool.QueryRow(ctx, `
INSERT INTO audit_log (at, token_id, role, province, action, target, detail, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		e.At, e.TokenID, e.Role, e.Province, e.Action, e.Target, e.Detail, e.Outcome).Scan(&id); err != nil {
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
		w.add("at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("at < ?", f.Until)
	}
	q := w.query(`SELECT `+auditColumns+` FROM audit_log`, `id`, f.Limit)
	rows, err := s.pool.Query(ctx, q, w.args...)
	out, err := all(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
