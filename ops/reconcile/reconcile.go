// Package reconcile compares what the ledger says the national portal holds
// with what the portal answers (TraCuuHoSo), dossier by dossier, records
// the drift it finds by kind (store.DriftKinds), and sends a drifted
// dossier through the pipeline again on request or, when configured, by
// itself.
//
// The portal has no listing: it can only be asked about a MaHoSo. So the
// reconciler walks the hub's ledger, every dossier the hub has pulled, and
// asks about each; a dossier the portal holds but the hub never sent
// (unknown to the hub) is found among those the ledger records as not
// acknowledged, and one the hub has never pulled at all cannot be found.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Store is the hub's durable state as the reconciler reads and writes it.
type Store interface {
	ReconcileBatch(ctx context.Context, f store.ReconcileFilter) ([]store.LedgerEntry, error)
	GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	ForgetNationalHash(ctx context.Context, dossierID string, nationalVersion int64, hash string) (bool, error)
	PutDrift(ctx context.Context, found []store.Drift) error
	ResolveDrift(ctx context.Context, ids []string) error
	MarkResyncing(ctx context.Context, ids []string) error
	ListDrift(ctx context.Context, f store.DriftFilter) ([]store.Drift, int, error)
	GetCursor(ctx context.Context, name string) ([]byte, error)
	PutCursor(ctx context.Context, name string, value []byte) error
}

// Portal is the national portal's read (TraCuuHoSo).
type Portal interface {
	Lookup(ctx context.Context, u national.Unit, maHoSo string) (json.RawMessage, error)
}

// Expect works out what the portal should hold of each dossier
// (router.Expected over the hub's effects).
type Expect func(ctx context.Context, ds []*schemas.Dossier) (map[string]router.Expectation, error)

// Republisher puts a dossier's latest canonical version back on the
// canonical topic (router.Resyncer).
type Republisher interface {
	Resync(ctx context.Context, dossierID string) error
}

// Config tunes the reconciler.
type Config struct {
	// Units maps a source to the national unit its dossiers are sent as.
	Units map[string]national.Unit
	// Rate is the lookups a second the reconciler may make (default 2):
	// the portal's read is shared with every province's traffic.
	Rate float64
	// Sample makes every Sample-th lookup of the background job one of a
	// random dossier instead of the sweep's next (0: no sample), so drift
	// anywhere shows up long before the sweep reaches it.
	Sample int
	// Grace is how long after its last ledger write a dossier counts as
	// in flight and is not judged (default 10m).
	Grace time.Duration
	// AutoResync sends each drifted dossier through the pipeline again as
	// soon as it is found, once per drift: one still found after its
	// resync (the portal refuses the version, say) is left open for the
	// operator rather than sent again on every pass.
	AutoResync bool
	// Checked, when set, is told the result of each check: "ok",
	// "in_flight", "error" or a drift kind.
	Checked func(source, result string)
	Log     *slog.Logger
}

// Reconciler checks the ledger against the national portal.
type Reconciler struct {
	cfg    Config
	st     Store
	portal Portal
	expect Expect
	pub    Republisher
	log    *slog.Logger
}

