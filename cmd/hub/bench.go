package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/lienthong/lienthong/broker"
	"github.com/lienthong/lienthong/devenv"
	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/progress"
	"github.com/lienthong/lienthong/sim/simctl"
)

// runBench generates a load at the three simulated portals, syncs it end to
// end through the embedded broker and a store, and prints dossiers per
// second.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	count := fs.Int("count", 2000, "dossiers generated at each portal")
	steps := fs.Int("steps", 6, "lifecycle changes per dossier, made before the hub starts")
	pg := fs.String("postgres", "", "PostgreSQL DSN for the store (default: SQLite in a temporary directory)")
	partitions := fs.Int("partitions", 0, "partitions per topic (default: as hub dev)")
	linger := fs.Duration("linger", 0, "how long a national batch waits for more dossiers (default: as hub dev)")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "lienthong-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The broker must outlive the hub, which commits offsets as it stops:
	// it is closed by the deferred Close, not by the signal.
	b, err := broker.Start(context.Background(), broker.Config{Partitions: max(*partitions, 16)})
	if err != nil {
		return err
	}
	defer b.Close()
	sims, err := devenv.Start(devenv.Options{})
	if err != nil {
		return err
	}
	defer sims.Close()
	keys, err := hub.DevKeys(dir)
	if err != nil {
		return err
	}
	sc := hub.StoreConfig{SQLitePath: filepath.Join(dir, "hub.db"), PostgresDSN: *pg}.WithKeys(keys)
	st, err := hub.OpenStore(ctx, sc, keys)
	if err != nil {
		return err
	}
	defer st.Close()

	versions := 0
	for _, src := range devenv.Sources {
		res, err := sims.Book(src).Generate(simctl.GenerateRequest{Count: *count, Seed: ptr(int64(42)), Steps: *steps})
		if err != nil {
			return err
		}
		versions += res.Applied + len(res.Created)
	}
	fmt.Printf("generated %d dossiers per portal (%d versions in all); syncing…\n", *count, versions)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := sims.HubConfig(b.Addrs(), sc)
	if *partitions > 0 {
		cfg.Kafka.Partitions = *partitions
	}
	if *linger > 0 {
		cfg.National.Linger = *linger
	}
	h := hub.New(cfg, st, progress.New(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- h.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("hub stopped early: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
		s, err := sims.Behind(ctx, st)
		if err != nil {
			return err
		}
		if s.Synced == s.Dossiers {
			el := time.Since(start)
			ns := sims.National.Stats()
			fmt.Printf("synced %d dossiers in %s: %.0f dossiers/s end to end (national calls %v, item errors %v)\n",
				s.Dossiers, el.Round(time.Millisecond), float64(s.Dossiers)/el.Seconds(), ns.Requests, ns.ItemErrors)
			cancel()
			<-done
			return nil
		}
	}
}

func ptr[T any](v T) *T { return &v }
