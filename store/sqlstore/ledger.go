package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lienthong/lienthong/store"
)

// =============================================================================
// Cursors

// GetCursor returns the cursor stored under name, or nil, nil when none is.
func (s *Store) GetCursor(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.row(ctx, s.r, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
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
	if _, err := s.exec(ctx, `
INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, value, s.d.time(store.Now())); err != nil {
		return fmt.Errorf("put cursor %q: %w", name, err)
	}
	return nil
}

// =============================================================================
// Ledger

var ledgerCols = []col{
	{"dossier_id", "text"}, {"source", "text"}, {"province", "text"}, {"procedure_code", "text"},
	{"agency", "text"}, {"version", "int8"}, {"content_hash", "text"}, {"status", "int4"},
	{"canonical", "bytea"}, {"deleted", "bool"}, {"national_state", "text"}, {"national_version", "int8"},
	{"national_steps", "int4"}, {"national_at", "timestamptz"}, {"updated_at", "timestamptz"},
	{"national_step_keys", "text"}, {"due_at", "timestamptz"}, {"resolved_at", "timestamptz"},
}

// ledgerColumns lists ledgerCols for a SELECT; {canonical} is the
// canonical dossier's column, or NULL where it is not read.
const ledgerColumns = `dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	{canonical}, deleted, national_state, national_version, national_steps, national_at, updated_at, national_step_keys,
	due_at, resolved_at`

// GetLedger returns the entries of ids that exist, keyed by dossier ID, in
// one query. The IDs are one list parameter joined as a set, so there is
// no limit on their number (on PostgreSQL a plan cached while a table was
// nearly empty would otherwise scan it, and compare each row with every
// ID: 60-130 ms a call at 6,000 dossiers in `hub bench`).
func (s *Store) GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, "canonical")
}

// GetLedgerStates is GetLedger without the canonical dossiers (Canonical is
// nil), for writers that keep them as stored (LedgerEntry.KeepCanonical):
// reading and opening them is most of the cost of a read.
func (s *Store) GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error) {
	return s.getLedger(ctx, ids, "NULL")
}

func (s *Store) getLedger(ctx context.Context, ids []string, canonical string) (map[string]store.LedgerEntry, error) {
	out := make(map[string]store.LedgerEntry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.query(ctx, `SELECT `+strings.Replace(ledgerColumns, "{canonical}", canonical, 1)+` FROM ledger
WHERE dossier_id IN (`+fmt.Sprintf(s.d.inList, "$1")+`)`, s.d.list(ids))
	if err != nil {
		return nil, fmt.Errorf("get ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e        store.LedgerEntry
			stepKeys string
		)
		if err := rows.Scan(&e.DossierID, &e.Source, &e.Province, &e.Procedure, &e.Agency, &e.Version,
			&e.ContentHash, &e.Status, &e.Canonical, &e.Deleted, &e.NationalState, &e.NationalVersion,
			&e.NationalSteps, at(&e.NationalAt), at(&e.UpdatedAt), &stepKeys, at(&e.DueAt), at(&e.ResolvedAt)); err != nil {
			return nil, fmt.Errorf("get ledger: scan: %w", err)
		}
		e.NationalStepKeys = store.SplitStepKeys(stepKeys)
		c, err := s.seal.Open(store.SealLedgerCanonical, e.DossierID, e.Canonical)
		if err != nil {
			return nil, fmt.Errorf("get ledger: dossier %s: %w", e.DossierID, err)
		}
		e.Canonical = c
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
	rows, err := s.query(ctx, `SELECT dossier_id, national_version FROM ledger
WHERE dossier_id IN (`+fmt.Sprintf(s.d.inList, "$1")+`) AND national_state = $2`, s.d.list(ids), store.NationalHeld)
	if err := scanInto(rows, err, out); err != nil {
		return nil, fmt.Errorf("held versions: %w", err)
	}
	return out, nil
}

// scanInto adds each row's (key, value) to out.
func scanInto[V any](rows *sql.Rows, err error, out map[string]V) error {
	_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
		var (
			k string
			v V
		)
		err := r.Scan(&k, &v)
		out[k] = v
		return struct{}{}, err
	})
	return err
}

// PutLedger upserts entries atomically, in one statement on PostgreSQL.
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
// The rows of each are written in ID order, the order they are locked in.
func (s *Store) ledgerStmts(entries []store.LedgerEntry) ([]stmt, error) {
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
	var out []stmt
	if len(full) > 0 {
		out = append(out, s.ledgerStmt(full, true))
	}
	if len(keep) > 0 {
		out = append(out, s.ledgerStmt(keep, false))
	}
	return out, nil
}

// ledgerStmt upserts entries (deduplicated, sorted), with their canonical
// dossiers or leaving the stored ones (a dossier not stored yet gets none).
func (s *Store) ledgerStmt(entries []store.LedgerEntry, canonical bool) stmt {
	ids, plain := make([]string, len(entries)), make([][]byte, len(entries))
	for i, e := range entries {
		if ids[i] = e.DossierID; canonical {
			plain[i] = e.Canonical
		}
	}
	canon := s.seal.SealAll(store.SealLedgerCanonical, ids, plain)
	now := s.d.time(store.Now())
	rows := make([][]any, len(entries))
	for i, e := range entries {
		rows[i] = []any{e.DossierID, e.Source, e.Province, e.Procedure, e.Agency, e.Version, e.ContentHash,
			int32(e.Status), canon[i], e.Deleted, e.NationalState, e.NationalVersion, int32(e.NationalSteps),
			s.d.time(e.NationalAt), now, store.JoinStepKeys(e.NationalStepKeys),
			s.d.time(store.Normalise(e.DueAt)), s.d.time(store.Normalise(e.ResolvedAt))}
	}
	set := `
ON CONFLICT (dossier_id) DO UPDATE SET
	source = excluded.source, province = excluded.province, procedure_code = excluded.procedure_code,
	agency = excluded.agency, version = excluded.version, content_hash = excluded.content_hash,
	status = excluded.status, deleted = excluded.deleted,
	national_state = excluded.national_state, national_version = excluded.national_version,
	national_steps = excluded.national_steps, national_at = excluded.national_at,
	updated_at = excluded.updated_at, national_step_keys = excluded.national_step_keys,
	due_at = excluded.due_at, resolved_at = excluded.resolved_at`
	if canonical {
		set += `, canonical = excluded.canonical`
	}
	return s.d.many("ledger", ledgerCols, rows, set)
}

// LedgerCounts returns, per source, how many dossiers the national portal
// holds. Sources with none are absent.
func (s *Store) LedgerCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	rows, err := s.query(ctx, `SELECT source, count(*) FROM ledger WHERE national_state = $1 GROUP BY source`, store.NationalHeld)
	if err := scanInto(rows, err, out); err != nil {
		return nil, fmt.Errorf("ledger counts: %w", err)
	}
	return out, nil
}

// OnTimeReport counts the dossiers f selects per source and procedure
// against their due date, in one query over the ledger's clear columns
// (no canonical dossier is opened). Rows are ordered by source, then
// procedure; a pair with no dossier due is absent.
func (s *Store) OnTimeReport(ctx context.Context, f store.OnTimeFilter) ([]store.OnTimeRow, error) {
	now := f.Now
	if now.IsZero() {
		now = store.Now()
	}
	w := s.where()
	w.args = append(w.args, s.d.time(store.Normalise(now))) // $1
	w.add("due_at IS NOT NULL")
	w.add(onTimeCounted)
	w.within("source", f.Sources)
	w.time("due_at >= ?", f.Since)
	w.time("due_at < ?", f.Until)
	q := `SELECT source, procedure_code, count(*),
	sum(CASE WHEN resolved_at IS NOT NULL AND resolved_at <= due_at THEN 1 ELSE 0 END),
	sum(CASE WHEN resolved_at IS NOT NULL AND resolved_at > due_at THEN 1 ELSE 0 END),
	sum(CASE WHEN resolved_at IS NULL AND due_at < $1 THEN 1 ELSE 0 END),
	sum(CASE WHEN resolved_at IS NULL AND due_at >= $1 THEN 1 ELSE 0 END)
FROM ledger WHERE ` + strings.Join(w.conds, " AND ") + `
GROUP BY source, procedure_code ORDER BY source, procedure_code`
	rows, err := s.r.QueryContext(ctx, s.d.bind(q), w.args...)
	out, err := all(rows, err, func(r store.Scanner) (store.OnTimeRow, error) {
		var o store.OnTimeRow
		err := r.Scan(&o.Source, &o.Procedure, &o.Due, &o.OnTime, &o.Late, &o.OverdueNow, &o.Open)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("on-time report: %w", err)
	}
	return out, nil
}

// onTimeCounted is the condition of the on-time report's dossiers besides
// a due date: not deleted, and not ended with no result due (refused at
// intake, schemas.StatusRefused; withdrawn, schemas.StatusWithdrawn).
const onTimeCounted = `NOT deleted AND status NOT IN (3, 7)`

// OverdueCounts returns, per source, how many dossiers are overdue at now:
// OnTimeReport's OverdueNow, over every due date (the ledger_overdue index
// serves it). Sources with none are absent.
func (s *Store) OverdueCounts(ctx context.Context, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	rows, err := s.query(ctx, `SELECT source, count(*) FROM ledger
WHERE resolved_at IS NULL AND due_at < $1 AND `+onTimeCounted+` GROUP BY source`, s.d.time(store.Normalise(now)))
	if err := scanInto(rows, err, out); err != nil {
		return nil, fmt.Errorf("overdue counts: %w", err)
	}
	return out, nil
}

// =============================================================================
// Events

var eventCols = []col{{"dossier_id", "text"}, {"source", "text"}, {"version", "int8"}, {"kind", "text"},
	{"detail", "text"}, {"at", "timestamptz"}, {"instance", "text"}, {"prev_hash", "bytea"}, {"hash", "bytea"}}

// AppendEvents appends events atomically, in slice order, each chained
// after the previous event of its dossier (see trail.go). A zero At is set
// to the store's clock.
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.d.runEvents(ctx, s, nil, events); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// cmpTime is t, or def when t is zero.
func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return store.Normalise(t)
}

// Timeline returns the events of a dossier in time order, and in order of
// append within one instant: stages record concurrently and in batches, so
// append order alone can put a later step first.
func (s *Store) Timeline(ctx context.Context, dossierID string) ([]store.Event, error) {
	rows, err := s.query(ctx, `
SELECT dossier_id, source, version, kind, detail, at, instance
FROM events WHERE dossier_id = $1 ORDER BY at, id`, dossierID)
	out, err := all(rows, err, func(r store.Scanner) (store.Event, error) {
		var e store.Event
		err := r.Scan(&e.DossierID, &e.Source, &e.Version, &e.Kind, &e.Detail, at(&e.At), &e.Instance)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("timeline %q: %w", dossierID, err)
	}
	return out, nil
}

// PruneEvents deletes about limit events older than before, oldest first,
// and returns how many went. Events of a dossier with an open quarantine
// entry are kept: an operator is yet to look at it. The ledger, the
// quarantine and the audit log are never pruned.
//
// Each dossier loses a prefix of its chain only, never an event with an
// earlier one left (docs/audit-trail.md: verification takes a missing
// event with earlier ones stored as removed): an event goes only if none
// before it in its chain is recent, and with it every one before it, even
// past limit.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	n, err := s.exec(ctx, `
DELETE FROM events WHERE id IN (
	SELECT e.id FROM events e JOIN (
		SELECT o.dossier_id, max(o.id) AS upto FROM (
			SELECT c.dossier_id, c.id FROM events c
			WHERE c.at < $1
				AND NOT EXISTS (SELECT 1 FROM events y WHERE y.dossier_id = c.dossier_id AND y.id < c.id AND y.at >= $1)
				AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.dossier_id = c.dossier_id AND q.state = 'open')
			ORDER BY c.at LIMIT $2) o
		GROUP BY o.dossier_id) p ON e.dossier_id = p.dossier_id AND e.id <= p.upto)`,
		s.d.time(store.Normalise(before)), limit)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

// =============================================================================
// Quarantine

var quarantineCols = []col{{"source", "text"}, {"dossier_id", "text"}, {"version", "int8"}, {"field", "text"},
	{"reason", "text"}, {"format", "text"}, {"payload", "bytea"}, {"at", "timestamptz"}, {"state", "text"}}

// AddQuarantine records entries atomically. ID is assigned by the store; an
// empty State is "open" and a zero At the store's clock.
func (s *Store) AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error {
	if len(entries) == 0 {
		return nil
	}
	st, err := s.quarantineStmt(entries)
	if err == nil {
		err = s.d.run(ctx, s, []stmt{st})
	}
	if err != nil {
		return fmt.Errorf("add quarantine: %w", err)
	}
	return nil
}

func (s *Store) quarantineStmt(entries []store.QuarantineEntry) (stmt, error) {
	rowKeys, plain := make([]string, len(entries)), make([][]byte, len(entries))
	for i, e := range entries {
		if e.State != "" && !store.ValidQuarantineState(e.State) {
			return stmt{}, fmt.Errorf("entry %d: state %q: %w", i, e.State, store.ErrInvalid)
		}
		rowKeys[i], plain[i] = store.QuarantineRowKey(e.Source, e.DossierID), e.Payload
	}
	payloads := s.seal.SealAll(store.SealQuarantinePayload, rowKeys, plain)
	now := store.Now()
	rows := make([][]any, len(entries))
	for i, e := range entries {
		rows[i] = []any{e.Source, e.DossierID, e.Version, e.Field, e.Reason, e.Format, payloads[i],
			s.d.time(cmpTime(e.At, now)), cmp.Or(e.State, store.QuarantineOpen)}
	}
	return s.d.many("quarantine", quarantineCols, rows, ""), nil
}

const quarantineColumns = `id, source, dossier_id, version, field, reason, format, payload, at, state`

func (s *Store) scanQuarantine(row store.Scanner) (store.QuarantineEntry, error) {
	var e store.QuarantineEntry
	if err := row.Scan(&e.ID, &e.Source, &e.DossierID, &e.Version, &e.Field, &e.Reason, &e.Format, &e.Payload,
		at(&e.At), &e.State); err != nil {
		return e, err
	}
	p, err := s.seal.Open(store.SealQuarantinePayload, store.QuarantineRowKey(e.Source, e.DossierID), e.Payload)
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	e.Payload = p
	return e, nil
}

// quarantineWhere is the conditions of f.
func (s *Store) quarantineWhere(f store.QuarantineFilter) *where {
	w := s.where()
	for _, c := range []struct{ cond, v string }{
		{"source = ?", f.Source}, {"dossier_id = ?", f.DossierID}, {"field = ?", f.Field}, {"state = ?", f.State},
	} {
		if c.v != "" {
			w.add(c.cond, c.v)
		}
	}
	w.within("source", f.Sources)
	w.time("at >= ?", f.Since)
	w.time("at < ?", f.Until)
	return w
}

// quarantineOrder is the ORDER BY of a QuarantineFilter.Sort: the key's
// column, its text by its bytes, then the ID the same way round.
func (s *Store) quarantineOrder(sort string) (string, error) {
	key, desc, err := store.ParseQuarantineSort(sort)
	if err != nil {
		return "", err
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	switch key {
	case "id":
		return "id" + dir, nil
	case "at":
		return "at" + dir + ", id" + dir, nil
	case "dossier":
		key = "dossier_id"
	}
	return key + s.d.bytewise + dir + ", id" + dir, nil
}

// ListQuarantine returns the entries f selects, in f.Sort's order.
func (s *Store) ListQuarantine(ctx context.Context, f store.QuarantineFilter) ([]store.QuarantineEntry, error) {
	order, err := s.quarantineOrder(f.Sort)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	w := s.quarantineWhere(f)
	q := w.query(`SELECT `+quarantineColumns+` FROM quarantine`, order, f.Limit, f.Offset)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, s.scanQuarantine)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// CountQuarantineMatching returns how many entries f selects, whatever its
// Limit and Offset: the total a page of them is out of.
func (s *Store) CountQuarantineMatching(ctx context.Context, f store.QuarantineFilter) (int, error) {
	w := s.quarantineWhere(f)
	var n int
	if err := s.r.QueryRowContext(ctx, w.count(`SELECT count(*) FROM quarantine`), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// GetQuarantine returns one entry, or an error wrapping store.ErrNotFound.
func (s *Store) GetQuarantine(ctx context.Context, id int64) (store.QuarantineEntry, error) {
	e, err := one(s.row(ctx, s.r, `SELECT `+quarantineColumns+` FROM quarantine WHERE id = $1`, id), s.scanQuarantine)
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
	n, err := s.exec(ctx, `UPDATE quarantine SET state = $2 WHERE id = $1`, id, state)
	return changedOne(n, err, fmt.Sprintf("set quarantine %d state", id))
}

// CountQuarantine returns the number of open entries of source, or of all
// sources when source is "".
func (s *Store) CountQuarantine(ctx context.Context, source string) (int, error) {
	// Two shapes rather than "$1 = '' OR source = $1", which a cached
	// generic plan could not serve from the (state, source) index.
	q, args := `SELECT count(*) FROM quarantine WHERE state = 'open'`, []any{}
	if source != "" {
		q, args = q+` AND source = $1`, append(args, source)
	}
	var n int
	if err := s.row(ctx, s.r, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// =============================================================================
// Writes of the national sink

// Record writes w atomically: on PostgreSQL in one round trip (the
// statements go as one pipelined batch, run as an implicit transaction),
// on SQLite in one write transaction.
func (s *Store) Record(ctx context.Context, w store.Write) error {
	if w.Empty() {
		return nil
	}
	var stmts []stmt
	if len(w.Quarantine) > 0 {
		st, err := s.quarantineStmt(w.Quarantine)
		if err != nil {
			return fmt.Errorf("record: add quarantine: %w", err)
		}
		stmts = append(stmts, st)
	}
	if len(w.Identities) > 0 {
		st, ok, err := s.identitiesStmt(w.Identities)
		if err != nil {
			return fmt.Errorf("record: index identities: %w", err)
		}
		if ok {
			stmts = append(stmts, st)
		}
	}
	ledger, err := s.ledgerStmts(w.Ledger)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	stmts = append(stmts, ledger...)
	if len(w.Events) > 0 {
		err = s.d.runEvents(ctx, s, stmts, w.Events)
	} else if len(stmts) > 0 {
		err = s.d.run(ctx, s, stmts)
	}
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}
