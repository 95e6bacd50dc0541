package reconcile

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/national"
	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
	simnational "github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

var unit = national.Unit{DstCode: "000.00.14.H52", MaDonVi: "000.00.14.H52"}

// recorder stands for the canonical topic: it keeps what was resynced.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Resync(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	return nil
}

type env struct {
	st     *sqlstore.Store
	sim    *simnational.Server
	portal *national.Client
	pub    *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sim := simnational.New(simnational.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	portal, err := national.New(national.Config{BaseURL: srv.URL, Username: "hub", Password: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, sim: sim, portal: portal, pub: &recorder{}}
}

func (e *env) reconciler(grace time.Duration, checked func(source, result string)) *Reconciler {
	expect := func(ctx context.Context, ds []*schemas.Dossier) (map[string]router.Expectation, error) {
		return router.Expected(ctx, e.st, ds)
	}
	return New(Config{Units: map[string]national.Unit{"sonla": unit}, Rate: 1000, Grace: grace, Checked: checked},
		e.st, e.portal, expect, e.pub)
}

func dossier(id string, status int) *schemas.Dossier {
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, schemas.Vietnam)
	return &schemas.Dossier{
		ID: id, Source: "sonla", SourceVersion: 2, ProvinceCode: "14",
		Procedure: schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh", FieldCode: "HT", FieldName: "Hộ tịch"},
		Agency:    schemas.Agency{Code: unit.MaDonVi, Name: "UBND huyện Thuận Châu"},
		Channel:   schemas.ChannelOnline,
		Applicant: schemas.Applicant{Kind: schemas.ApplicantCitizen, Name: "Lò Văn Minh", IDType: schemas.IDTypeCCCD, IDNumber: "014095001234",
			Address: schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó"}},
		Summary: "Đăng ký khai sinh cho con", SubmittedAt: &at, Status: status, SourceStatus: "x",
		Fees: []schemas.Fee{}, Attachments: []schemas.Attachment{}, Steps: []schemas.Step{},
	}
}

// put makes the portal hold d (as the sink would send it) and the ledger
// say so, in state (held unless given).
func (e *env) put(t *testing.T, d *schemas.Dossier, state string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.portal.Sync(ctx, unit, false, []national.HoSo{natmap.HoSo(d)}); err != nil {
		t.Fatal(err)
	}
	canonical, _ := json.Marshal(d)
	if err := e.st.PutLedger(ctx, []store.LedgerEntry{{DossierID: d.ID, Source: d.Source, Province: "14",
		Version: d.SourceVersion, Status: d.Status, Canonical: canonical, ContentHash: natmap.ContentHash(d),
		NationalState: state, NationalVersion: d.SourceVersion}}); err != nil {
		t.Fatal(err)
	}
}

func raw(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for k, x := range v.(map[string]any) {
		out[k], _ = json.Marshal(x)
	}
	return out
}

// TestCheckKinds: each kind of drift planted at the portal is found as
// that kind, the fields named; a dossier the portal holds as sent is ok;
// one pending or written within the grace is in flight; one of a source
// with no unit is skipped. Findings are recorded, and a later check that
// finds the copies equal resolves them.
func TestCheckKinds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"OK", "LOST", "OLDER", "CHANGED", "PENDING"} {
		e.put(t, dossier(id, 4), store.NationalHeld)
	}
	e.put(t, dossier("UNKNOWN", 4), store.NationalNone)
	e.put(t, dossier("NEVER", 4), store.NationalNone)
	e.sim.Forget("NEVER") // not sent, not held: agrees
	e.sim.Forget("LOST")
	must(t, e.sim.Alter("OLDER", raw(t, map[string]any{"TrangThaiHoSo": 2})))
	must(t, e.sim.Alter("CHANGED", raw(t, map[string]any{"TrichYeuHoSo": "sửa", "DiaChi": "khác"})))
	pending, _ := e.st.GetLedgerStates(ctx, []string{"PENDING"})
	p := pending["PENDING"]
	p.NationalState, p.KeepCanonical = store.NationalPending, true
	must(t, e.st.PutLedger(ctx, []store.LedgerEntry{p}))

	counted := map[string]int{}
	var mu sync.Mutex
	r := e.reconciler(time.Nanosecond, func(_, result string) { mu.Lock(); counted[result]++; mu.Unlock() })
	rep, err := r.Pass(ctx, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"ok": 2, store.DriftMissing: 1, store.DriftOlderStatus: 1, store.DriftFieldDiffers: 1,
		store.DriftUnknown: 1, "in_flight": 1}
	if !reflect.DeepEqual(rep["sonla"], want) || !reflect.DeepEqual(counted, want) {
		t.Fatalf("report %v, counted %v; want %v", rep["sonla"], counted, want)
	}
	list, _, err := e.st.ListDrift(ctx, store.DriftFilter{})
	must(t, err)
	got := map[string]store.Drift{}
	for _, d := range list {
		got[d.DossierID] = d
	}
	for id, kind := range map[string]string{"LOST": store.DriftMissing, "OLDER": store.DriftOlderStatus,
		"CHANGED": store.DriftFieldDiffers, "UNKNOWN": store.DriftUnknown} {
		if got[id].Kind != kind || got[id].Source != "sonla" || got[id].Province != "14" {
			t.Errorf("%s: %+v; want %s", id, got[id], kind)
		}
	}
	if f := got["CHANGED"].Fields; !reflect.DeepEqual(f, []string{"DiaChi", "TrichYeuHoSo"}) {
		t.Errorf("CHANGED fields %v", f)
	}
	if f := got["OLDER"].Fields; !slices.Contains(f, "TrangThaiHoSo") {
		t.Errorf("OLDER fields %v", f)
	}

	// Within the grace, nothing is judged.
	if rep, _ := e.reconciler(time.Hour, nil).Pass(ctx, nil, 0, nil); rep["sonla"]["in_flight"] != 7 {
		t.Errorf("within the grace: %v; want all 7 in flight", rep["sonla"])
	}
	// A source with no national unit is skipped.
	other := dossier("ELSEWHERE", 4)
	other.Source = "hatinh"
	e.put(t, other, store.NationalHeld)
	if rep, _ := r.Pass(ctx, []string{"hatinh"}, 0, nil); rep["hatinh"]["skipped"] != 1 {
		t.Errorf("a source without a unit: %v", rep["hatinh"])
	}

	// The portal repaired by hand: the next check resolves the drift.
	must(t, e.sim.Alter("CHANGED", raw(t, map[string]any{"TrichYeuHoSo": "Đăng ký khai sinh cho con", "DiaChi": "Bản Bó"})))
	res, err := r.Check(ctx, ledger(t, e, "CHANGED"))
	if err != nil || res.Outcome != "ok" {
		t.Fatalf("CHANGED repaired: %+v %v", res, err)
	}
	if open, _, _ := e.st.ListDrift(ctx, store.DriftFilter{States: []string{store.DriftResolved}}); len(open) != 1 || open[0].DossierID != "CHANGED" {
		t.Errorf("resolved: %+v; want CHANGED", open)
	}
}

