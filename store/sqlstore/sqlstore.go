// Package sqlstore is the hub's durable store, written once over
// database/sql for its two engines: PostgreSQL (production, through pgx's
// stdlib driver: OpenPostgres) and SQLite (the embedded default for `hub
// dev`, modernc.org/sqlite: OpenSQLite). See package store for the
// conventions it follows; store/storetest is the conformance suite both
// engines pass.
//
// Queries are written once, in PostgreSQL's $n placeholders; a dialect
// holds the few things the engines do differently: placeholders, list
// parameters, time columns, batched writes, row locks and the clock.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	// w takes the writes and r the reads. They are one pool on
	// PostgreSQL; on SQLite w has a single connection (one writer at a
	// time: queueing in the pool is cheaper and fairer than spinning on
	// SQLITE_BUSY) and r reads concurrently from WAL snapshots.
	w, r *sql.DB
	d    *dialect
	ids  *store.IdentityHasher
	seal *store.Sealer
	// heads guesses event chains' heads (PostgreSQL, trail.go).
	heads *chainHeads
}

// Close closes the database.
func (s *Store) Close() error {
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// dialect is what differs between the engines.
type dialect struct {
	name string
	// bind turns a query written with $n placeholders into the engine's.
	bind func(q string) string
	// list is a []string as one parameter; inList selects its items, with
	// %s the placeholder.
	list   func([]string) any
	inList string
	// ints and inInts are the same for a []int64.
	ints   func([]int64) any
	inInts string
	// time is a time parameter: NULL for the zero time.
	time func(time.Time) any
	// later is the database clock plus %s microseconds, for leases.
	later, clock string
	// forUpdate locks a row read for an update ("" where the write
	// transaction holds the whole database).
	forUpdate string
	// guardInTx: a write and the read of what it found need an explicit
	// transaction (SQLite: the read must see the writer's lock).
	guardInTx bool
	// many is one statement writing rows (PostgreSQL: one unnest over
	// arrays) or one statement per row (SQLite, in process: no round trip
	// to save).
	many func(table string, cols []col, rows [][]any, suffix string) stmt
	// run runs statements atomically: PostgreSQL pipelines them in one
	// round trip, SQLite runs them in one write transaction.
	run func(ctx context.Context, s *Store, stmts []stmt) error
	// runEvents runs stmts and appends events, hash-chained, atomically
	// (trail.go).
	runEvents func(ctx context.Context, s *Store, stmts []stmt, events []store.Event) error
	// tableExists is a query ($1: table name) counting the table.
	tableExists string
	// migrateLock and migrateUnlock serialise migrations across
	// processes ("" where the write transaction does).
	migrateLock, migrateUnlock string
	// migrations is the data the migration templates are rendered with.
	migrations migrationTypes
	// auditLock serialises appends to the audit chain within a write
	// transaction, and cutLock waits for the event appends in flight
	// (trail.go; "" where the transaction holds the whole database).
	auditLock, cutLock string
	// secureDelete turns overwriting freed values on and off around
	// Reseal's rewrites, and compact then drops the former values from the
	// files ("" where the engine has neither).
	secureDelete [2]string
	compact      string
	// bytewise follows a text column in an ORDER BY to sort it by its
	// bytes, as SQLite does by default, whatever the database's locale.
	bytewise string
}

// col is a column of a batched write, with its PostgreSQL type.
type col struct{ name, typ string }

// stmt is one statement of a batch: args once, or rows of args for a
// statement run once per row.
type stmt struct {
	q    string
	args []any
	rows [][]any
}

// numbered rewrites $n placeholders as ?n (SQLite's numbered form).
func numbered(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	b := []byte(q)
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '$' && b[i+1] >= '0' && b[i+1] <= '9' {
			b[i] = '?'
		}
	}
	return string(b)
}

// Queries: each binds its placeholders for the engine.

func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.d.bind(q), args...)
}

// querier is what a lookup needs: a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) row(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.d.bind(query), args...)
}

