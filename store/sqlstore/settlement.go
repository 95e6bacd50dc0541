package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// Settlements (store/settlement.go). A guarded update runs in a transaction
// that locks the row (PostgreSQL: SELECT … FOR UPDATE; SQLite: the file's
// write lock), writes it and, when it holds the writeback, adds the
// quarantine entry, so concurrent passes hold it once.

const settlementColumns = `kind, ref, dossier_id, source, state, writeback, attempts, round, tries, last_error,
	next_at, created_at, updated_at`

func scanSettlement(row store.Scanner) (s store.Settlement, err error) {
	err = row.Scan(&s.Kind, &s.Ref, &s.DossierID, &s.Source, &s.State, &s.Writeback, &s.Attempts, &s.Round,
		&s.Tries, &s.LastError, at(&s.NextAt), at(&s.CreatedAt), at(&s.UpdatedAt))
	return s, err
}

func (s *Store) getSettlement(ctx context.Context, q querier, kind, ref, lock string) (store.Settlement, error) {
	return one(s.row(ctx, q, `SELECT `+settlementColumns+` FROM settlements WHERE kind = $1 AND ref = $2`+lock, kind, ref), scanSettlement)
}

// OpenSettlement records s, open with its writeback due, if no settlement
// of its Kind and Ref exists, and returns it as stored with created true.
// Otherwise it returns the one stored, unchanged, with created false. An
// unknown Kind or an empty Ref or DossierID is an error wrapping
// store.ErrInvalid.
func (s *Store) OpenSettlement(ctx context.Context, st store.Settlement) (stored store.Settlement, created bool, err error) {
	n, err := store.PrepareSettlement(st, store.Now())
	if err == nil {
		stored, created, err = createOrGet(ctx, s, scanSettlement,
			func(q querier) (store.Settlement, error) { return s.getSettlement(ctx, q, n.Kind, n.Ref, "") }, `
INSERT INTO settlements (`+settlementColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, '', $7, $8, $9)
ON CONFLICT (kind, ref) DO NOTHING
RETURNING `+settlementColumns,
			n.Kind, n.Ref, n.DossierID, n.Source, n.State, n.Writeback, s.d.time(n.NextAt), s.d.time(n.CreatedAt), s.d.time(n.UpdatedAt))
	}
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("open settlement %s %q: %w", st.Kind, st.Ref, err)
	}
	return stored, created, nil
}

// GetSettlement returns the settlement of kind and ref, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error) {
	st, err := s.getSettlement(ctx, s.r, kind, ref, "")
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
	var hold stmt
	if u.Hold != nil {
		if hold, err = s.quarantineStmt([]store.QuarantineEntry{*u.Hold}); err != nil {
			return store.Settlement{}, false, fmt.Errorf("update settlement %s %q: hold: %w", kind, ref, err)
		}
	}
	args := []any{kind, ref, u.Round, u.State, u.Writeback, boolInt(u.Refused), u.HoldAt, boolInt(u.Tried),
		u.LastError, s.d.time(u.NextAt), s.d.time(store.Now())}
	q := `
UPDATE settlements SET
	attempts = attempts + CAST($6 AS integer),
	writeback = CASE WHEN CAST($6 AS integer) = 1 AND CAST($7 AS integer) > 0 AND attempts + 1 >= CAST($7 AS integer)
		THEN '` + store.WritebackHeld + `' ELSE coalesce(nullif(CAST($5 AS text), ''), writeback) END,
	state = coalesce(nullif(CAST($4 AS text), ''), state),
	tries = tries + CAST($8 AS integer),
	last_error = coalesce(nullif(CAST($9 AS text), ''), last_error),
	next_at = coalesce(CAST($10 AS timestamptz), next_at),
	updated_at = $11
WHERE kind = $1 AND ref = $2 AND round = $3` + s.oneOf("writeback", u.FromWriteback, &args) + `
RETURNING ` + settlementColumns
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := s.getSettlement(ctx, tx, kind, ref, s.d.forUpdate)
		if err != nil {
			return err
		}
		row, err := one(s.row(ctx, tx, q, args...), scanSettlement)
		st, changed, err = store.WrittenOrCurrent(row, err, func() (store.Settlement, error) { return before, nil })
		if err != nil || !changed || u.Hold == nil || before.Writeback == store.WritebackHeld || st.Writeback != store.WritebackHeld {
			return err
		}
		return s.runTx(ctx, tx, []stmt{hold})
	})
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("update settlement %s %q: %w", kind, ref, err)
	}
	return st, changed, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ReopenSettlement starts a new round for a held writeback: due again, no
// attempts counted, open and due now. It returns the settlement with
// changed true, or as it is with changed false when its writeback is not
// held. No such settlement is an error wrapping store.ErrNotFound.
func (s *Store) ReopenSettlement(ctx context.Context, kind, ref string) (st store.Settlement, changed bool, err error) {
	st, changed, err = createOrGet(ctx, s, scanSettlement,
		func(q querier) (store.Settlement, error) { return s.getSettlement(ctx, q, kind, ref, "") }, `
UPDATE settlements SET writeback = $1, state = $2, attempts = 0, round = round + 1, tries = 0, next_at = $3, updated_at = $3
WHERE kind = $4 AND ref = $5 AND writeback = $6
RETURNING `+settlementColumns,
		store.WritebackDue, store.SettlementOpen, s.d.time(store.Now()), kind, ref, store.WritebackHeld)
	if err != nil {
		return store.Settlement{}, false, fmt.Errorf("reopen settlement %s %q: %w", kind, ref, err)
	}
	return st, changed, nil
}

// ListSettlements returns the settlements f selects, by NextAt, then Kind
// and Ref.
func (s *Store) ListSettlements(ctx context.Context, f store.SettlementFilter) ([]store.Settlement, error) {
	w := s.where()
	w.in("kind", f.Kinds)
	w.in("state", f.States)
	w.in("writeback", f.Writeback)
	w.in("dossier_id", f.DossierIDs)
	w.time("next_at <= ?", f.DueBy)
	q := w.query(`SELECT `+settlementColumns+` FROM settlements`, `next_at, kind, ref`, f.Limit, 0)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, scanSettlement)
	if err != nil {
		return nil, fmt.Errorf("list settlements: %w", err)
	}
	return out, nil
}
