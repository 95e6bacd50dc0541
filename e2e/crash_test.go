package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// writeServeConfig writes cfg as the YAML `hub serve --config` reads.
func writeServeConfig(t *testing.T, cfg hub.Config) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve starts `hub serve` with the config at path, appending its output
// to logPath.
func serve(t *testing.T, bin, name, path, logPath string) *hubProcess {
	t.Helper()
	p := &hubProcess{name: name, log: logPath, exited: make(chan error, 1)}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve", "--config", path)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exited <- p.cmd.Wait()
		logf.Close()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// TestCrashRecovery runs the hub as its own OS process and SIGKILLs it at
// random moments, ten times, while it syncs a few thousand dossiers whose
// lifecycles advance at the portals, level-4 ones among them (applicants pay,
// VNPost delivers). At the end the national portal must hold every dossier
// in its source's final state, statuses in source order, no 22 or 23, one
// payment request per fee set and one VNPost order per delivery. Then a
// SIGTERM must stop the hub within ten seconds.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	n := perProvince(t) * 3 / 4
	bin := buildHub(t)
	e := newEnv(t, devenv.Options{})
	repeats := 0
	e.stepRepeats = &repeats

	cfg := e.cfg
	cfg.Instance = "crash"
	cfg.LeaseTTL = 2 * time.Second
	cfg.Kafka.Partitions = servePartitions
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Payment.QueryAfter = 3 * time.Second
	path := writeServeConfig(t, cfg)

	for i, src := range devenv.Sources {
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": n, "seed": 7000 + i, "steps": 6, "interval_ms": 400})
		for j, pay := range []string{"online", "cod", "mixed"} {
			postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{
				"count": 20, "seed": 7100 + 10*i + j, "steps": 6, "interval_ms": 700,
				"shape": map[string]any{"level4": true, "result": "post", "pay": pay, "plan": []int{2, 4, 6, 4, 9, 10}},
			})
		}
	}
	// Applicants pay a second after the request; VNPost delivers on its own.
	stopPaying := make(chan struct{})
	payingDone := make(chan struct{})
	go func() {
		defer close(payingDone)
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stopPaying:
				return
			case <-time.After(300 * time.Millisecond):
				e.sims.PayPending(time.Second, rng)
			}
		}
	}()
	defer func() {
		select {
		case <-stopPaying:
		default:
			close(stopPaying)
		}
		<-payingDone
	}()
	e.sims.VNPost.SetAuto(true, 300*time.Millisecond)

	logPath := filepath.Join(t.TempDir(), "hub.log")
	e.logPath = logPath
	p := serve(t, bin, "crash", path, logPath)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const kills = 10
	for i := range kills {
		time.Sleep(time.Duration(1500+rng.IntN(2500)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
		<-p.exited
		p = serve(t, bin, "crash", path, logPath)
		if i == kills/2 {
			// A deploy in the middle of the load: SIGTERM, gone within ten
			// seconds, having handed back or finished what it held.
			time.Sleep(3 * time.Second)
			stopWithin(t, p, 10*time.Second, "under load")
			p = serve(t, bin, "crash", path, logPath)
		}
	}
	t.Logf("hub SIGKILLed %d times", kills)

	e.waitSynced(t, 15*time.Minute)
	close(stopPaying)
	<-payingDone

	stopWithin(t, p, 10*time.Second, "idle")

	stats := e.sims.National.Stats()
	t.Logf("national: requests %v, items accepted %v, item errors %v", stats.Requests, stats.ItemsAccepted, stats.ItemErrors)
	if stats.ItemErrors["22"] != 0 || stats.ItemErrors["23"] != 0 {
		t.Errorf("national portal answered 22 ×%d and 23 ×%d; want none", stats.ItemErrors["22"], stats.ItemErrors["23"])
	}
	quarantined := e.quarantinedVersions(t)
	for _, src := range devenv.Sources {
		e.verifySource(t, src, quarantined, false)
	}
	t.Logf("steps received again (a crash between a step call and its record): %d", repeats)

	// Level 4: one payment request per fee set, one order per delivery.
	perDossier := map[string]int{}
	repeated := 0
	for _, tx := range e.transactions(t) {
		perDossier[tx.Request.Receipt.DossierID]++
		repeated += tx.Repeats
	}
	for id, c := range perDossier {
		if c != 1 {
			t.Errorf("dossier %s: %d payment requests; want one per fee set", id, c)
		}
	}
	var orders []simOrder
	getJSON(t, e.sims.URLs[devenv.NameVNPost]+"/_sim/orders", &orders)
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.OrderNumber] {
			t.Errorf("order %s placed twice", o.OrderNumber)
		}
		seen[o.OrderNumber] = true
	}
	ps, err := e.store.ListPayments(context.Background(), store.PaymentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("level 4: %d payment requests (%d repeated after a crash, answered 15), %d hub payments, %d VNPost orders",
		len(perDossier), repeated, len(ps), len(orders))
	if len(perDossier) == 0 || len(orders) == 0 {
		t.Error("no payment request or no VNPost order: the level-4 part of the test proved nothing")
	}
	e.checkLogHasNoPersonalData(t)
}

// stopWithin sends SIGTERM and checks the hub exits cleanly within limit.
func stopWithin(t *testing.T, p *hubProcess, limit time.Duration, when string) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		took := time.Since(start)
		t.Logf("SIGTERM (%s): hub exited in %s", when, took.Round(time.Millisecond))
		if err != nil {
			t.Errorf("hub exited with %v after SIGTERM (%s):\n%s", err, when, p.tail(20))
		}
		if took > limit {
			t.Errorf("hub took %s to stop after SIGTERM (%s); want at most %s; its log ends:\n%s", took, when, limit, p.tail(40))
		}
	case <-time.After(2 * limit):
		t.Fatalf("hub still running %s after SIGTERM (%s):\n%s", 2*limit, when, p.tail(20))
	}
}
