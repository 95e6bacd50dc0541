package sqlstore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/trail"
)

// The tamper-evident trail: audit entries and provenance events are
// hash-chained as they are written (store/trail has the algorithm;
// docs/audit-trail.md describes it). The audit log is one chain, each
// dossier's events another; an append reads the previous hash of its
// chain in its write transaction, under a lock that serialises appends to
// the same chain across instances (PostgreSQL: a transaction-level
// advisory lock per chain; SQLite: the write transaction itself).

// Advisory locks of the chains (PostgreSQL), taken in dossier order.
const (
	pgAuditLock  = `SELECT pg_advisory_xact_lock(hashtext('lienthong.trail.audit'))`
	pgEventsLock = `SELECT pg_advisory_xact_lock(hashtext('lienthong.trail.events.' || d))
FROM unnest(CAST($1 AS text[])) AS d`
)

// eventHeadsQuery (SQLite) selects each listed dossier and the hash of its last
// event (NULL: none), one index probe each: a max(id) … GROUP BY form
// made appends 3-10 times slower.
const eventHeadsQuery = `WITH l(d) AS (%s)
SELECT d, (SELECT hash FROM events WHERE dossier_id = l.d ORDER BY id DESC LIMIT 1) FROM l`

// chainEvents returns the events' rows with their prev_hash and hash,
// chained after heads (each dossier's last stored hash) in slice order.
func (s *Store) chainEvents(events []store.Event, heads map[string][]byte) [][]any {
	now := store.Now()
	rows := make([][]any, len(events))
	for i, e := range events {
		at := cmpTime(e.At, now)
		prev := heads[e.DossierID]
		if prev == nil {
			prev = []byte{}
		}
		h := eventLink(e, at).Hash(prev)
		heads[e.DossierID] = h
		rows[i] = []any{e.DossierID, e.Source, e.Version, e.Kind, e.Detail, s.d.time(at), e.Instance, prev, h}
	}
	return rows
}

func eventLink(e store.Event, at time.Time) trail.Event {
	return trail.Event{DossierID: e.DossierID, Source: e.Source, Version: e.Version, Kind: e.Kind,
		Detail: e.Detail, At: at.UnixMicro(), Instance: e.Instance}
}

// dossiersOf returns the distinct dossiers of events, sorted (the order
// their chains are locked in).
func dossiersOf(events []store.Event) []string {
	ids := make([]string, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.DossierID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// scanHeads reads (dossier, hash) rows; a NULL hash (an event from before
// the trail) starts the chain afresh.
func scanHeads(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}, out map[string][]byte) error {
	for rows.Next() {
		var (
			id string
			h  []byte
		)
		if err := rows.Scan(&id, &h); err != nil {
			return err
		}
		out[id] = h
	}
	return rows.Err()
}

// sqliteRunEvents runs stmts and then appends events, in one write
// transaction (which serialises the chains).
func sqliteRunEvents(ctx context.Context, s *Store, stmts []stmt, events []store.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		heads := map[string][]byte{}
		rows, err := tx.QueryContext(ctx, s.d.bind(fmt.Sprintf(eventHeadsQuery, fmt.Sprintf(s.d.inList, "$1"))),
			s.d.list(dossiersOf(events)))
		if err != nil {
			return err
		}
		err = scanHeads(rows, heads)
		_ = rows.Close()
		if err != nil {
			return err
		}
		st := s.d.many("events", eventCols, s.chainEvents(events, heads), "")
		return s.runTx(ctx, tx, append(stmts, st))
	})
}

