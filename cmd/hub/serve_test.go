package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lienthong/lienthong/broker"
	"github.com/lienthong/lienthong/devenv"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store/postgres/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestServeProcess runs `hub serve --config FILE` as its own process against
// a Kafka broker and PostgreSQL, with every secret from the environment, and
// stops it with SIGTERM; everything it printed is JSON log lines.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hub binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hub")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	b, err := broker.Start(context.Background(), broker.Config{Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sims, err := devenv.Start(devenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	const perPortal = 40
	for _, src := range devenv.Sources {
		if _, err := sims.Book(src).Generate(simctl.GenerateRequest{Count: perPortal, Steps: 4}); err != nil {
			t.Fatal(err)
		}
	}
	dsn := pgtest.Schema(t)

	cfgPath := filepath.Join(dir, "hub.yaml")
	cfg := fmt.Sprintf(`instance: serve-test
kafka:
  brokers: [%q]
  partitions: 8
store:
  postgres_dsn: ${TEST_PG_DSN}
  encryption_key: ${TEST_ENCRYPTION_KEY}
  identity_key: ${TEST_IDENTITY_KEY}
national:
  base_url: %s
  username: hub
  password: ${TEST_NATIONAL_PASSWORD}
sonla:
  base_url: %s
  client_id: hub
  client_secret: ${TEST_PORTAL_SECRET}
  poll_interval: 200ms
  national_dstcode: 000.00.00.H52
thainguyen:
  base_url: %s
  username: hub
  password: ${TEST_PORTAL_SECRET}
  poll_interval: 200ms
  national_dstcode: 000.00.00.H55
hatinh:
  base_url: %s
  api_key: hub-key
  poll_interval: 200ms
  national_dstcode: 000.00.00.H25
`, b.Addrs()[0], sims.URLs[devenv.NameNational], sims.URLs[devenv.NameSonLa], sims.URLs[devenv.NameThaiNguyen], sims.URLs[devenv.NameHaTinh])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	migrate := exec.Command(bin, "migrate", "--config", cfgPath)
	migrate.Env = append(os.Environ(), "TEST_PG_DSN="+dsn, "TEST_NATIONAL_PASSWORD=hub-secret", "TEST_PORTAL_SECRET=hub-secret",
		"TEST_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(storetest.EncryptionKey),
		"TEST_IDENTITY_KEY="+base64.StdEncoding.EncodeToString(storetest.IdentityKey))
	// On the empty database, then on the up-to-date one.
	for _, state := range []string{"empty", "up-to-date"} {
		cmd := exec.Command(migrate.Path, migrate.Args[1:]...)
		cmd.Env = migrate.Env
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "migrations applied") {
			t.Fatalf("hub migrate on the %s database: %v\n%s", state, err, out)
		}
	}

	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = migrate.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		if sims.National.Stats().Dossiers >= 3*perPortal {
			break
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("hub serve exited early: %v\n%s", err, out)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("national portal holds %d dossiers after 2 min, want %d\n%s", sims.National.Stats().Dossiers, 3*perPortal, out)
		}
	}
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("hub serve after SIGTERM: %v\n%s", err, out)
		}
		t.Logf("hub serve synced %d dossiers and stopped %s after SIGTERM", 3*perPortal, time.Since(stopAt).Round(time.Millisecond))
		out, _ := os.ReadFile(logPath)
		t.Logf("%d log lines, every one JSON", len(jsonLines(t, out)))
	case <-time.After(15 * time.Second):
		t.Fatal("hub serve did not stop within 15 s of SIGTERM")
	}
	if errs := sims.National.Stats().ItemErrors; errs["22"]+errs["23"] != 0 {
		t.Errorf("national item errors %v", errs)
	}
}
