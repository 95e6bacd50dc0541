// Package progress counts what the hub did per source, for the dev console
// line and for benchmarks. Counters are in memory; durable truth is the store.
package progress

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
)

// Counter names.
const (
	Pulled      = "pulled"
	Normalised  = "normalised"
	Quarantined = "quarantined"
	Synced      = "synced" // dossier versions the national portal acknowledged
	Skipped     = "skipped"
	Deleted     = "deleted"
)

// Counters holds per-source counts. The zero value is not usable; call New.
type Counters struct {
	mu sync.Mutex
	m  map[string]map[string]int64
}

// New returns empty counters.
func New() *Counters { return &Counters{m: map[string]map[string]int64{}} }

// Add adds n to source's counter name. A nil *Counters ignores it, so
// components can run without one.
func (c *Counters) Add(source, name string, n int64) {
	if c == nil || n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.m[source]
	if s == nil {
		s = map[string]int64{}
		c.m[source] = s
	}
	s[name] += n
}

// Get returns source's counter name.
func (c *Counters) Get(source, name string) int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[source][name]
}

// Snapshot returns a copy of every source's counters.
func (c *Counters) Snapshot() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	if c == nil {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for src, m := range c.m {
		out[src] = maps.Clone(m)
	}
	return out
}

// Figures renders source's counters pulled, quarantined and synced, each
// with its unit: "1593 versions pulled, 9 versions quarantined, 785
// versions synced". Each counts dossier versions (a record as the portal
// serves it is one version of one dossier), from zero when the counters
// were made.
func (c *Counters) Figures(source string) string {
	return versions(c.Get(source, Pulled)) + " pulled, " + versions(c.Get(source, Quarantined)) + " quarantined, " +
		versions(c.Get(source, Synced)) + " synced"
}

func versions(n int64) string {
	if n == 1 {
		return "1 version"
	}
	return fmt.Sprintf("%d versions", n)
}

// Line renders one progress line: per source, its Figures.
func (c *Counters) Line(sources []string) string {
	if len(sources) == 0 {
		c.mu.Lock()
		for s := range c.m {
			sources = append(sources, s)
		}
		c.mu.Unlock()
		sort.Strings(sources)
	}
	parts := make([]string, 0, len(sources))
	for _, s := range sources {
		parts = append(parts, s+": "+c.Figures(s))
	}
	return strings.Join(parts, " | ")
}
