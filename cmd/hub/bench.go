package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store"
)

// benchOptions are the flags of `hub bench`.
type benchOptions struct {
	mode       string
	count      int
	steps      int
	changes    int
	pg         string
	partitions int
	linger     time.Duration
	concurrent int
	calls      int
	cpuprofile string
	simProfile string
	pprof      string
	malformed  float64
}

// runBench syncs a generated load end to end and prints one RESULT line.
// The simulators and the embedded broker run in this process; the hub runs
// as a child `hub serve`, so its CPU time and peak memory are its own.
//
// steady: the portals hold -count dossiers each, moved through -steps
// changes, before the hub starts; timed from the hub's start until the
// national portal holds every dossier's last version.
//
// backlog: the national portal is down while the portals make -changes
// changes, each pulled and normalised by the hub as it happens; then the
// portal comes back and the drain is timed.
func runBench(ctx context.Context, args []string) error {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&o.mode, "mode", "steady", "steady (a generated load, synced from the start) or backlog (drain after a national outage)")
	fs.IntVar(&o.count, "count", 2000, "steady: dossiers generated at each portal")
	fs.IntVar(&o.steps, "steps", 6, "lifecycle changes per dossier")
	fs.IntVar(&o.changes, "changes", 200000, "backlog: changes made at the portals while the national portal is down")
	fs.StringVar(&o.pg, "postgres", "", "PostgreSQL DSN for the store, in a schema of its own for the run, dropped after it (default: SQLite in a temporary directory)")
	fs.IntVar(&o.partitions, "partitions", 0, "partitions per topic (default: as hub dev)")
	fs.DurationVar(&o.linger, "linger", 0, "how long a national batch waits for more dossiers (default: as hub dev)")
	fs.IntVar(&o.concurrent, "concurrency", 0, "national batches in flight at once (default: as hub dev)")
	fs.IntVar(&o.calls, "calls", 0, "national calls one batch has in flight at once (default: as hub dev)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write the hub process's CPU profile to this file")
	fs.StringVar(&o.pprof, "pprof", "", "have the hub serve net/http/pprof on this address")
	fs.StringVar(&o.simProfile, "simprofile", "", "write this process's CPU profile over the timed phase (the simulators and the broker) to this file")
	fs.Float64Var(&o.malformed, "malformed", 0, "steady: share of records each portal serves broken (they go to quarantine; hub dev's default is 0.01)")
	_ = fs.Parse(args)
	if o.mode != "steady" && o.mode != "backlog" {
		return fmt.Errorf("bench: -mode %q: want steady or backlog", o.mode)
	}
	if o.malformed != 0 && o.mode != "steady" {
		// The backlog waits for every change to be normalised.
		return errors.New("bench: -malformed goes with -mode steady")
	}
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	var r benchResult
	if o.mode == "steady" {
		r, err = b.steady(ctx)
	} else {
		r, err = b.backlog(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Println(r.line())
	return nil
}

// bench is one run: the simulators and broker here, the hub a child.
type bench struct {
	o       benchOptions
	dir     string
	broker  *broker.Broker
	sims    *devenv.Sims
	store   hub.Store
	cfg     hub.Config
	counts  *topicCounter
	child   *exec.Cmd
	exited  chan error
	waited  bool // the child's exit has been seen by stop
	profile *os.File
	// pgSchema is the run's own schema in the -postgres database: a run
	// over the tables of an earlier one would start from its cursors and
	// never see the new portals' first changes.
	pgSchema string
}

func newBench(ctx context.Context, o benchOptions) (_ *bench, err error) {
	b := &bench{o: o}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", "lienthong-bench-"); err != nil {
		return nil, err
	}
	if b.broker, err = broker.Start(context.Background(), broker.Config{Partitions: max(o.partitions, 16)}); err != nil {
		return nil, err
	}
	if b.sims, err = devenv.Start(devenv.Options{}); err != nil {
		return nil, err
	}
	if o.malformed > 0 {
		for _, src := range devenv.Sources {
			if err := b.sims.PatchFaults(src, map[string]any{"malformed_rate": o.malformed}); err != nil {
				return nil, err
			}
		}
	}
	keys, err := hub.DevKeys(b.dir)
	if err != nil {
		return nil, err
	}
	dsn := o.pg
	if dsn != "" {
		if dsn, err = b.freshSchema(ctx, dsn); err != nil {
			return nil, err
		}
	}
	sc := hub.StoreConfig{SQLitePath: filepath.Join(b.dir, "hub.db"), PostgresDSN: dsn}.WithKeys(keys)
	// Opened here too (and migrated before the hub starts), to see what
	// the ledger holds.
	if b.store, err = hub.OpenStore(ctx, sc, keys); err != nil {
		return nil, err
	}
	b.cfg = b.sims.HubConfig(b.broker.Addrs(), sc)
	if o.partitions > 0 {
		b.cfg.Kafka.Partitions = o.partitions
	}
	if o.concurrent > 0 {
		b.cfg.National.Concurrency = o.concurrent
	}
	if o.calls > 0 {
		b.cfg.National.Calls = o.calls
	}
	if o.linger > 0 {
		b.cfg.National.Linger = o.linger
	}
	// An open breaker probes after a second, not five: the drain is timed
	// from the portal's return.
	b.cfg.Breaker.Timeout = time.Second
	b.counts = &topicCounter{addr: b.broker.Addrs()[0]}
	return b, nil
}

