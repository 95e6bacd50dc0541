// Package postgres is the PostgreSQL store of the hub (pgx/v5 pool). It has
// the same method set and behaviour as store/sqlite; see package store for
// the conventions both follow.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lienthong/lienthong/store"
)

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	ids  *store.IdentityHasher
	seal *store.Sealer
}

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
const DefaultMaxConns = 16

// Open connects to dsn and runs the migrations. A search_path in the DSN
// (…?search_path=myschema) places the tables in that schema;
// pool_max_conns sizes the connection pool (DefaultMaxConns). opts must
// choose store.WithEncryptionKey(s) or store.WithoutEncryption: the error
// otherwise wraps store.ErrNoEncryptionKey.
func Open(ctx context.Context, dsn string, opts ...store.Option) (*Store, error) {
	s, err := connect(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	return s, nil
}

// connect opens the pool without migrating (tests stop at a version).
func connect(ctx context.Context, dsn string, opts []store.Option) (*Store, error) {
	o, err := store.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default is one connection per core, at least four. The
		// hub's handlers wait on the store concurrently (the sink, the
		// normaliser's provenance, every notice's idempotency key), and
		// with four connections they queued for the pool, not for the
		// database.
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	return &Store{pool: pool, ids: o.Identity, seal: o.Sealer}, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// =============================================================================
// Cursors

// GetCursor returns the cursor stored under name, or nil, nil when none is.
func (s *Store) GetCursor(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
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
INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	if _, err := s.pool.Exec(ctx, q, name, value); err != nil {
		return fmt.Errorf("put cursor %q: %w", name, err)
	}
	return nil
}

// =============================================================================
// Ledger

const ledgerColumns = `dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	canonical, deleted, national_state, national_version, national_steps, national_at, updated_at, national_step_keys`

// GetLedger returns the entries of ids that exist, keyed by dossier ID, in
// one query. Lists of IDs are joined as a set ("IN (SELECT unnest)"), not
// matched with "= ANY": a plan cached while a table was nearly empty is a
// sequential scan, and "= ANY" compares each row with every ID (60-130 ms
// a call at 6,000 dossiers in `hub bench`).
func (s *Store) GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, ledgerColumns)
}

// GetLedgerStates is GetLedger without the canonical dossiers (Canonical is
// nil), for writers that keep them as stored (LedgerEntry.KeepCanonical):
// reading and opening them is most of the cost of a read.
func (s *Store) GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, strings.Replace(ledgerColumns, "canonical,", "''::bytea,", 1))
}

