package national

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/lienthong/lienthong/sim/catalog"
	"github.com/lienthong/lienthong/sim/simctl"
)

// registerSim adds the national portal's /_sim/ controls.
func (s *Server) registerSim(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/dossiers", func(w http.ResponseWriter, r *http.Request) {
		offset, err1 := simctl.QueryInt(r, "offset", 0)
		limit, err2 := simctl.QueryInt(r, "limit", 100)
		if err := errors.Join(err1, err2); err != nil || offset < 0 || limit < 1 {
			simctl.WriteError(w, http.StatusBadRequest, errors.New("offset ≥ 0 and limit ≥ 1 are integers"))
			return
		}
		total, items := s.Dossiers(offset, limit)
		simctl.WriteJSON(w, http.StatusOK, map[string]any{"total": total, "offset": offset, "limit": limit, "items": items})
	})
	mux.HandleFunc("GET /_sim/dossiers/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := s.Dossier(r.PathValue("id"))
		if !ok {
			simctl.WriteError(w, http.StatusNotFound, errors.New("unknown dossier"))
			return
		}
		simctl.WriteJSON(w, http.StatusOK, d)
	})
	// Drift planted for reconciliation tests: what a portal that lost or
	// changed a dossier behind the hub's back would answer.
	mux.HandleFunc("PATCH /_sim/dossiers/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, err := simctl.ReadBody(r)
		var fields map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(body, &fields)
		}
		if err == nil {
			err = s.Alter(r.PathValue("id"), fields)
		}
		if err != nil {
			simctl.WriteError(w, http.StatusBadRequest, err)
			return
		}
		d, _ := s.Dossier(r.PathValue("id"))
		simctl.WriteJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("DELETE /_sim/dossiers/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.Forget(r.PathValue("id")) {
			simctl.WriteError(w, http.StatusNotFound, errors.New("unknown dossier"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		simctl.WriteJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /_sim/catalog", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := catalog.JSON(s.catalog)
		s.mu.Unlock()
		simctl.WriteRaw(w, http.StatusOK, "application/json; charset=utf-8", b)
	})
	mux.HandleFunc("PUT /_sim/catalog", func(w http.ResponseWriter, r *http.Request) {
		body, err := simctl.ReadBody(r)
		var procs []catalog.Procedure
		if err == nil {
			procs, err = catalog.Parse(body)
		}
		if err != nil {
			simctl.WriteError(w, http.StatusBadRequest, err)
			return
		}
		s.SetCatalog(procs)
		simctl.WriteJSON(w, http.StatusOK, map[string]int{"procedures": len(procs)})
	})
}

// SetCatalog replaces the procedure catalogue.
func (s *Server) SetCatalog(procs []catalog.Procedure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setCatalog(procs)
}

func (d *dossier) view() Dossier {
	return Dossier{MaHoSo: d.id, DstCode: d.dst, MaDonVi: d.unit, HoSo: d.hoso,
		Created: d.created, Updated: d.updated, History: append([]HistoryEntry{}, d.history...)}
}

// Alter overwrites fields of a dossier's HOSO, or, for a dossier it does
// not hold, plants one made of fields (with "dstcode" and "madonvi" taken
// out of them, when given, as the unit it came from). Its history is
// left as it is: the portal changed it, not a call.
func (s *Server) Alter(id string, fields map[string]json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dossiers[id]
	hoso := map[string]json.RawMessage{}
	if d == nil {
		now := s.clock.Now()
		d = &dossier{id: id, created: now, updated: now}
		hoso["MaHoSo"], _ = json.Marshal(id)
	} else if err := json.Unmarshal(d.hoso, &hoso); err != nil {
		return err
	}
	for k, v := range fields {
		switch k {
		case "dstcode":
			_ = json.Unmarshal(v, &d.dst)
		case "madonvi":
			_ = json.Unmarshal(v, &d.unit)
		default:
			hoso[k] = v
		}
	}
	b, err := json.Marshal(hoso)
	if err != nil {
		return err
	}
	d.hoso = b
	if s.dossiers[id] == nil {
		s.dossiers[id] = d
		s.order = append(s.order, d)
	}
	return nil
}

// Forget drops a dossier as if the portal had lost it; it reports whether
// the portal held it.
func (s *Server) Forget(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dossiers[id]
	if d == nil {
		return false
	}
	delete(s.dossiers, id)
	s.order = slices.DeleteFunc(s.order, func(x *dossier) bool { return x == d })
	return true
}

// Dossier returns a dossier as last received, with its history.
func (s *Server) Dossier(id string) (Dossier, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dossiers[id]
	if !ok {
		return Dossier{}, false
	}
	return d.view(), true
}

// Dossiers returns dossiers in first-arrival order from offset, and the total.
func (s *Server) Dossiers(offset, limit int) (int, []Dossier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := len(s.order)
	offset = min(max(offset, 0), total)
	end := min(total, offset+limit)
	out := make([]Dossier, 0, end-offset)
	for _, d := range s.order[offset:end] {
		out = append(out, d.view())
	}
	return total, out
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	st := s.stats
	st.Requests, st.ItemsAccepted = cp(st.Requests), cp(st.ItemsAccepted)
	st.ItemErrors, st.CallErrors = cp(st.ItemErrors), cp(st.CallErrors)
	st.Dossiers = len(s.dossiers)
	return st
}
