package sqlstore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

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

// eventHeadsQuery selects each listed dossier and the hash of its last
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
		h := trail.Event{DossierID: e.DossierID, Source: e.Source, Version: e.Version, Kind: e.Kind,
			Detail: e.Detail, At: at.UnixMicro(), Instance: e.Instance}.Hash(prev)
		heads[e.DossierID] = h
		rows[i] = []any{e.DossierID, e.Source, e.Version, e.Kind, e.Detail, s.d.time(at), e.Instance, prev, h}
	}
	return rows
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

// pgRunEvents runs stmts and then appends events, in one transaction of two
// round trips: BEGIN, the chains' locks and their heads; then the
// statements, the events and COMMIT.
func pgRunEvents(ctx context.Context, s *Store, stmts []stmt, events []store.Event) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		err := func() error {
			ids := dossiersOf(events)
			var b pgx.Batch
			b.Queue("BEGIN")
			b.Queue(pgEventsLock, ids)
			b.Queue(fmt.Sprintf(eventHeadsQuery, fmt.Sprintf(s.d.inList, "$1")), ids)
			br := c.SendBatch(ctx, &b)
			heads := map[string][]byte{}
			_, err := br.Exec()
			if err == nil {
				_, err = br.Exec()
			}
			if err == nil {
				var rows pgx.Rows
				if rows, err = br.Query(); err == nil {
					err = scanHeads(rows, heads)
					rows.Close()
				}
			}
			if err = errors.Join(err, br.Close()); err != nil {
				return err
			}
			var b2 pgx.Batch
			for _, st := range append(stmts, s.d.many("events", eventCols, s.chainEvents(events, heads), "")) {
				if st.rows == nil {
					b2.Queue(st.q, st.args...)
				}
				for _, r := range st.rows {
					b2.Queue(st.q, r...)
				}
			}
			b2.Queue("COMMIT")
			return c.SendBatch(ctx, &b2).Close()
		}()
		if err != nil && c.PgConn().TxStatus() != 'I' {
			if _, rerr := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				return errors.Join(err, driver.ErrBadConn) // the pool drops the connection
			}
		}
		return err
	})
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
