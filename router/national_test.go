package router

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/national"
	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/schemas"
	simnational "github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

var unit = national.Unit{DstCode: "000.00.00.H52", MaDonVi: "000.00.00.H52"}

// sinkEnv is a sink wired to the national simulator over HTTP and a real
// SQLite store.
type sinkEnv struct {
	sim    *simnational.Server
	client *national.Client
	store  *sqlstore.Store
	sink   *NationalSink
}

func newSinkEnv(t *testing.T) *sinkEnv {
	t.Helper()
	return newSinkEnvWith(t, NationalSinkConfig{})
}

// newSinkEnvWith is newSinkEnv with cfg's MaxBatch and Concurrency.
func newSinkEnvWith(t *testing.T, tune NationalSinkConfig) *sinkEnv {
	t.Helper()
	sim := simnational.New(simnational.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client, err := national.New(national.Config{BaseURL: srv.URL, Username: "hub", Password: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sink := NewNationalSink(NationalSinkConfig{Units: map[string]national.Unit{"sonla": unit}, Linger: 5 * time.Millisecond, Instance: "test",
		MaxBatch: tune.MaxBatch, Concurrency: tune.Concurrency},
		client, st, nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go sink.Run(ctx)
	return &sinkEnv{sim: sim, client: client, store: st, sink: sink}
}

func dossier(id string, version int64, status int, steps int) *schemas.Dossier {
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	d := &schemas.Dossier{
		ID: id, Source: "sonla", SourceVersion: version, ProvinceCode: "14",
		Procedure: schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh", FieldCode: "HT", FieldName: "Hộ tịch"},
		Agency:    schemas.Agency{Code: "000.00.14.H52", Name: "UBND huyện Thuận Châu"},
		Channel:   schemas.ChannelOnline,
		Applicant: schemas.Applicant{Kind: schemas.ApplicantCitizen, Name: "Lò Văn Minh", IDType: schemas.IDTypeCCCD, IDNumber: "014095001234",
			BirthDate: "1995-03-02", Phone: "0912345678", Address: schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó"}},
		Summary: "Đăng ký khai sinh cho con", SubmittedAt: &at, Status: status, SourceStatus: "x",
		ResultDelivery: schemas.DeliveryPost, Fees: []schemas.Fee{}, Attachments: []schemas.Attachment{}, Steps: []schemas.Step{},
	}
	for i := range steps {
		d.Steps = append(d.Steps, schemas.Step{At: at.Add(time.Duration(i) * time.Minute), Status: []int{2, 4, 6, 4, 9, 10}[i%6], Handler: "Nguyễn Thị Hoa", Content: "Xử lý"})
	}
	return d
}

// handle runs dossiers through the sink concurrently, as partitions would.
func (e *sinkEnv) handle(t *testing.T, ds ...*schemas.Dossier) {
	t.Helper()
	var wg sync.WaitGroup
	for _, d := range ds {
		msg, err := CanonicalMessage(d)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.sink.Handle(msg); err != nil {
				t.Errorf("handle %s: %v", d.ID, err)
			}
		}()
	}
	wg.Wait()
}

func (e *sinkEnv) held(t *testing.T, id string) (simnational.Dossier, store.LedgerEntry) {
	t.Helper()
	got, ok := e.sim.Dossier(id)
	if !ok {
		t.Fatalf("national portal does not hold %s", id)
	}
	l, err := e.store.GetLedger(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return got, l[id]
}

func statusOfHoSo(t *testing.T, raw json.RawMessage) int {
	var h struct {
		TrangThaiHoSo int `json:"TrangThaiHoSo"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.TrangThaiHoSo
}

func TestSinkCreatesThenUpdatesWithSteps(t *testing.T) {
	e := newSinkEnv(t)
	e.handle(t, dossier("A-1", 1, 1, 0), dossier("A-2", 1, 1, 0))
	e.handle(t, dossier("A-1", 3, 4, 2))
	got, l := e.held(t, "A-1")
	if l.NationalState != store.NationalHeld || l.NationalVersion != 3 || l.NationalSteps != 2 {
		t.Fatalf("ledger = %+v", l)
	}
	if s := statusOfHoSo(t, got.HoSo); s != 4 {
		t.Fatalf("national status = %d, want 4", s)
	}
	var services []string
	for _, h := range got.History {
		services = append(services, h.Service+"/"+h.IsUpdating)
	}
	want := []string{"DongBoHoSoMC/False", "DongBoHoSoMC/True", "CapNhatTienDoHoSoMC/", "CapNhatTienDoHoSoMC/"}
	if len(services) != len(want) {
		t.Fatalf("history %v, want %v", services, want)
	}
	for i := range want {
		if services[i] != want[i] {
			t.Fatalf("history %v, want %v", services, want)
		}
	}
}

func TestSinkSkipsOlderAndRepeatedVersions(t *testing.T) {
	e := newSinkEnv(t)
	e.handle(t, dossier("B-1", 5, 9, 5))
	e.handle(t, dossier("B-1", 3, 4, 2)) // older, e.g. redelivered from before
	e.handle(t, dossier("B-1", 5, 9, 5)) // the same again
	got, l := e.held(t, "B-1")
	if l.NationalVersion != 5 || statusOfHoSo(t, got.HoSo) != 9 {
		t.Fatalf("ledger v%d, national status %d; want v5 and 9", l.NationalVersion, statusOfHoSo(t, got.HoSo))
	}
	if len(got.History) != 1+5 {
		t.Fatalf("national received %d items, want 1 create and 5 steps", len(got.History))
	}
}

func TestSinkAnswerCodes(t *testing.T) {
	e := newSinkEnv(t)
	ctx := context.Background()
	// The portal already holds C-1 although the ledger knows nothing (22 on
	// create → update).
	if _, err := e.client.Sync(ctx, unit, false, []national.HoSo{natmap.HoSo(dossier("C-1", 1, 1, 0))}); err != nil {
		t.Fatal(err)
	}
	// The ledger thinks the portal holds C-2, but it does not (23 on
	// update → create).
	if err := e.store.PutLedger(ctx, []store.LedgerEntry{{DossierID: "C-2", Source: "sonla", NationalState: store.NationalHeld, NationalVersion: 1, ContentHash: "old"}}); err != nil {
		t.Fatal(err)
	}
	// A create went out for C-3 and its answer was lost: the portal has it,
	// the ledger says pending. The sink must look it up, not create again.
	if _, err := e.client.Sync(ctx, unit, false, []national.HoSo{natmap.HoSo(dossier("C-3", 1, 1, 0))}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutLedger(ctx, []store.LedgerEntry{{DossierID: "C-3", Source: "sonla", NationalState: store.NationalPending, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	// C-4 has a procedure the portal does not know (21): quarantined, the
	// rest of the batch goes on.
	bad := dossier("C-4", 1, 1, 0)
	bad.Procedure.Code = "9.999999"

	before := e.sim.Stats().ItemErrors
	e.handle(t, dossier("C-1", 2, 2, 1), dossier("C-2", 2, 2, 1), dossier("C-3", 2, 2, 1), bad)
	after := e.sim.Stats().ItemErrors
	if after["22"]-before["22"] != 1 || after["23"]-before["23"] != 1 || after["21"]-before["21"] != 1 {
		t.Fatalf("item errors before %v after %v: want exactly one 22 (C-1), one 23 (C-2), one 21 (C-4)", before, after)
	}
	for _, id := range []string{"C-1", "C-2", "C-3"} {
		got, l := e.held(t, id)
		if l.NationalState != store.NationalHeld || l.NationalVersion != 2 || l.NationalSteps != 1 || statusOfHoSo(t, got.HoSo) != 2 {
			t.Errorf("%s: ledger %+v, national status %d", id, l, statusOfHoSo(t, got.HoSo))
		}
	}
	q, err := e.store.ListQuarantine(ctx, store.QuarantineFilter{DossierID: "C-4"})
	if err != nil || len(q) != 1 || q[0].Field != "national:21" {
		t.Fatalf("quarantine for C-4 = %+v, %v", q, err)
	}
	if _, ok := e.sim.Dossier("C-4"); ok {
		t.Fatal("C-4 should not be at the national portal")
	}
}

// A ledger row written before step keys were kept counts the steps sent;
// the count reads as the first steps in time order, and the rest are sent
// once, with their keys from then on.
func TestSinkLegacyStepCount(t *testing.T) {
	e := newSinkEnv(t)
	ctx := context.Background()
	v1 := dossier("L-1", 1, 2, 1)
	e.handle(t, v1)
	l, err := e.store.GetLedger(ctx, []string{"L-1"})
	if err != nil {
		t.Fatal(err)
	}
	old := l["L-1"]
	old.NationalStepKeys = nil // as the previous release wrote it
	if err := e.store.PutLedger(ctx, []store.LedgerEntry{old}); err != nil {
		t.Fatal(err)
	}
	e.handle(t, dossier("L-1", 2, 4, 3))
	got, l2 := e.held(t, "L-1")
	if len(got.History) != 1+1+1+2 {
		t.Fatalf("national received %d items, want create, step, update and two new steps", len(got.History))
	}
	if l2.NationalSteps != 3 || len(l2.NationalStepKeys) != 3 {
		t.Fatalf("ledger steps %d keys %v, want 3 and 3", l2.NationalSteps, l2.NationalStepKeys)
	}
}

// TestSinkFillsCalls: with a backlog, every call carries 100 items however
// the batches cut it, but for the last few (about one per batch in flight); each
// step still arrives once and in order.
func TestSinkFillsCalls(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			// Batches of 130 would send 100 + 30 dossiers and as many steps
			// each without carrying the remainders over: 32 calls of each.
			e := newSinkEnvWith(t, NationalSinkConfig{MaxBatch: 130, Concurrency: conc})
			const n = 2000
			ds := make([]*schemas.Dossier, n)
			for i := range ds {
				ds[i] = dossier(fmt.Sprintf("F-%04d", i), 1, 4, 1+i%2)
			}
			e.handle(t, ds...)
			st := e.sim.Stats()
			steps := n + n/2
			if got := st.ItemsAccepted["DongBoHoSoMC"]; got != n {
				t.Fatalf("dossiers accepted = %d, want %d", got, n)
			}
			if got := st.ItemsAccepted["CapNhatTienDoHoSoMC"]; got != steps {
				t.Fatalf("steps accepted = %d, want %d", got, steps)
			}
			if got, want := st.Requests["DongBoHoSoMC"], n/100+conc+1; got > want {
				t.Errorf("DongBoHoSoMC calls = %d, want at most %d for %d dossiers", got, want, n)
			}
			if got, want := st.Requests["CapNhatTienDoHoSoMC"], steps/100+conc+1; got > want {
				t.Errorf("CapNhatTienDoHoSoMC calls = %d, want at most %d for %d steps", got, want, steps)
			}
			for _, d := range ds {
				got, l := e.held(t, d.ID)
				var seen []string
				for _, h := range got.History {
					if h.Service == "CapNhatTienDoHoSoMC" {
						seen = append(seen, string(h.Item))
					}
				}
				if len(seen) != len(d.Steps) || l.NationalSteps != len(d.Steps) {
					t.Fatalf("%s: %d steps at the portal, ledger %d, want %d", d.ID, len(seen), l.NationalSteps, len(d.Steps))
				}
			}
		})
	}
}

// lostAnswers is the real store with the answers of update calls lost, as
// when the hub dies between a DongBoHoSoMC call and its ledger write.
type lostAnswers struct {
	*sqlstore.Store
	lose bool
}

func (l *lostAnswers) Record(ctx context.Context, w store.Write) error {
	for _, ev := range w.Events {
		if l.lose && ev.Kind == "national.update" {
			return fmt.Errorf("hub died before recording the answer")
		}
	}
	return l.Store.Record(ctx, w)
}

// An update whose answer was never recorded may be at the portal: nothing
// older may follow it (a redelivered older version, or the older content
// with new effects), and the version itself is sent again.
func TestSinkUpdateAnswerLost(t *testing.T) {
	e := newSinkEnv(t)
	e.handle(t, dossier("L-1", 1, 1, 0))
	lost := &lostAnswers{Store: e.store, lose: true}
	sink := NewNationalSink(NationalSinkConfig{Units: map[string]national.Unit{"sonla": unit}, Instance: "test"},
		e.client, lost, nil, slog.New(slog.DiscardHandler))
	v3 := dossier("L-1", 3, 4, 0)
	if _, err := sink.process(context.Background(), []*pending{{d: v3}}, func() int { return 0 }); err == nil {
		t.Fatal("process succeeded although its answer could not be recorded")
	}
	if got, _ := e.held(t, "L-1"); statusOfHoSo(t, got.HoSo) != 4 {
		t.Fatalf("national status %d, want 4: the update reached the portal", statusOfHoSo(t, got.HoSo))
	}
	// After the restart: an older version comes again, then v3.
	e.handle(t, dossier("L-1", 2, 2, 0))
	if got, _ := e.held(t, "L-1"); statusOfHoSo(t, got.HoSo) != 4 {
		t.Fatalf("national status %d after an older version, want 4: the older one went out after the newer", statusOfHoSo(t, got.HoSo))
	}
	e.handle(t, v3)
	got, l := e.held(t, "L-1")
	var statuses []int
	for _, h := range got.History {
		statuses = append(statuses, statusOfHoSo(t, h.Item))
	}
	if fmt.Sprint(statuses) != "[1 4 4]" {
		t.Fatalf("national received statuses %v, want [1 4 4] (v3 sent again, v2 never)", statuses)
	}
	if l.NationalState != store.NationalHeld || l.NationalVersion != 3 || l.ContentHash == "" {
		t.Fatalf("ledger %+v, want v3 held with its content hash", l)
	}
}
