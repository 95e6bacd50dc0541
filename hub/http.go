package hub

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/console"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/metrics"
)

// httpHandler is the hub's HTTP surface: health and readiness, Prometheus
// metrics, the payment platform's callback (authenticated by its own
// signature), the token-protected operator API and the console that uses
// it.
func (h *Hub) httpHandler(l4 *level4, ops *api.Server, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", m.Handler())
	if l4.fees != nil {
		mux.Handle(PaymentCallbackPath, l4.fees)
	}
	mux.Handle("/api/", ops.Handler())
	mux.Handle("/console/", console.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	return mux
}

// operatorAPI is the operator API over the configured sources and targets.
func (h *Hub) operatorAPI(p *parts, dead *dlq.Service) *api.Server {
	cfg := api.Config{Store: h.store, Counters: h.counters, Breakers: h.breakers, Lag: p.metrics.Lag,
		Quarantine: dead, Log: h.log, Targets: []string{"national"}, Reconciler: p.reconciler,
		Self: api.Self{ID: h.id, Name: h.cfg.Instance, StartedAt: h.started, Partitions: p.assigned}}
	for _, src := range h.cfg.Sources {
		label := src.Label
		if label == "" {
			label = src.Name
		}
		cfg.Sources = append(cfg.Sources, api.Source{Name: src.Name, Province: src.Province, Label: label})
	}
	for name, on := range map[string]bool{"payment": h.cfg.Payment != nil, "vnpost": h.cfg.VNPost != nil, "sms": h.cfg.SMS != nil, "smtp": h.cfg.SMTP != nil} {
		if on {
			cfg.Targets = append(cfg.Targets, name)
		}
	}
	slices.Sort(cfg.Targets[1:])
	return api.New(cfg)
}

// ready reports whether the store and a broker answer.
func (h *Hub) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := h.store.CountQuarantine(ctx, ""); err != nil {
		return errors.New("store does not answer")
	}
	var d net.Dialer
	for _, b := range h.cfg.Kafka.Brokers {
		if c, err := d.DialContext(ctx, "tcp", b); err == nil {
			_ = c.Close()
			return nil
		}
	}
	return errors.New("no Kafka broker answers")
}

// gauges refreshes the metrics read from the store until ctx ends.
func (h *Hub) gauges(ctx context.Context, m *metrics.Metrics, sources []string) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		for _, src := range sources {
			n, err := h.store.CountQuarantine(ctx, src)
			if err != nil {
				if ctx.Err() == nil {
					h.log.Log(ctx, slog.LevelDebug, "quarantine count failed", "source", src, "error", err.Error())
				}
				continue
			}
			m.SetQuarantineOpen(src, n)
		}
		if overdue, err := h.store.OverdueCounts(ctx, time.Now()); err != nil {
			if ctx.Err() == nil {
				h.log.Log(ctx, slog.LevelDebug, "overdue count failed", "error", err.Error())
			}
		} else {
			for _, src := range sources {
				m.SetOverdue(src, overdue[src]) // 0 for a source with none
			}
		}
		if drift, err := h.store.DriftCounts(ctx); err != nil {
			if ctx.Err() == nil {
				h.log.Log(ctx, slog.LevelDebug, "drift count failed", "error", err.Error())
			}
		} else {
			for _, src := range sources {
				m.SetDrift(src, drift[src])
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
