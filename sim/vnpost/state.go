package vnpost

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// stateVersion is the format version of a snapshot. Raise it when state
// changes incompatibly; Restore then refuses older files clearly.
const stateVersion = 1

// stateSystem marks a snapshot as this simulator's.
const stateSystem = "vnpost"

// state is everything the simulator keeps across a restart, as JSON.
// Tokens are not kept: clients log in again after a 401.
type state struct {
	System     string  `json:"system"`
	Version    int     `json:"version"`
	Orders     []Order `json:"orders"` // creation order, each with its tracking
	LastID     int64   `json:"lastEventId"`
	Serial     int64   `json:"itemSerial"`
	Auto       bool    `json:"auto"`
	IntervalMS int     `json:"interval_ms"`
}

// Snapshot writes the simulator's whole state as JSON: every order with its
// request and tracking, the id and item-code counters and the auto-advance
// setting. Tokens and fault settings are not saved.
func (s *Server) Snapshot(w io.Writer) error {
	s.mu.Lock()
	st := state{System: stateSystem, Version: stateVersion, Orders: make([]Order, 0, len(s.list)),
		LastID: s.lastID, Serial: s.serial, Auto: s.auto, IntervalMS: int(s.interval / time.Millisecond)}
	for _, o := range s.list {
		st.Orders = append(st.Orders, o.clone())
	}
	s.mu.Unlock()
	enc := json.NewEncoder(w)
	if err := enc.Encode(&st); err != nil {
		return fmt.Errorf("vnpost state: %w", err)
	}
	return nil
}

// Restore replaces the simulator's state with one written by Snapshot,
// forgets every token and resumes auto-advance if it was on. Call before
// serving.
func (s *Server) Restore(r io.Reader) error {
	var st state
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("vnpost state: not a simulator state file: %w", err)
	}
	if st.System != stateSystem {
		return fmt.Errorf("vnpost state: the file holds the state of %q", st.System)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("vnpost state: format version %d, this build reads version %d only (remove the file to start empty)", st.Version, stateVersion)
	}
	orders := make(map[string]*Order, len(st.Orders))
	list := make([]*Order, 0, len(st.Orders))
	var log []logEntry
	var latest time.Time
	ids := map[int64]bool{}
	for i := range st.Orders {
		o := &st.Orders[i]
		if o.OrderNumber == "" || orders[o.OrderNumber] != nil {
			return fmt.Errorf("vnpost state: order %d: empty or repeated order number", i)
		}
		o.Created = gen.InVN(o.Created)
		if o.Tracking == nil {
			o.Tracking = []Event{}
		}
		for j := range o.Tracking {
			ev := &o.Tracking[j]
			if ev.ID <= 0 || ev.ID > st.LastID || ids[ev.ID] || ev.OrderNumber != o.OrderNumber {
				return fmt.Errorf("vnpost state: order %s: bad tracking event %d", o.OrderNumber, ev.ID)
			}
			ids[ev.ID] = true
			ev.Time = gen.InVN(ev.Time)
			if ev.Time.After(latest) {
				latest = ev.Time
			}
			log = append(log, logEntry{ev: *ev, client: o.ClientID})
		}
		orders[o.OrderNumber] = o
		list = append(list, o)
	}
	sort.Slice(log, func(i, j int) bool { return log[i].ev.ID < log[j].ev.ID })
	interval := time.Duration(st.IntervalMS) * time.Millisecond
	if interval <= 0 || interval > maxInterval {
		interval = defaultInterval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders, s.list, s.log = orders, list, log
	s.lastID, s.serial = st.LastID, st.Serial
	s.tokens = map[string]token{}
	s.auto, s.interval = st.Auto, interval
	s.clock.NotBefore(latest)
	s.restartAutoLocked()
	return nil
}
