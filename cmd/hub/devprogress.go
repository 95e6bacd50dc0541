package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/sim/devenv"
)

// devTick is what one progress report of `hub dev` shows.
type devTick struct {
	elapsed  time.Duration
	sources  []string
	counters *progress.Counters // versions, counted from this start
	sync     devenv.Sync        // dossiers, from the simulators and the ledger
	// The national simulator: dossiers it holds, items it accepted by
	// service and refused by answer code.
	national         int
	accepted, errors map[string]int
	quarantined      int // open quarantine entries in the store; < 0 unknown
	dataDir          string
	level4, breakers string
}

// String renders the report, one line a subject, each figure named with
// its unit.
func (t devTick) String() string {
	var b strings.Builder
	width := len("national")
	for _, s := range t.sources {
		width = max(width, len(s))
	}
	lead := fmt.Sprintf("[%6s] ", t.elapsed.Round(time.Second))
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%s%-*s  %s\n", lead, width, label, fmt.Sprintf(format, args...))
		lead = strings.Repeat(" ", len(lead))
	}
	for _, s := range t.sources {
		line(s, "%s", t.counters.Figures(s))
	}
	quarantine := ""
	if t.quarantined >= 0 {
		quarantine = fmt.Sprintf("; %s open in quarantine (hub dlq list --data %s)", records(t.quarantined), t.dataDir)
	}
	line("dossiers", "%d at the portals, %d of them synced at their latest version; the national portal holds %d%s",
		t.sync.Dossiers, t.sync.Synced, t.national, quarantine)
	line("national", "items accepted: %s; item errors: %s",
		tally(t.accepted, func(service string, n int) string { return fmt.Sprintf("%s %d", service, n) }),
		tally(t.errors, func(code string, n int) string { return fmt.Sprintf("code %s: %d", code, n) }))
	line("level 4", "%s", t.level4)
	if t.breakers != "" {
		line("breakers", "%s", t.breakers)
	}
	return b.String()
}

// tally renders counts by key, largest first (ties by key), each as part
// makes it, joined by commas: "DongBoHoSoMC 473, CapNhatTienDoHoSoMC 1";
// "none" when there are none.
func tally(counts map[string]int, part func(key string, n int) string) string {
	keys := byCount(counts)
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = part(k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// byCount returns the keys of counts not zero, largest count first (ties
// by key).
func byCount(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k, n := range counts {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b)) })
	return keys
}

// records is "1 record", "2 records".
func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return fmt.Sprintf("%d records", n)
}
