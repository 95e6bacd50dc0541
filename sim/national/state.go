package national

import (
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// stateVersion is the format version of a national snapshot. Raise it when
// state changes incompatibly; Restore then refuses older files clearly.
const stateVersion = 1

// state is everything the portal keeps across a restart (gob). Sessions are
// not kept: clients log in again after "98".
type state struct {
	Dossiers []dossierState // first-arrival order
	Stats    Stats
	Catalog  []catalog.Procedure
}

type dossierState struct {
	MaHoSo, DstCode, MaDonVi string
	HoSo                     []byte
	Created, Updated         time.Time
	History                  []HistoryEntry
}

// Snapshot writes the simulator's whole state: every dossier held with its
// history, the stats and the procedure catalogue. Sessions and fault
// settings are not saved.
func (s *Server) Snapshot(w io.Writer) error {
	s.mu.Lock()
	st := state{Stats: s.stats, Catalog: s.catalog, Dossiers: make([]dossierState, 0, len(s.order))}
	st.Stats.Requests, st.Stats.ItemsAccepted = maps.Clone(s.stats.Requests), maps.Clone(s.stats.ItemsAccepted)
	st.Stats.ItemErrors, st.Stats.CallErrors = maps.Clone(s.stats.ItemErrors), maps.Clone(s.stats.CallErrors)
	for _, d := range s.order {
		st.Dossiers = append(st.Dossiers, dossierState{MaHoSo: d.id, DstCode: d.dst, MaDonVi: d.unit, HoSo: d.hoso,
			Created: d.created, Updated: d.updated, History: append([]HistoryEntry(nil), d.history...)})
	}
	s.mu.Unlock()
	// Stored items and catalogue entries are never modified in place, so
	// encoding them outside the lock is safe.
	return simctl.WriteState(w, "national", stateVersion, &st)
}

// Restore replaces the simulator's state with one written by Snapshot and
// forgets every session. Call before serving.
func (s *Server) Restore(r io.Reader) error {
	var st state
	if err := simctl.ReadState(r, "national", stateVersion, &st); err != nil {
		return err
	}
	dossiers := make(map[string]*dossier, len(st.Dossiers))
	order := make([]*dossier, 0, len(st.Dossiers))
	var latest time.Time
	for _, ds := range st.Dossiers {
		if ds.MaHoSo == "" || dossiers[ds.MaHoSo] != nil {
			return fmt.Errorf("national state: bad dossier %q", ds.MaHoSo)
		}
		d := &dossier{id: ds.MaHoSo, dst: ds.DstCode, unit: ds.MaDonVi, hoso: ds.HoSo,
			created: gen.InVN(ds.Created), updated: gen.InVN(ds.Updated), history: ds.History}
		for i := range d.history {
			d.history[i].Received = gen.InVN(d.history[i].Received)
		}
		if d.updated.After(latest) {
			latest = d.updated
		}
		dossiers[d.id] = d
		order = append(order, d)
	}
	stats := st.Stats
	for _, m := range []*map[string]int{&stats.Requests, &stats.ItemsAccepted, &stats.ItemErrors, &stats.CallErrors} {
		if *m == nil {
			*m = map[string]int{}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dossiers, s.order, s.stats = dossiers, order, stats
	s.sessions = map[string]session{}
	s.setCatalog(st.Catalog)
	s.clock.NotBefore(latest)
	return nil
}
