package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

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
// SignTrailHead signs the audit chain's head and every event chain's.

// Advisory locks (PostgreSQL). Event appends take the cut lock shared, the
// signer takes it alone for as long as it reads the last event ID: every
// event up to that ID is then committed, so a head covers a fixed set of
// events. The chains' locks are taken in dossier order.
const (
	pgAuditLock  = `SELECT pg_advisory_xact_lock(hashtext('lienthong.trail.audit'))`
	pgEventsLock = `SELECT pg_advisory_xact_lock(hashtext('lienthong.trail.events.' || d))
FROM unnest(CAST($1 AS text[])) AS d`
	pgCutShared = `SELECT pg_advisory_xact_lock_shared(hashtext('lienthong.trail.cut'))`
	pgCutLock   = `SELECT pg_advisory_xact_lock(hashtext('lienthong.trail.cut'))`
)

// eventHeadsQuery (SQLite) selects each listed dossier and the hash of its
// last event (NULL: none), one index probe each: a max(id) … GROUP BY form
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

// pgAppendEvents appends events chained in the statement, so that locking
// the chains, reading their heads and appending take one round trip. The
// client chains the events itself after the heads it guesses (chainHeads:
// those it appended last, or none for a dossier it does not know): prev
// and hash ($10, $11). The statement reads each chain's stored head (h, one
// index probe per dossier in the batch) and takes the client's hashes for
// the chains whose head it guessed; it hashes the others itself (c),
// walking each along next, the position of the dossier's next event in the
// batch (0: none), each event's hash SHA-256(prefix ‖ enc(prev)) as
// trail.HashAfter, with the prefixes (trail.Event.Prefix) all in one value
// and their offsets ($12, $13: in an array of byte strings, finding one
// walks those before it). A NULL stored hash (an event from before the
// trail) starts the chain afresh. Rows go in in batch order, which their
// IDs follow (as pgMany's); the statement answers each dossier's new head.
var pgAppendEvents = `WITH RECURSIVE u AS (
	SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS int8[]), CAST($4 AS text[]),
		CAST($5 AS text[]), CAST($6 AS timestamptz[]), CAST($7 AS text[]), CAST($8 AS bool[]), CAST($9 AS int8[]),
		CAST($10 AS bytea[]), CAST($11 AS bytea[]))
		WITH ORDINALITY AS u(dossier_id, source, version, kind, detail, at, instance, first, next, prev, hash, ord)
), h AS MATERIALIZED (
	SELECT u.ord, u.next, u.prev AS guess, coalesce((SELECT e.hash FROM events e WHERE e.dossier_id = u.dossier_id
		ORDER BY e.id DESC LIMIT 1), '') AS prev
	FROM u WHERE u.first
), c(ord, next, prev, hash) AS (
	SELECT ord, next, prev, sha256(` + pgPrefix("ord") + ` || int8send(CAST(octet_length(prev) AS int8)) || prev)
	FROM h WHERE prev <> guess
	UNION ALL
	SELECT c.next, (CAST($9 AS int8[]))[c.next], c.hash,
		sha256(` + pgPrefix("c.next") + ` || int8send(CAST(octet_length(c.hash) AS int8)) || c.hash)
	FROM c WHERE c.next > 0
), ins AS (
	INSERT INTO events (dossier_id, source, version, kind, detail, at, instance, prev_hash, hash)
	SELECT u.dossier_id, u.source, u.version, u.kind, u.detail, u.at, u.instance,
		coalesce(c.prev, u.prev), coalesce(c.hash, u.hash)
	FROM u LEFT JOIN c ON c.ord = u.ord ORDER BY u.ord
	RETURNING id, dossier_id, hash
)
SELECT DISTINCT ON (dossier_id) dossier_id, hash FROM ins ORDER BY dossier_id, id DESC`

