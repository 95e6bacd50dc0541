package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store"
)

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ExitOnError)
	dataDir := fs.String("data", devDataDir, "directory for the broker's log, the SQLite store, the simulators' state and the hub's log")
	kafkaAddr := fs.String("kafka", "127.0.0.1:19092", "address of the embedded Kafka broker")
	// One flag per simulated province, named after its source.
	portalAddrs := map[string]*string{}
	for i, p := range devenv.DevPortals() {
		portalAddrs[p.Name] = fs.String(p.Name, fmt.Sprintf("127.0.0.1:%d", 18081+i), "address of the "+p.Label+" simulator ("+p.Kind+")")
	}
	natAddr := fs.String("national", "127.0.0.1:18090", "address of the national portal simulator")
	payAddr := fs.String("payment", "127.0.0.1:18091", "address of the payment platform simulator")
	postAddr := fs.String("vnpost", "127.0.0.1:18092", "address of the VNPost simulator")
	smsAddr := fs.String("sms", "127.0.0.1:18093", "address of the SMS gateway simulator")
	mailAddr := fs.String("mail", "127.0.0.1:18094", "HTTP control address of the SMTP simulator")
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP address of the SMTP simulator")
	hubAddr := fs.String("http", "127.0.0.1:18080", "the hub's HTTP address (payment notifications)")
	initial := fs.Int("initial", 300, "dossiers generated at each portal on a fresh start")
	trickle := fs.Int("trickle", 20, "new dossiers at each portal every -every")
	every := fs.Duration("every", 10*time.Second, "how often new dossiers arrive")
	malformed := fs.Float64("malformed", 0.01, "share of records each portal serves broken (they go to quarantine)")
	reconcileRate := fs.Float64("reconcile-rate", 5, "national portal lookups a second of the background reconciliation (0: off)")
	reconcileGrace := fs.Duration("reconcile-grace", time.Minute, "how long after its last write a dossier is in flight and not reconciled")
	_ = fs.Parse(args)

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	// Absolute, so that the configuration it writes for the operator
	// commands (hub-dev.yaml) names the same files from any directory.
	if abs, err := filepath.Abs(*dataDir); err == nil {
		*dataDir = abs
	}
	logPath := filepath.Join(*dataDir, "hub.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))

	// The broker must outlive the hub, which commits offsets as it stops:
	// it is closed by the deferred Close, not by the signal.
	b, err := broker.Start(context.Background(), broker.Config{Addr: *kafkaAddr, DataDir: filepath.Join(*dataDir, "kafka"), Partitions: 16})
	if err != nil {
		return fmt.Errorf("embedded Kafka broker: %w", err)
	}
	defer b.Close()
	addrs := map[string]string{
		devenv.NameNational: *natAddr, devenv.NamePayment: *payAddr, devenv.NameVNPost: *postAddr, devenv.NameSMS: *smsAddr,
		devenv.NameMail: *mailAddr, devenv.NameSMTP: *smtpAddr, devenv.NameHub: *hubAddr,
	}
	for name, addr := range portalAddrs {
		addrs[name] = *addr
	}
	sims, err := devenv.Start(devenv.Options{
		Addrs:            addrs,
		StateDir:         filepath.Join(*dataDir, "sim"),
		ThaiNguyenPrefix: "*",
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := sims.Close(); err != nil {
			slog.Error("saving simulator state failed", "error", err.Error())
		}
	}()
	st, sc, tokenPath, err := devStore(ctx, *dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	// While hub dev runs, the tools that work on its data directory
	// (hub dlq replay --data) find its broker here.
	kafkaFile := filepath.Join(*dataDir, devKafkaFile)
	if err := os.WriteFile(kafkaFile, []byte(b.Addrs()[0]+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(kafkaFile)

	fresh := true
	for _, src := range devenv.Sources {
		if sims.Book(src).Stats().Dossiers > 0 {
			fresh = false
		}
		if err := sims.PatchFaults(src, map[string]any{"malformed_rate": *malformed}); err != nil {
			return err
		}
	}
	if fresh {
		generate(sims, *initial)
	}
	// Results go out by post and come back delivered on their own.
	sims.VNPost.SetAuto(true, 2*time.Second)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))

	cfg := sims.HubConfig(b.Addrs(), sc)
	// Reconciliation runs in the background, gently by default: the
	// console's reconciliation page then shows what it finds. A test raises
	// the rate so that drift it plants shows up within seconds.
	cfg.Reconcile = hub.ReconcileConfig{Rate: *reconcileRate, Grace: *reconcileGrace}
	// While hub dev runs, hub check and hub reconcile --data call its
	// simulated portals with the configuration it runs with.
	devConfig := filepath.Join(*dataDir, devConfigFile)
	if err := writeConfig(devConfig, cfg); err != nil {
		return err
	}
	defer os.Remove(devConfig)
	counters := progress.New()
	h := hub.New(cfg, st, counters, log)

	state, kept := "fresh start", ""
	if !fresh {
		state = "resuming from the cursors and simulator state in " + *dataDir
		kept = resumed(ctx, sims, st, *dataDir)
	}
	fmt.Printf(`lienthong hub dev (%s)
  Kafka (embedded)    %s
  store (SQLite)      %s
  hub log (JSON)      %s
%s  national portal     %s   → see %s/_sim/stats and %s/_sim/dossiers
  payment platform    %s   → /_sim/transactions (applicants pay after 5 s)
  VNPost              %s   → /_sim/orders (delivered automatically)
  SMS gateway         %s   → /_sim/messages
  SMTP                %s   → %s/_sim/mail
  operator console    http://%s/console/   (log in with the operator token)
  operator token      %s   (national; the API is described at /api/openapi.yaml)
Press Ctrl-C to stop; run again to resume.
%s
`, state, b.Addrs()[0], sc.SQLitePath, logPath,
		portalLines(sims),
		sims.URLs[devenv.NameNational], sims.URLs[devenv.NameNational], sims.URLs[devenv.NameNational],
		sims.URLs[devenv.NamePayment], sims.URLs[devenv.NameVNPost], sims.URLs[devenv.NameSMS],
		sims.SMTPAddr, sims.URLs[devenv.NameMail], sims.HubAddr, tokenPath, kept)

	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	start := time.Now()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	gen := time.NewTicker(*every)
	defer gen.Stop()
	for {
		select {
		case err := <-done:
			fmt.Println("\nstopped; state saved under", *dataDir)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-gen.C:
			generate(sims, *trickle)
		case <-tick.C:
			sims.PayPending(5*time.Second, rng)
			sync, err := sims.Behind(ctx, st)
			if err != nil {
				continue
			}
			ns := sims.National.Stats()
			open, err := st.CountQuarantine(ctx, "")
			if err != nil {
				open = -1
			}
			fmt.Print(devTick{elapsed: time.Since(start), sources: devenv.Sources, counters: counters, sync: sync,
				national: ns.Dossiers, accepted: ns.ItemsAccepted, errors: ns.ItemErrors, quarantined: open,
				dataDir: *dataDir, level4: sims.Level4Line(), breakers: breakerLine(h.Breakers())})
		}
	}
}

// resumed says, on a restart, what the data directory keeps, and that the
// counts of versions in the progress reports start again from zero.
func resumed(ctx context.Context, sims *devenv.Sims, st hub.Store, dir string) string {
	const restart = "The progress reports count versions from zero again: they count this run only.\n"
	sync, err := sims.Behind(ctx, st)
	if err != nil {
		return restart
	}
	open, err := st.CountQuarantine(ctx, "")
	if err != nil {
		return restart
	}
	return fmt.Sprintf("%s keeps %d dossiers, %d of them synced at their latest version, and %s open in\n"+
		"quarantine (hub dlq list --data %s). %s", dir, sync.Dossiers, sync.Synced, records(open), dir, restart)
}

// portalLines lists the simulated provinces, one line each.
func portalLines(sims *devenv.Sims) string {
	var b strings.Builder
	for _, p := range sims.Portals {
		extra := ""
		if p.Charset != "" {
			extra = ", " + p.Charset
		}
		fmt.Fprintf(&b, "  %-19s %s   (province %s, %s%s)\n", p.Label, sims.URLs[p.Name], p.Province(), p.Kind, extra)
	}
	return b.String()
}

// generate makes n new dossiers at each portal; their lifecycles advance one
// change a second, so the hub keeps meeting dossiers that move.
func generate(sims *devenv.Sims, n int) {
	if n <= 0 {
		return
	}
	for _, src := range devenv.Sources {
		_, _ = sims.Book(src).Generate(simctl.GenerateRequest{Count: n, Steps: 6, IntervalMS: 1000})
	}
}

// breakerLine names the endpoints that have failed since the start, with
// their breaker's state and counts; "" when none has.
func breakerLine(b *breaker.Set) string {
	var parts []string
	stats := b.Stats()
	for _, name := range b.Names() {
		st := stats[name]
		if st.Failures == 0 && st.State == breaker.StateClosed {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (failures %d, rejected %d, retries %d)", name, st.State, st.Failures, st.Rejected, st.Retries))
	}
	return strings.Join(parts, " · ")
}

// devStore opens the store of hub dev in dir, setting it up on first use:
// its keys, and an operator's token (devToken). The hub seals its Kafka
// messages with the keys sc carries.
func devStore(ctx context.Context, dir string) (st hub.Store, sc hub.StoreConfig, tokenPath string, err error) {
	sc, keys, err := hub.DevStore(dir)
	if err != nil {
		return nil, sc, "", err
	}
	if st, err = hub.OpenStore(ctx, sc, keys); err != nil {
		return nil, sc, "", err
	}
	if tokenPath, err = devToken(ctx, st, dir); err != nil {
		st.Close()
		return nil, sc, "", err
	}
	return st, sc, tokenPath, nil
}

// devToken makes a national operator's token on first use and keeps its
// secret beside the data, so the operator API of `hub dev` can be tried.
func devToken(ctx context.Context, st hub.Store, dir string) (string, error) {
	path := filepath.Join(dir, "operator.token")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	secret, tok, err := auth.NewToken(store.RoleNational, "", "hub dev operator")
	if err != nil {
		return "", err
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		return "", fmt.Errorf("dev operator token: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
