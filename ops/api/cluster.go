package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/store"
)

// The overview shows the cluster's figures whichever instance answers:
// every process writes its own figures to its row in the store every
// heartbeat, and the overview sums the rows.

// heartbeat is how often a process writes its figures; one not seen for
// three heartbeats is reported as gone.
const heartbeat = 5 * time.Second

// Self is this process in the cluster.
type Self struct {
	// ID names the process (unique per process: it is also the holder of
	// its leases); Name is the configured instance name.
	ID, Name  string
	StartedAt time.Time
	// Partitions reports the Kafka partitions assigned to this process
	// now, by topic; nil reports none.
	Partitions func() map[string][]int
}

// figures is one process's figures, as its row holds them, or the sum of
// the cluster's.
type figures struct {
	// Counters are per source, since the process started.
	Counters   map[string]map[string]int64 `json:"counters"`
	Breakers   map[string]breaker.Stat     `json:"breakers"`
	Lag        map[string]float64          `json:"lag_seconds"`
	Partitions map[string][]int            `json:"partitions,omitempty"`
	// live marks the breakers whose state came from a process alive.
	live map[string]bool
}

// own is this process's figures now.
func (s *Server) own() figures {
	f := figures{Counters: s.cfg.Counters.Snapshot(), Breakers: s.cfg.Breakers.Stats(), Lag: map[string]float64{}}
	if s.cfg.Lag != nil {
		for _, src := range s.cfg.Sources {
			f.Lag[src.Name] = s.cfg.Lag(src.Name).Seconds()
		}
	}
	if s.cfg.Self.Partitions != nil {
		f.Partitions = s.cfg.Self.Partitions()
	}
	return f
}

// report writes this process's row. A server with no Self.ID (a test, a
// tool) keeps its figures to itself.
func (s *Server) report(ctx context.Context, now time.Time) error {
	if s.cfg.Self.ID == "" {
		return nil
	}
	b, err := json.Marshal(s.own())
	if err != nil {
		return err
	}
	return s.cfg.Store.PutInstance(ctx, store.Instance{ID: s.cfg.Self.ID, Name: s.cfg.Self.Name,
		StartedAt: s.cfg.Self.StartedAt, State: b})
}

// instanceView is one process as the overview shows it.
type instanceView struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Alive      bool             `json:"alive"`
	StartedAt  time.Time        `json:"started_at"`
	SeenAt     time.Time        `json:"seen_at"`
	Leases     []string         `json:"leases"`
	Partitions map[string][]int `json:"partitions"`
}

// cluster is the cluster's figures and its processes. Counts are summed
// over every row, so a restarted process's earlier counts stay in them;
// breaker states and lag come from the processes alive. With no rows (a
// process that reports nothing) it is this process's own figures.
func (s *Server) cluster(ctx context.Context, now time.Time) (figures, []instanceView, error) {
	rows, err := s.cfg.Store.ListInstances(ctx)
	if err != nil {
		return figures{}, nil, err
	}
	if len(rows) == 0 {
		return s.own(), nil, nil
	}
	leases, err := s.cfg.Store.ListLeases(ctx)
	if err != nil {
		return figures{}, nil, err
	}
	sum := figures{Counters: map[string]map[string]int64{}, Breakers: map[string]breaker.Stat{}, Lag: map[string]float64{},
		live: map[string]bool{}}
	views := make([]instanceView, 0, len(rows))
	for _, row := range rows {
		var f figures
		if err := json.Unmarshal(row.State, &f); err != nil {
			return figures{}, nil, fmt.Errorf("instance %s: figures: %w", row.ID, err)
		}
		alive := now.Sub(row.SeenAt) < 3*heartbeat
		v := instanceView{ID: row.ID, Name: row.Name, Alive: alive, StartedAt: row.StartedAt, SeenAt: row.SeenAt,
			Leases: []string{}, Partitions: map[string][]int{}}
		for _, l := range leases {
			if l.Holder == row.ID {
				v.Leases = append(v.Leases, l.Name)
			}
		}
		if alive && f.Partitions != nil {
			v.Partitions = f.Partitions
		}
		views = append(views, v)
		sum.add(f, alive)
	}
	return sum, views, nil
}

// add adds a process's figures: its counts always; its lag, and its
// breaker states (the worst wins), when it is alive. A breaker no live
// process reports keeps the state a gone one last reported.
func (f *figures) add(g figures, alive bool) {
	for src, m := range g.Counters {
		if f.Counters[src] == nil {
			f.Counters[src] = map[string]int64{}
		}
		for k, n := range m {
			f.Counters[src][k] += n
		}
	}
	for name, st := range g.Breakers {
		cur := f.Breakers[name]
		cur.Requests += st.Requests
		cur.Successes += st.Successes
		cur.Failures += st.Failures
		cur.Rejected += st.Rejected
		cur.Retries += st.Retries
		cur.StateChanges += st.StateChanges
		if st.LastSuccess.After(cur.LastSuccess) {
			cur.LastSuccess = st.LastSuccess
		}
		switch {
		case alive && (!f.live[name] || worse(st.State, cur.State)):
			cur.State, cur.Since = st.State, st.Since
			f.live[name] = true
		case !alive && !f.live[name] && cur.State == "":
			cur.State, cur.Since = st.State, st.Since
		}
		f.Breakers[name] = cur
	}
	if alive {
		for src, lag := range g.Lag {
			f.Lag[src] = max(f.Lag[src], lag)
		}
	}
}

// worse reports whether breaker state a is worse than b: open, then
// half-open, then closed.
func worse(a, b string) bool {
	rank := func(s string) int { return slices.Index([]string{"closed", "half-open", "open"}, s) }
	return rank(a) > rank(b)
}

// count is a source's counter in f.
func (f figures) count(source, name string) int64 { return f.Counters[source][name] }

// successes is the calls each endpoint had succeed.
func (f figures) successes() map[string]uint64 {
	out := make(map[string]uint64, len(f.Breakers))
	for name, st := range f.Breakers {
		out[name] = st.Successes
	}
	return out
}
