// Package api is the operators' HTTP API: the overview of every source's and
// target's sync, one dossier's record and history, the quarantine, and the
// level-4 payments and deliveries. It is documented in openapi.yaml (served
// at /api/openapi.yaml) and used by the embedded console.
//
// Every endpoint but the specification needs an API token (auth.Middleware)
// and enforces its role on every query: a national operator sees every
// province, a provincial operator only the sources of its own province, a
// postal viewer deliveries and the targets' health only. A dossier, entry,
// payment or delivery of a province the token may not see is answered 404,
// as if it did not exist. Replays and discards are written to the audit log.
//
// Personal data: dossiers are answered with the applicant's and recipient's
// identity number, phone and email masked (Mask); quarantined payloads are
// answered whole, because an operator asked for that one record to repair
// it. Nothing here logs request data.
package api

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/store"
)

// Store is what the API reads of the hub's store (store/sqlstore).
type Store interface {
	auth.TokenStore
	auth.AuditStore
	GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	Timeline(ctx context.Context, dossierID string) ([]store.Event, error)
	FindByIdentity(ctx context.Context, idNumber string) ([]string, error)
	ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	CountQuarantine(ctx context.Context, source string) (int, error)
	PutInstance(ctx context.Context, in store.Instance) error
	ListInstances(ctx context.Context) ([]store.Instance, error)
	ListLeases(ctx context.Context) ([]store.Lease, error)
	OnTimeReport(ctx context.Context, f store.OnTimeFilter) ([]store.OnTimeRow, error)
	ListDrift(ctx context.Context, f store.DriftFilter) ([]store.Drift, int, error)
	DriftCounts(ctx context.Context) (map[string]map[string]int, error)
}

// Source is a configured provincial portal.
type Source struct {
	Name     string `json:"source"`   // sonla, thainguyen, hatinh
	Province string `json:"province"` // national province code: 14, 19, 42
	Label    string `json:"label"`    // for people: Sơn La
}

// Config is what the API serves from.
type Config struct {
	Store   Store
	Sources []Source
	// Targets are the external systems the hub sends to, by breaker
	// endpoint name: national, payment, vnpost, sms, smtp.
	Targets  []string
	Counters *progress.Counters
	Breakers *breaker.Set
	// Lag is how far the national portal is behind a source's newest
	// change (metrics.Metrics.Lag); nil reports none.
	Lag func(source string) time.Duration
	// Quarantine is the quarantine's service; nil leaves /api/dlq out.
	Quarantine *dlq.Service
	Log        *slog.Logger
	// Self is this process, as it reports itself to the other instances
	// (see cluster.go).
	Self Self
	// Reconciler resyncs drifted dossiers; nil answers the resync
	// operations 404 (the drift list is served from the store).
	Reconciler Reconciler
}

// Server is the API.
type Server struct {
	cfg     Config
	history *History
	handler http.Handler
}

//go:embed openapi.yaml
var spec embed.FS

// Endpoint is one route of the API, for the console, the documentation and
// the tests that try every route with every role.
type Endpoint struct {
	Method, Pattern string
	// Roles that may use it; the others are answered 403.
	Roles []string
	// Operation: it changes something, and is audited.
	Operation bool
}

var (
	allRoles  = []string{store.RoleNational, store.RoleProvincial, store.RolePostal}
	operators = []string{store.RoleNational, store.RoleProvincial}
	national  = []string{store.RoleNational}
)

// Endpoints are the API's token-protected routes.
var Endpoints = []Endpoint{
	{"GET", "/api/me", allRoles, false},
	{"GET", "/api/overview", allRoles, false},
	{"GET", "/api/dossiers", operators, false},
	{"GET", "/api/dossiers/{id}", operators, false},
	{"GET", "/api/payments", operators, false},
	{"GET", "/api/deliveries", allRoles, false},
	{"GET", "/api/audit", national, false},
	{"GET", "/api/ontime", operators, false},
	{"GET", "/api/drift", operators, false},
	{"POST", "/api/drift/{id}/resync", operators, true},
	{"POST", "/api/drift/resync", operators, true},
	{"GET", "/api/dlq", operators, false},
	{"GET", "/api/dlq/{id}", operators, false},
	{"POST", "/api/dlq/{id}/replay", operators, true},
	{"POST", "/api/dlq/replay", operators, true},
	{"POST", "/api/dlq/{id}/discard", operators, true},
}

