package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

type dossierItem struct {
	ID            string    `json:"id"`
	Source        string    `json:"source"`
	Province      string    `json:"province"`
	Procedure     string    `json:"procedure"`
	Status        int       `json:"status"`
	NationalState string    `json:"national_state"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// searchDossiers finds the dossiers of an identity number (CCCD, CMND or
// tax code) that the token may see. The store keeps the numbers only as a
// keyed hash, so only an exact number finds anything.
func (s *Server) searchDossiers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "cccd" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q (want cccd)", k))
			return
		}
	}
	number := strings.TrimSpace(q.Get("cccd"))
	if number == "" || strings.Trim(number, "0123456789") != "" {
		writeError(w, http.StatusBadRequest, "cccd: want the identity number, digits only")
		return
	}
	ids, err := s.cfg.Store.FindByIdentity(r.Context(), number)
	if err != nil {
		s.fail(w, r, "find by identity", err)
		return
	}
	items := []dossierItem{}
	if len(ids) > 0 {
		ledger, err := s.cfg.Store.GetLedger(r.Context(), ids)
		if err != nil {
			s.fail(w, r, "read ledger", err)
			return
		}
		for _, id := range ids {
			e, ok := ledger[id]
			if !ok || !s.mayRead(r, e.Source, e.Province) {
				continue
			}
			items = append(items, dossierItem{id, e.Source, e.Province, e.Procedure, e.Status, e.NationalState, e.UpdatedAt})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// mayRead reports whether the request may see a dossier of source whose
// province is province: both must be the token's.
func (s *Server) mayRead(r *http.Request, source, province string) bool {
	p, _ := auth.FromContext(r.Context())
	return s.canSeeSource(r, source) && (province == "" || p.CanSeeProvince(province))
}

type eventItem struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	Detail   string    `json:"detail"`
	Version  int64     `json:"version"`
	Source   string    `json:"source"`
	Instance string    `json:"instance"`
}

type nationalHeld struct {
	State   string     `json:"state"`
	Version int64      `json:"version"`
	Steps   int        `json:"steps"`
	At      *time.Time `json:"at,omitempty"`
}

type paymentItem struct {
	Ref       string     `json:"ref"`
	DossierID string     `json:"dossier_id"`
	Source    string     `json:"source"`
	State     string     `json:"state"`
	Amount    int64      `json:"amount"`
	FeeCodes  []string   `json:"fee_codes"`
	TxnID     string     `json:"txn_id,omitempty"`
	PaidAt    *time.Time `json:"paid_at,omitempty"`
	SettledAt *time.Time `json:"settled_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func paymentOf(p store.Payment) paymentItem {
	return paymentItem{p.Ref, p.DossierID, p.Source, p.State, p.Amount, p.FeeCodes, p.TxnID,
		timePtr(p.PaidAt), timePtr(p.SettledAt), p.CreatedAt, p.UpdatedAt}
}

type deliveryItem struct {
	OrderNumber string     `json:"order_number"`
	DossierID   string     `json:"dossier_id"`
	Source      string     `json:"source"`
	State       string     `json:"state"`
	ItemCode    string     `json:"item_code,omitempty"`
	COD         int64      `json:"cod"`
	TotalFee    int64      `json:"total_fee"`
	Status      int        `json:"status"`
	StatusAt    *time.Time `json:"status_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	CODPaidAt   *time.Time `json:"cod_paid_at,omitempty"`
	Problem     string     `json:"problem,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func deliveryOf(d store.Delivery) deliveryItem {
	return deliveryItem{d.OrderNumber, d.DossierID, d.Source, d.State, d.ItemCode, d.COD, d.TotalFee, d.Status,
		timePtr(d.StatusAt), timePtr(d.DeliveredAt), timePtr(d.CODPaidAt), d.Problem, d.CreatedAt, d.UpdatedAt}
}

// dossier answers one dossier by MaHoSo: its canonical record, masked, its
// provenance timeline and what each target holds of it. A dossier that
// never reached the ledger (its every version quarantined) is answered with
// its timeline alone.
func (s *Server) dossier(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	ledger, err := s.cfg.Store.GetLedger(ctx, []string{id})
	if err != nil {
		s.fail(w, r, "read ledger", err)
		return
	}
	events, err := s.cfg.Store.Timeline(ctx, id)
	if err != nil {
		s.fail(w, r, "read timeline", err)
		return
	}
	e, held := ledger[id]
	source, province := e.Source, e.Province
	if !held {
		if len(events) == 0 {
			writeError(w, http.StatusNotFound, "no dossier "+id)
			return
		}
		source = events[0].Source
		for _, src := range s.cfg.Sources {
			if src.Name == source {
				province = src.Province
			}
		}
		if province == "" { // not a configured source: nobody's to show
			writeError(w, http.StatusNotFound, "no dossier "+id)
			return
		}
	}
	if !s.mayRead(r, source, province) {
		writeError(w, http.StatusNotFound, "no dossier "+id)
		return
	}
	// Events of another source under the same MaHoSo are not this
	// dossier's, and may be another province's.
	timeline := []eventItem{}
	writebacks := []eventItem{}
	for _, ev := range events {
		if ev.Source != source && ev.Source != "" {
			continue
		}
		it := eventItem{ev.At, ev.Kind, ev.Detail, ev.Version, ev.Source, ev.Instance}
		timeline = append(timeline, it)
		if strings.HasPrefix(ev.Kind, "writeback") {
			writebacks = append(writebacks, it)
		}
	}
	out := map[string]any{"id": id, "source": source, "province": province, "timeline": timeline}
	targets := map[string]any{"province": writebacks}
	if held {
		out["status"], out["deleted"] = e.Status, e.Deleted
		if len(e.Canonical) > 0 {
			var d schemas.Dossier
			if err := json.Unmarshal(e.Canonical, &d); err != nil {
				s.fail(w, r, "read canonical dossier", fmt.Errorf("dossier %s: %w", id, err))
				return
			}
			Mask(&d)
			out["dossier"] = d
		}
		targets["national"] = nationalHeld{e.NationalState, e.NationalVersion, e.NationalSteps, timePtr(e.NationalAt)}
	}
	pays, err := s.cfg.Store.ListPayments(ctx, store.PaymentFilter{DossierIDs: []string{id}, Sources: []string{source}})
	if err != nil {
		s.fail(w, r, "list payments", err)
		return
	}
	payments := make([]paymentItem, 0, len(pays))
	for _, p := range pays {
		payments = append(payments, paymentOf(p))
	}
	dels, err := s.cfg.Store.ListDeliveries(ctx, store.DeliveryFilter{DossierIDs: []string{id}, Sources: []string{source}})
	if err != nil {
		s.fail(w, r, "list deliveries", err)
		return
	}
	deliveries := make([]deliveryItem, 0, len(dels))
	for _, d := range dels {
		deliveries = append(deliveries, deliveryOf(d))
	}
	targets["payments"], targets["deliveries"] = payments, deliveries
	out["targets"] = targets
	writeJSON(w, http.StatusOK, out)
}