// TestResync: a resync makes the ledger forget what the portal holds (so
// the sink sends it again), republishes the dossier and marks its drift
// resyncing; a dossier the ledger does not hold is passed over.
func TestResync(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, dossier("LOST", 4), store.NationalHeld)
	e.sim.Forget("LOST")
	r := e.reconciler(time.Nanosecond, nil)
	if _, err := r.Pass(ctx, nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	n, err := r.Resync(ctx, []string{"LOST", "NOWHERE"})
	if err != nil || n != 1 || !reflect.DeepEqual(e.pub.ids, []string{"LOST"}) {
		t.Fatalf("Resync = %d, %v; published %v", n, err, e.pub.ids)
	}
	if l := ledger(t, e, "LOST"); l.ContentHash != "" || l.NationalState != store.NationalHeld {
		t.Errorf("ledger after the resync: hash %q state %s; want the hash forgotten", l.ContentHash, l.NationalState)
	}
	list, _, _ := e.st.ListDrift(ctx, store.DriftFilter{})
	if len(list) != 1 || list[0].State != store.DriftResyncing || list[0].ResyncedAt.IsZero() {
		t.Errorf("drift after the resync: %+v", list)
	}
	// Reporting only: no publisher, no resync.
	if _, err := New(Config{}, e.st, e.portal, nil, nil).Resync(ctx, []string{"LOST"}); err == nil {
		t.Error("a reconciler without a publisher resynced")
	}
}