// freshSchema creates an empty schema for this run in the database of
// dsn and returns dsn with its search_path.
func (b *bench) freshSchema(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("bench: PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("lienthong_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("bench: create schema %s: %w", name, err)
	}
	b.pgSchema = name
	return store.WithSearchPath(dsn, name), nil
}

func (b *bench) close() {
	if b.child != nil && !b.waited {
		_ = b.child.Process.Kill()
		<-b.exited
	}
	if b.store != nil {
		b.store.Close()
	}
	if b.sims != nil {
		b.sims.Close()
	}
	if b.broker != nil {
		b.broker.Close()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	if b.pgSchema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if conn, err := pgx.Connect(ctx, b.o.pg); err == nil {
			if _, err := conn.Exec(ctx, "DROP SCHEMA "+b.pgSchema+" CASCADE"); err != nil {
				fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", b.pgSchema, err)
			}
			conn.Close(ctx)
		}
		cancel()
	}
	if b.profile != nil {
		pprof.StopCPUProfile()
		b.profile.Close()
	}
}

// timed marks the start of the timed phase: the simulators' profile
// (-simprofile) covers it alone.
func (b *bench) timed() (time.Time, error) {
	if b.o.simProfile != "" {
		f, err := os.Create(b.o.simProfile)
		if err != nil {
			return time.Time{}, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return time.Time{}, err
		}
		b.profile = f
	}
	return time.Now(), nil
}

// start runs the hub as `hub serve` on the bench's configuration.
func (b *bench) start() error {
	path := filepath.Join(b.dir, "hub.yaml")
	if err := writeConfig(path, b.cfg); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(b.dir, "hub.log"))
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"serve", "--config", path}
	if b.o.cpuprofile != "" {
		args = append(args, "--cpuprofile", b.o.cpuprofile)
	}
	if b.o.pprof != "" {
		args = append(args, "--pprof", b.o.pprof)
	}
	b.child = exec.Command(exe, args...)
	b.child.Stdout, b.child.Stderr = logf, logf
	b.child.Env = append(os.Environ(), "LIENTHONG_LOG_LEVEL=warn")
	if err := b.child.Start(); err != nil {
		logf.Close()
		return err
	}
	b.exited = make(chan error, 1)
	go func() { b.exited <- b.child.Wait(); logf.Close() }()
	return nil
}

// stop ends the hub with SIGTERM and reads what it used.
func (b *bench) stop() (cpu time.Duration, rssMB float64, err error) {
	_ = b.child.Process.Signal(syscall.SIGTERM)
	b.waited = true
	select {
	case err = <-b.exited:
	case <-time.After(time.Minute):
		_ = b.child.Process.Kill()
		err = errors.Join(errors.New("hub did not stop within a minute of SIGTERM"), <-b.exited)
	}
	ru, ok := b.child.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, errors.New("no resource usage for the hub process")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, float64(ru.Maxrss) / 1024, err // Maxrss is in KiB on Linux
}