// pgPrefix is the prefix of the event at position i (1-based).
func pgPrefix(i string) string {
	return fmt.Sprintf(`substring(CAST($12 AS bytea) FROM (CAST($13 AS int4[]))[%[1]s]
		FOR (CAST($13 AS int4[]))[%[1]s + 1] - (CAST($13 AS int4[]))[%[1]s])`, i)
}

// pgEventArgs are the types of pgAppendEvents' arrays ($1-$11).
var pgEventArgs = []string{"text", "text", "int8", "text", "text", "timestamptz", "text", "bool", "int8", "bytea", "bytea"}

// chainHeadsKept bounds the heads a store remembers.
const chainHeadsKept = 100_000

// chainHeads remembers the last hash this store appended to each chain:
// the guess at its head that spares PostgreSQL hashing the chain, when no
// other instance appended to it since (pgAppendEvents checks it under the
// chain's lock, so a wrong guess costs that hashing only).
type chainHeads struct {
	mu   sync.Mutex
	m    map[string][]byte
	kept int
}

func newChainHeads(kept int) *chainHeads { return &chainHeads{m: map[string][]byte{}, kept: kept} }

// guess returns the heads remembered of dossiers.
func (c *chainHeads) guess(dossiers []string) map[string][]byte {
	out := make(map[string][]byte, len(dossiers))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range dossiers {
		if h, ok := c.m[d]; ok {
			out[d] = h
		}
	}
	return out
}

// keep remembers heads, forgetting arbitrary others past c.kept.
func (c *chainHeads) keep(heads map[string][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := range c.m {
		if len(c.m)+len(heads) <= c.kept {
			break
		}
		delete(c.m, d)
	}
	maps.Copy(c.m, heads)
}

// pgRunEvents runs stmts and appends events, in one pipelined batch (one
// round trip, one implicit transaction): the cut lock, the chains' locks,
// the statements, then the events, chained after the heads the locks keep
// still (pgAppendEvents).
func pgRunEvents(ctx context.Context, s *Store, stmts []stmt, events []store.Event) error {
	ids := dossiersOf(events)
	heads := s.heads.guess(ids)
	now := store.Now()
	rows := make([][]any, len(events))
	last := map[string]int{} // dossier → index of its latest event so far
	var prefixes []byte
	offsets := make([]int32, 1, len(events)+1)
	offsets[0] = 1
	for i, e := range events {
		at := cmpTime(e.At, now)
		p, seen := last[e.DossierID]
		prefix := eventLink(e, at).Prefix()
		prev := heads[e.DossierID]
		if prev == nil {
			prev = []byte{} // none known: a new chain
		}
		h := trail.HashAfter(prefix, prev)
		heads[e.DossierID] = h
		rows[i] = []any{e.DossierID, e.Source, e.Version, e.Kind, e.Detail, at, e.Instance, !seen, int64(0), prev, h}
		if seen {
			rows[p][8] = int64(i + 1) // positions count from 1
		}
		last[e.DossierID] = i
		prefixes = append(prefixes, prefix...)
		offsets = append(offsets, int32(len(prefixes)+1))
	}
	args := make([]any, 0, len(pgEventArgs)+2)
	for j, typ := range pgEventArgs {
		args = append(args, pgArray(typ, rows, j))
	}
	args = append(args, prefixes, offsets)
	all := make([]stmt, 0, len(stmts)+3)
	all = append(all, stmt{q: pgCutShared}, stmt{q: pgEventsLock, args: []any{ids}})
	all = append(all, stmts...)
	stored := make(map[string][]byte, len(ids))
	err := pgPipeline(ctx, s, append(all, stmt{q: pgAppendEvents, args: args}),
		func(r pgx.Rows) error { return scanHeads(r, stored) })
	if err == nil {
		s.heads.keep(stored)
	}
	return err
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
// dossier, then ID), every signed head, and the chain heads and bucket
// sums the signer keeps, as export records, all read from one snapshot:
// the signer and retention may write meanwhile.
func (s *Store) ReadTrail(ctx context.Context, fn func(trail.Record) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read trail: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	each := func(what, q string, scan func(r store.Scanner) (trail.Record, error)) error {
		rows, err := tx.QueryContext(ctx, s.d.bind(q))
		_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
			rec, err := scan(r)
			if err != nil {
				return struct{}{}, err
			}
			return struct{}{}, fn(rec)
		})
		if err != nil {
			return fmt.Errorf("read trail: %s: %w", what, err)
		}
		return nil
	}
	return errors.Join(
		each("audit log", `SELECT id, at, token_id, role, province, action, target, detail, outcome, prev_hash, hash
FROM audit_log ORDER BY id`, func(r store.Scanner) (trail.Record, error) {
			var (
				e          store.AuditEntry
				prev, hash []byte
			)
			err := r.Scan(&e.ID, at(&e.At), &e.TokenID, &e.Role, &e.Province, &e.Action, &e.Target, &e.Detail, &e.Outcome,
				&prev, &hash)
			return trail.AuditRecord(e.ID, auditLink(e), prev, hash), err
		}),
		each("events", `SELECT id, dossier_id, source, version, kind, detail, at, instance, prev_hash, hash
FROM events ORDER BY dossier_id, id`, func(r store.Scanner) (trail.Record, error) {
			var (
				id         int64
				e          store.Event
				prev, hash []byte
			)
			err := r.Scan(&id, &e.DossierID, &e.Source, &e.Version, &e.Kind, &e.Detail, at(&e.At), &e.Instance, &prev, &hash)
			return trail.EventRecord(id, eventLink(e, e.At), prev, hash), err
		}),
		each("signed heads", `SELECT `+headColumns+` FROM trail_heads ORDER BY id`, func(r store.Scanner) (trail.Record, error) {
			h, err := scanHead(r)
			return trail.HeadRecord(h), err
		}),
		each("chain heads", `SELECT dossier_id, event_id, hash, at FROM trail_chains ORDER BY bucket, dossier_id`,
			func(r store.Scanner) (trail.Record, error) {
				var c trail.ChainHead
				err := r.Scan(&c.DossierID, &c.EventID, &c.Hash, &c.At)
				return trail.ChainRecord(c), err
			}),
		each("bucket sums", `SELECT bucket, chains, digest FROM trail_buckets ORDER BY bucket`,
			func(r store.Scanner) (trail.Record, error) {
				var b trail.BucketSum
				err := r.Scan(&b.Bucket, &b.Chains, &b.Digest)
				return trail.BucketRecord(b), err
			}),
	)
}

