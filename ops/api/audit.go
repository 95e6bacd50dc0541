package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/lienthong/lienthong/ops/auth"
)

// audited writes every call of an operation to the audit log with who asked
// and how it ended: done, refused (4xx: not allowed, not open, unknown) or
// failed (5xx).
func (s *Server) audited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		if err := auth.Audit(context.WithoutCancel(r.Context()), s.cfg.Store, p, action, target, fmt.Sprintf("HTTP %d", rec.status), outcome); err != nil {
			s.cfg.Log.Error("audit log write failed", "action", action, "target", target, "error", err.Error())
		}
	})
}

// auditAction names what a quarantine operation does and to what. The
// target is an entry ID or the filters of a bulk replay: no personal data.
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
