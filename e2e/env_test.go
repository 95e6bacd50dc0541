package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// env is one end-to-end world: kfake over TCP, PostgreSQL, the simulators
// over HTTP and a hub between them.
type env struct {
	t        *testing.T
	broker   *broker.Broker
	store    *sqlstore.Store
	sims     *devenv.Sims
	cfg      hub.Config
	counters *progress.Counters
	logPath  string
	// stepRepeats, when set, makes verifySource tolerate a step received
	// again (a crash between the call and its record) and count it.
	stepRepeats *int
	hub         *hub.Hub // the last one runHub started
}

func newEnv(t *testing.T, opts devenv.Options) *env {
	t.Helper()
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{Partitions: 16})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	dsn := pgtest.Schema(t)
	st, err := sqlstore.OpenPostgres(ctx, dsn, storetest.Options()...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sims, err := devenv.Start(opts)
	if err != nil {
		t.Fatalf("start simulators: %v", err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	cfg := sims.HubConfig(b.Addrs(), hub.StoreConfig{
		PostgresDSN:   dsn,
		EncryptionKey: base64.StdEncoding.EncodeToString(storetest.EncryptionKey),
		IdentityKey:   base64.StdEncoding.EncodeToString(storetest.IdentityKey),
	})
	cfg.Instance = "e2e"
	return &env{t: t, broker: b, store: st, sims: sims, cfg: cfg, counters: progress.New(),
		logPath: filepath.Join(t.TempDir(), "hub.log")}
}

// runHub starts the hub; the returned func stops it and waits.
func (e *env) runHub() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	logf, err := os.Create(e.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logf), &slog.HandlerOptions{Level: slog.LevelInfo}))
	done := make(chan error, 1)
	e.hub = hub.New(e.cfg, e.store, e.counters, log)
	go func() { done <- e.hub.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("hub: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Errorf("hub did not stop within 30 s")
		}
		logf.Close()
		if e.t.Failed() {
			e.dumpLog(40)
		}
		// Whatever the test, the hub's log holds no personal data.
		checkNoPersonalData(e.t, e.logPath)
	}
}

// dumpLog shows the end of the hub's log, so a failure explains itself.
func (e *env) dumpLog(n int) {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	e.t.Logf("last %d lines of the hub log:\n%s", len(lines), strings.Join(lines, "\n"))
}
