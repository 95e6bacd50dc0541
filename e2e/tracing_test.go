package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/tracing/tracingtest"
	"github.com/lienthong/lienthong/sim/devenv"
)

// TestTracingTwoInstances follows dossiers through two `hub serve`
// processes exporting their spans to one OTLP/HTTP receiver. Instance a
// starts first and takes every poller lease, so every pull is a's; b then
// joins the consumer groups and handles the partitions they give it. For
// every dossier there must be one trace that holds its pull span, the
// normalise span (the pull's child) and the national span (the normalise
// span's child), every span naming its instance and every parent exported,
// and some of those traces must cross from one instance to the other. The
// spans are flushed when the hubs stop (SIGTERM).
func TestTracingTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	n := min(perProvince(t), 5)
	recv := tracingtest.NewReceiver()
	defer recv.Close()
	bin := buildHub(t)
	e := newEnv(t, devenv.Options{})
	traced := fmt.Sprintf("tracing:\n  otlp_endpoint: %s\n  sample_ratio: 1.0\n  service_name: lienthong-hub\n", recv.URL())

	a := e.startServe(t, bin, "a", traced)
	procs := []*hubProcess{a}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s's log:\n%s", p.name, p.tail(30))
			}
		}
	})
	waitFor(t, "a to hold every poller lease", time.Minute, func() bool {
		held := 0
		for name, h := range leaseHolders(t, e.cfg.Store.PostgresDSN) {
			if h == "a" && strings.HasPrefix(name, "poller:") {
				held++
			}
		}
		return held == len(devenv.Sources)
	})
	b := e.startServe(t, bin, "b", traced)
	procs = append(procs, b)
	waitGroupsShared(t, e, []string{"a", "b"}, time.Minute)

	for _, src := range devenv.Sources {
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": n, "seed": 16, "steps": 3})
	}
	e.waitSynced(t, 90*time.Second)
	for _, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("%s after SIGTERM: %v", p.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop within 30 s of SIGTERM", p.name)
		}
	}

	spans := recv.Spans()
	byID := map[string]tracingtest.Span{}
	children := map[string][]tracingtest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
		children[s.ParentID] = append(children[s.ParentID], s)
	}
	instances := map[string]int{}
	for _, s := range spans {
		instances[s.Instance()]++
		if inst := s.Instance(); (inst != "a" && inst != "b") || s.Resource["service.name"] != "lienthong-hub" {
			t.Errorf("span %s: service %q instance %q", s.Name, s.Resource["service.name"], inst)
		}
		if s.ParentID == "" {
			continue
		}
		if p, ok := byID[s.ParentID]; !ok {
			t.Errorf("span %s (%s, %s): parent %s not exported", s.Name, s.Instance(), s.Attrs["lienthong.dossier"], s.ParentID)
		} else if p.TraceID != s.TraceID {
			t.Errorf("span %s: parent %s in trace %s, itself in %s", s.Name, p.Name, p.TraceID, s.TraceID)
		}
	}

	// Per dossier, the traces that hold its whole way: pull → normalise →
	// national.
	type chain struct{ pull, norm, nat tracingtest.Span }
	chains := map[string][]chain{}
	for _, norm := range spans {
		src := strings.TrimPrefix(norm.Name, "normalise-")
		if src == norm.Name || norm.Attrs["lienthong.outcome"] != "normalised" {
			continue
		}
		pull, ok := byID[norm.ParentID]
		if !ok || pull.Name != "pull "+src {
			t.Errorf("normalise span of %s: parent %q; want the pull of %s", norm.Attrs["lienthong.dossier"], pull.Name, src)
			continue
		}
		for _, nat := range children[norm.SpanID] {
			if nat.Name == "national" && nat.Attrs["lienthong.dossier"] == norm.Attrs["lienthong.dossier"] {
				chains[norm.Attrs["lienthong.dossier"]] = append(chains[norm.Attrs["lienthong.dossier"]], chain{pull, norm, nat})
			}
		}
	}
	crossing, dossiers := 0, 0
	var example string
	for _, src := range devenv.Sources {
		for _, d := range listSource(t, e.sims.URLs[src]) {
			dossiers++
			cs := chains[d.ID]
			if len(cs) == 0 {
				t.Errorf("%s: dossier %s: no trace holds its pull, normalise and national spans", src, d.ID)
				continue
			}
			for _, c := range cs {
				if c.pull.Instance() != "a" {
					t.Errorf("%s: dossier %s pulled by %s; a holds every poller lease", src, d.ID, c.pull.Instance())
				}
				if c.pull.Instance() != c.norm.Instance() || c.norm.Instance() != c.nat.Instance() {
					crossing++
					example = fmt.Sprintf("dossier %s, trace %s: pull on %s, normalise on %s, national on %s (answer %s)",
						d.ID, c.pull.TraceID, c.pull.Instance(), c.norm.Instance(), c.nat.Instance(), c.nat.Attrs["national.code"])
				}
				if c.nat.Attrs["national.code"] == "" && c.nat.Attrs["national.steps_acknowledged"] == "" && c.nat.Attrs["lienthong.outcome"] == "" {
					t.Errorf("%s: dossier %s: national span says nothing of the portal's answer: %v", src, d.ID, c.nat.Attrs)
				}
			}
		}
	}
	if crossing == 0 {
		t.Errorf("no dossier's trace crosses from one instance to the other (spans per instance %v)", instances)
	} else {
		t.Logf("%d of the traces of %d dossiers cross instances, e.g. %s", crossing, dossiers, example)
	}

	// The portal calls link to the dossiers they carried.
	linked := 0
	for _, s := range spans {
		if s.Name != "national DongBoHoSoMC" {
			continue
		}
		for _, l := range s.Links {
			if m, ok := byID[l.SpanID]; ok && m.Name == "national" {
				linked++
			}
		}
	}
	if linked == 0 {
		t.Error("no DongBoHoSoMC span links to a dossier's national span")
	}

	// a's "pulled" lines name the traces of its pulls.
	pulls := map[string]bool{}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "pull ") {
			pulls[s.TraceID] = true
		}
	}
	if got := tracedLines(t, a.log, "pulled"); len(got) == 0 {
		t.Error("a logged no pulled line with a trace_id")
	} else {
		for _, id := range got {
			if !pulls[id] {
				t.Errorf("a's pulled line names trace %s, which has no pull span", id)
			}
		}
	}
	for _, p := range procs {
		checkNoPersonalData(t, p.log)
	}
	t.Logf("%d spans (per instance %v), %d dossiers", len(spans), instances, dossiers)
	t.Log(a.tail(12), "\n", b.tail(6))
}

// waitGroupsShared waits until every partition-consuming group of the hubs
// is stable with a member of each instance holding partitions.
func waitGroupsShared(t *testing.T, e *env, instances []string, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%v to share the consumer groups", instances), timeout, func() bool {
		for _, g := range hubGroups(e) {
			gi := e.broker.Cluster().GroupInfo(g)
			if gi == nil || gi.State != "Stable" {
				return false
			}
			held := map[string]int{}
			for _, m := range gi.Members {
				held[m.ClientID] += m.NumAssigned()
			}
			for _, inst := range instances {
				if held["lienthong-"+inst] == 0 {
					return false
				}
			}
		}
		return true
	})
}

// tracedLines returns the trace_id of every line of the log at path whose
// msg is msg.
func tracedLines(t *testing.T, path, msg string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			TraceID string `json:"trace_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg && line.TraceID != "" {
			out = append(out, line.TraceID)
		}
	}
	return out
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
