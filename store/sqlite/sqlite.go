// Package sqlite is the embedded store of the hub (modernc.org/sqlite, pure
// Go), the default for `hub dev`: one database file in WAL mode. It has the
// same method set and behaviour as store/postgres; see package store for
// the conventions both follow.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lienthong/lienthong/store"
)

// busyTimeout is how long a connection waits for another's lock (another
// process on the same file, or a reader during a checkpoint) before failing.
const busyTimeout = 10 * time.Second

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	// w has a single connection: SQLite allows one writer at a time, and
	// queueing writers in the pool is cheaper and fairer than having them
	// spin on SQLITE_BUSY. Its transactions BEGIN IMMEDIATE, so they take the
	// write lock up front rather than failing on upgrade.
	w *sql.DB
	// r serves reads concurrently with the writer (WAL gives them a snapshot).
	r    *sql.DB
	ids  *store.IdentityHasher
	seal *store.Sealer
}

// Open opens (creating it and its directory if needed) the database file at
// path and runs the migrations. opts must choose store.WithEncryptionKey(s)
// or store.WithoutEncryption: the error otherwise wraps
// store.ErrNoEncryptionKey.
func Open(ctx context.Context, path string, opts ...store.Option) (*Store, error) {
	s, err := connect(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	return s, nil
}

// connect opens the database without migrating (tests stop at a version).
func connect(ctx context.Context, path string, opts []store.Option) (*Store, error) {
	o, err := store.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("path %q: want a plain file path: %w", path, store.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	base := url.Values{}
	base.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	base.Add("_pragma", "foreign_keys(1)")

	wq := cloneValues(base)
	wq.Add("_pragma", "journal_mode(WAL)")
	// NORMAL is durable across application crashes in WAL mode; only an OS
	// crash or power loss can lose the last transactions.
	wq.Add("_pragma", "synchronous(NORMAL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// before any reader opens it.
	if err := pingWriter(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open writer: %w", err)
	}

	rq := cloneValues(base)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open reader: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open reader: %w", err)
	}
	return &Store{w: w, r: r, ids: o.Identity, seal: o.Sealer}, nil
}

// pingWriter connects the writer. Switching a new file to WAL while
// another process does the same can fail at once with SQLITE_BUSY (the
// switch does not wait on busy_timeout), so that is retried up to it.
func pingWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := w.PingContext(ctx)
		var coded interface{ Code() int }
		busy := errors.As(err, &coded) && coded.Code()&0xff == sqlite3.SQLITE_BUSY
		if err == nil || !busy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// =============================================================================
// Time: INTEGER microseconds since the epoch, UTC; NULL for the zero time.

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
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

// =============================================================================
// Cursors

// GetCursor returns the cursor stored under name, or nil, nil when none is.
func (s *Store) GetCursor(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get cursor %q: %w", name, err)
	}
	if v == nil {
		v = []byte{} // stored, but empty: not "none"
	}
	return v, nil
}

// PutCursor stores value under name, replacing any previous value.
func (s *Store) PutCursor(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	const q = `
INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	if _, err := s.w.ExecContext(ctx, q, name, value, micros(store.Now())); err != nil {
		return fmt.Errorf("put cursor %q: %w", name, err)
	}
	return nil
}

// =============================================================================
// Ledger

const ledgerColumns = `dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	canonical, deleted, national_state, national_version, national_steps, national_at, updated_at, national_step_keys`

// GetLedger returns the entries of ids that exist, keyed by dossier ID, in
// one query: the IDs travel as one JSON array, so there is no limit on
// their number.
func (s *Store) GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, ledgerColumns)
}

// GetLedgerStates is GetLedger without the canonical dossiers (Canonical is
// nil), for writers that keep them as stored (LedgerEntry.KeepCanonical).
func (s *Store) GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, strings.Replace(ledgerColumns, "canonical,", "x'',", 1))
}

func (s *Store) getLedger(ctx context.Context, ids []string, columns string) (map[string]store.LedgerEntry, error) {
	out := make(map[string]store.LedgerEntry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("get ledger: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+columns+` FROM ledger
WHERE dossier_id IN (SELECT value FROM json_each(?))`, string(js))
	if err != nil {
		return nil, fmt.Errorf("get ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e          store.LedgerEntry
			nationalAt sql.NullInt64
			stepKeys   string
			updatedAt  int64
		)
		if err := rows.Scan(&e.DossierID, &e.Source, &e.Province, &e.Procedure, &e.Agency, &e.Version,
			&e.ContentHash, &e.Status, &e.Canonical, &e.Deleted, &e.NationalState, &e.NationalVersion,
			&e.NationalSteps, &nationalAt, &updatedAt, &stepKeys); err != nil {
			return nil, fmt.Errorf("get ledger: scan: %w", err)
		}
		e.NationalStepKeys = store.SplitStepKeys(stepKeys)
		c, err := s.seal.Open(store.SealLedgerCanonical, e.DossierID, e.Canonical)
		if err != nil {
			return nil, fmt.Errorf("get ledger: dossier %s: %w", e.DossierID, err)
		}
		e.Canonical = c
		e.NationalAt = fromNullMicros(nationalAt)
		e.UpdatedAt = fromMicros(updatedAt)
		out[e.DossierID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get ledger: %w", err)
	}
	return out, nil
}

// HeldVersions maps each of ids that the national portal holds to the
// version it holds. It reads no canonical record, so polling it is cheap.
func (s *Store) HeldVersions(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("held versions: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT dossier_id, national_version FROM ledger
WHERE dossier_id IN (SELECT value FROM json_each(?)) AND national_state = ?`, string(js), store.NationalHeld)
	if err != nil {
		return nil, fmt.Errorf("held versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			v  int64
		)
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("held versions: scan: %w", err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("held versions: %w", err)
	}
	return out, nil
}

// PutLedger upserts entries in one transaction with one prepared statement
// (in-process SQLite has no round trip to save). When an ID appears more
// than once the last entry wins. UpdatedAt is set by the store. Canonical
// is sealed before the transaction, into one allocation for the batch.
func (s *Store) PutLedger(ctx context.Context, entries []store.LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.putLedgerTx(ctx, tx, entries) })
}

