package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/lienthong/lienthong/store"
)

// Reconciliation: the ledger rows a pass reads, and the drift it records.

// ReconcileBatch returns the ledger rows f selects, with their canonical
// dossiers, in dossier ID order: the reconciler's sweep walks the ledger
// by its primary key, so a pass costs an index range per page.
func (s *Store) ReconcileBatch(ctx context.Context, f store.ReconcileFilter) ([]store.LedgerEntry, error) {
	w := s.where()
	w.add("dossier_id > ?", f.After)
	w.add("NOT deleted")
	w.within("source", f.Sources)
	q := w.query(`SELECT dossier_id FROM ledger`, `dossier_id`, max(f.Limit, 1), 0)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	ids, err := all(rows, err, func(r store.Scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile batch: %w", err)
	}
	got, err := s.GetLedger(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("reconcile batch: %w", err)
	}
	out := make([]store.LedgerEntry, 0, len(ids))
	for _, id := range ids {
		if e, ok := got[id]; ok { // gone meanwhile: nothing to check
			out = append(out, e)
		}
	}
	return out, nil
}

// ForgetNationalHash clears the content hash of what the portal holds of
// dossierID, if the ledger still says it holds nationalVersion with hash:
// the national sink then sends the dossier again as an update (and creates
// it if the portal answers that it does not know it). It reports whether
// the row was changed; a row written meanwhile is left as it is.
func (s *Store) ForgetNationalHash(ctx context.Context, dossierID string, nationalVersion int64, hash string) (bool, error) {
	n, err := s.exec(ctx, `UPDATE ledger SET content_hash = '', updated_at = $4
WHERE dossier_id = $1 AND national_state = $5 AND national_version = $2 AND content_hash = $3`,
		dossierID, nationalVersion, hash, s.d.time(store.Now()), store.NationalHeld)
	if err != nil {
		return false, fmt.Errorf("forget national hash of %s: %w", dossierID, err)
	}
	return n > 0, nil
}

var driftCols = []col{{"dossier_id", "text"}, {"source", "text"}, {"province", "text"}, {"kind", "text"},
	{"fields", "text"}, {"detail", "text"}, {"found_at", "timestamptz"}, {"checked_at", "timestamptz"},
	{"state", "text"}, {"resynced_at", "timestamptz"}}

// PutDrift records findings as open. A dossier already open with the same
// kind keeps when it was first found; one resolved, or found with another
// kind, starts a new episode. A zero CheckedAt is the store's clock.
func (s *Store) PutDrift(ctx context.Context, found []store.Drift) error {
	if len(found) == 0 {
		return nil
	}
	now := store.Now()
	rows := make([][]any, 0, len(found))
	seen := map[string]int{}
	for _, d := range found {
		if d.DossierID == "" || d.Kind == "" {
			return fmt.Errorf("put drift: dossier %q kind %q: %w", d.DossierID, d.Kind, store.ErrInvalid)
		}
		at := s.d.time(cmpTime(d.CheckedAt, now))
		row := []any{d.DossierID, d.Source, d.Province, d.Kind, strings.Join(d.Fields, ","), d.Detail,
			at, at, store.DriftOpen, nil}
		if i, ok := seen[d.DossierID]; ok { // one row per dossier in a statement
			rows[i] = row
			continue
		}
		seen[d.DossierID] = len(rows)
		rows = append(rows, row)
	}
	st := s.d.many("drift", driftCols, rows, `
ON CONFLICT (dossier_id) DO UPDATE SET
	source = excluded.source, province = excluded.province, fields = excluded.fields, detail = excluded.detail,
	found_at = CASE WHEN drift.state = 'resolved' OR drift.kind <> excluded.kind THEN excluded.found_at ELSE drift.found_at END,
	kind = excluded.kind, checked_at = excluded.checked_at, state = 'open'`)
	if err := s.d.run(ctx, s, []stmt{st}); err != nil {
		return fmt.Errorf("put drift: %w", err)
	}
	return nil
}

// ResolveDrift marks the drift of ids resolved, those not resolved yet:
// a check found their copies equal.
func (s *Store) ResolveDrift(ctx context.Context, ids []string) error {
	return s.setDrift(ctx, ids, store.DriftResolved, "checked_at", "state <> 'resolved'")
}

// MarkResyncing marks the open drift of ids as sent through the pipeline
// again.
func (s *Store) MarkResyncing(ctx context.Context, ids []string) error {
	return s.setDrift(ctx, ids, store.DriftResyncing, "resynced_at", "state = 'open'")
}

func (s *Store) setDrift(ctx context.Context, ids []string, state, stamp, cond string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.exec(ctx, `UPDATE drift SET state = $2, `+stamp+` = $3
WHERE dossier_id IN (`+fmt.Sprintf(s.d.inList, "$1")+`) AND `+cond, s.d.list(ids), state, s.d.time(store.Now()))
	if err != nil {
		return fmt.Errorf("set drift %s: %w", state, err)
	}
	return nil
}

const driftColumns = `dossier_id, source, province, kind, fields, detail, found_at, checked_at, state, resynced_at`

// ListDrift returns the rows f selects, most recently found first, and how
// many it selects in all (without Limit and Offset).
func (s *Store) ListDrift(ctx context.Context, f store.DriftFilter) ([]store.Drift, int, error) {
	w := s.where()
	w.in("dossier_id", f.IDs)
	w.within("source", f.Sources)
	w.in("kind", f.Kinds)
	w.in("state", f.States)
	var total int
	count := w.query(`SELECT count(*) FROM drift`, `1`, 0, 0)
	if err := s.r.QueryRowContext(ctx, count, w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list drift: count: %w", err)
	}
	q := w.query(`SELECT `+driftColumns+` FROM drift`, `found_at DESC, dossier_id`, f.Limit, f.Offset)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, func(r store.Scanner) (store.Drift, error) {
		var (
			d      store.Drift
			fields string
		)
		err := r.Scan(&d.DossierID, &d.Source, &d.Province, &d.Kind, &fields, &d.Detail, at(&d.FoundAt),
			at(&d.CheckedAt), &d.State, at(&d.ResyncedAt))
		if fields != "" {
			d.Fields = strings.Split(fields, ",")
		}
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list drift: %w", err)
	}
	return out, total, nil
}

// DriftCounts returns, per source and kind, the drift not resolved yet
// (open or resyncing). Pairs with none are absent.
func (s *Store) DriftCounts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.query(ctx, `SELECT source, kind, count(*) FROM drift WHERE state <> 'resolved' GROUP BY source, kind`)
	type row struct {
		source, kind string
		n            int
	}
	list, err := all(rows, err, func(r store.Scanner) (row, error) {
		var x row
		return x, r.Scan(&x.source, &x.kind, &x.n)
	})
	if err != nil {
		return nil, fmt.Errorf("drift counts: %w", err)
	}
	out := map[string]map[string]int{}
	for _, x := range list {
		if out[x.source] == nil {
			out[x.source] = map[string]int{}
		}
		out[x.source][x.kind] = x.n
	}
	return out, nil
}