// headColumns are the columns scanHead reads.
const headColumns = `id, at, audit_id, audit_hash, public_key, signature, version, events_through, chains, events_root, retention`

func scanHead(r store.Scanner) (trail.Head, error) {
	var (
		h trail.Head
		t time.Time
	)
	err := r.Scan(&h.ID, at(&t), &h.AuditID, &h.AuditHash, &h.PublicKey, &h.Signature, &h.Version, &h.EventsThrough,
		&h.Chains, &h.EventsRoot, &h.Retention)
	h.At = t.UnixMicro()
	return h, err
}

// VerifyTrail recomputes every chain of the trail and checks every signed
// head, with the trusted keys (none: signatures unchecked).
func (s *Store) VerifyTrail(ctx context.Context, trusted []ed25519.PublicKey) (trail.Report, error) {
	v := trail.Verifier{Keys: trusted, Now: store.Now()}
	if err := s.ReadTrail(ctx, v.Add); err != nil {
		return trail.Report{}, err
	}
	return v.Report(), nil
}

// maxHeadEvents bounds the events one head takes in, so that the first
// head after an upgrade (every event so far) is not one huge transaction:
// SignTrailHead signs heads until it has caught up.
const maxHeadEvents = 200_000

// SignTrailHead signs the trail's head with sg's key, unless nothing moved
// since the last head, and returns it (ID 0: nothing new to sign): the
// audit chain's last entry and the last event of every event chain. It
// first checks that the chain heads kept since the last head are the ones
// that head signed (with sg's trusted keys), and refuses to sign over
// others: they would be laundered.
func (s *Store) SignTrailHead(ctx context.Context, sg trail.Signer) (trail.Head, error) {
	var last trail.Head
	for {
		h, more, err := s.signHead(ctx, sg)
		if err != nil {
			return last, fmt.Errorf("sign trail head: %w", err)
		}
		if h.ID != 0 {
			last = h
		}
		if !more {
			return last, nil
		}
	}
}

