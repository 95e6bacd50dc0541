package main

import (
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/sim/devenv"
)

// TestDevTick checks the progress report of hub dev: every figure with its
// unit, maps as sorted lists, never Go's map syntax.
func TestDevTick(t *testing.T) {
	c := progress.New()
	c.Add("sonla", progress.Pulled, 1593)
	c.Add("sonla", progress.Quarantined, 9)
	c.Add("sonla", progress.Synced, 785)
	c.Add("thainguyen", progress.Quarantined, 1)
	tick := devTick{elapsed: 12*time.Second + 300*time.Millisecond, sources: []string{"sonla", "thainguyen"}, counters: c,
		sync: devenv.Sync{Dossiers: 1594, Synced: 168}, national: 1502,
		accepted: map[string]int{"CapNhatTienDoHoSoMC": 1, "DongBoHoSoMC": 473}, errors: map[string]int{},
		quarantined: 50, dataDir: "data", level4: "payments 26 pending, 0 paid"}
	got := tick.String()
	want := `[   12s] sonla       1593 versions pulled, 9 versions quarantined, 785 versions synced
         thainguyen  0 versions pulled, 1 version quarantined, 0 versions synced
         dossiers    1594 at the portals, 168 of them synced at their latest version; the national portal holds 1502; 50 records open in quarantine (hub dlq list --data data)
         national    items accepted: DongBoHoSoMC 473, CapNhatTienDoHoSoMC 1; item errors: none
         level 4     payments 26 pending, 0 paid
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	tick.errors = map[string]int{"21": 2, "24": 2, "23": 7}
	tick.quarantined, tick.breakers = 1, "national open (failures 5, rejected 3, retries 2)"
	got = tick.String()
	for _, part := range []string{"item errors: code 23: 7, code 21: 2, code 24: 2\n", "the national portal holds 1502; 1 record open in quarantine (",
		"breakers    national open"} {
		if !strings.Contains(got, part) {
			t.Errorf("no %q in\n%s", part, got)
		}
	}
	if strings.Contains(got, "map[") {
		t.Errorf("Go map syntax in\n%s", got)
	}
	// The store could not be read: no figure rather than a wrong one.
	tick.quarantined = -1
	if got := tick.String(); !strings.Contains(got, "the national portal holds 1502\n") {
		t.Errorf("quarantine unknown:\n%s", got)
	}
}
