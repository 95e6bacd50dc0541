package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

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
	tag, err := s.pool.Exec(ctx, `
INSERT INTO idempotency (key, effect, claimed_at) VALUES ($1, $2, now())
ON CONFLICT (key) DO NOTHING`, key, effect)
	if err != nil {
		return false, nil, fmt.Errorf("claim idempotency %q: %w", key, err)
	}
	if tag.RowsAffected() == 1 {
		return false, nil, nil
	}
	var (
		was       string
		confirmed bool
	)
	err = s.pool.QueryRow(ctx, `SELECT effect, result, confirmed_at IS NOT NULL FROM idempotency WHERE key = $1`, key).
		Scan(&was, &result, &confirmed)
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between our insert and select: claim again.
		return s.ClaimIdempotency(ctx, key, effect)
	}
	if err != nil {
		return false, nil, fmt.Errorf("claim idempotency %q: %w", key, err)
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
	tag, err := s.pool.Exec(ctx, `UPDATE idempotency SET result = $2, confirmed_at = now() WHERE key = $1`, key, result)
	if err != nil {
		return fmt.Errorf("confirm idempotency %q: %w", key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("confirm idempotency %q: %w", key, store.ErrNotFound)
	}
	return nil
}

// ReleaseIdempotency drops an unconfirmed claim, for an effect known not to
// have happened, so it can be claimed again. A confirmed key is kept.
func (s *Store) ReleaseIdempotency(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE key = $1 AND confirmed_at IS NULL`, key); err != nil {
		return fmt.Errorf("release idempotency %q: %w", key, err)
	}
	return nil
}

// =============================================================================
// Identity index

// IndexIdentities links dossiers to the keyed digest of their applicant's
// identity number; the number itself is not stored. Links with an empty
// number are skipped; linking twice is harmless.
func (s *Store) IndexIdentities(ctx context.Context, links []store.IdentityLink) error {
	q, args, err := s.identitiesStmt(links)
	if err != nil || q == "" {
		return err
	}
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("index identities: %w", err)
	}
	return nil
}

// identitiesStmt is IndexIdentities's statement; "" when there is nothing
// to write.
func (s *Store) identitiesStmt(links []store.IdentityLink) (string, []any, error) {
	if s.ids == nil {
		return "", nil, fmt.Errorf("index identities: %w", store.ErrNoIdentityKey)
	}
	var (
		digests      [][]byte
		ids, sources []string
	)
	for _, l := range links {
		d, ok := s.ids.Digest(l.IDNumber)
		if !ok || l.DossierID == "" {
			continue
		}
		digests, ids, sources = append(digests, d), append(ids, l.DossierID), append(sources, l.Source)
	}
	if len(digests) == 0 {
		return "", nil, nil
	}
	const q = `
INSERT INTO identity_index (digest, dossier_id, source)
SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[])
ON CONFLICT (digest, dossier_id) DO UPDATE SET source = excluded.source`
	return q, []any{digests, ids, sources}, nil
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
	rows, err := s.pool.Query(ctx, `SELECT dossier_id FROM identity_index WHERE digest = $1`, d)
	if err != nil {
		return nil, fmt.Errorf("find by identity: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
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
// holder holds the lease. Expiry uses the database's clock, so instances
// agree on it whatever their own clocks say. Renew well within ttl (e.g.
// every ttl/3); another instance takes over at most ttl after the holder
// stops renewing.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquire lease %q: name, holder and ttl required: %w", name, store.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()`, name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RenewLease extends holder's lease by ttl from now. It reports false when
// holder no longer holds it (another instance took over): stop working.
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("renew lease %q: ttl required: %w", name, store.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, `
UPDATE leases SET expires_at = clock_timestamp() + $3 * interval '1 microsecond'
WHERE name = $1 AND holder = $2`, name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease gives up holder's lease so another instance can take it at
// once. Releasing a lease one does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
