package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/store"
)

// History keeps the samples of the last span, one per step, for the
// overview's charts: the cluster's counts (see cluster.go).
type History struct {
	step, span time.Duration

	mu      sync.Mutex
	samples []sample // oldest first
}

// sample is the cumulative counts at one moment.
type sample struct {
	at     time.Time
	synced map[string]int64   // by source: versions the national portal acknowledged
	calls  map[string]uint64  // by endpoint: successful calls
	lag    map[string]float64 // by source, seconds
}

// NewHistory keeps span of samples taken every step.
func NewHistory(span, step time.Duration) *History {
	return &History{step: step, span: span}
}

// Step is how often samples are due.
func (h *History) Step() time.Duration { return h.step }

func (h *History) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	cut := 0
	for cut < len(h.samples) && s.at.Sub(h.samples[cut].at) > h.span {
		cut++
	}
	h.samples = append(h.samples[:0], h.samples[cut:]...)
}

func (h *History) all() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.samples...)
}

// Sample records the cluster's counts at now.
func (s *Server) Sample(ctx context.Context, now time.Time) {
	f, _, err := s.cluster(ctx, now)
	if err != nil {
		s.cfg.Log.Warn("operator api: cluster figures not read", "err", err)
		return
	}
	s.history.add(s.sampleOf(f, now))
}

func (s *Server) sampleOf(f figures, now time.Time) sample {
	c := sample{at: now, synced: map[string]int64{}, calls: f.successes(), lag: map[string]float64{}}
	for _, src := range s.cfg.Sources {
		c.synced[src.Name] = f.count(src.Name, progress.Synced)
		c.lag[src.Name] = f.Lag[src.Name]
	}
	return c
}

// perMinute is the rate of a cumulative count between two samples.
func perMinute(from, to float64, d time.Duration) float64 {
	if d <= 0 || to < from {
		return 0
	}
	return (to - from) / d.Minutes()
}

type sourceView struct {
	Source
	LagSeconds       float64    `json:"lag_seconds"`
	PerMinute        float64    `json:"per_minute"`
	PulledTotal      int64      `json:"pulled_total"`
	NormalisedTotal  int64      `json:"normalised_total"`
	SyncedTotal      int64      `json:"synced_total"`
	QuarantinedTotal int64      `json:"quarantined_total"`
	Errors           uint64     `json:"errors"`
	QuarantineOpen   int        `json:"quarantine_open"`
	Breaker          string     `json:"breaker"`
	LastSuccess      *time.Time `json:"last_success,omitempty"`
}

type targetView struct {
	Target      string     `json:"target"`
	PerMinute   float64    `json:"per_minute"`
	Errors      uint64     `json:"errors"`
	Breaker     string     `json:"breaker"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LagSeconds  *float64   `json:"lag_seconds,omitempty"`
}

type point struct {
	At         time.Time          `json:"at"`
	PerMinute  map[string]float64 `json:"per_minute"`
	LagSeconds map[string]float64 `json:"lag_seconds"`
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	visible := s.visible(r)
	fig, instances, err := s.cluster(r.Context(), now)
	if err != nil {
		s.fail(w, r, "cluster figures", err)
		return
	}
	stats := fig.Breakers
	cur := s.sampleOf(fig, now)
	past := s.history.all()
	// The rates now: from the newest sample a minute old or more (the oldest
	// there is, when the hub is younger) to the live counts.
	base := cur
	for i := len(past) - 1; i >= 0; i-- {
		base = past[i]
		if now.Sub(past[i].at) >= time.Minute {
			break
		}
	}
	elapsed := now.Sub(base.at)

	sources := make([]sourceView, 0, len(visible))
	for _, src := range visible {
		v := sourceView{Source: src, LagSeconds: cur.lag[src.Name],
			PerMinute: perMinute(float64(base.synced[src.Name]), float64(cur.synced[src.Name]), elapsed)}
		v.PulledTotal = fig.count(src.Name, progress.Pulled)
		v.NormalisedTotal = fig.count(src.Name, progress.Normalised)
		v.SyncedTotal = fig.count(src.Name, progress.Synced)
		v.QuarantinedTotal = fig.count(src.Name, progress.Quarantined)
		st := stats[src.Name]
		v.Errors, v.Breaker, v.LastSuccess = st.Failures, st.State, timePtr(st.LastSuccess)
		n, err := s.cfg.Store.CountQuarantine(r.Context(), src.Name)
		if err != nil {
			s.fail(w, r, "count quarantine", err)
			return
		}
		v.QuarantineOpen = n
		sources = append(sources, v)
	}

	targets := make([]targetView, 0, len(s.cfg.Targets))
	for _, name := range s.cfg.Targets {
		st := stats[name]
		v := targetView{Target: name, Errors: st.Failures, Breaker: st.State, LastSuccess: timePtr(st.LastSuccess),
			PerMinute: perMinute(float64(base.calls[name]), float64(cur.calls[name]), elapsed)}
		if name == "national" {
			// Dossier versions rather than calls (a call carries a batch),
			// of the sources the token may see.
			var from, to int64
			lag := 0.0
			for _, src := range visible {
				from, to = from+base.synced[src.Name], to+cur.synced[src.Name]
				lag = max(lag, cur.lag[src.Name])
			}
			v.PerMinute, v.LagSeconds = perMinute(float64(from), float64(to), elapsed), &lag
		}
		targets = append(targets, v)
	}

	points := make([]point, 0, len(past))
	for i := 1; i < len(past); i++ {
		p := point{At: past[i].at, PerMinute: map[string]float64{}, LagSeconds: map[string]float64{}}
		for _, src := range visible {
			p.PerMinute[src.Name] = perMinute(float64(past[i-1].synced[src.Name]), float64(past[i].synced[src.Name]), past[i].at.Sub(past[i-1].at))
			p.LagSeconds[src.Name] = past[i].lag[src.Name]
		}
		points = append(points, p)
	}
	// Which process holds which poller and partitions is the national
	// operators' business: lease names name every province's sources.
	if p, ok := auth.FromContext(r.Context()); !ok || p.Role != store.RoleNational || instances == nil {
		instances = []instanceView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"generated_at": now,
		"sources":      sources,
		"targets":      targets,
		"history":      map[string]any{"step_seconds": s.history.Step().Seconds(), "points": points},
		"instances":    instances,
	})
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
