package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/store"
)

// payments lists payment requests: in flight by default (new, pending);
// stale keeps those not updated for that long, the ones a payer or the
// platform has left hanging.
func (s *Server) payments(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "state", "stale", "limit"); err != nil {
		writeErr(w, err)
		return
	}
	f := store.PaymentFilter{States: []string{store.PaymentNew, store.PaymentPending}, Sources: s.sourceNames(r)}
	if v := r.URL.Query().Get("state"); v != "" {
		f.States = strings.Split(v, ",")
		for _, st := range f.States {
			if !slices.Contains([]string{store.PaymentNew, store.PaymentPending, store.PaymentPaid, store.PaymentFailed, store.PaymentCancelled}, st) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q (want new, pending, paid, failed or cancelled)", st))
				return
			}
		}
	}
	if v := r.URL.Query().Get("stale"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("stale %q: want a positive duration such as 30m", v))
			return
		}
		f.UpdatedBefore = time.Now().Add(-d)
	}
	limit, err := intParam(r, "limit", 100, 1000)
	if err != nil {
		writeErr(w, err)
		return
	}
	f.Limit = limit
	pays, err := s.cfg.Store.ListPayments(r.Context(), f)
	if err != nil {
		s.fail(w, r, "list payments", err)
		return
	}
	items := make([]paymentItem, 0, len(pays))
	for _, p := range pays {
		items = append(items, paymentOf(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// deliveries lists VNPost orders: in flight by default; problems=true the
// failed ones (returned, refused, lost…) whether in flight or not.
func (s *Server) deliveries(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "problems", "inflight", "limit"); err != nil {
		writeErr(w, err)
		return
	}
	p, _ := auth.FromContext(r.Context())
	f := store.DeliveryFilter{Sources: s.sourceNames(r)}
	if p.Role == store.RolePostal {
		f.Sources = nil // the postal integration follows every province's deliveries
	}
	problems, err := boolParam(r, "problems", false)
	if err != nil {
		writeErr(w, err)
		return
	}
	inflight, err := boolParam(r, "inflight", !problems)
	if err != nil {
		writeErr(w, err)
		return
	}
	f.Problems, f.InFlight = problems, inflight
	if f.Limit, err = intParam(r, "limit", 100, 1000); err != nil {
		writeErr(w, err)
		return
	}
	dels, err := s.cfg.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		s.fail(w, r, "list deliveries", err)
		return
	}
	items := make([]deliveryItem, 0, len(dels))
	for _, d := range dels {
		items = append(items, deliveryOf(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// onlyParams refuses query parameters other than names, so that a
// misspelt filter is not silently ignored.
func onlyParams(r *http.Request, names ...string) error {
	for k := range r.URL.Query() {
		if !slices.Contains(names, k) {
			return fmt.Errorf("unknown query parameter %q (want %s): %w", k, strings.Join(names, ", "), store.ErrInvalid)
		}
	}
	return nil
}

func intParam(r *http.Request, name string, def, maxN int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > maxN {
		return 0, fmt.Errorf("%s %q: want 1 to %d: %w", name, v, maxN, store.ErrInvalid)
	}
	return n, nil
}

// exportable checks r's query against names and reads whether it asks for
// CSV (format=csv, or Accept: text/csv), for the lists that export.
func exportable(r *http.Request, names ...string) (asCSV bool, err error) {
	if err := onlyParams(r, names...); err != nil {
		return false, err
	}
	return export.WantsCSV(r)
}

// page reads a list's limit and offset: in JSON 100 by default and at most
// 1,000; in CSV every match up to export.MaxRows.
func page(r *http.Request, asCSV bool) (limit, offset int, err error) {
	def, maxN := 100, 1000
	if asCSV {
		def, maxN = export.MaxRows, export.MaxRows
	}
	if limit, err = intParam(r, "limit", def, maxN); err != nil {
		return 0, 0, err
	}
	offset, err = offsetParam(r)
	return limit, offset, err
}

// offsetParam reads the offset of a page (default 0).
func offsetParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("offset")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("offset %q: want 0 or more: %w", v, store.ErrInvalid)
	}
	return n, nil
}

func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want true or false: %w", name, v, store.ErrInvalid)
	}
	return b, nil
}
