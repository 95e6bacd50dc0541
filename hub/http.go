package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lienthong/lienthong/auth"
	"github.com/lienthong/lienthong/dlq"
	"github.com/lienthong/lienthong/metrics"
	"github.com/lienthong/lienthong/store"
)

// httpHandler is the hub's HTTP surface: health and readiness, Prometheus
// metrics, the payment platform's callback (authenticated by its own
// signature) and the token-protected operator API.
func (h *Hub) httpHandler(l4 *level4, dead *dlq.Service, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := h.ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", m.Handler())
	if l4.fees != nil {
		mux.Handle(PaymentCallbackPath, l4.fees)
	}
	authn := auth.Middleware(h.store, h.log)
	deadLetters := authn(nationalOnly(h.audited(dead.Handler())))
	mux.Handle("/api/dlq", deadLetters)
	mux.Handle("/api/dlq/", deadLetters)
	return mux
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

// nationalOnly admits national operators. The quarantine holds every
// province's records and scoping it to one province is not built yet, so
// provincial and postal tokens are refused rather than shown too much.
func nationalOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.Role != store.RoleNational {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "the quarantine API is open to national operators only"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// audited writes every replay and discard to the audit log, with who asked
// and how it ended.
func (h *Hub) audited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		action, target := auditAction(r)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		outcome := auth.OutcomeOK
		switch {
		case rec.status >= 500:
			outcome = auth.OutcomeFailed
		case rec.status >= 400:
			outcome = auth.OutcomeRefused
		}
		p, _ := auth.FromContext(r.Context())
		if err := auth.Audit(context.WithoutCancel(r.Context()), h.store, p, action, target, fmt.Sprintf("HTTP %d", rec.status), outcome); err != nil {
			h.log.Error("audit log write failed", "action", action, "target", target, "error", err.Error())
		}
	})
}

// auditAction names what a quarantine API call does and to what.
func auditAction(r *http.Request) (action, target string) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/dlq"), "/")
	switch {
	case rest == "replay":
		return auth.ActionReplayAll, r.URL.RawQuery
	case strings.HasSuffix(rest, "/replay"):
		return auth.ActionReplay, "entry " + strings.TrimSuffix(rest, "/replay")
	case strings.HasSuffix(rest, "/discard"):
		return auth.ActionDiscard, "entry " + strings.TrimSuffix(rest, "/discard")
	}
	return "quarantine." + strings.ToLower(r.Method), rest
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