// ErrTrailState is SignTrailHead's error when the state it would build on
// does not verify.
var ErrTrailState = errors.New("the trail's kept state does not verify")

// signHead signs one head, over at most maxHeadEvents new events; more:
// there are others.
func (s *Store) signHead(ctx context.Context, sg trail.Signer) (h trail.Head, more bool, err error) {
	var cut int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.cutLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.cutLock); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&cut)
	})
	if err != nil {
		return h, false, fmt.Errorf("events cut: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.auditLock != "" { // one signer at a time, and the audit head still
			if _, err := tx.ExecContext(ctx, s.d.auditLock); err != nil {
				return err
			}
		}
		// The last head over the event chains: an instance not yet
		// upgraded may still sign version 1 heads.
		last, err := scanHead(tx.QueryRowContext(ctx, `SELECT `+headColumns+` FROM trail_heads
WHERE version >= 2 ORDER BY id DESC LIMIT 1`))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if last.ID != 0 {
			if what := trail.CheckKey(last, sg.Trusted()); what != "" {
				return fmt.Errorf("%w: head %d: %s (list an earlier key of this hub in store.trail_previous_keys)",
					ErrTrailState, last.ID, what)
			}
		}
		err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1`).
			Scan(&h.AuditID, &h.AuditHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		h.EventsThrough = last.EventsThrough
		if cut > last.EventsThrough {
			if err := s.row(ctx, tx, `SELECT coalesce(max(id), $1) FROM (
	SELECT id FROM events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3) x`,
				last.EventsThrough, cut, maxHeadEvents).Scan(&h.EventsThrough); err != nil {
				return err
			}
		}
		more = h.EventsThrough < cut
		if h.EventsThrough == last.EventsThrough && h.AuditID == last.AuditID {
			h = trail.Head{}
			return nil
		}
		if h.EventsRoot, h.Chains, err = s.moveChains(ctx, tx, last, h.EventsThrough); err != nil {
			return err
		}
		now := store.Now()
		h.At, h.Retention = now.UnixMicro(), max(sg.Retention.Microseconds(), 0)
		if h.AuditHash == nil {
			h.AuditHash = []byte{}
		}
		h = h.Sign(sg.Key)
		return s.row(ctx, tx, `INSERT INTO trail_heads (at, audit_id, audit_hash, public_key, signature, version,
	events_through, chains, events_root, retention)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, s.d.time(now), h.AuditID, h.AuditHash, h.PublicKey,
			h.Signature, h.Version, h.EventsThrough, h.Chains, h.EventsRoot, h.Retention).Scan(&h.ID)
	})
	return h, more, err
}

var (
	chainCols = []col{{"bucket", "int8"}, {"dossier_id", "text"}, {"event_id", "int8"}, {"hash", "bytea"}, {"at", "int8"}}
	sumCols   = []col{{"bucket", "int8"}, {"chains", "int8"}, {"digest", "bytea"}}
)