func (s *Store) getLedger(ctx context.Context, ids []string, columns string) (map[string]store.LedgerEntry, error) {
	out := make(map[string]store.LedgerEntry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM ledger WHERE dossier_id IN (SELECT unnest($1::text[]))`, ids)
	if err != nil {
		return nil, fmt.Errorf("get ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e          store.LedgerEntry
			nationalAt pgtype.Timestamptz
			stepKeys   string
		)
		if err := rows.Scan(&e.DossierID, &e.Source, &e.Province, &e.Procedure, &e.Agency, &e.Version,
			&e.ContentHash, &e.Status, &e.Canonical, &e.Deleted, &e.NationalState, &e.NationalVersion,
			&e.NationalSteps, &nationalAt, &e.UpdatedAt, &stepKeys); err != nil {
			return nil, fmt.Errorf("get ledger: scan: %w", err)
		}
		e.NationalStepKeys = store.SplitStepKeys(stepKeys)
		c, err := s.seal.Open(store.SealLedgerCanonical, e.DossierID, e.Canonical)
		if err != nil {
			return nil, fmt.Errorf("get ledger: dossier %s: %w", e.DossierID, err)
		}
		e.Canonical = c
		if nationalAt.Valid {
			e.NationalAt = store.Normalise(nationalAt.Time)
		}
		e.UpdatedAt = store.Normalise(e.UpdatedAt)
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
	rows, err := s.pool.Query(ctx, `SELECT dossier_id, national_version FROM ledger
WHERE dossier_id IN (SELECT unnest($1::text[])) AND national_state = $2`, ids, store.NationalHeld)
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

// PutLedger upserts entries in one statement: the batch travels as one
// array per column and is unnested server side, which avoids both the
// 65535-parameter limit of a multi-row VALUES and a per-row round trip.
// When an ID appears more than once the last entry wins. UpdatedAt is set
// by the store. Canonical is sealed here, before the statement, into one
// allocation for the batch.
func (s *Store) PutLedger(ctx context.Context, entries []store.LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.Record(ctx, store.Write{Ledger: entries})
}

// ledgerStmts are PutLedger's statements: one for the entries that carry
// their canonical dossier, one for those that keep the stored one, whose
// upsert leaves the column alone (so a write committed meanwhile is kept).
// The rows of each are locked in ID order.
func (s *Store) ledgerStmts(entries []store.LedgerEntry) ([]queued, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	var full, keep []store.LedgerEntry
	for i, e := range store.DedupeLedger(entries) {
		if e.DossierID == "" {
			return nil, fmt.Errorf("put ledger: entry %d: empty dossier id: %w", i, store.ErrInvalid)
		}
		if e.KeepCanonical {
			keep = append(keep, e)
		} else {
			full = append(full, e)
		}
	}
	var out []queued
	if len(full) > 0 {
		out = append(out, s.ledgerStmt(full, true))
	}
	if len(keep) > 0 {
		out = append(out, s.ledgerStmt(keep, false))
	}
	return out, nil
}

// queued is one statement of a batch.
type queued struct {
	q    string
	args []any
}

// ledgerStmt upserts entries (deduplicated, sorted), with their canonical
// dossiers or leaving the stored ones.
func (s *Store) ledgerStmt(entries []store.LedgerEntry, canonical bool) queued {
	n := len(entries)
	var (
		ids, sources, provinces, procs, agencies = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hashes, nstates                          = make([]string, n), make([]string, n)
		versions, nversions                      = make([]int64, n), make([]int64, n)
		statuses, nsteps                         = make([]int32, n), make([]int32, n)
		plain                                    = make([][]byte, n)
		deleted                                  = make([]bool, n)
		nat                                      = make([]pgtype.Timestamptz, n)
		stepKeys                                 = make([]string, n)
	)
	for i, e := range entries {
		ids[i], sources[i], provinces[i], procs[i], agencies[i] = e.DossierID, e.Source, e.Province, e.Procedure, e.Agency
		hashes[i], nstates[i] = e.ContentHash, e.NationalState
		versions[i], nversions[i] = e.Version, e.NationalVersion
		statuses[i], nsteps[i] = int32(e.Status), int32(e.NationalSteps)
		plain[i] = e.Canonical
		deleted[i] = e.Deleted
		stepKeys[i] = store.JoinStepKeys(e.NationalStepKeys)
		if !e.NationalAt.IsZero() {
			nat[i] = pgtype.Timestamptz{Time: e.NationalAt, Valid: true}
		}
	}
	const head = `
INSERT INTO ledger (` + ledgerColumns + `)
SELECT id, src, prov, proc, ag, v, h, st, c, del, ns, nv, nst, nat, now(), sk
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[],
	$8::int4[], $9::bytea[], $10::bool[], $11::text[], $12::int8[], $13::int4[], $14::timestamptz[], $15::text[])
	WITH ORDINALITY AS u(id, src, prov, proc, ag, v, h, st, c, del, ns, nv, nst, nat, sk, ord)
ORDER BY ord -- sorted by ID: the row lock order
ON CONFLICT (dossier_id) DO UPDATE SET
	source = excluded.source, province = excluded.province, procedure_code = excluded.procedure_code,
	agency = excluded.agency, version = excluded.version, content_hash = excluded.content_hash,
	status = excluded.status, deleted = excluded.deleted,
	national_state = excluded.national_state, national_version = excluded.national_version,
	national_steps = excluded.national_steps, national_at = excluded.national_at,
	updated_at = excluded.updated_at, national_step_keys = excluded.national_step_keys`
	q := head
	if canonical {
		q += `, canonical = excluded.canonical`
	} else {
		plain = make([][]byte, n) // kept: a dossier not stored yet gets none
	}
	canon := s.seal.SealAll(store.SealLedgerCanonical, ids, plain)
	return queued{q, []any{ids, sources, provinces, procs, agencies, versions, hashes,
		statuses, canon, deleted, nstates, nversions, nsteps, nat, stepKeys}}
}

// LedgerCounts returns, per source, how many dossiers the national portal
// holds. Sources with none are absent.
func (s *Store) LedgerCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT source, count(*) FROM ledger WHERE national_state = 'held' GROUP BY source`)
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