func ledger(t *testing.T, e *env, id string) store.LedgerEntry {
	t.Helper()
	l, err := e.st.GetLedger(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return l[id]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAutoResyncOnce: with AutoResync, a drift is resynced when found;
// found again after that (the resync did not repair it: here nothing
// carries the dossier to the portal) it is left open for the operator,
// not resynced on every pass; drift of another kind is news and resynced.
func TestAutoResyncOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, dossier("LOST", 4), store.NationalHeld)
	e.put(t, dossier("FINE", 4), store.NationalHeld)
	e.sim.Forget("LOST")
	expect := func(ctx context.Context, ds []*schemas.Dossier) (map[string]router.Expectation, error) {
		return router.Expected(ctx, e.st, ds)
	}
	r := New(Config{Units: map[string]national.Unit{"sonla": unit}, Rate: 1000, Grace: time.Nanosecond, AutoResync: true},
		e.st, e.portal, expect, e.pub)
	for range 3 {
		if _, err := r.Pass(ctx, nil, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(e.pub.ids, []string{"LOST"}) {
		t.Fatalf("after three passes, resynced %v; want LOST once", e.pub.ids)
	}
	list, _, _ := e.st.ListDrift(ctx, store.DriftFilter{IDs: []string{"LOST"}})
	if len(list) != 1 || list[0].State != store.DriftOpen || list[0].ResyncedAt.IsZero() {
		t.Fatalf("drift of LOST after three passes: %+v; want open, resynced once", list)
	}
	// Another kind of drift of the same dossier: the portal holds it
	// again, at another status.
	must(t, e.st.PutLedger(ctx, []store.LedgerEntry{{DossierID: "LOST", Source: "sonla", Province: "14", Version: 2, Status: 4,
		Canonical: ledger(t, e, "LOST").Canonical, ContentHash: "h", NationalState: store.NationalHeld, NationalVersion: 2}}))
	if _, err := e.portal.Sync(ctx, unit, false, []national.HoSo{natmap.HoSo(dossier("LOST", 5))}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pass(ctx, nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.pub.ids, []string{"LOST", "LOST"}) {
		t.Fatalf("after the drift changed kind, resynced %v; want LOST twice", e.pub.ids)
	}
}

// TestRun: the background job sweeps (with samples between) until its
// context ends, finds what was planted, and returns nil when stopped.
func TestRun(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"A1", "A2", "A3", "LOST"} {
		e.put(t, dossier(id, 4), store.NationalHeld)
	}
	e.sim.Forget("LOST")
	expect := func(ctx context.Context, ds []*schemas.Dossier) (map[string]router.Expectation, error) {
		return router.Expected(ctx, e.st, ds)
	}
	r := New(Config{Units: map[string]national.Unit{"sonla": unit}, Rate: 200, Sample: 2, Grace: time.Nanosecond, AutoResync: true},
		e.st, e.portal, expect, e.pub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if list, _, _ := e.st.ListDrift(context.Background(), store.DriftFilter{Kinds: []string{store.DriftMissing}}); len(list) == 1 && !list[0].ResyncedAt.IsZero() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.pub.mu.Lock()
	defer e.pub.mu.Unlock()
	if !slices.Contains(e.pub.ids, "LOST") {
		t.Fatalf("auto resync: published %v; want LOST", e.pub.ids)
	}
}
