package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/store"
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
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/drift/"); ok {
		if rest == "resync" {
			return auth.ActionResyncAll, r.URL.RawQuery
		}
		return auth.ActionResync, "dossier " + strings.TrimSuffix(rest, "/resync")
	}
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

// AuditCSVHeader is the columns of the audit log's CSV.
var AuditCSVHeader = []string{"id", "at", "token_id", "role", "province", "action", "target", "detail", "outcome"}

// audit lists the audit log, oldest first, in JSON or CSV (format=csv or
// Accept: text/csv), filtered by since, until (RFC 3339, or a duration
// ago: 24h), actor (a token ID) and action, paged by limit (up to 1000 in
// JSON, export.MaxRows in CSV, where every match up to that is the
// default) and offset.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	asCSV, err := exportable(r, "since", "until", "actor", "action", "limit", "offset", "format")
	if err != nil {
		writeErr(w, err)
		return
	}
	f, err := auditFilter(r, asCSV, time.Now())
	if err != nil {
		writeErr(w, err)
		return
	}
	entries, err := s.cfg.Store.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, "list audit", err)
		return
	}
	if asCSV {
		_ = export.WriteCSV(w, "audit.csv", AuditCSVHeader, AuditRows(entries))
		return
	}
	items := make([]AuditItem, 0, len(entries))
	for _, e := range entries {
		items = append(items, AuditItemOf(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// AuditRows is entries as the rows of AuditCSVHeader.
func AuditRows(entries []store.AuditEntry) [][]string {
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{export.Int(e.ID), export.Time(e.At), e.TokenID, e.Role, e.Province,
			e.Action, e.Target, e.Detail, e.Outcome})
	}
	return rows
}

// auditFilter reads the audit log's filter from r's query.
func auditFilter(r *http.Request, asCSV bool, now time.Time) (store.AuditFilter, error) {
	q := r.URL.Query()
	for k, vs := range q {
		if len(vs) != 1 {
			return store.AuditFilter{}, fmt.Errorf("query parameter %q given %d times: %w", k, len(vs), store.ErrInvalid)
		}
	}
	f := store.AuditFilter{TokenID: q.Get("actor"), Action: q.Get("action")}
	var err error
	if v := q.Get("since"); v != "" {
		if f.Since, err = dlq.ParseTime(v, now); err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = dlq.ParseTime(v, now); err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
	}
	f.Limit, f.Offset, err = page(r, asCSV)
	return f, err
}

// AuditItemOf is e as the API answers it.
func AuditItemOf(e store.AuditEntry) AuditItem {
	return AuditItem{e.ID, e.At, e.TokenID, e.Role, e.Province, e.Action, e.Target, e.Detail, e.Outcome}
}

// AuditItem is an audit entry as the API answers it in JSON.
type AuditItem struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	TokenID  string    `json:"token_id"`
	Role     string    `json:"role"`
	Province string    `json:"province"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Detail   string    `json:"detail"`
	Outcome  string    `json:"outcome"`
}
