package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Access: API tokens and the audit log. The rules are in store/access.go.

// =============================================================================
// API tokens

const tokenColumns = `id, hash, name, role, province, created_at, last_used_at, revoked_at`

func scanToken(row store.Scanner) (t store.APIToken, err error) {
	err = row.Scan(&t.ID, &t.Hash, &t.Name, &t.Role, &t.Province, at(&t.CreatedAt), at(&t.LastUsedAt), at(&t.RevokedAt))
	return t, err
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
	written, err := s.exec(ctx, `
INSERT INTO api_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING`,
		n.ID, n.Hash, n.Name, n.Role, n.Province, s.d.time(n.CreatedAt), s.d.time(n.LastUsedAt), s.d.time(n.RevokedAt))
	if err != nil {
		return fmt.Errorf("create token %s: %w", n.ID, err)
	}
	if written == 0 {
		return fmt.Errorf("create token %s: id or hash already stored: %w", n.ID, store.ErrInvalid)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, revoked or
// not (the caller refuses a revoked one), or an error wrapping
// store.ErrNotFound. The error never quotes the hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	t, err := one(s.row(ctx, s.r, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = $1`, hash), scanToken)
	if err != nil {
		return store.APIToken{}, fmt.Errorf("token by hash: %w", err)
	}
	return t, nil
}

// TouchToken records that the token id was used at at (zero: the store's
// clock). LastUsedAt only moves forward. No token id is an error wrapping
// store.ErrNotFound.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE api_tokens SET last_used_at =
	CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END WHERE id = $1`,
		id, s.d.time(cmpTime(at, store.Now())))
	return changedOne(n, err, "touch token "+id)
}

// RevokeToken revokes the token id now. Revoking it again keeps the first
// time. No token id is an error wrapping store.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	n, err := s.exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, s.d.time(store.Now()))
	return changedOne(n, err, "revoke token "+id)
}

// ListTokens returns every token, revoked ones included, by CreatedAt then
// ID.
func (s *Store) ListTokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	out, err := all(rows, err, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// =============================================================================
// Audit log

const auditColumns = `id, at, token_id, role, province, action, target, detail, outcome`

func scanAudit(row store.Scanner) (e store.AuditEntry, err error) {
	err = row.Scan(&e.ID, at(&e.At), &e.TokenID, &e.Role, &e.Province, &e.Action, &e.Target, &e.Detail, &e.Outcome)
	return e, err
}

// AppendAudit records e, chained after the last entry (trail.go), and
// returns the ID the store gave it. A zero At is
// the store's clock. An empty Action is an error wrapping store.ErrInvalid.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (id int64, err error) {
	if e, err = store.PrepareAudit(e, store.Now()); err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	if id, err = s.appendAuditChained(ctx, e); err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// ListAudit returns the audit entries f selects, oldest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	w := s.where()
	if f.TokenID != "" {
		w.add("token_id = ?", f.TokenID)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	w.time("at >= ?", f.Since)
	w.time("at < ?", f.Until)
	rows, err := s.r.QueryContext(ctx, w.query(`SELECT `+auditColumns+` FROM audit_log`, `id`, f.Limit, f.Offset), w.args...)
	out, err := all(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
