package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// dossierCount is where a set of generated dossiers are:
// generated = synced + quarantined + in flight + deleted.
type dossierCount struct {
	generated int
	// synced: the ledger says the national portal holds the dossier's
	// last version, and every one of its steps.
	synced int
	// quarantined: not synced, and its last version is in quarantine (open
	// entries), by reason.
	quarantined int
	reasons     map[string]int
	// inFlight: anything else, stepsDue of them held at their last version
	// with steps the portal has yet to acknowledge (a version is marked
	// held before its steps are sent).
	inFlight, stepsDue int
	deleted            int // deleted at the source: nothing to sync
}

// dossierAccount is where every dossier a bench generated is, per source
// and in total.
type dossierAccount struct {
	sources  []string
	bySource map[string]*dossierCount
	total    dossierCount
}

// accountDossiers sorts dossiers out: held maps a dossier to the version
// the ledger says the national portal holds (HeldVersions), stepsDue names
// those held at their last version with steps not yet acknowledged, and
// open are the open quarantine entries.
func accountDossiers(dossiers []devenv.Dossier, held map[string]int64, stepsDue map[string]bool, open []store.QuarantineEntry) dossierAccount {
	latest := map[string]store.QuarantineEntry{} // by source and dossier: the entry of the highest version
	for _, e := range open {
		k := e.Source + "\x00" + e.DossierID
		if l, ok := latest[k]; !ok || e.Version > l.Version || (e.Version == l.Version && e.ID > l.ID) {
			latest[k] = e
		}
	}
	a := dossierAccount{bySource: map[string]*dossierCount{}, total: dossierCount{reasons: map[string]int{}}}
	for _, d := range dossiers {
		c := a.bySource[d.Source]
		if c == nil {
			c = &dossierCount{reasons: map[string]int{}}
			a.bySource[d.Source] = c
			a.sources = append(a.sources, d.Source)
		}
		for _, c := range []*dossierCount{c, &a.total} {
			c.generated++
			q, quarantined := latest[d.Source+"\x00"+d.ID]
			switch {
			case d.Deleted:
				c.deleted++
			case held[d.ID] >= d.Final && stepsDue[d.ID]:
				c.inFlight++
				c.stepsDue++
			case held[d.ID] >= d.Final:
				c.synced++
			case quarantined && q.Version >= d.Final:
				c.quarantined++
				c.reasons[quarantineReason(q)]++
			default:
				c.inFlight++
			}
		}
	}
	return a
}

// quarantineReason is an entry's reason without what names its dossier
// ("sonla: dossier 000.00.14.H52-…: "), so that entries group by it.
func quarantineReason(e store.QuarantineEntry) string {
	r := strings.TrimPrefix(e.Reason, e.Source+": ")
	r = strings.TrimPrefix(r, "dossier "+e.DossierID+": ")
	if e.DossierID != "" {
		r = strings.ReplaceAll(r, e.DossierID, "<dossier>")
	}
	return r
}

// String renders the account: the total, then a line per source followed
// by the reasons its dossiers are in quarantine, most frequent first.
func (a dossierAccount) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d dossiers generated = %s\n", a.total.generated, a.total.terms())
	width := 0
	for _, s := range a.sources {
		width = max(width, len(s))
	}
	for _, s := range a.sources {
		c := a.bySource[s]
		fmt.Fprintf(&b, "  %-*s %5d = %s\n", width, s, c.generated, c.terms())
		for _, r := range byCount(c.reasons) {
			fmt.Fprintf(&b, "  %*s %5d quarantined: %s\n", width, "", c.reasons[r], r)
		}
	}
	if a.total.stepsDue > 0 {
		fmt.Fprintf(&b, "  in flight: %d held by the national portal at their last version, with steps still to send\n", a.total.stepsDue)
	}
	return b.String()
}

// terms is "990 synced + 6 quarantined + 4 in flight + 0 deleted at the
// source".
func (c dossierCount) terms() string {
	return fmt.Sprintf("%d synced + %d quarantined + %d in flight + %d deleted at the source", c.synced, c.quarantined, c.inFlight, c.deleted)
}

// account reads from the simulators and the store where every dossier the
// bench generated is (accountDossiers).
func (b *bench) account(ctx context.Context) (dossierAccount, error) {
	const chunk = 500
	dossiers, _ := b.sims.Dossiers()
	held := map[string]int64{}
	for i := 0; i < len(dossiers); i += chunk {
		ids := make([]string, 0, chunk)
		for _, d := range dossiers[i:min(i+chunk, len(dossiers))] {
			ids = append(ids, d.ID)
		}
		h, err := b.store.HeldVersions(ctx, ids)
		if err != nil {
			return dossierAccount{}, fmt.Errorf("read ledger: %w", err)
		}
		for id, v := range h {
			held[id] = v
		}
	}
	// Those held at their last version: are all their steps there too?
	var last []string
	for _, d := range dossiers {
		if !d.Deleted && held[d.ID] >= d.Final {
			last = append(last, d.ID)
		}
	}
	due := map[string]bool{}
	for i := 0; i < len(last); i += chunk {
		entries, err := b.store.GetLedger(ctx, last[i:min(i+chunk, len(last))])
		if err != nil {
			return dossierAccount{}, fmt.Errorf("read ledger: %w", err)
		}
		for id, e := range entries {
			if stepsDue(e) {
				due[id] = true
			}
		}
	}
	var open []store.QuarantineEntry
	if n, err := b.store.CountQuarantine(ctx, ""); err != nil {
		return dossierAccount{}, err
	} else if n > 0 {
		if open, err = b.store.ListQuarantine(ctx, store.QuarantineFilter{State: store.QuarantineOpen}); err != nil {
			return dossierAccount{}, err
		}
	}
	return accountDossiers(dossiers, held, due, open), nil
}

// stepsDue reports whether the national portal has yet to acknowledge
// steps of the ledger entry's canonical dossier, as the national sink
// plans them.
func stepsDue(e store.LedgerEntry) bool {
	if len(e.Canonical) == 0 {
		return false
	}
	var d schemas.Dossier
	if err := json.Unmarshal(e.Canonical, &d); err != nil {
		return false
	}
	keys := e.NationalStepKeys
	if len(keys) == 0 && e.NationalSteps > 0 {
		keys = natmap.LegacyStepKeys(&d, e.NationalSteps)
	}
	return len(natmap.DueSteps(&d, keys)) > 0
}