// AppendEvents appends events in one statement, in slice order. A zero At
// is set to the store's clock.
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) error {
	q, args := eventsStmt(events)
	if q == "" {
		return nil
	}
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// eventsStmt is AppendEvents's statement; "" when there is nothing to write.
func eventsStmt(events []store.Event) (string, []any) {
	if len(events) == 0 {
		return "", nil
	}
	n := len(events)
	var (
		ids, sources, kinds, details, instances = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                                = make([]int64, n)
		ats                                     = make([]time.Time, n)
	)
	now := store.Now()
	for i, e := range events {
		ids[i], sources[i], kinds[i], details[i], instances[i] = e.DossierID, e.Source, e.Kind, e.Detail, e.Instance
		versions[i] = e.Version
		ats[i] = e.At
		if e.At.IsZero() {
			ats[i] = now
		}
	}
	// WITH ORDINALITY … ORDER BY makes the identity follow slice order.
	const q = `
INSERT INTO events (dossier_id, source, version, kind, detail, at, instance)
SELECT d, s, v, k, dt, a, i
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
	WITH ORDINALITY AS u(d, s, v, k, dt, a, i, ord)
ORDER BY ord`
	return q, []any{ids, sources, versions, kinds, details, ats, instances}
}

// Timeline returns the events of a dossier in time order, and in order of
// append within one instant: stages record concurrently and in batches, so
// append order alone can put a later step first.
func (s *Store) Timeline(ctx context.Context, dossierID string) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, `
SELECT dossier_id, source, version, kind, detail, at, instance
FROM events WHERE dossier_id = $1 ORDER BY at, id`, dossierID)
	if err != nil {
		return nil, fmt.Errorf("timeline %q: %w", dossierID, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		if err := rows.Scan(&e.DossierID, &e.Source, &e.Version, &e.Kind, &e.Detail, &e.At, &e.Instance); err != nil {
			return nil, fmt.Errorf("timeline %q: scan: %w", dossierID, err)
		}
		e.At = store.Normalise(e.At)
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
	tag, err := s.pool.Exec(ctx, `
DELETE FROM events WHERE id IN (
	SELECT e.id FROM events e
	WHERE e.at < $1 AND NOT EXISTS (
		SELECT 1 FROM quarantine q WHERE q.dossier_id = e.dossier_id AND q.state = 'open')
	ORDER BY e.at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// =============================================================================
// Quarantine

// AddQuarantine records entries in one statement. ID is assigned by the
// store; an empty State is "open" and a zero At the store's clock.
func (s *Store) AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error {
	q, args, err := s.quarantineStmt(entries)
	if err != nil || q == "" {
		return err
	}
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("add quarantine: %w", err)
	}
	return nil
}

// quarantineStmt is AddQuarantine's statement; "" when there is nothing
// to write.
func (s *Store) quarantineStmt(entries []store.QuarantineEntry) (string, []any, error) {
	if len(entries) == 0 {
		return "", nil, nil
	}
	n := len(entries)
	var (
		sources, ids, fields, reasons, formats, states = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                                       = make([]int64, n)
		payloads, rowKeys                              = make([][]byte, n), make([]string, n)
		ats                                            = make([]time.Time, n)
	)
	now := store.Now()
	for i, e := range entries {
		sources[i], ids[i], fields[i], reasons[i], formats[i] = e.Source, e.DossierID, e.Field, e.Reason, e.Format
		versions[i] = e.Version
		payloads[i], rowKeys[i] = e.Payload, store.QuarantineRowKey(e.Source, e.DossierID)
		ats[i] = e.At
		if e.At.IsZero() {
			ats[i] = now
		}
		states[i] = e.State
		if states[i] == "" {
			states[i] = store.QuarantineOpen
		}
		if !store.ValidQuarantineState(states[i]) {
			return "", nil, fmt.Errorf("add quarantine: entry %d: state %q: %w", i, states[i], store.ErrInvalid)
		}
	}
	payloads = s.seal.SealAll(store.SealQuarantinePayload, rowKeys, payloads)
	const q = `
INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state)
SELECT s, d, v, f, r, fm, p, a, st
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::bytea[],
	$8::timestamptz[], $9::text[]) WITH ORDINALITY AS u(s, d, v, f, r, fm, p, a, st, ord)
ORDER BY ord`
	return q, []any{sources, ids, versions, fields, reasons, formats, payloads, ats, states}, nil
}

const quarantineColumns = `id, source, dossier_id, version, field, reason, format, payload, at, state`

func (s *Store) scanQuarantine(row pgx.Row) (store.QuarantineEntry, error) {
	var e store.QuarantineEntry
	if err := row.Scan(&e.ID, &e.Source, &e.DossierID, &e.Version, &e.Field, &e.Reason, &e.Format, &e.Payload, &e.At, &e.State); err != nil {
		return e, err
	}
	p, err := s.seal.Open(store.SealQuarantinePayload, store.QuarantineRowKey(e.Source, e.DossierID), e.Payload)
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	e.Payload = p
	e.At = store.Normalise(e.At)
	return e, nil
}

// ListQuarantine returns the entries f selects, oldest first.
func (s *Store) ListQuarantine(ctx context.Context, f store.QuarantineFilter) ([]store.QuarantineEntry, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if f.Sources != nil {
		// Not nil but empty: source = ANY('{}') matches nothing.
		add("source = ANY(?)", f.Sources)
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
		add("at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until)
	}
	q := `SELECT ` + quarantineColumns + ` FROM quarantine`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	if f.Offset > 0 {
		args = append(args, f.Offset)
		q += ` OFFSET $` + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
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
	e, err := s.scanQuarantine(s.pool.QueryRow(ctx, `SELECT `+quarantineColumns+` FROM quarantine WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := s.pool.Exec(ctx, `UPDATE quarantine SET state = $2 WHERE id = $1`, id, state)
	if err != nil {
		return fmt.Errorf("set quarantine %d state: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set quarantine %d state: %w", id, store.ErrNotFound)
	}
	return nil
}