// New returns a reconciler. pub may be nil for one that only reports
// (Resync and AutoResync then fail).
func New(cfg Config, st Store, portal Portal, expect Expect, pub Republisher) *Reconciler {
	if cfg.Rate <= 0 {
		cfg.Rate = 2
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Minute
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{cfg: cfg, st: st, portal: portal, expect: expect, pub: pub, log: log}
}

// Result is one dossier's check.
type Result struct {
	DossierID string
	Source    string
	// Outcome is "ok", "in_flight" (written too recently, or while being
	// checked), "skipped" (no national unit for its source) or a drift kind.
	Outcome string
	Drift   *store.Drift // when Outcome is a drift kind
}

// Check compares one ledger entry (read with its canonical dossier) with
// the portal, and records the finding: drift as open, equality as the
// drift's resolution.
func (r *Reconciler) Check(ctx context.Context, e store.LedgerEntry) (Result, error) {
	res, err := r.check(ctx, e)
	if err != nil {
		r.count(e.Source, "error")
		return res, err
	}
	r.count(e.Source, res.Outcome)
	switch {
	case res.Drift != nil:
		tried := false
		if r.cfg.AutoResync {
			var err error
			if tried, err = r.resyncedBefore(ctx, *res.Drift); err != nil {
				return res, err
			}
		}
		if err := r.st.PutDrift(ctx, []store.Drift{*res.Drift}); err != nil {
			return res, err
		}
		r.log.Warn("national portal drifted from the ledger", "dossier", e.DossierID, "source", e.Source,
			"kind", res.Drift.Kind, "fields", res.Drift.Fields)
		switch {
		case tried:
			r.log.Warn("drift still found after its resync; left open for the operator", "dossier", e.DossierID,
				"source", e.Source, "kind", res.Drift.Kind)
		case r.cfg.AutoResync:
			if _, err := r.Resync(ctx, []string{e.DossierID}); err != nil {
				return res, err
			}
		}
	case res.Outcome == "ok":
		if err := r.st.ResolveDrift(ctx, []string{e.DossierID}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// resyncedBefore reports whether d was already found, of the same kind
// and not resolved since, and resynced after it was found: a resync that
// did not repair it will not the next time either.
func (r *Reconciler) resyncedBefore(ctx context.Context, d store.Drift) (bool, error) {
	list, _, err := r.st.ListDrift(ctx, store.DriftFilter{IDs: []string{d.DossierID}, Limit: 1})
	if err != nil || len(list) == 0 {
		return false, err
	}
	was := list[0]
	return was.State != store.DriftResolved && was.Kind == d.Kind && !was.ResyncedAt.IsZero() &&
		!was.ResyncedAt.Before(was.FoundAt), nil
}

func (r *Reconciler) count(source, outcome string) {
	if r.cfg.Checked != nil {
		r.cfg.Checked(source, outcome)
	}
}

func (r *Reconciler) check(ctx context.Context, e store.LedgerEntry) (Result, error) {
	res := Result{DossierID: e.DossierID, Source: e.Source, Outcome: "in_flight"}
	unit, ok := r.cfg.Units[e.Source]
	switch {
	case !ok:
		res.Outcome = "skipped"
		return res, nil
	case e.Deleted || e.NationalState == store.NationalPending || time.Since(e.UpdatedAt) < r.cfg.Grace:
		// Deleted at the source: the portal keeps what it had. Pending or
		// recently written: the sink is still at work on it.
		return res, nil
	}
	got, err := r.portal.Lookup(ctx, unit, e.DossierID)
	if err != nil {
		return res, fmt.Errorf("look up dossier %s of %s at the national portal: %w", e.DossierID, e.Source, err)
	}
	drift, err := r.classify(ctx, e, got)
	if err != nil {
		return res, err
	}
	// The sink may have written the dossier while the portal answered:
	// then the answer is of a moving target, and judged next time.
	now, err := r.st.GetLedgerStates(ctx, []string{e.DossierID})
	if err != nil {
		return res, err
	}
	if n, ok := now[e.DossierID]; !ok || !n.UpdatedAt.Equal(e.UpdatedAt) {
		return res, nil
	}
	if drift == nil {
		res.Outcome = "ok"
		return res, nil
	}
	drift.DossierID, drift.Source, drift.Province = e.DossierID, e.Source, e.Province
	res.Outcome, res.Drift = drift.Kind, drift
	return res, nil
}

// classify names the drift between the ledger's entry and the portal's
// answer (nil: not held), or returns nil when they agree.
func (r *Reconciler) classify(ctx context.Context, e store.LedgerEntry, got json.RawMessage) (*store.Drift, error) {
	if e.NationalState != store.NationalHeld {
		if got == nil {
			return nil, nil
		}
		return &store.Drift{Kind: store.DriftUnknown,
			Detail: fmt.Sprintf("the national portal holds it; the ledger records version %d as never acknowledged", e.Version)}, nil
	}
	if got == nil {
		return &store.Drift{Kind: store.DriftMissing,
			Detail: fmt.Sprintf("the ledger says the portal holds version %d; TraCuuHoSo does not know it", e.NationalVersion)}, nil
	}
	var d schemas.Dossier
	if err := json.Unmarshal(e.Canonical, &d); err != nil {
		return nil, fmt.Errorf("dossier %s of %s: the ledger's canonical dossier is unreadable: %w", e.DossierID, e.Source, err)
	}
	exp, err := r.expect(ctx, []*schemas.Dossier{&d})
	if err != nil {
		return nil, err
	}
	want := exp[d.ID].HoSo
	fields, err := Differences(want, got)
	if err != nil {
		return nil, fmt.Errorf("dossier %s of %s: %w", e.DossierID, e.Source, err)
	}
	var gotStatus struct {
		TrangThaiHoSo json.Number `json:"TrangThaiHoSo"`
	}
	_ = json.Unmarshal(got, &gotStatus) // a malformed one is named in fields already
	switch {
	case e.NationalVersion < e.Version:
		return &store.Drift{Kind: store.DriftOlderStatus, Fields: fields,
			Detail: fmt.Sprintf("the portal holds version %d, status %s; the hub has version %d, status %d",
				e.NationalVersion, gotStatus.TrangThaiHoSo, e.Version, want.TrangThaiHoSo)}, nil
	case slices.Contains(fields, "TrangThaiHoSo"):
		return &store.Drift{Kind: store.DriftOlderStatus, Fields: fields,
			Detail: fmt.Sprintf("the portal has status %s; the hub sent %d", gotStatus.TrangThaiHoSo, want.TrangThaiHoSo)}, nil
	case len(fields) > 0:
		return &store.Drift{Kind: store.DriftFieldDiffers, Fields: fields,
			Detail: fmt.Sprintf("%d field(s) differ from version %d as the hub sent it", len(fields), e.NationalVersion)}, nil
	}
	return nil, nil
}

// Resync sends each of ids through the pipeline again: the ledger forgets
// what it recorded the portal holds (so the national sink sends the
// dossier as an update, or a create if the portal answers it lacks it),
// and the dossier's latest canonical version goes back on the canonical
// topic. It returns how many were sent; a dossier the ledger does not hold
// is skipped.
func (r *Reconciler) Resync(ctx context.Context, ids []string) (int, error) {
	if r.pub == nil {
		return 0, errors.New("this reconciler only reports: no publisher to resync with")
	}
	states, err := r.st.GetLedgerStates(ctx, ids)
	if err != nil {
		return 0, err
	}
	var sent []string
	for _, id := range ids {
		e, ok := states[id]
		if !ok || e.Deleted {
			continue
		}
		if e.NationalState == store.NationalHeld {
			if _, err := r.st.ForgetNationalHash(ctx, id, e.NationalVersion, e.ContentHash); err != nil {
				return len(sent), err
			}
		}
		if err := r.pub.Resync(ctx, id); err != nil {
			return len(sent), fmt.Errorf("resync dossier %s of %s: %w", id, e.Source, err)
		}
		sent = append(sent, id)
	}
	if err := r.st.MarkResyncing(ctx, sent); err != nil {
		return len(sent), err
	}
	if len(sent) > 0 {
		r.log.Info("dossiers sent through the pipeline again", "count", len(sent), "reason", "reconcile")
	}
	return len(sent), nil
}
