package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// buildHub builds the hub binary once per test.
func buildHub(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hub")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hub")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	return bin
}

// servePartitions is the partition count of the topics of startServe's hubs.
const servePartitions = 16

// hubProcess is one `hub serve` running as its own OS process.
type hubProcess struct {
	name   string
	addr   string // its HTTP listener
	cmd    *exec.Cmd
	log    string
	exited chan error
}

// startServe starts `hub serve` as instance; extra is appended to its
// configuration file (top-level YAML sections).
func (e *env) startServe(t *testing.T, bin, instance string, extra ...string) *hubProcess {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`instance: %s
lease_ttl: 3s
http:
  listen: %s
kafka:
  brokers: [%q]
  partitions: %d
  session_timeout: 6s
store:
  postgres_dsn: %q
  encryption_key: %s
  identity_key: %s
national:
  base_url: %s
  username: hub
  password: hub-secret
`, instance, addr, e.broker.Addrs()[0], servePartitions, e.cfg.Store.PostgresDSN, e.cfg.Store.EncryptionKey, e.cfg.Store.IdentityKey, e.sims.URLs[devenv.NameNational])
	var sources []hub.SourceConfig
	for _, p := range e.sims.Portals {
		src := p.Source(e.sims.URLs[p.Name])
		src.PollInterval, src.Payment, src.PostalSender = 200*time.Millisecond, nil, nil
		sources = append(sources, src)
	}
	list, err := yaml.Marshal(map[string]any{"sources": sources})
	if err != nil {
		t.Fatal(err)
	}
	cfg += string(list) + strings.Join(extra, "")
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := serve(t, bin, instance, path, filepath.Join(dir, "hub.log"))
	p.addr = addr
	return p
}

func (p *hubProcess) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// leaseHolders returns which instance holds each poller's lease.
func leaseHolders(t *testing.T, dsn string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT name, holder FROM leases WHERE expires_at > now()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, holder string
		if err := rows.Scan(&name, &holder); err != nil {
			t.Fatal(err)
		}
		out[name] = strings.SplitN(holder, "/", 2)[0]
	}
	return out
}