// pgAppendEvents appends events chained in the statement itself, so that
// locking the chains, reading their heads and appending take one round
// trip. The client sends each event's prefix (trail.Event.Prefix, its
// fields encoded), whether it is the first of its dossier in the batch
// (its chain's stored head comes before it: h, one index probe each) and
// the position of the next one (0: none). The recursive part walks each
// chain of the batch along next, hashing every event after the one before
// it, SHA-256(prefix ‖ enc(prev)) as trail.HashAfter: the arrays indexed
// by position cost no join per step, which made a long chain in one batch
// quadratic. A NULL stored hash (an event from before the trail) starts
// the chain afresh. Rows go in in batch order, which their IDs follow (as
// pgMany's).
const pgAppendEvents = `WITH RECURSIVE u AS (
	SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS int8[]), CAST($4 AS text[]),
		CAST($5 AS text[]), CAST($6 AS timestamptz[]), CAST($7 AS text[]), CAST($8 AS bytea[]), CAST($9 AS bool[]),
		CAST($10 AS int8[]))
		WITH ORDINALITY AS u(dossier_id, source, version, kind, detail, at, instance, prefix, first, next, ord)
), h AS MATERIALIZED (
	SELECT u.ord, u.prefix, u.next, coalesce((SELECT e.hash FROM events e WHERE e.dossier_id = u.dossier_id
		ORDER BY e.id DESC LIMIT 1), '') AS prev
	FROM u WHERE u.first
), c(ord, next, prev, hash) AS (
	SELECT ord, next, prev, sha256(prefix || int8send(CAST(octet_length(prev) AS int8)) || prev) FROM h
	UNION ALL
	SELECT c.next, (CAST($10 AS int8[]))[c.next], c.hash,
		sha256((CAST($8 AS bytea[]))[c.next] || int8send(CAST(octet_length(c.hash) AS int8)) || c.hash)
	FROM c WHERE c.next > 0
)
INSERT INTO events (dossier_id, source, version, kind, detail, at, instance, prev_hash, hash)
SELECT u.dossier_id, u.source, u.version, u.kind, u.detail, u.at, u.instance, c.prev, c.hash
FROM u JOIN c ON c.ord = u.ord ORDER BY u.ord`

// pgEventArgs are pgAppendEvents' column types.
var pgEventArgs = []string{"text", "text", "int8", "text", "text", "timestamptz", "text", "bytea", "bool", "int8"}

// pgRunEvents runs stmts and appends events, in one pipelined batch (one
// round trip, one implicit transaction): the chains' locks, the
// statements, then the events, chained by pgAppendEvents after the heads
// the locks keep still.
func pgRunEvents(ctx context.Context, s *Store, stmts []stmt, events []store.Event) error {
	now := store.Now()
	rows := make([][]any, len(events))
	last := map[string]int{} // dossier → index of its latest event so far
	for i, e := range events {
		at := cmpTime(e.At, now)
		prev, seen := last[e.DossierID]
		rows[i] = []any{e.DossierID, e.Source, e.Version, e.Kind, e.Detail, at, e.Instance,
			eventLink(e, at).Prefix(), !seen, int64(0)}
		if seen {
			rows[prev][9] = int64(i + 1) // positions count from 1
		}
		last[e.DossierID] = i
	}
	args := make([]any, len(pgEventArgs))
	for j, typ := range pgEventArgs {
		args[j] = pgArray(typ, rows, j)
	}
	all := make([]stmt, 0, len(stmts)+2)
	all = append(all, stmt{q: pgEventsLock, args: []any{dossiersOf(events)}})
	all = append(all, stmts...)
	return pgRun(ctx, s, append(all, stmt{q: pgAppendEvents, args: args}))
}