// putLedgerTx is PutLedger within tx.
func (s *Store) putLedgerTx(ctx context.Context, tx *sql.Tx, entries []store.LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	entries = store.DedupeLedger(entries)
	ids, plain := make([]string, len(entries)), make([][]byte, len(entries))
	for i, e := range entries {
		if e.DossierID == "" {
			return fmt.Errorf("put ledger: entry %d: empty dossier id: %w", i, store.ErrInvalid)
		}
		if ids[i] = e.DossierID; !e.KeepCanonical {
			plain[i] = e.Canonical
		}
	}
	canon := s.seal.SealAll(store.SealLedgerCanonical, ids, plain)
	now := micros(store.Now())
	const q = `
INSERT INTO ledger (` + ledgerColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
	CASE WHEN ?17 THEN coalesce((SELECT canonical FROM ledger WHERE dossier_id = ?1), x'') ELSE ?9 END,
	?10, ?11, ?12, ?13, ?14, ?15, ?16)
ON CONFLICT (dossier_id) DO UPDATE SET
	source = excluded.source, province = excluded.province, procedure_code = excluded.procedure_code,
	agency = excluded.agency, version = excluded.version, content_hash = excluded.content_hash,
	status = excluded.status, canonical = excluded.canonical, deleted = excluded.deleted,
	national_state = excluded.national_state, national_version = excluded.national_version,
	national_steps = excluded.national_steps, national_at = excluded.national_at,
	updated_at = excluded.updated_at, national_step_keys = excluded.national_step_keys`
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("put ledger: %w", err)
	}
	defer st.Close()
	for i, e := range entries {
		if _, err := st.ExecContext(ctx, e.DossierID, e.Source, e.Province, e.Procedure, e.Agency, e.Version,
			e.ContentHash, e.Status, canon[i], e.Deleted, e.NationalState, e.NationalVersion, e.NationalSteps,
			nullMicros(e.NationalAt), now, store.JoinStepKeys(e.NationalStepKeys), e.KeepCanonical); err != nil {
			return fmt.Errorf("put ledger: %s: %w", e.DossierID, err)
		}
	}
	return nil
}

// LedgerCounts returns, per source, how many dossiers the national portal
// holds. Sources with none are absent.
func (s *Store) LedgerCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT source, count(*) FROM ledger WHERE national_state = 'held' GROUP BY source`)
	if err != nil {
		return nil, fmt.Errorf("ledger counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			src string
			n   int
		)
		if err := rows.Scan(&src, &n); err != nil {
			return nil, fmt.Errorf("ledger counts: scan: %w", err)
		}
		out[src] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger counts: %w", err)
	}
	return out, nil
}

