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

	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store/pgtest"
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
	// A sixth province, of an existing kind, that no code names: adding it
	// is the configuration below and nothing else.
	qn := gen.ThaiNguyen()
	qn.Province, qn.CCCDPrefix = "22", "022"
	qn.Agencies = []gen.Agency{{Ma: "000.00.22.H47", Ten: "UBND thành phố Hạ Long"}}
	portals := append(devenv.DevPortals(), devenv.Portal{Name: "quangninh", Label: "Quảng Ninh", Kind: schemas.KindSOAP,
		Profile: qn, Unit: "000.00.00.H47", ClientID: "hub-qn", ClientSecret: "qn-secret"})
	sims, err := devenv.Start(devenv.Options{Portals: portals})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	const perPortal = 40
	var sources strings.Builder
	for _, p := range sims.Portals {
		c := p.Source(sims.URLs[p.Name])
		fmt.Fprintf(&sources, "  - name: %s\n    province: %q\n    kind: %s\n    base_url: %s\n    poll_interval: 200ms\n    national_dstcode: %s\n",
			c.Name, c.Province, c.Kind, c.BaseURL, c.DstCode)
		for k, v := range map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret, "username": c.Username, "password": c.Password, "api_key": c.APIKey} {
			if v == "hub-secret" {
				v = "${TEST_PORTAL_SECRET}" // secrets may come from the environment
			}
			if v != "" {
				fmt.Fprintf(&sources, "    %s: %q\n", k, v)
			}
		}
	}
	for _, p := range sims.Portals {
		if _, err := sims.Book(p.Name).Generate(simctl.GenerateRequest{Count: perPortal, Steps: 4}); err != nil {
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
sources:
%s`, b.Addrs()[0], sims.URLs[devenv.NameNational], sources.String())
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
		if sims.National.Stats().Dossiers >= len(portals)*perPortal {
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
			t.Fatalf("national portal holds %d dossiers after 2 min, want %d\n%s", sims.National.Stats().Dossiers, len(portals)*perPortal, out)
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
		t.Logf("hub serve synced %d dossiers and stopped %s after SIGTERM", len(portals)*perPortal, time.Since(stopAt).Round(time.Millisecond))
		out, _ := os.ReadFile(logPath)
		t.Logf("%d log lines, every one JSON", len(jsonLines(t, out)))
	case <-time.After(15 * time.Second):
		t.Fatal("hub serve did not stop within 15 s of SIGTERM")
	}
	if errs := sims.National.Stats().ItemErrors; errs["22"]+errs["23"] != 0 {
		t.Errorf("national item errors %v", errs)
	}
	// Every province's dossiers reached the national portal under its own
	// unit, the sixth's too.
	units := map[string]int{}
	_, held := sims.National.Dossiers(0, 1<<30)
	for _, d := range held {
		units[d.DstCode]++
	}
	for _, p := range portals {
		if units[p.Unit] == 0 {
			t.Errorf("national portal holds no dossier of %s (%s)", p.Name, p.Unit)
		}
	}
}