// inTx runs fn in a write transaction and commits it, or rolls back on error.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// guarded runs a guarded write and the read of the row it found: on the
// pool where one statement's row lock is enough (PostgreSQL), in a write
// transaction where the read must come from the writer (SQLite).
func (s *Store) guarded(ctx context.Context, fn func(q querier) error) error {
	if s.d.guardInTx {
		return s.inTx(ctx, func(tx *sql.Tx) error { return fn(tx) })
	}
	return fn(s.w)
}

// runTx runs stmts in tx, one per row where a statement has rows.
func (s *Store) runTx(ctx context.Context, tx *sql.Tx, stmts []stmt) error {
	for _, st := range stmts {
		q := s.d.bind(st.q)
		if st.rows == nil {
			if _, err := tx.ExecContext(ctx, q, st.args...); err != nil {
				return err
			}
			continue
		}
		ps, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range st.rows {
			if _, err := ps.ExecContext(ctx, r...); err != nil {
				_ = ps.Close()
				return err
			}
		}
		if err := ps.Close(); err != nil {
			return err
		}
	}
	return nil
}

// one scans the only row of a lookup: no row is store.ErrNotFound.
func one[T any](row *sql.Row, scan func(store.Scanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, store.ErrNotFound
	}
	return v, err
}

// all scans every row of a list query; none is nil.
func all[T any](rows *sql.Rows, err error, scan func(store.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanRows(rows, scan)
}

// changedOne is nil if a row changed, else an error wrapping store.ErrNotFound.
func changedOne(n int64, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// =============================================================================
// Time columns: timestamptz on PostgreSQL, INTEGER microseconds since the
// epoch on SQLite; NULL for the zero time either way.

// at scans a time column into t, in the stores' zone and precision.
func at(t *time.Time) sql.Scanner { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = store.Normalise(v)
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// =============================================================================
// List queries

// where gathers the conditions of a list query and their arguments.
type where struct {
	d     *dialect
	conds []string
	args  []any
}

// add adds cond, in which ? stands for v when v is given.
func (w *where) add(cond string, v ...any) {
	if len(v) > 0 {
		w.args = append(w.args, v[0])
		cond = strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args)))
	}
	w.conds = append(w.conds, cond)
}

// in adds "column is one of list", unless list is empty. The list is a
// semi-join, not "= ANY": a plan cached while the table was small scans
// it, and with "= ANY" PostgreSQL compares each row with every item (50 ms
// a call for 500 dossiers over 2,000 deliveries in `hub bench`).
func (w *where) in(column string, list []string) {
	if len(list) > 0 {
		w.within(column, list)
	}
}

// within adds "column is one of list" unless list is nil: unlike in, a
// non-nil empty list matches nothing.
func (w *where) within(column string, list []string) {
	if list != nil {
		w.add(column+" IN ("+fmt.Sprintf(w.d.inList, "?")+")", w.d.list(list))
	}
}

// time adds cond on a time column.
func (w *where) time(cond string, t time.Time) {
	if !t.IsZero() {
		w.add(cond, w.d.time(store.Normalise(t)))
	}
}

// filtered is sel with the conditions, not yet bound.
func (w *where) filtered(sel string) string {
	if len(w.conds) > 0 {
		sel += ` WHERE ` + strings.Join(w.conds, " AND ")
	}
	return sel
}

// count is sel (a SELECT count(*)) with the conditions, bound for the
// engine.
func (w *where) count(sel string) string { return w.d.bind(w.filtered(sel)) }

// query completes sel with the conditions, the order, a limit (<= 0: none)
// and an offset, bound for the engine.
func (w *where) query(sel, order string, limit, offset int) string {
	sel = w.filtered(sel) + ` ORDER BY ` + order
	if limit > 0 || offset > 0 {
		if limit <= 0 {
			limit = math.MaxInt64 // SQLite has no OFFSET without a LIMIT
		}
		w.args = append(w.args, limit, max(offset, 0))
		sel += fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(w.args)-1, len(w.args))
	}
	return w.d.bind(sel)
}

func (s *Store) where() *where { return &where{d: s.d} }