// =============================================================================
// Events

// AppendEvents appends events in one transaction, in slice order. A zero At
// is set to the store's clock.
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.appendEventsTx(ctx, tx, events) })
}

// appendEventsTx is AppendEvents within tx.
func (s *Store) appendEventsTx(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	now := store.Now()
	st, err := tx.PrepareContext(ctx, `
INSERT INTO events (dossier_id, source, version, kind, detail, at, instance) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	defer st.Close()
	for _, e := range events {
		at := e.At
		if at.IsZero() {
			at = now
		}
		if _, err := st.ExecContext(ctx, e.DossierID, e.Source, e.Version, e.Kind, e.Detail, micros(at), e.Instance); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return nil
}

// Timeline returns the events of a dossier in time order, and in order of
// append within one instant: stages record concurrently and in batches, so
// append order alone can put a later step first.
func (s *Store) Timeline(ctx context.Context, dossierID string) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT dossier_id, source, version, kind, detail, at, instance
FROM events WHERE dossier_id = ? ORDER BY at, id`, dossierID)
	if err != nil {
		return nil, fmt.Errorf("timeline %q: %w", dossierID, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e  store.Event
			at int64
		)
		if err := rows.Scan(&e.DossierID, &e.Source, &e.Version, &e.Kind, &e.Detail, &at, &e.Instance); err != nil {
			return nil, fmt.Errorf("timeline %q: scan: %w", dossierID, err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline %q: %w", dossierID, err)
	}
	return out, nil
}

// PruneEvents deletes up to limit events older than before, oldest first,
// and returns how many went. Events of a dossier with an open quarantine
// entry are kept: an operator is yet to look at it. The ledger, the
// quarantine and the audit log are never pruned.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := s.w.ExecContext(ctx, `
DELETE FROM events WHERE id IN (
	SELECT e.id FROM events e
	WHERE e.at < ? AND NOT EXISTS (
		SELECT 1 FROM quarantine q WHERE q.dossier_id = e.dossier_id AND q.state = 'open')
	ORDER BY e.at LIMIT ?)`, micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

// =============================================================================
// Quarantine

// AddQuarantine records entries in one transaction. ID is assigned by the
// store; an empty State is "open" and a zero At the store's clock.
func (s *Store) AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.addQuarantineTx(ctx, tx, entries) })
}

// addQuarantineTx is AddQuarantine within tx.
func (s *Store) addQuarantineTx(ctx context.Context, tx *sql.Tx, entries []store.QuarantineEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rowKeys, plain := make([]string, len(entries)), make([][]byte, len(entries))
	for i, e := range entries {
		if e.State != "" && !store.ValidQuarantineState(e.State) {
			return fmt.Errorf("add quarantine: entry %d: state %q: %w", i, e.State, store.ErrInvalid)
		}
		rowKeys[i], plain[i] = store.QuarantineRowKey(e.Source, e.DossierID), e.Payload
	}
	payloads := s.seal.SealAll(store.SealQuarantinePayload, rowKeys, plain)
	now := store.Now()
	st, err := tx.PrepareContext(ctx, `
INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("add quarantine: %w", err)
	}
	defer st.Close()
	for i, e := range entries {
		at, state := e.At, e.State
		if at.IsZero() {
			at = now
		}
		if state == "" {
			state = store.QuarantineOpen
		}
		if _, err := st.ExecContext(ctx, e.Source, e.DossierID, e.Version, e.Field, e.Reason, e.Format,
			payloads[i], micros(at), state); err != nil {
			return fmt.Errorf("add quarantine: %w", err)
		}
	}
	return nil
}

