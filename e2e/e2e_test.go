// Package e2e runs the hub end to end over real TCP: the kfake broker, a
// PostgreSQL store and the four simulators over HTTP.
package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

// perProvince is the number of dossiers generated at each portal (600 at
// each of devenv's five: 3,000 in all); LIENTHONG_E2E_COUNT overrides it for
// quick local runs.
func perProvince(t *testing.T) int {
	if v := os.Getenv("LIENTHONG_E2E_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("LIENTHONG_E2E_COUNT=%q: want a positive integer", v)
		}
		return n
	}
	return 600
}

func TestEndToEnd(t *testing.T) {
	runEndToEnd(t, 0)
}

func TestEndToEndMalformed(t *testing.T) {
	runEndToEnd(t, 0.05)
}

func runEndToEnd(t *testing.T, malformedRate float64) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	n := perProvince(t)
	e := newEnv(t, devenv.Options{ThaiNguyenPrefix: "*"})
	for _, src := range devenv.Sources {
		if malformedRate > 0 {
			postJSON(t, e.sims.URLs[src]+"/_sim/faults", map[string]any{"malformed_rate": malformedRate})
		}
		// Lifecycles advance in the background while the hub syncs, so the
		// hub meets dossiers that change under it.
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": n, "seed": 20261121, "steps": 6, "interval_ms": 150})
	}
	start := time.Now()
	stop := e.runHub()
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	e.waitSynced(t, 15*time.Minute)
	stop()
	stopped = true
	t.Logf("%d dossiers per province synced in %s", n, time.Since(start).Round(time.Millisecond))

	var stats struct {
		ItemErrors    map[string]int `json:"item_errors"`
		ItemsAccepted map[string]int `json:"items_accepted"`
		Requests      map[string]int `json:"requests"`
	}
	getJSON(t, e.sims.URLs[devenv.NameNational]+"/_sim/stats", &stats)
	t.Logf("national: requests %v, items accepted %v, item errors %v", stats.Requests, stats.ItemsAccepted, stats.ItemErrors)
	if stats.ItemErrors["22"] != 0 || stats.ItemErrors["23"] != 0 {
		t.Errorf("national portal answered 22 ×%d and 23 ×%d; want none", stats.ItemErrors["22"], stats.ItemErrors["23"])
	}

	quarantined := e.quarantinedVersions(t)
	var people []person
	for _, src := range devenv.Sources {
		people = append(people, e.verifySource(t, src, quarantined, malformedRate > 0)...)
	}
	e.checkLogHasNoPersonalData(t)
	e.checkDurableState(t, people)
}

// person is the personal data of one synced dossier, as the national
// portal received it.
type person struct {
	source, dossier        string
	idNumber, phone, email string
}

// checkDurableState checks what operators get from the store: each
// dossier's whole timeline in order, lookup by CCCD, and no personal data in
// clear anywhere in the database.
func (e *env) checkDurableState(t *testing.T, people []person) {
	ctx := context.Background()
	checked := map[string]bool{}
	for _, p := range people {
		if checked[p.source] || p.idNumber == "" {
			continue
		}
		checked[p.source] = true
		tl, err := e.store.Timeline(ctx, p.dossier)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i, ev := range tl {
			kinds = append(kinds, ev.Kind)
			if i > 0 && ev.At.Before(tl[i-1].At) {
				t.Errorf("%s: timeline of %s out of order at %d: %v", p.source, p.dossier, i, kinds)
			}
		}
		want := []string{"pulled", "normalised", "national.create"}
		if !isSubsequenceStr(want, kinds) {
			t.Errorf("%s: timeline of %s is %v; want pulled, normalised, national.create in that order", p.source, p.dossier, kinds)
		}
		ids, err := e.store.FindByIdentity(ctx, p.idNumber)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ids, p.dossier) {
			t.Errorf("%s: lookup by the applicant's identity number does not find %s (found %v)", p.source, p.dossier, ids)
		}
		t.Logf("%s: dossier %s: timeline %v; found by identity number", p.source, p.dossier, kinds)
	}
	dump := pgtest.Dump(t, e.cfg.Store.PostgresDSN)
	var needles []string
	for _, p := range people {
		for _, v := range []string{p.idNumber, p.phone, p.email} {
			if len(v) >= 9 {
				needles = append(needles, v)
			}
		}
	}
	if len(needles) == 0 {
		t.Fatal("no personal data to look for: the dump check would prove nothing")
	}
	if found := storetest.InDump(dump, needles...); len(found) > 0 {
		t.Errorf("%d of %d identity numbers, phones and emails appear in clear in the database dump, e.g. a value of length %d", len(found), len(needles), len(found[0]))
	}
	t.Logf("database dump (%d bytes) holds none of %d identity numbers, phones and emails", len(dump), len(needles))
}