// CountQuarantine returns the number of open entries of source, or of all
// sources when source is "".
func (s *Store) CountQuarantine(ctx context.Context, source string) (int, error) {
	// Two shapes rather than "$1 = '' OR source = $1", which a cached
	// generic plan could not serve from the (state, source) index.
	var (
		n   int
		err error
	)
	if source == "" {
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM quarantine WHERE state = 'open'`).Scan(&n)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM quarantine WHERE state = 'open' AND source = $1`, source).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// =============================================================================
// Writes of the national sink

// Record writes w in one transaction and one round trip: the statements go
// as one pipelined batch, which PostgreSQL runs as an implicit transaction.
func (s *Store) Record(ctx context.Context, w store.Write) error {
	var b pgx.Batch
	queue := func(q string, args []any) {
		if q != "" {
			b.Queue(q, args...)
		}
	}
	q, args, err := s.quarantineStmt(w.Quarantine)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	queue(q, args)
	if len(w.Identities) > 0 {
		q, args, err = s.identitiesStmt(w.Identities)
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		queue(q, args)
	}
	ledger, err := s.ledgerStmts(w.Ledger)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	for _, st := range ledger {
		queue(st.q, st.args)
	}
	queue(eventsStmt(w.Events))
	if b.Len() == 0 {
		return nil
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}