const quarantineColumns = `id, source, dossier_id, version, field, reason, format, payload, at, state`

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanQuarantine(row scanner) (store.QuarantineEntry, error) {
	var (
		e  store.QuarantineEntry
		at int64
	)
	if err := row.Scan(&e.ID, &e.Source, &e.DossierID, &e.Version, &e.Field, &e.Reason, &e.Format, &e.Payload, &at, &e.State); err != nil {
		return e, err
	}
	p, err := s.seal.Open(store.SealQuarantinePayload, store.QuarantineRowKey(e.Source, e.DossierID), e.Payload)
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	e.Payload = p
	e.At = fromMicros(at)
	return e, nil
}

// ListQuarantine returns the entries f selects, oldest first.
func (s *Store) ListQuarantine(ctx context.Context, f store.QuarantineFilter) ([]store.QuarantineEntry, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if f.Sources != nil {
		// Not nil but empty: IN over json_each('[]') matches nothing.
		add("source IN (SELECT value FROM json_each(?))", jsonList(f.Sources))
	}
	if f.DossierID != "" {
		add("dossier_id = ?", f.DossierID)
	}
	if f.Field != "" {
		add("field = ?", f.Field)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if !f.Since.IsZero() {
		add("at >= ?", micros(store.Normalise(f.Since)))
	}
	if !f.Until.IsZero() {
		add("at < ?", micros(store.Normalise(f.Until)))
	}
	q := `SELECT ` + quarantineColumns + ` FROM quarantine`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`
	// SQLite needs a LIMIT for an OFFSET; -1 is "no limit".
	if f.Limit > 0 || f.Offset > 0 {
		limit := -1
		if f.Limit > 0 {
			limit = f.Limit
		}
		q += ` LIMIT ? OFFSET ?`
		args = append(args, limit, max(f.Offset, 0))
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []store.QuarantineEntry
	for rows.Next() {
		e, err := s.scanQuarantine(rows)
		if err != nil {
			return nil, fmt.Errorf("list quarantine: scan: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// GetQuarantine returns one entry, or an error wrapping store.ErrNotFound.
func (s *Store) GetQuarantine(ctx context.Context, id int64) (store.QuarantineEntry, error) {
	e, err := s.scanQuarantine(s.r.QueryRowContext(ctx, `SELECT `+quarantineColumns+` FROM quarantine WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.QuarantineEntry{}, fmt.Errorf("get quarantine %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.QuarantineEntry{}, fmt.Errorf("get quarantine %d: %w", id, err)
	}
	return e, nil
}

// SetQuarantineState changes the state of one entry.
func (s *Store) SetQuarantineState(ctx context.Context, id int64, state string) error {
	if !store.ValidQuarantineState(state) {
		return fmt.Errorf("set quarantine %d state %q: %w", id, state, store.ErrInvalid)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE quarantine SET state = ? WHERE id = ?`, state, id)
	if err != nil {
		return fmt.Errorf("set quarantine %d state: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set quarantine %d state: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("set quarantine %d state: %w", id, store.ErrNotFound)
	}
	return nil
}

// CountQuarantine returns the number of open entries of source, or of all
// sources when source is "".
func (s *Store) CountQuarantine(ctx context.Context, source string) (int, error) {
	var (
		n   int
		err error
	)
	if source == "" {
		err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE state = 'open'`).Scan(&n)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE state = 'open' AND source = ?`, source).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// =============================================================================
// Writes of the national sink

// Record writes w in one transaction.
func (s *Store) Record(ctx context.Context, w store.Write) error {
	if w.Empty() {
		return nil
	}
	if len(w.Identities) > 0 && s.ids == nil {
		return fmt.Errorf("record: index identities: %w", store.ErrNoIdentityKey)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.addQuarantineTx(ctx, tx, w.Quarantine); err != nil {
			return err
		}
		if err := s.indexIdentitiesTx(ctx, tx, w.Identities); err != nil {
			return err
		}
		if err := s.putLedgerTx(ctx, tx, w.Ledger); err != nil {
			return err
		}
		return s.appendEventsTx(ctx, tx, w.Events)
	})
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}