func isSubsequenceStr(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// Patterns of personal data that must never reach the logs.
var (
	cccdRE  = regexp.MustCompile(`\b0\d{11}\b`)
	phoneRE = regexp.MustCompile(`(\+84 ?|\b0)[35789][\d .]{8,11}\b`)
	emailRE = regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.]+`)
)

func (e *env) checkLogHasNoPersonalData(t *testing.T) { checkNoPersonalData(t, e.logPath) }

// checkNoPersonalData scans a hub's whole log for CCCD, phone numbers and
// email addresses.
func checkNoPersonalData(t *testing.T, logPath string) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatal("the hub logged nothing: the check below would prove nothing")
	}
	for _, re := range []*regexp.Regexp{cccdRE, phoneRE, emailRE} {
		if m := re.Find(b); m != nil {
			t.Errorf("hub log %s contains personal data matching %s: %q", logPath, re, m)
		}
	}
	t.Logf("hub log %s: %d bytes, no CCCD, phone or email", logPath, len(b))
}

type versionKey struct {
	source, id string
	version    int64
}

func (e *env) quarantinedVersions(t *testing.T) map[versionKey]store.QuarantineEntry {
	t.Helper()
	entries, err := e.store.ListQuarantine(context.Background(), store.QuarantineFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[versionKey]store.QuarantineEntry{}
	for _, q := range entries {
		out[versionKey{q.Source, q.DossierID, q.Version}] = q
	}
	return out
}

// waitSynced waits until, for every live dossier at every portal, the
// national portal has acknowledged its final version or that version is in
// quarantine.
func (e *env) waitSynced(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var behind []string
	// The steps the final version of a dossier carries, by dossier and
	// version (-1: its record does not map): a version is held before its
	// steps call, so synced also means that many steps acknowledged.
	stepsWant := map[versionKey]int{}
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		behind = behind[:0]
		pending := 0
		for _, src := range devenv.Sources {
			var st struct {
				Pending int `json:"pending_changes"`
			}
			getJSON(t, e.sims.URLs[src]+"/_sim/stats", &st)
			pending += st.Pending
		}
		if pending > 0 {
			continue
		}
		quarantined := e.quarantinedVersions(t)
		for _, src := range devenv.Sources {
			list := listSource(t, e.sims.URLs[src])
			ids := make([]string, 0, len(list))
			for _, d := range list {
				ids = append(ids, d.ID)
			}
			ledger, err := e.store.GetLedger(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range list {
				l := ledger[d.ID]
				if d.Deleted {
					if !l.Deleted {
						behind = append(behind, src+"/"+d.ID+" (deletion)")
					}
					continue
				}
				v := d.Version
				if kindOf(src) == schemas.KindXMLFeed {
					v = hubVersion(src, history(t, e.sims.URLs[src], d.ID), d.Version)
				}
				if _, q := quarantined[versionKey{src, d.ID, v}]; q {
					continue
				}
				if l.NationalState != store.NationalHeld || l.NationalVersion < v {
					behind = append(behind, fmt.Sprintf("%s/%s v%d (national has v%d, %q)", src, d.ID, v, l.NationalVersion, l.NationalState))
					continue
				}
				k := versionKey{src, d.ID, v}
				want, ok := stepsWant[k]
				if !ok {
					want = -1
					if _, steps, err := expectedHoSo(t, src, e.sims.URLs[src], d); err == nil {
						want = len(steps)
					}
					stepsWant[k] = want
				}
				if l.NationalSteps < want {
					behind = append(behind, fmt.Sprintf("%s/%s v%d (%d of %d steps acknowledged)", src, d.ID, v, l.NationalSteps, want))
				}
			}
		}
		if len(behind) == 0 {
			return
		}
		t.Logf("waiting: %d dossiers behind, e.g. %s; %s", len(behind), behind[0], e.counters.Line(devenv.Sources))
	}
	t.Fatalf("not synced after %s: %d dossiers behind: %s", limit, len(behind), shorten(behind, 10))
}

// verifySource checks every dossier of one portal against the national
// simulator, field by field.
func (e *env) verifySource(t *testing.T, src string, quarantined map[versionKey]store.QuarantineEntry, expectMalformed bool) []person {
	t.Helper()
	base := e.sims.URLs[src]
	national := e.sims.URLs[devenv.NameNational]
	list := listSource(t, base)

	hists := map[string][]sourceVersion{}
	for _, d := range list {
		hists[d.ID] = history(t, base, d.ID)
	}
	var served []malformed
	getJSON(t, base+"/_sim/malformed", &served)
	corrupt := map[versionKey]malformed{}
	for _, m := range served {
		corrupt[versionKey{src, m.ID, hubVersion(src, hists[m.ID], m.Version)}] = m
	}
	if expectMalformed && len(served) == 0 {
		t.Errorf("%s: malformed_rate set but the simulator served no malformed record", src)
	}

	// Every quarantined record must be one the simulator really broke, with
	// a reason naming source, MaHoSo and field.
	for k, q := range quarantined {
		if k.source != src {
			continue
		}
		if _, ok := corrupt[k]; !ok {
			t.Errorf("%s: dossier %s v%d quarantined but was served intact: %s", src, k.id, k.version, q.Reason)
		}
		if q.Field == "" || !strings.Contains(q.Reason, src) || !strings.Contains(q.Reason, k.id) || !strings.Contains(q.Reason, q.Field) {
			t.Errorf("%s: quarantine reason must name source, MaHoSo and field: field %q, reason %q", src, q.Field, q.Reason)
		}
		if len(q.Payload) == 0 {
			t.Errorf("%s: dossier %s v%d quarantined without its payload", src, k.id, k.version)
		}
	}

	var (
		synced, checkedQuarantine, deleted int
		people                             []person
	)
	for _, d := range list {
		if d.Deleted {
			deleted++
			continue
		}
		key := versionKey{src, d.ID, hubVersion(src, hists[d.ID], d.Version)}
		if m, bad := corrupt[key]; bad {
			if _, ok := quarantined[key]; !ok {
				t.Errorf("%s: dossier %s v%d was served malformed (%s) but is not quarantined", src, d.ID, d.Version, m.Field)
			} else {
				checkedQuarantine++
			}
			continue
		}
		var got nationalDossier
		getJSON(t, national+"/_sim/dossiers/"+url.PathEscape(d.ID), &got)
		want, wantSteps, err := expectedHoSo(t, src, base, d)
		if err != nil {
			t.Errorf("%s: dossier %s: the source's final record does not map: %v", src, d.ID, err)
			continue
		}
		if diffs := diffFields(want, got.HoSo); len(diffs) > 0 {
			t.Errorf("%s: dossier %s v%d: national holds a different state: %s", src, d.ID, d.Version, shorten(diffs, 5))
			continue
		}
		str := func(k string) string { v, _ := want[k].(string); return v }
		people = append(people, person{source: src, dossier: d.ID, idNumber: str("SoGiayTo"), phone: str("SoDienThoai"), email: str("Email")})
		// Steps: every one exactly once, in source order.
		var gotSteps []map[string]any
		var hosoStatuses []int
		for _, h := range got.History {
			switch h.Service {
			case "CapNhatTienDoHoSoMC":
				gotSteps = append(gotSteps, h.Item)
			case "DongBoHoSoMC":
				hosoStatuses = append(hosoStatuses, statusOf(h.Item["TrangThaiHoSo"]))
			}
		}
		if e.stepRepeats != nil {
			// After a crash between a step call and its ledger write the
			// steps of that call are sent again (the portal cannot be asked
			// which it has): a step equal to one received before is such a
			// repeat (steps are known by their content), tolerated and
			// counted.
			var kept []map[string]any
		steps:
			for _, s := range gotSteps {
				for _, k := range kept {
					if len(diffFields(k, s)) == 0 {
						*e.stepRepeats++
						continue steps
					}
				}
				kept = append(kept, s)
			}
			gotSteps = kept
		}
		if len(gotSteps) != len(wantSteps) {
			t.Errorf("%s: dossier %s: national received %d steps, source has %d; its trail: %s", src, d.ID, len(gotSteps), len(wantSteps), e.trail(t, d.ID))
		} else {
			for i := range wantSteps {
				if diffs := diffFields(wantSteps[i], gotSteps[i]); len(diffs) > 0 {
					t.Errorf("%s: dossier %s: step %d differs: %s", src, d.ID, i+1, shorten(diffs, 3))
					break
				}
			}
		}
		srcStatuses := make([]int, len(hists[d.ID]))
		for i, h := range hists[d.ID] {
			srcStatuses[i] = h.Status
		}
		if !isSubsequence(hosoStatuses, srcStatuses) {
			t.Errorf("%s: dossier %s: statuses received %v are not in source order %v", src, d.ID, hosoStatuses, srcStatuses)
			if os.Getenv("E2E_DEBUG") != "" && e.cfg.Store.PostgresDSN != "" {
				debugEvents(t, e.cfg.Store.PostgresDSN, d.ID, hists[d.ID], got.History)
			}
		}
		synced++
	}
	t.Logf("%s: %d dossiers equal at the national portal, %d final versions quarantined, %d deleted at the source, %d malformed records served",
		src, synced, checkedQuarantine, deleted, len(served))
	if synced == 0 {
		t.Errorf("%s: no dossier synced", src)
	}
	return people
}

// The log check is only as good as its patterns: they must catch the forms
// the portals really send.
func TestPersonalDataPatterns(t *testing.T) {
	for _, s := range []string{`"id":"014095001234"`, `phone +84 912 345 678`, `0983.456.789`, `0904123456`, `lan@example.vn`} {
		if cccdRE.MatchString(s) || phoneRE.MatchString(s) || emailRE.MatchString(s) {
			continue
		}
		t.Errorf("no pattern catches %q", s)
	}
	for _, s := range []string{`"dossier":"000.00.14.H52-261121-0001"`, `"version":1234`, `"time":"2026-11-21T08:15:02Z"`} {
		if cccdRE.MatchString(s) || phoneRE.MatchString(s) || emailRE.MatchString(s) {
			t.Errorf("a pattern flags harmless %q", s)
		}
	}
}

// trail is a dossier's provenance, one event a line, to explain a failure.
func (e *env) trail(t *testing.T, id string) string {
	evs, err := e.store.Timeline(context.Background(), id)
	if err != nil {
		return "(timeline: " + err.Error() + ")"
	}
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n\t%s v%d %s %q %s", ev.At.Format("15:04:05.000"), ev.Version, ev.Kind, ev.Detail, ev.Instance)
	}
	return b.String()
}