// TestFailoverTwoInstances runs two hub processes on one PostgreSQL and one
// broker, SIGKILLs the one leading the pollers mid-sync, and checks that the
// other takes the pollers over and every dossier is synced exactly once.
func TestFailoverTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	n := perProvince(t) / 4
	bin := buildHub(t)
	e := newEnv(t, devenv.Options{})
	// A SIGKILL between a step call and its ledger write sends that call's
	// steps again (as in TestCrashRecovery): counted and tolerated.
	repeats := 0
	e.stepRepeats = &repeats
	for _, src := range devenv.Sources {
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": n, "seed": 7, "steps": 6, "interval_ms": 400})
	}
	a := e.startServe(t, bin, "a")
	b := e.startServe(t, bin, "b")
	procs := map[string]*hubProcess{"a": a, "b": b}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a's log:\n%s\nb's log:\n%s", a.tail(30), b.tail(30))
			if dir := os.Getenv("LIENTHONG_KEEP_LOGS"); dir != "" {
				for _, p := range []*hubProcess{a, b} {
					if body, err := os.ReadFile(p.log); err == nil {
						_ = os.WriteFile(filepath.Join(dir, "hub-"+p.name+".log"), body, 0o644)
					}
				}
			}
		}
	})

	// Wait until both run and about a third has reached the national portal.
	deadline := time.Now().Add(3 * time.Minute)
	for e.sims.National.Stats().Dossiers < n {
		if time.Now().After(deadline) {
			t.Fatalf("national holds %d dossiers after 3 min\na:\n%s\nb:\n%s", e.sims.National.Stats().Dossiers, a.tail(20), b.tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkClusterOverview(t, e, a, b)
	holders := leaseHolders(t, e.cfg.Store.PostgresDSN)
	count := map[string]int{}
	for _, h := range holders {
		count[h]++
	}
	victim := "a"
	if count["b"] > count["a"] {
		victim = "b"
	}
	survivor := map[string]string{"a": "b", "b": "a"}[victim]
	sig := syscall.SIGKILL
	if os.Getenv("LIENTHONG_FAILOVER_SIGTERM") != "" {
		sig = syscall.SIGTERM // to tell a crash from a clean leave when debugging
	}
	t.Logf("poller leases before the kill: %v; killing %s with %v at %d dossiers synced", holders, victim, sig, e.sims.National.Stats().Dossiers)
	t.Logf("consumer groups at the kill: %s", strings.Join(groupStates(e), "; "))
	if err := procs[victim].cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-procs[victim].exited
	killedAt := time.Now()

	// The survivor takes every poller over within seconds.
	for {
		holders = leaseHolders(t, e.cfg.Store.PostgresDSN)
		taken := 0
		for name, h := range holders {
			// Background loops (retention…) hold leases too.
			if h == survivor && strings.HasPrefix(name, "poller:") {
				taken++
			}
		}
		if taken == len(devenv.Sources) {
			t.Logf("%s holds all %d poller leases %s after the kill", survivor, taken, time.Since(killedAt).Round(100*time.Millisecond))
			break
		}
		if time.Since(killedAt) > 30*time.Second {
			t.Fatalf("poller leases 30 s after the kill: %v\n%s", holders, procs[survivor].tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// And every partition of its consumer groups: the dead members expire
	// after their session timeout (6 s), the survivor rejoins.
	waitGroupsTakenOver(t, e, survivor, killedAt, 30*time.Second)

	wait := 4 * time.Minute
	if os.Getenv("LIENTHONG_KEEP_LOGS") != "" {
		wait = 90 * time.Second
	}
	e.waitSynced(t, wait)
	if err := procs[survivor].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-procs[survivor].exited:
		if err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", survivor, err, procs[survivor].tail(20))
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15 s of SIGTERM", survivor)
	}

	stats := e.sims.National.Stats()
	t.Logf("national: requests %v, items accepted %v, item errors %v", stats.Requests, stats.ItemsAccepted, stats.ItemErrors)
	if stats.ItemErrors["22"] != 0 || stats.ItemErrors["23"] != 0 {
		t.Errorf("national portal answered 22 ×%d and 23 ×%d; want none", stats.ItemErrors["22"], stats.ItemErrors["23"])
	}
	quarantined := e.quarantinedVersions(t)
	for _, src := range devenv.Sources {
		e.verifySource(t, src, quarantined, false)
	}
	t.Logf("steps received again (the kill fell between a step call and its record): %d", repeats)
}

// hubGroups are the consumer groups of the hubs of startServe.
func hubGroups(e *env) []string {
	groups := []string{e.cfg.Kafka.GroupPrefix + "lienthong-national"}
	for _, src := range devenv.Sources {
		groups = append(groups, e.cfg.Kafka.GroupPrefix+"lienthong-normalise-"+src)
	}
	return groups
}

// groupStates describes the hubs' consumer groups briefly: state,
// generation, and the partitions each member (by client ID) holds.
func groupStates(e *env) []string {
	var out []string
	for _, g := range hubGroups(e) {
		gi := e.broker.Cluster().GroupInfo(g)
		if gi == nil {
			out = append(out, g+" missing")
			continue
		}
		var members []string
		for _, m := range gi.Members {
			members = append(members, fmt.Sprintf("%s:%d", m.ClientID, m.NumAssigned()))
		}
		out = append(out, fmt.Sprintf("%s %s gen %d [%s]", g, gi.State, gi.Epoch, strings.Join(members, " ")))
	}
	return out
}

// waitGroupsTakenOver waits until the survivor's members alone hold every
// partition of the hub's consumer groups, each group stable.
func waitGroupsTakenOver(t *testing.T, e *env, survivor string, killedAt time.Time, timeout time.Duration) {
	t.Helper()
	groups := hubGroups(e)
	clientID := "lienthong-" + survivor // see hub's subscriberConfig
	for {
		var pending []string
		for _, g := range groups {
			gi := e.broker.Cluster().GroupInfo(g)
			if gi == nil {
				pending = append(pending, g+": no such group")
				continue
			}
			assigned, others := 0, 0
			var members []string
			for _, m := range gi.Members {
				if m.ClientID == clientID {
					assigned += m.NumAssigned()
				} else {
					others++
				}
				members = append(members, fmt.Sprintf("%s (%s, %d partitions)", m.MemberID, m.ClientHost, m.NumAssigned()))
			}
			if gi.State != "Stable" || others > 0 || assigned != servePartitions {
				pending = append(pending, fmt.Sprintf("%s: %s generation %d, members %s", g, gi.State, gi.Epoch, strings.Join(members, ", ")))
			}
		}
		if len(pending) == 0 {
			t.Logf("%s holds every partition of its %d consumer groups %s after the kill", survivor, len(groups), time.Since(killedAt).Round(100*time.Millisecond))
			return
		}
		if time.Since(killedAt) > timeout {
			t.Fatalf("consumer groups %v after the kill:\n%s", timeout, strings.Join(pending, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// overviewView is what checkClusterOverview reads of /api/overview.
type overviewView struct {
	Sources []struct {
		Source           string `json:"source"`
		PulledTotal      int64  `json:"pulled_total"`
		NormalisedTotal  int64  `json:"normalised_total"`
		SyncedTotal      int64  `json:"synced_total"`
		QuarantinedTotal int64  `json:"quarantined_total"`
	} `json:"sources"`
	Instances []struct {
		Name       string           `json:"name"`
		Alive      bool             `json:"alive"`
		Leases     []string         `json:"leases"`
		Partitions map[string][]int `json:"partitions"`
	} `json:"instances"`
}

// checkClusterOverview: both instances' overviews show the cluster's
// figures, not their own: asked of a, then b, then a again, b's counts lie
// between a's two answers, and both list the two instances alive, each
// with its leases and partitions.
func checkClusterOverview(t *testing.T, e *env, a, b *hubProcess) {
	t.Helper()
	secret, tok, err := auth.NewToken(store.RoleNational, "", "e2e cluster")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	get := func(p *hubProcess) overviewView {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/api/overview", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("overview of %s: %v", p.name, err)
		}
		defer resp.Body.Close()
		var v overviewView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("overview of %s: HTTP %d, %v", p.name, resp.StatusCode, err)
		}
		return v
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a1, b1, a2 := get(a), get(b), get(a)
		problem := clusterProblem(a1, b1, a2)
		if problem == "" {
			t.Logf("both instances show the cluster's figures: %+v", b1.Instances)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("overviews of a and b after 20 s: %s\na: %+v\nb: %+v", problem, a2, b1)
		}
		time.Sleep(time.Second)
	}
}

func clusterProblem(a1, b1, a2 overviewView) string {
	if len(b1.Sources) != len(a1.Sources) || len(b1.Sources) == 0 {
		return "sources differ"
	}
	total := int64(0)
	for i, s := range b1.Sources {
		lo, hi := a1.Sources[i], a2.Sources[i]
		for _, c := range [][3]int64{
			{lo.PulledTotal, s.PulledTotal, hi.PulledTotal}, {lo.NormalisedTotal, s.NormalisedTotal, hi.NormalisedTotal},
			{lo.SyncedTotal, s.SyncedTotal, hi.SyncedTotal}, {lo.QuarantinedTotal, s.QuarantinedTotal, hi.QuarantinedTotal},
		} {
			if c[1] < c[0] || c[1] > c[2] {
				return fmt.Sprintf("%s: b's count %d is not between a's %d and %d", s.Source, c[1], c[0], c[2])
			}
		}
		total += s.PulledTotal
	}
	if total == 0 {
		return "nothing pulled yet"
	}
	for _, v := range []overviewView{b1, a2} {
		alive, leased, assigned := map[string]bool{}, 0, 0
		for _, in := range v.Instances {
			if in.Alive {
				alive[in.Name] = true
				leased += len(in.Leases)
				for _, ps := range in.Partitions {
					assigned += len(ps)
				}
			}
		}
		if !alive["a"] || !alive["b"] || leased < len(devenv.Sources) || assigned == 0 {
			return fmt.Sprintf("instances %+v: want a and b alive holding the %d poller leases and partitions", v.Instances, len(devenv.Sources))
		}
	}
	return ""
}