// moveChains moves the kept chain heads from last's cut to through: each
// chain with events after the cut gets its last event up to through as
// its head, and the buckets of those chains their new sums. It checks
// first that the kept bucket sums give last's root and that the heads
// kept in the buckets it reads give their sums. It returns the new root
// and the number of chains.
func (s *Store) moveChains(ctx context.Context, tx *sql.Tx, last trail.Head, through int64) ([]byte, int64, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s; run hub audit verify", ErrTrailState, fmt.Sprintf(format, args...))
	}
	rows, err := tx.QueryContext(ctx, s.d.bind(`SELECT dossier_id, id, hash, at FROM events WHERE id IN (
	SELECT max(id) FROM events WHERE id > $1 AND id <= $2 AND hash IS NOT NULL GROUP BY dossier_id)`),
		last.EventsThrough, through)
	moved, err := all(rows, err, func(r store.Scanner) (trail.ChainHead, error) {
		var (
			c trail.ChainHead
			t time.Time
		)
		err := r.Scan(&c.DossierID, &c.EventID, &c.Hash, at(&t))
		c.At = t.UnixMicro()
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("moved chains: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT bucket, chains, digest FROM trail_buckets`)
	sums, err := all(rows, err, func(r store.Scanner) (b trail.BucketSum, err error) {
		return b, r.Scan(&b.Bucket, &b.Chains, &b.Digest)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bucket sums: %w", err)
	}
	kept := make(map[int]trail.BucketSum, len(sums))
	for _, b := range sums {
		kept[b.Bucket] = b
	}
	root, n := trail.RootOf(kept)
	switch {
	case last.ID == 0 && len(kept) > 0:
		return nil, 0, bad("bucket sums are kept but no head signed them")
	case last.ID != 0 && (!bytes.Equal(root, last.EventsRoot) || n != last.Chains):
		return nil, 0, bad("the bucket sums kept do not give the root head %d signed", last.ID)
	}
	buckets := map[int][]trail.ChainHead{}
	for _, c := range moved {
		buckets[trail.Bucket(c.DossierID)] = nil
	}
	ids := make([]int64, 0, len(buckets))
	for b := range buckets {
		ids = append(ids, int64(b))
	}
	rows, err = tx.QueryContext(ctx, s.d.bind(`SELECT bucket, dossier_id, event_id, hash, at FROM trail_chains
WHERE bucket IN (`+fmt.Sprintf(s.d.inInts, "$1")+`)`), s.d.ints(ids))
	_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
		var (
			b int
			c trail.ChainHead
		)
		err := r.Scan(&b, &c.DossierID, &c.EventID, &c.Hash, &c.At)
		buckets[b] = append(buckets[b], c)
		return struct{}{}, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("chain heads: %w", err)
	}
	for b, cs := range buckets {
		if got := trail.SumBuckets(cs)[b]; got.Chains != kept[b].Chains || !bytes.Equal(got.Digest, kept[b].Digest) {
			return nil, 0, bad("the chain heads kept in bucket %d do not give its sum", b)
		}
	}
	heads := make([][]any, len(moved))
	for i, c := range moved {
		b := trail.Bucket(c.DossierID)
		j := slices.IndexFunc(buckets[b], func(o trail.ChainHead) bool { return o.DossierID == c.DossierID })
		if j < 0 {
			buckets[b] = append(buckets[b], c)
		} else {
			buckets[b][j] = c
		}
		heads[i] = []any{int64(b), c.DossierID, c.EventID, c.Hash, c.At}
	}
	changed := make([][]any, 0, len(buckets))
	for b, cs := range buckets {
		sum := trail.SumBuckets(cs)[b]
		kept[b] = sum
		changed = append(changed, []any{int64(b), sum.Chains, sum.Digest})
	}
	err = s.runTx(ctx, tx, []stmt{
		s.d.many("trail_chains", chainCols, heads, `ON CONFLICT (bucket, dossier_id) DO UPDATE SET
	event_id = excluded.event_id, hash = excluded.hash, at = excluded.at`),
		s.d.many("trail_buckets", sumCols, changed, `ON CONFLICT (bucket) DO UPDATE SET
	chains = excluded.chains, digest = excluded.digest`),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("keep chain heads: %w", err)
	}
	root, n = trail.RootOf(kept)
	return root, n, nil
}
