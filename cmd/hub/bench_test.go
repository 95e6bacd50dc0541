package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/lienthong/lienthong/store/pgtest"
)

// resultLine is the one line `hub bench` ends with, in exactly this form.
var resultLine = regexp.MustCompile(`(?m)^RESULT mode=(steady|backlog) versions=(\d+) versions_per_s=(\d+) items_per_call=([\d.]+) cpu_us_per_version=(\d+) peak_rss_mb=(\d+) store=(sqlite|postgres)` +
	` dossiers=(\d+) synced=(\d+) quarantined=(\d+) in_flight=(\d+) deleted=(\d+)$`)

// TestBench runs both modes on a small load (the figures are not checked:
// speed lives in the benchmark, not in a test) and checks that each syncs
// everything and ends with its RESULT line, the hub's own CPU and memory
// measured, and every dossier generated accounted for; with records served
// broken, that it ends with their dossiers in quarantine.
//
// A second run on the same database works in a schema of its own: over the
// first run's tables it would start from their cursors and stall.
func TestBench(t *testing.T) {
	bin := buildHub(t)
	pg := pgtest.Schema(t)
	for _, tc := range []struct {
		name        string
		args        []string
		mode        string
		min         int
		dossiers    int
		quarantined bool
	}{
		{"steady sqlite", []string{"bench", "-count", "30", "-steps", "3"}, "steady", 90, 150, false},
		{"steady malformed", []string{"bench", "-count", "20", "-steps", "2", "-malformed", "0.2"}, "steady", 50, 100, true},
		{"backlog postgres", []string{"bench", "-mode", "backlog", "-changes", "600", "-steps", "2", "-postgres", pg}, "backlog", 600, 0, false},
		{"backlog postgres, the same database again", []string{"bench", "-mode", "backlog", "-changes", "300", "-steps", "2", "-postgres", pg}, "backlog", 300, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("hub %v: %v\n%s", tc.args, err, out)
			}
			m := resultLine.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no RESULT line in:\n%s", out)
			}
			versions, _ := strconv.Atoi(string(m[2]))
			cpu, _ := strconv.Atoi(string(m[5]))
			rss, _ := strconv.Atoi(string(m[6]))
			if string(m[1]) != tc.mode || versions < tc.min || cpu <= 0 || rss <= 0 {
				t.Fatalf("RESULT %s: want mode %s, at least %d versions, the hub's CPU and memory", m[0], tc.mode, tc.min)
			}
			var n [5]int // dossiers, synced, quarantined, in flight, deleted
			for i := range n {
				n[i], _ = strconv.Atoi(string(m[8+i]))
			}
			if n[0] == 0 || n[0] != n[1]+n[2]+n[3]+n[4] || (tc.dossiers > 0 && n[0] != tc.dossiers) || n[1] == 0 ||
				(n[2] > 0) != tc.quarantined {
				t.Fatalf("RESULT %s: want every dossier generated (%d) synced, quarantined (%v), in flight or deleted\n%s",
					m[0], tc.dossiers, tc.quarantined, out)
			}
			t.Log(string(m[0]))
		})
	}
}
