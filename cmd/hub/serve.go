package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/pprof"

	"github.com/lienthong/lienthong/hub"
)

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	path := fs.String("config", "", "configuration file (YAML; ${VAR} is read from the environment); LIENTHONG_* variables override it, or stand for it when there is none")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until the hub stops (for hub bench)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiling")
	_ = fs.Parse(args)
	if *pprofAddr != "" {
		// DefaultServeMux carries net/http/pprof's handlers, and only them:
		// the hub's own listener uses its own mux.
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := hub.LoadConfig(*path)
	if err != nil {
		return err
	}
	log := slog.Default() // JSON on stderr (see main)
	st, err := hub.OpenConfiguredStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("hub starting", "instance", cfg.Instance, "brokers", len(cfg.Kafka.Brokers))
	return hub.New(cfg, st, nil, log).Run(ctx)
}

func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ExitOnError)
	tgt := addTarget(fs)
	dsn := fs.String("postgres", "", "PostgreSQL DSN (instead of --config or --data)")
	_ = fs.Parse(args)
	var sc hub.StoreConfig
	switch {
	case *dsn != "" && (tgt.config != "" || tgt.dataGiven()):
		return errors.New("migrate: one of --config FILE, --data DIR or --postgres DSN")
	case *dsn != "":
		sc.PostgresDSN = *dsn
	default:
		cfg, _, err := tgt.load("migrate")
		if err != nil {
			return err
		}
		sc = cfg.Store
	}
	if err := hub.MigrateStore(ctx, sc); err != nil {
		return err
	}
	fmt.Println("migrations applied")
	return nil
}

// logLevel reads LIENTHONG_LOG_LEVEL (debug, info, warn, error; default info).
func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("LIENTHONG_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