// alive fails once the hub has exited, naming its log.
func (b *bench) alive() error {
	select {
	case err := <-b.exited:
		b.exited <- err
		return fmt.Errorf("hub stopped early (%v); its log: %s", err, tail(filepath.Join(b.dir, "hub.log")))
	default:
		return nil
	}
}

// waitSynced waits until the national portal holds every dossier's last
// version and its steps, as the ledger says, but those whose last version is in
// quarantine: they wait for an operator. The bench's own reads must not slow
// the hub down: a poll reads at most syncCheck dossiers not yet seen
// synced, and reads on only while all of those were.
func (b *bench) waitSynced(ctx context.Context) error {
	const syncCheck = 500
	var left map[string]int64
	start, told, quarantineRead, stepsRead := time.Now(), time.Now(), time.Time{}, time.Time{}
	stepsBest, stepsSince := -1, time.Time{}
	for {
		if err := b.alive(); err != nil {
			return err
		}
		if time.Since(told) >= 2*time.Second {
			told = time.Now()
			raw, canonical, err := b.pulled(ctx)
			if err != nil {
				return err
			}
			var items int
			for _, v := range b.nationalCalls() {
				items += v[1]
			}
			fmt.Printf("  %5.1fs: %d pulled, %d normalised, %d national items accepted, %d dossiers not yet seen synced\n",
				time.Since(start).Seconds(), raw, canonical, items, len(left))
		}
		pending := b.sims.Pending()
		if left == nil || pending > 0 {
			left, _ = b.sims.Finals()
		}
		for len(left) > 0 {
			part := make(map[string]int64, syncCheck)
			for id, v := range left {
				if len(part) == syncCheck {
					break
				}
				part[id] = v
			}
			still, err := devenv.Unsynced(ctx, b.store, part)
			if err != nil {
				return err
			}
			for id := range part {
				if _, ok := still[id]; !ok {
					delete(left, id)
				}
			}
			if len(still) > 0 {
				break
			}
		}
		if pending == 0 && len(left) == 0 {
			// A version is marked held before its steps are sent: synced
			// also means every step acknowledged. Steps that stop coming
			// for a minute are left to the account, as in flight.
			if time.Since(stepsRead) >= 500*time.Millisecond {
				stepsRead = time.Now()
				acct, err := b.account(ctx)
				if err != nil {
					return err
				}
				if n := acct.total.stepsDue; n == 0 {
					return nil
				} else if stepsBest < 0 || n < stepsBest {
					stepsBest, stepsSince = n, time.Now()
				} else if time.Since(stepsSince) > time.Minute {
					return nil
				}
			}
		}
		if pending == 0 && time.Since(quarantineRead) >= time.Second {
			quarantineRead = time.Now()
			if stuck, err := b.quarantined(ctx, left); err != nil {
				return err
			} else if stuck {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// quarantined reports whether every dossier of left is in quarantine at
// its last version (an open entry of that version or later), so that it
// will not be synced without an operator. The entries are read only when
// there are enough of them.
func (b *bench) quarantined(ctx context.Context, left map[string]int64) (bool, error) {
	n, err := b.store.CountQuarantine(ctx, "")
	if err != nil || n < len(left) {
		return false, err
	}
	open, err := b.store.ListQuarantine(ctx, store.QuarantineFilter{State: store.QuarantineOpen})
	if err != nil {
		return false, err
	}
	at := map[string]int64{}
	for _, e := range open {
		at[e.DossierID] = max(at[e.DossierID], e.Version)
	}
	for id, want := range left {
		if v, ok := at[id]; !ok || v < want {
			return false, nil
		}
	}
	return true, nil
}

// pulled is how many records the hub has pulled (its raw topics) and
// normalised (the canonical topic).
func (b *bench) pulled(ctx context.Context) (raw, canonical int64, err error) {
	var topics []string
	for _, src := range devenv.Sources {
		topics = append(topics, b.cfg.Kafka.TopicPrefix+"raw."+src)
	}
	if raw, err = b.counts.count(ctx, topics...); err != nil {
		return 0, 0, err
	}
	canonical, err = b.counts.count(ctx, b.cfg.Kafka.TopicPrefix+"canonical")
	return raw, canonical, err
}

// itemsPerCall is the average items of the national calls that carry
// dossiers and steps, since the given stats.
func (b *bench) itemsPerCall(since map[string][2]int) float64 {
	var calls, items int
	for op, v := range b.nationalCalls() {
		calls += v[0] - since[op][0]
		items += v[1] - since[op][1]
	}
	if calls == 0 {
		return 0
	}
	return float64(items) / float64(calls)
}

// nationalCalls maps DongBoHoSoMC and CapNhatTienDoHoSoMC to their calls
// and items accepted so far.
func (b *bench) nationalCalls() map[string][2]int {
	st := b.sims.National.Stats()
	out := map[string][2]int{}
	for _, op := range []string{"DongBoHoSoMC", "CapNhatTienDoHoSoMC"} {
		out[op] = [2]int{st.Requests[op], st.ItemsAccepted[op]}
	}
	return out
}

func (b *bench) steady(ctx context.Context) (benchResult, error) {
	versions := 0
	for _, src := range devenv.Sources {
		res, err := b.sims.Book(src).Generate(simctl.GenerateRequest{Count: b.o.count, Seed: ptr(int64(42)), Steps: b.o.steps})
		if err != nil {
			return benchResult{}, err
		}
		versions += res.Applied + len(res.Created)
	}
	fmt.Printf("steady: %d dossiers at each of %d portals, %d changes made before the hub starts; syncing…\n",
		b.o.count, len(devenv.Sources), versions)
	start, err := b.timed()
	if err != nil {
		return benchResult{}, err
	}
	if err := b.start(); err != nil {
		return benchResult{}, err
	}
	if err := b.waitSynced(ctx); err != nil {
		return benchResult{}, err
	}
	el := time.Since(start)
	raw, _, err := b.pulled(ctx)
	if err != nil {
		return benchResult{}, err
	}
	r := b.result("steady", raw, el, b.itemsPerCall(nil))
	fmt.Printf("pulled %d dossier versions and synced the last version of every dossier not in quarantine in %s\n", raw, el.Round(time.Millisecond))
	if err := b.report(ctx, &r); err != nil {
		return benchResult{}, err
	}
	return r, b.finish(&r)
}

func (b *bench) backlog(ctx context.Context) (benchResult, error) {
	if err := b.sims.PatchFaults(devenv.NameNational, map[string]any{"down": true}); err != nil {
		return benchResult{}, err
	}
	if err := b.start(); err != nil {
		return benchResult{}, err
	}
	// Changes are made in rounds, each pulled before the next, so every
	// change is a version the hub carries (none folded into a later one).
	per := max(1, b.o.changes/len(devenv.Sources)/(b.o.steps+1))
	made, round := 0, 0
	fmt.Printf("backlog: national portal down; making %d changes at %d portals…\n", b.o.changes, len(devenv.Sources))
	for made < b.o.changes {
		n := 0
		for _, src := range devenv.Sources {
			book := b.sims.Book(src)
			var res simctl.GenerateResult
			var err error
			if round%(b.o.steps+1) == 0 {
				want := min(per, (b.o.changes-made-n+len(devenv.Sources)-1)/len(devenv.Sources))
				res, err = book.Generate(simctl.GenerateRequest{Count: want, Seed: ptr(int64(42 + round))})
			} else {
				res = book.Advance(1, 0)
			}
			if err != nil {
				return benchResult{}, err
			}
			n += res.Applied + len(res.Created)
		}
		round++
		if n == 0 {
			continue
		}
		made += n
		if err := b.waitPulled(ctx, int64(made)); err != nil {
			return benchResult{}, err
		}
		fmt.Printf("  %d changes pulled and normalised\n", made)
	}
	raw, canonical, err := b.pulled(ctx)
	if err != nil {
		return benchResult{}, err
	}
	// What the hub does besides the national calls (notices, fees, postal)
	// needs no national portal: in a real outage it kept up as the changes
	// came. Here they came as fast as the hub could pull them, so it is
	// let catch up first, and the drain times the national sink alone.
	if err := b.waitOthers(ctx); err != nil {
		return benchResult{}, err
	}
	calls := b.nationalCalls()
	fmt.Printf("national portal back; draining %d versions…\n", canonical)
	start, err := b.timed()
	if err != nil {
		return benchResult{}, err
	}
	if err := b.sims.PatchFaults(devenv.NameNational, map[string]any{"down": false}); err != nil {
		return benchResult{}, err
	}
	if err := b.waitSynced(ctx); err != nil {
		return benchResult{}, err
	}
	el := time.Since(start)
	r := b.result("backlog", raw, el, b.itemsPerCall(calls))
	fmt.Printf("drained %d versions in %s\n", raw, el.Round(time.Millisecond))
	if err := b.report(ctx, &r); err != nil {
		return benchResult{}, err
	}
	return r, b.finish(&r)
}

// waitOthers waits until every consumer group of the hub but the national
// sink's has caught up, failing if the lag stops shrinking for a minute.
func (b *bench) waitOthers(ctx context.Context) error {
	prefix := b.cfg.Kafka.GroupPrefix + "lienthong-"
	best, since, told := int64(-1), time.Now(), time.Now()
	for {
		if err := b.alive(); err != nil {
			return err
		}
		n, where, err := b.counts.lag(ctx, prefix, prefix+"national")
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if best < 0 || n < best {
			best, since = n, time.Now()
		} else if time.Since(since) > time.Minute {
			return fmt.Errorf("the hub's consumers other than the national sink are stuck %d records behind (%s)", n, where)
		}
		if time.Since(told) > 2*time.Second {
			fmt.Printf("  notices, fees and postal catching up: %d records behind\n", n)
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitPulled waits until the hub has pulled and normalised n records,
// failing if nothing moves for a minute.
func (b *bench) waitPulled(ctx context.Context, n int64) error {
	last, since := int64(-1), time.Now()
	for {
		if err := b.alive(); err != nil {
			return err
		}
		raw, canonical, err := b.pulled(ctx)
		if err != nil {
			return err
		}
		if raw >= n && canonical >= raw {
			return nil
		}
		if raw+canonical != last {
			last, since = raw+canonical, time.Now()
		} else if time.Since(since) > time.Minute {
			return fmt.Errorf("hub stuck at %d records pulled, %d normalised, of %d", raw, canonical, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *bench) result(mode string, versions int64, el time.Duration, perCall float64) benchResult {
	store := "sqlite"
	if b.o.pg != "" {
		store = "postgres"
	}
	return benchResult{mode: mode, versions: versions, elapsed: el, itemsPerCall: perCall, store: store}
}

// report prints where every generated dossier is, once the timed phase
// is over, and adds the counts to r.
func (b *bench) report(ctx context.Context, r *benchResult) error {
	a, err := b.account(ctx)
	if err != nil {
		return err
	}
	fmt.Print(a)
	r.dossiers = a.total
	return nil
}

// finish stops the hub and fills in what it used.
func (b *bench) finish(r *benchResult) error {
	cpu, rss, err := b.stop()
	r.cpu, r.rssMB = cpu, rss
	if err != nil {
		return fmt.Errorf("hub: %w; its log: %s", err, tail(filepath.Join(b.dir, "hub.log")))
	}
	return nil
}

// benchResult is what a run prints, in one comparable line.
type benchResult struct {
	mode         string
	versions     int64
	elapsed      time.Duration
	itemsPerCall float64
	cpu          time.Duration
	rssMB        float64
	store        string
	dossiers     dossierCount
}

func (r benchResult) line() string {
	perVersion := 0.0
	if r.versions > 0 {
		perVersion = float64(r.cpu.Microseconds()) / float64(r.versions)
	}
	d := r.dossiers
	return fmt.Sprintf("RESULT mode=%s versions=%d versions_per_s=%.0f items_per_call=%.1f cpu_us_per_version=%.0f peak_rss_mb=%.0f store=%s"+
		" dossiers=%d synced=%d quarantined=%d in_flight=%d deleted=%d",
		r.mode, r.versions, float64(r.versions)/r.elapsed.Seconds(), r.itemsPerCall, perVersion, r.rssMB, r.store,
		d.generated, d.synced, d.quarantined, d.inFlight, d.deleted)
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return path + " (unreadable)"
	}
	if len(raw) > 2000 {
		raw = raw[len(raw)-2000:]
	}
	return path + ":\n" + string(raw)
}

func ptr[T any](v T) *T { return &v }
