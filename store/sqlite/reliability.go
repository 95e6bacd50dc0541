package sqlite

import (
	"context"
	"database/sql"
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
		confirmed sql.NullInt64
	)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
INSERT INTO idempotency (key, effect, claimed_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO NOTHING`, key, effect, micros(store.Now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			was = effect
			return nil
		}
		already = true
		return tx.QueryRowContext(ctx, `SELECT effect, result, confirmed_at FROM idempotency WHERE key = ?`, key).
			Scan(&was, &result, &confirmed)
	})
	if err != nil {
		return false, nil, fmt.Errorf("claim idempotency %q: %w", key, err)
	}
	if was != effect {
		return false, nil, fmt.Errorf("claim idempotency %q for %q: held for %q: %w", key, effect, was, store.ErrKeyConflict)
	}
	if !already {
		return false, nil, nil
	}
	if !confirmed.Valid {
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
	res, err := s.w.ExecContext(ctx, `UPDATE idempotency SET result = ?, confirmed_at = ? WHERE key = ?`,
		result, micros(store.Now()), key)
	if err != nil {
		return fmt.Errorf("confirm idempotency %q: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("confirm idempotency %q: %w", key, err)
	} else if n == 0 {
		return fmt.Errorf("confirm idempotency %q: %w", key, store.ErrNotFound)
	}
	return nil
}

// ReleaseIdempotency drops an unconfirmed claim, for an effect known not to
// have happened, so it can be claimed again. A confirmed key is kept.
func (s *Store) ReleaseIdempotency(ctx context.Context, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM idempotency WHERE key = ? AND confirmed_at IS NULL`, key); err != nil {
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
	if s.ids == nil {
		return fmt.Errorf("index identities: %w", store.ErrNoIdentityKey)
	}
	if len(links) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.indexIdentitiesTx(ctx, tx, links) })
}

// indexIdentitiesTx is IndexIdentities within tx.
func (s *Store) indexIdentitiesTx(ctx context.Context, tx *sql.Tx, links []store.IdentityLink) error {
	if len(links) == 0 {
		return nil
	}
	if s.ids == nil {
		return fmt.Errorf("index identities: %w", store.ErrNoIdentityKey)
	}
	st, err := tx.PrepareContext(ctx, `
INSERT INTO identity_index (digest, dossier_id, source) VALUES (?, ?, ?)
ON CONFLICT (digest, dossier_id) DO UPDATE SET source = excluded.source`)
	if err != nil {
		return fmt.Errorf("index identities: %w", err)
	}
	defer st.Close()
	for _, l := range links {
		d, ok := s.ids.Digest(l.IDNumber)
		if !ok || l.DossierID == "" {
			continue
		}
		if _, err := st.ExecContext(ctx, d, l.DossierID, l.Source); err != nil {
			return fmt.Errorf("index identities: %w", err)
		}
	}
	return nil
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
	rows, err := s.r.QueryContext(ctx, `SELECT dossier_id FROM identity_index WHERE digest = ?`, d)
	if err != nil {
		return nil, fmt.Errorf("find by identity: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find by identity: scan: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find by identity: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// =============================================================================
// Leases

// AcquireLease makes holder the holder of lease name for ttl, if it is free,
// expired or already holder's (then it is renewed). It reports whether
// holder holds the lease. Expiry uses this host's clock: every process on
// one SQLite file shares it. Renew well within ttl (e.g. every ttl/3);
// another process takes over at most ttl after the holder stops renewing.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquire lease %q: name, holder and ttl required: %w", name, store.ErrInvalid)
	}
	now := time.Now()
	res, err := s.w.ExecContext(ctx, `
INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`, name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return n == 1, nil
}

// RenewLease extends holder's lease by ttl from now. It reports false when
// holder no longer holds it (another process took over): stop working.
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("renew lease %q: ttl required: %w", name, store.ErrInvalid)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?`,
		micros(time.Now().Add(ttl)), name, holder)
	if err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease so another process can take it at
// once. Releasing a lease one does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
