package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lienthong/lienthong/store"
)

// Settlements (store/settlement.go). A guarded update runs in a transaction
// that locks the row (SELECT … FOR UPDATE), writes it and, when it holds the
// writeback, adds the quarantine entry, so concurrent passes hold it once.

const settlementColumns = `kind, ref, dossier_id, source, state, writeback, attempts, round, tries, last_error,
	next_at, created_at, updated_at`

func scanSettlement(row store.Scanner) (store.Settlement, error) {
	var s store.Settlement
	if err := row.Scan(&s.Kind, &s.Ref, &s.DossierID, &s.Source, &s.State, &s.Writeback, &s.Attempts, &s.Round,
		&s.Tries, &s.LastError, &s.NextAt, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return store.Settlement{}, err
	}
	s.NextAt, s.CreatedAt, s.UpdatedAt = store.Normalise(s.NextAt), store.Normalise(s.CreatedAt), store.Normalise(s.UpdatedAt)
	return s, nil
}

// rowQuerier is the pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getSettlement(ctx context.Context, q rowQuerier, kind, ref, lock string) (store.Settlement, error) {
	return one(q.QueryRow(ctx, `SELECT `+settlementColumns+` FROM settlements WHERE kind = $1 AND ref = $2`+lock, kind, ref), scanSettlement)
}

// OpenSettlement records s, open with its writeback due, if no settlement
// of its Kind and Ref exists, and returns it as stored with created true.
// Otherwise it returns the one stored, unchanged, with created false. An
// unknown Kind or an empty Ref or DossierID is an error wrapping
// store.ErrInvalid.
func (s *Store) OpenSettlement(ctx context.Context, st store.Settlement) (stored store.Settlement, created bool, err error) {
	n, err := store.PrepareSettlement(st, store.Now())
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("open settlement %s %q: %w", st.Kind, st.Ref, err)
	}
	stored, err = one(s.pool.QueryRow(ctx, `
INSERT INTO settlements (`+settlementColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, '', $7, $8, $9)
ON CONFLICT (kind, ref) DO NOTHING
RETURNING `+settlementColumns,
		n.Kind, n.Ref, n.DossierID, n.Source, n.State, n.Writeback, n.NextAt, n.CreatedAt, n.UpdatedAt), scanSettlement)
	stored, created, err = store.WrittenOrCurrent(stored, err, func() (store.Settlement, error) { return getSettlement(ctx, s.pool, n.Kind, n.Ref, "") })
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("open settlement %s %q: %w", st.Kind, st.Ref, err)
	}
	return stored, created, nil
}

// GetSettlement returns the settlement of kind and ref, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error) {
	st, err := getSettlement(ctx, s.pool, kind, ref, "")
	if err != nil {
		return store.Settlement{}, fmt.Errorf("get settlement %s %q: %w", kind, ref, err)
	}
	return st, nil
}

// UpdateSettlement applies u to the settlement of kind and ref in one
// transaction and returns it as updated, with changed true. If it is in
// another round than u.Round, or its writeback in none of u.FromWriteback,
// nothing is written and it is returned as it is, with changed false. When
// the update holds the writeback, u.Hold is added to the quarantine in the
// same transaction. No such settlement is an error wrapping
// store.ErrNotFound.
func (s *Store) UpdateSettlement(ctx context.Context, kind, ref string, u store.SettlementUpdate) (st store.Settlement, changed bool, err error) {
	if u, err = store.PrepareSettlementUpdate(u); err != nil {
		return store.Settlement{}, false, fmt.Errorf("update settlement %s %q: %w", kind, ref, err)
	}
	var hold []byte
	if u.Hold != nil {
		hold = s.seal.Seal([]byte{}, store.SealQuarantinePayload, store.QuarantineRowKey(u.Hold.Source, u.Hold.DossierID), u.Hold.Payload)
	}
	now := store.Now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := getSettlement(ctx, tx, kind, ref, " FOR UPDATE")
		if err != nil {
			return err
		}
		row, err := one(tx.QueryRow(ctx, `
UPDATE settlements SET
	attempts = attempts + CASE WHEN $7::bool THEN 1 ELSE 0 END,
	writeback = CASE WHEN $7::bool AND $8::int4 > 0 AND attempts + 1 >= $8::int4 THEN '`+store.WritebackHeld+`'
		ELSE coalesce(nullif($6::text, ''), writeback) END,
	state = coalesce(nullif($5::text, ''), state),
	tries = tries + CASE WHEN $9::bool THEN 1 ELSE 0 END,
	last_error = coalesce(nullif($10::text, ''), last_error),
	next_at = coalesce($11::timestamptz, next_at),
	updated_at = $12
WHERE kind = $1 AND ref = $2 AND round = $3
	AND (coalesce(cardinality($4::text[]), 0) = 0 OR writeback = ANY($4::text[]))
RETURNING `+settlementColumns,
			kind, ref, u.Round, u.FromWriteback, u.State, u.Writeback, u.Refused, u.HoldAt,
			u.Tried, u.LastError, tstz(u.NextAt), now), scanSettlement)
		st, changed, err = store.WrittenOrCurrent(row, err, func() (store.Settlement, error) { return before, nil })
		if err != nil || !changed || u.Hold == nil || before.Writeback == store.WritebackHeld || st.Writeback != store.WritebackHeld {
			return err
		}
		h := u.Hold
		at, state := h.At, h.State
		if at.IsZero() {
			at = now
		}
		if state == "" {
			state = store.QuarantineOpen
		}
		_, err = tx.Exec(ctx, `
INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			h.Source, h.DossierID, h.Version, h.Field, h.Reason, h.Format, hold, at, state)
		return err
	})
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("update settlement %s %q: %w", kind, ref, err)
	}
	return st, changed, nil
}

// ReopenSettlement starts a new round for a held writeback: due again, no
// attempts counted, open and due now. It returns the settlement with
// changed true, or as it is with changed false when its writeback is not
// held. No such settlement is an error wrapping store.ErrNotFound.
func (s *Store) ReopenSettlement(ctx context.Context, kind, ref string) (st store.Settlement, changed bool, err error) {
	now := store.Now()
	st, err = one(s.pool.QueryRow(ctx, `
UPDATE settlements SET writeback = $1, state = $2, attempts = 0, round = round + 1, tries = 0, next_at = $3, updated_at = $3
WHERE kind = $4 AND ref = $5 AND writeback = $6
RETURNING `+settlementColumns,
		store.WritebackDue, store.SettlementOpen, now, kind, ref, store.WritebackHeld), scanSettlement)
	st, changed, err = store.WrittenOrCurrent(st, err, func() (store.Settlement, error) { return getSettlement(ctx, s.pool, kind, ref, "") })
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("reopen settlement %s %q: %w", kind, ref, err)
	}
	return st, changed, nil
}

// ListSettlements returns the settlements f selects, by NextAt, then Kind
// and Ref.
func (s *Store) ListSettlements(ctx context.Context, f store.SettlementFilter) ([]store.Settlement, error) {
	var w where
	w.in("kind", f.Kinds)
	w.in("state", f.States)
	w.in("writeback", f.Writeback)
	w.in("dossier_id", f.DossierIDs)
	if !f.DueBy.IsZero() {
		w.add("next_at <= ?", f.DueBy)
	}
	q := w.query(`SELECT `+settlementColumns+` FROM settlements`, `next_at, kind, ref`, f.Limit)
	rows, err := s.pool.Query(ctx, q, w.args...)
	out, err := all(rows, err, scanSettlement)
	if err != nil {
		return nil, fmt.Errorf("list settlements: %w", err)
	}
	return out, nil
}