// New returns the API over cfg. Call Sample periodically (Run does) for the
// overview's history.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, history: NewHistory(time.Hour, 10*time.Second)}
	handlers := map[string]http.Handler{
		"/api/me":                http.HandlerFunc(s.me),
		"/api/overview":          http.HandlerFunc(s.overview),
		"/api/dossiers":          http.HandlerFunc(s.searchDossiers),
		"/api/dossiers/{id}":     http.HandlerFunc(s.dossier),
		"/api/payments":          http.HandlerFunc(s.payments),
		"/api/deliveries":        http.HandlerFunc(s.deliveries),
		"/api/audit":             http.HandlerFunc(s.audit),
		"/api/ontime":            http.HandlerFunc(s.onTime),
		"/api/drift":             http.HandlerFunc(s.drift),
		"/api/drift/{id}/resync": http.HandlerFunc(s.resyncDrift),
		"/api/drift/resync":      http.HandlerFunc(s.resyncAllDrift),
	}
	var dead http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "the quarantine is not served by this hub")
	})
	if cfg.Quarantine != nil {
		dead = cfg.Quarantine.HandlerWith(s.visibleSources, s.provinceOf)
	}
	protected := http.NewServeMux()
	for _, e := range Endpoints {
		h, ok := handlers[e.Pattern]
		if !ok {
			h = dead
		}
		if e.Operation {
			h = s.audited(h)
		}
		protected.Handle(e.Method+" "+e.Pattern, allow(e.Roles, h))
	}
	protected.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint (see /api/openapi.yaml)")
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		http.ServeFileFS(w, r, spec, "openapi.yaml")
	})
	mux.Handle("/api/", auth.Middleware(cfg.Store, cfg.Log)(protected))
	s.handler = mux
	return s
}

// Handler serves the API under /api/.
func (s *Server) Handler() http.Handler { return s.handler }

// Run samples the overview's history until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	var sampled time.Time
	for {
		now := time.Now()
		if err := s.report(ctx, now); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("operator api: instance figures not written", "err", err)
		}
		if now.Sub(sampled) >= s.history.Step()-heartbeat/2 {
			s.Sample(ctx, now)
			sampled = now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// allow admits the principals whose role is one of roles.
func allow(roles []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || !slices.Contains(roles, p.Role) {
			writeError(w, http.StatusForbidden, "this endpoint is not open to the "+p.Role+" role")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// visible is the sources whose data the request's principal may see.
func (s *Server) visible(r *http.Request) []Source {
	p, _ := auth.FromContext(r.Context())
	out := []Source{}
	for _, src := range s.cfg.Sources {
		if p.CanSeeProvince(src.Province) {
			out = append(out, src)
		}
	}
	return out
}

// visibleSources is visible as dlq.Visible.
func (s *Server) visibleSources(r *http.Request) ([]string, bool) {
	p, _ := auth.FromContext(r.Context())
	if p.Role == store.RoleNational {
		return nil, true
	}
	return names(s.visible(r)), false
}

// sourceNames limits a store filter to the visible sources: nil (no limit)
// for a national operator, the visible ones (possibly none) otherwise.
func (s *Server) sourceNames(r *http.Request) []string {
	sources, all := s.visibleSources(r)
	if all {
		return nil
	}
	return sources
}

func names(sources []Source) []string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = s.Name
	}
	return out
}

// provinceOf is the province code of the configured source name, or "".
func (s *Server) provinceOf(source string) string { return s.source(source).Province }

// source is the configured source of that name, or a zero Source.
func (s *Server) source(name string) Source {
	for _, src := range s.cfg.Sources {
		if src.Name == name {
			return src
		}
	}
	return Source{}
}

// canSeeSource reports whether the request may see the data of source.
func (s *Server) canSeeSource(r *http.Request, source string) bool {
	return slices.ContainsFunc(s.visible(r), func(src Source) bool { return src.Name == source })
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	views := []string{"overview", "dossier", "quarantine", "ontime", "drift", "level4"}
	if p.Role == store.RolePostal {
		views = []string{"overview", "level4"}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_id": p.TokenID, "role": p.Role, "province": p.Province,
		"sources": names(s.visible(r)), "views": views,
	})
}

// fail answers a store failure 500 and logs it without request data.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, store.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.cfg.Log.Error("api: "+what+" failed", "path", r.Pattern, "error", err.Error())
	writeError(w, http.StatusInternalServerError, what+" failed")
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrInvalid):
		status = http.StatusBadRequest
	}
	writeError(w, status, err.Error())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // answers may hold personal data
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
