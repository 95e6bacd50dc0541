package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// Settlements (store/settlement.go). Writes run in a write transaction,
// which holds the file's write lock: a guarded update reads the row, writes
// it and, when it holds the writeback, adds the quarantine entry, with no
// other writer in between.

const settlementColumns = `kind, ref, dossier_id, source, state, writeback, attempts, round, tries, last_error,
	next_at, created_at, updated_at`

func scanSettlement(row store.Scanner) (store.Settlement, error) {
	var (
		s                      store.Settlement
		next, created, updated int64
	)
	if err := row.Scan(&s.Kind, &s.Ref, &s.DossierID, &s.Source, &s.State, &s.Writeback, &s.Attempts, &s.Round,
		&s.Tries, &s.LastError, &next, &created, &updated); err != nil {
		return store.Settlement{}, err
	}
	s.NextAt, s.CreatedAt, s.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	return s, nil
}

func getSettlement(ctx context.Context, q querier, kind, ref string) (store.Settlement, error) {
	return one(q.QueryRowContext(ctx, `SELECT `+settlementColumns+` FROM settlements WHERE kind = ? AND ref = ?`, kind, ref), scanSettlement)
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
INSERT INTO settlements (`+settlementColumns+`) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, '', ?, ?, ?)
ON CONFLICT (kind, ref) DO NOTHING
RETURNING `+settlementColumns,
			n.Kind, n.Ref, n.DossierID, n.Source, n.State, n.Writeback, micros(n.NextAt), micros(n.CreatedAt), micros(n.UpdatedAt)), scanSettlement)
		stored, created, err = store.WrittenOrCurrent(row, err, func() (store.Settlement, error) { return getSettlement(ctx, tx, n.Kind, n.Ref) })
		return err
	})
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("open settlement %s %q: %w", st.Kind, st.Ref, err)
	}
	return stored, created, nil
}

// GetSettlement returns the settlement of kind and ref, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error) {
	st, err := getSettlement(ctx, s.r, kind, ref)
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := getSettlement(ctx, tx, kind, ref)
		if err != nil {
			return err
		}
		row, err := one(tx.QueryRowContext(ctx, `
UPDATE settlements SET
	attempts = attempts + ?7,
	writeback = CASE WHEN ?7 = 1 AND ?8 > 0 AND attempts + 1 >= ?8 THEN '`+store.WritebackHeld+`'
		ELSE coalesce(nullif(?6, ''), writeback) END,
	state = coalesce(nullif(?5, ''), state),
	tries = tries + ?9,
	last_error = coalesce(nullif(?10, ''), last_error),
	next_at = coalesce(?11, next_at),
	updated_at = ?12
WHERE kind = ?1 AND ref = ?2 AND round = ?3
	AND (json_array_length(?4) = 0 OR writeback IN (SELECT value FROM json_each(?4)))
RETURNING `+settlementColumns,
			kind, ref, u.Round, jsonList(u.FromWriteback), u.State, u.Writeback, boolInt(u.Refused), u.HoldAt,
			boolInt(u.Tried), u.LastError, nullMicros(u.NextAt), micros(now)), scanSettlement)
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
		_, err = tx.ExecContext(ctx, `
INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.Source, h.DossierID, h.Version, h.Field, h.Reason, h.Format, hold, micros(store.Normalise(at)), state)
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
	now := micros(store.Now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
UPDATE settlements SET writeback = ?, state = ?, attempts = 0, round = round + 1, tries = 0, next_at = ?, updated_at = ?
WHERE kind = ? AND ref = ? AND writeback = ?
RETURNING `+settlementColumns,
			store.WritebackDue, store.SettlementOpen, now, now, kind, ref, store.WritebackHeld), scanSettlement)
		st, changed, err = store.WrittenOrCurrent(row, err, func() (store.Settlement, error) { return getSettlement(ctx, tx, kind, ref) })
		return err
	})
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
		w.add("next_at <= ?", micros(store.Normalise(f.DueBy)))
	}
	q := w.query(`SELECT `+settlementColumns+` FROM settlements`, `next_at, kind, ref`, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, scanSettlement)
	if err != nil {
		return nil, fmt.Errorf("list settlements: %w", err)
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
