package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestClusterFigures: the overview's figures are the sum of every
// process's report, breaker states and lag come from the live ones, and
// each process is listed with the leases it holds.
func TestClusterFigures(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counters := progress.New()
	counters.Add("sonla", progress.Pulled, 5)
	s := New(Config{Store: st, Counters: counters, Sources: []Source{{Name: "sonla"}}, Log: slog.New(slog.DiscardHandler),
		Lag:  func(string) time.Duration { return 2 * time.Second },
		Self: Self{ID: "a/1/x", Name: "a", StartedAt: time.Now(), Partitions: func() map[string][]int { return map[string][]int{"canonical": {0, 2}} }}})

	// Before any report, a process shows its own figures.
	if f, in, err := s.cluster(ctx, time.Now()); err != nil || f.count("sonla", progress.Pulled) != 5 || len(in) != 0 {
		t.Fatalf("before any report: %+v, %+v, %v", f, in, err)
	}
	if err := s.report(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	other, _ := json.Marshal(figures{Counters: map[string]map[string]int64{"sonla": {progress.Pulled: 7, progress.Synced: 3}},
		Breakers: map[string]breaker.Stat{"national": {State: "open", Failures: 2}}, Lag: map[string]float64{"sonla": 9}})
	if err := st.PutInstance(ctx, store.Instance{ID: "b/2/y", Name: "b", StartedAt: time.Now(), State: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLease(ctx, "poller:sonla", "b/2/y", time.Minute); err != nil {
		t.Fatal(err)
	}

	f, in, err := s.cluster(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if f.count("sonla", progress.Pulled) != 12 || f.count("sonla", progress.Synced) != 3 || f.Lag["sonla"] != 9 ||
		f.Breakers["national"].State != "open" || f.Breakers["national"].Failures != 2 {
		t.Fatalf("cluster figures %+v", f)
	}
	if len(in) != 2 || !in[0].Alive || !in[1].Alive || in[1].Name != "b" || len(in[1].Leases) != 1 ||
		len(in[0].Partitions["canonical"]) != 2 {
		t.Fatalf("instances %+v", in)
	}

	// A minute on, neither has reported since: counts stay, lag goes with
	// the processes, the breaker keeps the state last reported.
	f, in, err = s.cluster(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if f.count("sonla", progress.Pulled) != 12 || f.Lag["sonla"] != 0 || f.Breakers["national"].State != "open" ||
		in[0].Alive || in[1].Alive || len(in[0].Partitions) != 0 {
		t.Fatalf("after the processes went: %+v, %+v", f, in)
	}
}
