package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// TestAccountDossiers sorts a small fixture out: every dossier generated
// is synced, quarantined (by reason), in flight or deleted at the source.
func TestAccountDossiers(t *testing.T) {
	dossiers := []devenv.Dossier{
		{Source: "sonla", ID: "S1", Final: 3}, // synced
		{Source: "sonla", ID: "S2", Final: 3}, // held at 3, steps due: in flight
		{Source: "sonla", ID: "S3", Final: 4}, // held at 3, 4 not yet: in flight
		{Source: "sonla", ID: "S4", Final: 2}, // 2 quarantined: quarantined
		{Source: "sonla", ID: "S5", Final: 2}, // 2 quarantined too, same reason
		{Source: "sonla", ID: "S6", Final: 5}, // 2 quarantined, 5 to come: in flight
		{Source: "sonla", ID: "S7", Final: 1, Deleted: true},
		{Source: "hatinh", ID: "H1", Final: 1040}, // synced beyond: synced
		{Source: "hatinh", ID: "H2", Final: 1041}, // refused by the portal: quarantined
		{Source: "hatinh", ID: "H3", Final: 1042}, // nothing known: in flight
	}
	held := map[string]int64{"S1": 3, "S2": 3, "S3": 3, "S6": 1, "H1": 1050}
	due := map[string]bool{"S2": true}
	reason := func(src, id, rest string) string { return src + ": dossier " + id + ": " + rest }
	open := []store.QuarantineEntry{
		{ID: 1, Source: "sonla", DossierID: "S4", Version: 1, Reason: reason("sonla", "S4", "field trangThai: unknown value")},
		{ID: 2, Source: "sonla", DossierID: "S4", Version: 2, Reason: reason("sonla", "S4", "field ngayNop: not a date-time (want RFC 3339)")},
		{ID: 3, Source: "sonla", DossierID: "S5", Version: 2, Reason: reason("sonla", "S5", "field ngayNop: not a date-time (want RFC 3339)")},
		{ID: 4, Source: "sonla", DossierID: "S6", Version: 2, Reason: reason("sonla", "S6", "field ngayNop: not a date-time (want RFC 3339)")},
		{ID: 5, Source: "hatinh", DossierID: "H2", Version: 1041, Reason: reason("hatinh", "H2", "national portal answered 24 to national.create: Trường NgayNop không hợp lệ")},
		{ID: 6, Source: "hatinh", DossierID: "S1", Version: 9, Reason: "another source's dossier of the same ID"},
	}
	a := accountDossiers(dossiers, held, due, open)
	want := dossierCount{generated: 10, synced: 2, quarantined: 3, inFlight: 4, stepsDue: 1, deleted: 1}
	if got := a.total; got.generated != want.generated || got.synced != want.synced || got.quarantined != want.quarantined ||
		got.inFlight != want.inFlight || got.stepsDue != want.stepsDue || got.deleted != want.deleted {
		t.Errorf("total %+v, want %+v", got, want)
	}
	if got := a.bySource["sonla"].reasons; len(got) != 1 || got["field ngayNop: not a date-time (want RFC 3339)"] != 2 {
		t.Errorf("sonla's reasons: %v", got)
	}
	text := a.String()
	wantText := `10 dossiers generated = 2 synced + 3 quarantined + 4 in flight + 1 deleted at the source
  sonla      7 = 1 synced + 2 quarantined + 3 in flight + 1 deleted at the source
             2 quarantined: field ngayNop: not a date-time (want RFC 3339)
  hatinh     3 = 1 synced + 1 quarantined + 1 in flight + 0 deleted at the source
             1 quarantined: national portal answered 24 to national.create: Trường NgayNop không hợp lệ
  in flight: 1 held by the national portal at their last version, with steps still to send
`
	if text != wantText {
		t.Errorf("got\n%s\nwant\n%s", text, wantText)
	}
	if strings.Contains(text, "S4") || strings.Contains(text, "map[") {
		t.Errorf("a dossier ID or Go map syntax in\n%s", text)
	}
}

// TestStepsDue checks that a dossier held with a step the portal has not
// acknowledged is seen as such.
func TestStepsDue(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, schemas.Vietnam)
	d := schemas.Dossier{ID: "S1", Steps: []schemas.Step{{At: at, Status: 2, Handler: "A", Content: "nhận"}, {At: at.Add(time.Hour), Status: 4, Handler: "B", Content: "thụ lý"}}}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	first := natmap.StepKey(d.Steps[0])
	for _, tc := range []struct {
		e    store.LedgerEntry
		want bool
	}{
		{store.LedgerEntry{Canonical: raw, NationalStepKeys: []string{first}}, true},
		{store.LedgerEntry{Canonical: raw, NationalStepKeys: []string{first, natmap.StepKey(d.Steps[1])}}, false},
		{store.LedgerEntry{Canonical: raw, NationalSteps: 2}, false}, // written before keys were kept
		{store.LedgerEntry{Canonical: raw, NationalSteps: 1}, true},
		{store.LedgerEntry{}, false}, // no canonical dossier: the ledger's word
	} {
		if got := stepsDue(tc.e); got != tc.want {
			t.Errorf("stepsDue(%d keys, %d steps) = %v, want %v", len(tc.e.NationalStepKeys), tc.e.NationalSteps, got, tc.want)
		}
	}
}