// appendAuditChained inserts e after the audit chain's last entry.
func (s *Store) appendAuditChained(ctx context.Context, e store.AuditEntry) (id int64, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.auditLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.auditLock); err != nil {
				return err
			}
		}
		var prev []byte
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if prev == nil {
			prev = []byte{}
		}
		h := auditLink(e).Hash(prev)
		return s.row(ctx, tx, `
INSERT INTO audit_log (at, token_id, role, province, action, target, detail, outcome, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			s.d.time(e.At), e.TokenID, e.Role, e.Province, e.Action, e.Target, e.Detail, e.Outcome, prev, h).Scan(&id)
	})
	return id, err
}

func auditLink(e store.AuditEntry) trail.Audit {
	return trail.Audit{At: e.At.UnixMicro(), TokenID: e.TokenID, Role: e.Role, Province: e.Province,
		Action: e.Action, Target: e.Target, Detail: e.Detail, Outcome: e.Outcome}
}

// ReadTrail passes fn every audit entry (in ID order), every event (by
// dossier, then ID) and every signed head of the trail, as export records.
func (s *Store) ReadTrail(ctx context.Context, fn func(trail.Record) error) error {
	rows, err := s.query(ctx, `SELECT id, at, token_id, role, province, action, target, detail, outcome, prev_hash, hash
FROM audit_log ORDER BY id`)
	_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
		var (
			e          store.AuditEntry
			prev, hash []byte
		)
		if err := r.Scan(&e.ID, at(&e.At), &e.TokenID, &e.Role, &e.Province, &e.Action, &e.Target, &e.Detail, &e.Outcome,
			&prev, &hash); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, fn(trail.AuditRecord(e.ID, auditLink(e), prev, hash))
	})
	if err != nil {
		return fmt.Errorf("read trail: audit log: %w", err)
	}
	rows, err = s.query(ctx, `SELECT id, dossier_id, source, version, kind, detail, at, instance, prev_hash, hash
FROM events ORDER BY dossier_id, id`)
	_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
		var (
			id         int64
			e          store.Event
			prev, hash []byte
		)
		if err := r.Scan(&id, &e.DossierID, &e.Source, &e.Version, &e.Kind, &e.Detail, at(&e.At), &e.Instance,
			&prev, &hash); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, fn(trail.EventRecord(id, trail.Event{DossierID: e.DossierID, Source: e.Source, Version: e.Version,
			Kind: e.Kind, Detail: e.Detail, At: e.At.UnixMicro(), Instance: e.Instance}, prev, hash))
	})
	if err != nil {
		return fmt.Errorf("read trail: events: %w", err)
	}
	rows, err = s.query(ctx, `SELECT id, at, audit_id, audit_hash, signature FROM trail_heads ORDER BY id`)
	_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
		var (
			h trail.Head
			t time.Time
		)
		if err := r.Scan(&h.ID, at(&t), &h.AuditID, &h.AuditHash, &h.Signature); err != nil {
			return struct{}{}, err
		}
		h.At = t.UnixMicro()
		return struct{}{}, fn(trail.HeadRecord(h))
	})
	if err != nil {
		return fmt.Errorf("read trail: signed heads: %w", err)
	}
	return nil
}

// VerifyTrail recomputes every chain of the trail and checks every signed
// head, with pub (nil: signatures unchecked).
func (s *Store) VerifyTrail(ctx context.Context, pub ed25519.PublicKey) (trail.Report, error) {
	v := trail.Verifier{Key: pub}
	if err := s.ReadTrail(ctx, v.Add); err != nil {
		return trail.Report{}, err
	}
	return v.Report(), nil
}

// SignTrailHead records the audit chain's head signed with key, unless it
// is the head signed last, and returns it (ID 0: nothing new to sign).
func (s *Store) SignTrailHead(ctx context.Context, key ed25519.PrivateKey) (trail.Head, error) {
	var h trail.Head
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.auditLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.auditLock); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1`).
			Scan(&h.AuditID, &h.AuditHash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		var last int64
		err = tx.QueryRowContext(ctx, `SELECT audit_id FROM trail_heads ORDER BY id DESC LIMIT 1`).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if last == h.AuditID {
			h = trail.Head{}
			return nil
		}
		now := store.Now()
		h.At = now.UnixMicro()
		h = h.Sign(key)
		return s.row(ctx, tx, `INSERT INTO trail_heads (at, audit_id, audit_hash, public_key, signature)
VALUES ($1, $2, $3, $4, $5) RETURNING id`, s.d.time(now), h.AuditID, h.AuditHash, []byte(key.Public().(ed25519.PublicKey)), h.Signature).Scan(&h.ID)
	})
	if err != nil {
		return trail.Head{}, fmt.Errorf("sign trail head: %w", err)
	}
	return h, nil
}
