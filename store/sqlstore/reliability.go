package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lienthong/lienthong/store"
)

// =============================================================================
// Idempotency

// ClaimIdempotency records key before an outbound effect. already is false
// when this call made the claim: perform the effect, then ConfirmIdempotency
// (or ReleaseIdempotency if it certainly did not happen). already is true
// when the key was claimed before: result is the confirmed result, or nil
// while the claim is unconfirmed — an earlier attempt died mid-effect and
// its outcome must be reconciled with the target, not blindly repeated.
// A key claimed for a different effect is an error wrapping
// store.ErrKeyConflict.
func (s *Store) ClaimIdempotency(ctx context.Context, key, effect string) (already bool, result []byte, err error) {
	if key == "" {
		return false, nil, fmt.Errorf("claim idempotency: empty key: %w", store.ErrInvalid)
	}
	var (
		was       string
		confirmed bool
		claimed   bool
	)
	err = s.guarded(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.bind(`
INSERT INTO idempotency (key, effect, claimed_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO NOTHING`), key, effect, s.d.time(store.Now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			claimed = err == nil
			return err
		}
		return s.row(ctx, q, `SELECT effect, result, confirmed_at IS NOT NULL FROM idempotency WHERE key = $1`, key).
			Scan(&was, &result, &confirmed)
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Released between our insert and select: claim again.
		return s.ClaimIdempotency(ctx, key, effect)
	}
	if err != nil {
		return false, nil, fmt.Errorf("claim idempotency %q: %w", key, err)
	}
	if claimed {
		return false, nil, nil
	}
	if was != effect {
		return false, nil, fmt.Errorf("claim idempotency %q for %q: held for %q: %w", key, effect, was, store.ErrKeyConflict)
	}
	if !confirmed {
		return true, nil, nil
	}
	if result, err = s.seal.Open(store.SealIdempotencyResult, key, result); err != nil {
		return false, nil, fmt.Errorf("claim idempotency %q: %w", key, err)
	}
	if result == nil {
		result = []byte{} // confirmed: never nil
	}
	return true, result, nil
}

// ConfirmIdempotency records the result of the effect claimed under key.
// The result is sealed: a portal's answer may echo personal data.
func (s *Store) ConfirmIdempotency(ctx context.Context, key string, result []byte) error {
	result = s.seal.Seal([]byte{}, store.SealIdempotencyResult, key, result)
	n, err := s.exec(ctx, `UPDATE idempotency SET result = $2, confirmed_at = $3 WHERE key = $1`,
		key, result, s.d.time(store.Now()))
	return changedOne(n, err, fmt.Sprintf("confirm idempotency %q", key))
}

// ReleaseIdempotency drops an unconfirmed claim, for an effect known not to
// have happened, so it can be claimed again. A confirmed key is kept.
func (s *Store) ReleaseIdempotency(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM idempotency WHERE key = $1 AND confirmed_at IS NULL`, key); err != nil {
		return fmt.Errorf("release idempotency %q: %w", key, err)
	}
	return nil
}

// =============================================================================
// Identity index

var identityCols = []col{{"digest", "bytea"}, {"dossier_id", "text"}, {"source", "text"}}

// IndexIdentities links dossiers to the keyed digest of their applicant's
// identity number; the number itself is not stored. Links with an empty
// number are skipped; linking twice is harmless.
func (s *Store) IndexIdentities(ctx context.Context, links []store.IdentityLink) error {
	st, ok, err := s.identitiesStmt(links)
	if err == nil && ok {
		err = s.d.run(ctx, s, []stmt{st})
	}
	if err != nil {
		return fmt.Errorf("index identities: %w", err)
	}
	return nil
}

// identitiesStmt is IndexIdentities's statement; false when there is
// nothing to write.
func (s *Store) identitiesStmt(links []store.IdentityLink) (stmt, bool, error) {
	if s.ids == nil {
		return stmt{}, false, store.ErrNoIdentityKey
	}
	var rows [][]any
	for _, l := range links {
		if d, ok := s.ids.Digest(l.IDNumber); ok && l.DossierID != "" {
			rows = append(rows, []any{d, l.DossierID, l.Source})
		}
	}
	if len(rows) == 0 {
		return stmt{}, false, nil
	}
	return s.d.many("identity_index", identityCols, rows,
		`ON CONFLICT (digest, dossier_id) DO UPDATE SET source = excluded.source`), true, nil
}

// FindByIdentity returns the IDs of the dossiers linked to idNumber, sorted.
func (s *Store) FindByIdentity(ctx context.Context, idNumber string) ([]string, error) {
	if s.ids == nil {
		return nil, fmt.Errorf("find by identity: %w", store.ErrNoIdentityKey)
	}
	d, ok := s.ids.Digest(idNumber)
	if !ok {
		return nil, nil
	}
	rows, err := s.query(ctx, `SELECT dossier_id FROM identity_index WHERE digest = $1`, d)
	out, err := all(rows, err, func(r store.Scanner) (id string, err error) { return id, r.Scan(&id) })
	if err != nil {
		return nil, fmt.Errorf("find by identity: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// =============================================================================
// Leases

// AcquireLease makes holder the holder of lease name for ttl, if it is free,
// expired or already holder's (then it is renewed). It reports whether
// holder holds the lease. Expiry uses the database's clock (SQLite: this
// host's, which every process on the file shares), so instances agree on
// it whatever their own clocks say. Renew well within ttl (e.g. every
// ttl/3); another instance takes over at most ttl after the holder stops
// renewing.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquire lease %q: name, holder and ttl required: %w", name, store.ErrInvalid)
	}
	n, err := s.exec(ctx, `
INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, `+fmt.Sprintf(s.d.later, "$3")+`)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= `+s.d.clock, name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return n == 1, nil
}

// RenewLease extends holder's lease by ttl from now. It reports false when
// holder no longer holds it (another instance took over): stop working.
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("renew lease %q: ttl required: %w", name, store.ErrInvalid)
	}
	n, err := s.exec(ctx, `UPDATE leases SET expires_at = `+fmt.Sprintf(s.d.later, "$3")+`
WHERE name = $1 AND holder = $2`, name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease so another instance can take it at
// once. Releasing a lease one does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
