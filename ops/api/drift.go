package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/store"
)

// Reconciler is what the API needs of reconciliation (ops/reconcile): to
// send drifted dossiers through the pipeline again.
type Reconciler interface {
	Resync(ctx context.Context, ids []string) (int, error)
}

// DriftCSVHeader is the columns of the drift list's CSV.
var DriftCSVHeader = []string{"dossier_id", "source", "province", "kind", "fields", "detail", "found_at", "checked_at", "state", "resynced_at"}

// resyncMax bounds the dossiers one bulk resync sends.
const resyncMax = 1000

// drift lists reconciliation's findings, most recently found first, in
// JSON (with the total and the open count per source and kind) or CSV,
// filtered by source, kind and state (default open and resyncing; "all"
// for every state), paged by limit and offset. A token sees its visible
// sources' only.
func (s *Server) drift(w http.ResponseWriter, r *http.Request) {
	asCSV, err := exportable(r, "source", "kind", "state", "limit", "offset", "format")
	if err != nil {
		writeErr(w, err)
		return
	}
	f, err := s.driftFilter(r)
	if err == nil {
		f.Limit, f.Offset, err = page(r, asCSV)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	list, total, err := s.cfg.Store.ListDrift(r.Context(), f)
	if err != nil {
		s.fail(w, r, "list drift", err)
		return
	}
	if asCSV {
		rows := make([][]string, 0, len(list))
		for _, d := range list {
			rows = append(rows, []string{d.DossierID, d.Source, d.Province, d.Kind, strings.Join(d.Fields, " "), d.Detail,
				export.Time(d.FoundAt), export.Time(d.CheckedAt), d.State, export.Time(d.ResyncedAt)})
		}
		_ = export.WriteCSV(w, "drift.csv", DriftCSVHeader, rows)
		return
	}
	counts, err := s.cfg.Store.DriftCounts(r.Context())
	if err != nil {
		s.fail(w, r, "drift counts", err)
		return
	}
	type summary struct {
		Source   string         `json:"source"`
		Province string         `json:"province"`
		Open     map[string]int `json:"open"` // per kind, not resolved yet
	}
	sums := []summary{}
	for _, src := range s.visible(r) {
		open := map[string]int{}
		for _, k := range store.DriftKinds {
			open[k] = counts[src.Name][k]
		}
		sums = append(sums, summary{src.Name, src.Province, open})
	}
	if list == nil {
		list = []store.Drift{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list, "total": total, "summary": sums,
		"resync": s.cfg.Reconciler != nil})
}

func (s *Server) driftFilter(r *http.Request) (store.DriftFilter, error) {
	q := r.URL.Query()
	f := store.DriftFilter{Sources: s.sourceNames(r), States: []string{store.DriftOpen, store.DriftResyncing}}
	if src := q.Get("source"); src != "" {
		if !s.canSeeSource(r, src) {
			return f, fmt.Errorf("source: not a source this token may see: %w", store.ErrInvalid)
		}
		f.Sources = []string{src}
	}
	if k := q.Get("kind"); k != "" {
		if !slices.Contains(store.DriftKinds, k) {
			return f, fmt.Errorf("kind %q: want one of %s: %w", k, strings.Join(store.DriftKinds, ", "), store.ErrInvalid)
		}
		f.Kinds = []string{k}
	}
	switch st := q.Get("state"); st {
	case "":
	case "all":
		f.States = nil
	case store.DriftOpen, store.DriftResyncing, store.DriftResolved:
		f.States = []string{st}
	default:
		return f, fmt.Errorf("state %q: want open, resyncing, resolved or all: %w", st, store.ErrInvalid)
	}
	return f, nil
}

// resyncDrift sends one drifted dossier through the pipeline again.
func (s *Server) resyncDrift(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Reconciler == nil {
		writeError(w, http.StatusNotFound, "reconciliation is not served by this hub")
		return
	}
	id := r.PathValue("id")
	l, err := s.cfg.Store.GetLedger(r.Context(), []string{id})
	if err != nil {
		s.fail(w, r, "resync", err)
		return
	}
	e, ok := l[id]
	if !ok || !s.canSeeSource(r, e.Source) {
		writeError(w, http.StatusNotFound, "no such dossier")
		return
	}
	s.resync(w, r, []string{id})
}

// resyncAllDrift sends every open drift the filter selects (source, kind;
// at most resyncMax) through the pipeline again.
func (s *Server) resyncAllDrift(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Reconciler == nil {
		writeError(w, http.StatusNotFound, "reconciliation is not served by this hub")
		return
	}
	if err := onlyParams(r, "source", "kind"); err != nil {
		writeErr(w, err)
		return
	}
	f, err := s.driftFilter(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	f.States, f.Limit = []string{store.DriftOpen}, resyncMax
	list, _, err := s.cfg.Store.ListDrift(r.Context(), f)
	if err != nil {
		s.fail(w, r, "list drift", err)
		return
	}
	ids := make([]string, 0, len(list))
	for _, d := range list {
		ids = append(ids, d.DossierID)
	}
	s.resync(w, r, ids)
}

func (s *Server) resync(w http.ResponseWriter, r *http.Request, ids []string) {
	n, err := s.cfg.Reconciler.Resync(r.Context(), ids)
	if err != nil {
		s.fail(w, r, "resync", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"resynced": n})
}
