package postal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/restjson"
	"github.com/lienthong/lienthong/connectors/sms"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
	simmail "github.com/lienthong/lienthong/sim/mail"
	simrestjson "github.com/lienthong/lienthong/sim/restjson"
	simsms "github.com/lienthong/lienthong/sim/sms"
	simvnpost "github.com/lienthong/lienthong/sim/vnpost"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// resyncs records the dossiers the flow asks the national sink to look at
// again (the sink itself is covered in router and e2e).
type resyncs struct {
	mu  sync.Mutex
	ids []string
}

func (r *resyncs) Resync(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	return nil
}

// world is the postal flow over a real SQLite store, with VNPost, the SMS
// gateway, the SMTP relay and Sơn La's portal simulated over TCP.
type world struct {
	stored
	vnpost *simvnpost.Server
	vnURL  string
	sms    *simsms.Server
	mail   *simmail.Server
	sonla  *simrestjson.Server
	rs     *resyncs
	cfg    postal.Config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{rs: &resyncs{}}
	var err error
	w.store, err = sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.store.Close() })

	w.vnpost = simvnpost.New(simvnpost.Config{})
	t.Cleanup(w.vnpost.Close)
	vn := httptest.NewServer(w.vnpost)
	t.Cleanup(vn.Close)
	w.vnURL = vn.URL
	carrier, err := vnpost.New(vnpost.Config{BaseURL: vn.URL, ClientID: "hub", ClientSecret: "hub-secret", CustomerCode: "LIENTHONG"})
	if err != nil {
		t.Fatal(err)
	}

	w.sms = simsms.New(simsms.Config{})
	smsSrv := httptest.NewServer(w.sms)
	t.Cleanup(smsSrv.Close)
	smsC, err := sms.New(sms.Config{BaseURL: smsSrv.URL, Username: "hub", Password: "hub-secret", Brandname: "DICHVUCONG"})
	if err != nil {
		t.Fatal(err)
	}

	w.mail = simmail.New(simmail.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.mail.ServeSMTP(ln) }()
	t.Cleanup(func() { _ = w.mail.Close(); <-done })
	mailC, err := email.New(email.Config{Addr: ln.Addr().String(), From: "khongtraloi@dichvucong.example"})
	if err != nil {
		t.Fatal(err)
	}

	w.sonla = simrestjson.New(simrestjson.Config{})
	t.Cleanup(w.sonla.Close)
	sl := httptest.NewServer(w.sonla)
	t.Cleanup(sl.Close)
	portal, err := restjson.New(restjson.Config{Source: "sonla", BaseURL: sl.URL, ClientID: "hub", ClientSecret: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}

	w.cfg = postal.Config{
		Carrier:   carrier,
		Senders:   map[string]postal.Sender{"sonla": {Name: "Bộ phận một cửa tỉnh Sơn La", Tel: "02123852000", Address: "Tô Hiệu", Province: "14"}},
		Store:     w.store,
		Writeback: writeback.New(map[string]writeback.Portal{"sonla": portal}, w.store, "test"),
		Notifier:  notify.New(notify.Config{SMS: smsC, Mail: mailC, Store: w.store, Instance: "test"}),
		Resync:    w.rs,
		Instance:  "test",
	}
	return w
}

// flow is a new flow instance over the world's store: a new one stands for
// the hub after a restart.
func (w *world) flow() *postal.Flow { return postal.New(w.cfg) }

// follow runs f's tracking loop until the test ends or stop is called.
func follow(t *testing.T, f *postal.Flow) (stop func()) {
	return followEvery(t, f, 20*time.Millisecond)
}

// followEvery is follow at the given interval. Stopped at the end of the
// test, it is stopped before the store, opened earlier, closes.
func followEvery(t *testing.T, f *postal.Flow, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Follow(ctx, interval)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// dossier is a resolved Sơn La dossier whose result goes by post.
func dossier(id string) *schemas.Dossier {
	return &schemas.Dossier{
		ID: id, Source: "sonla", SourceVersion: 7, Status: schemas.StatusResolved, ProvinceCode: "14",
		Agency:         schemas.Agency{Code: "000.00.14.H52", Name: "UBND huyện Thuận Châu"},
		Procedure:      schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh"},
		Applicant:      schemas.Applicant{Name: "Lò Văn Minh", Phone: "0912345678", Email: "minh@example.vn", Address: schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó"}},
		ResultDelivery: schemas.DeliveryPost,
		ResultAddress:  &schemas.Recipient{Name: "Lò Văn Minh", Phone: "0912345678", Address: schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó"}},
		Steps:          []schemas.Step{{Status: schemas.StatusReceived}, {Status: schemas.StatusResolved}},
	}
}

// atProvince makes the dossier known to Sơn La's portal, so its writebacks
// are taken.
func (w *world) atProvince(t *testing.T, id string) {
	t.Helper()
	if _, err := w.sonla.Book().Post([]byte(`{"maHoSo":"` + id + `","trangThai":"DA_XU_LY_XONG"}`)); err != nil {
		t.Fatal(err)
	}
}

// inLedger is the national sink catching up with the dossier.
func (w *world) inLedger(t *testing.T, d *schemas.Dossier) {
	t.Helper()
	putLedger(t, w.store, d)
}

// putLedger records d in st's ledger, as the national sink does.
func putLedger(t *testing.T, st *sqlstore.Store, d *schemas.Dossier) {
	t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutLedger(context.Background(), []store.LedgerEntry{{
		DossierID: d.ID, Source: d.Source, Province: d.ProvinceCode, Procedure: d.Procedure.Code,
		Version: d.SourceVersion, Status: d.Status, Canonical: raw,
	}}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) advance(t *testing.T, orderNumber string, code int) {
	t.Helper()
	resp, err := http.Post(w.vnURL+"/_sim/advance/"+orderNumber, "application/json", strings.NewReader(fmt.Sprintf(`{"statusCode":%d}`, code)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("advance %s to %d: %s", orderNumber, code, resp.Status)
	}
}

// smsTo and mailTo count what the applicant of dossier id received.
func (w *world) smsTo(id string) int {
	n := 0
	for _, m := range w.sms.Messages() {
		if strings.Contains(m.Message, id) && !m.Duplicate {
			n++
		}
	}
	return n
}

func (w *world) mailTo(id string) int {
	n := 0
	for _, m := range w.mail.Mail() {
		if strings.Contains(m.Subject+m.Body, id) {
			n++
		}
	}
	return n
}

func (w *world) writebacksOf(id, kind string) int {
	n := 0
	for _, wb := range w.sonla.Book().Writebacks() {
		if wb.MaHoSo == id && wb.Kind == kind {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stored reads what the flow recorded in its store.
type stored struct {
	store *sqlstore.Store
}

func (s stored) delivery(t *testing.T, orderNumber string) store.Delivery {
	t.Helper()
	d, err := s.store.GetDelivery(context.Background(), orderNumber)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (s stored) cursor(t *testing.T) string {
	t.Helper()
	c, err := s.store.GetCursor(context.Background(), postal.CursorName)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

func (s stored) settlement(t *testing.T, kind, orderNumber string) store.Settlement {
	t.Helper()
	st, err := s.store.GetSettlement(context.Background(), kind, orderNumber)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A delivery the tracking feed reports before the national sink has the
// dossier in the ledger: the applicant is told once the ledger has it,
// even by an instance started after the one that saw the delivery, and
// only once.
func TestDeliveredBeforeLedgerNotifiedOnceKnown(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := dossier("000.00.14.H52-261121-0101")
	w.atProvince(t, d.ID)
	first := w.flow()
	if err := first.Order(ctx, d); err != nil {
		t.Fatal(err)
	}
	num := postal.OrderNumber(d.ID)
	w.advance(t, num, vnpost.StatusDelivered)

	stop := follow(t, first)
	waitFor(t, "the delivery recorded and the cursor past it", 10*time.Second, func() bool {
		return !w.delivery(t, num).DeliveredAt.IsZero() && w.cursor(t) != ""
	})
	waitFor(t, "the BUU_CHINH writeback", 10*time.Second, func() bool { return w.writebacksOf(d.ID, "BUU_CHINH") > 0 })
	time.Sleep(200 * time.Millisecond) // a few passes
	if n, m := w.smsTo(d.ID), w.mailTo(d.ID); n != 0 || m != 0 {
		t.Fatalf("%d SMS and %d emails before the ledger has the dossier: the flow cannot know where to send them", n, m)
	}
	stop() // the hub goes down; another instance takes over

	w.inLedger(t, d)
	follow(t, w.flow())
	waitFor(t, "the delivered SMS and email", 15*time.Second, func() bool { return w.smsTo(d.ID) == 1 && w.mailTo(d.ID) == 1 })
	time.Sleep(300 * time.Millisecond) // anything that would go twice goes twice
	if n, m := w.smsTo(d.ID), w.mailTo(d.ID); n != 1 || m != 1 {
		t.Fatalf("%d SMS and %d emails; want one of each", n, m)
	}
	if n := w.writebacksOf(d.ID, "BUU_CHINH"); n != 1 {
		t.Errorf("%d BUU_CHINH writebacks; want one", n)
	}
}

// A delivery waiting for the ledger holds up nothing behind it: a later
// delivery of a dossier the ledger has is announced at once, and the cursor
// moves past both.
func TestWaitingDeliveryHoldsUpNothing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	late, known := dossier("000.00.14.H52-261121-0111"), dossier("000.00.14.H52-261121-0112")
	f := w.flow()
	for _, d := range []*schemas.Dossier{late, known} {
		w.atProvince(t, d.ID)
		if err := f.Order(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	w.inLedger(t, known)
	w.advance(t, postal.OrderNumber(late.ID), vnpost.StatusDelivered)
	w.advance(t, postal.OrderNumber(known.ID), vnpost.StatusDelivered)
	follow(t, f)
	waitFor(t, "the known dossier's SMS and email", 10*time.Second, func() bool { return w.smsTo(known.ID) == 1 && w.mailTo(known.ID) == 1 })
	if n, m := w.smsTo(late.ID), w.mailTo(late.ID); n != 0 || m != 0 {
		t.Fatalf("%d SMS and %d emails for the dossier the ledger lacks", n, m)
	}
	s, err := w.store.GetSettlement(ctx, store.SettlementDelivered, postal.OrderNumber(late.ID))
	if err != nil || s.State != store.SettlementOpen || s.Writeback != store.WritebackDone || !strings.Contains(s.LastError, "not in the ledger") {
		t.Fatalf("settlement of the waiting delivery %+v, %v; want open, written back, waiting for the ledger", s, err)
	}
	if c := w.cursor(t); c == "" {
		t.Fatal("tracking cursor not stored")
	}
	w.inLedger(t, late)
	waitFor(t, "the late dossier's SMS and email", 10*time.Second, func() bool { return w.smsTo(late.ID) == 1 && w.mailTo(late.ID) == 1 })
	waitFor(t, "its settlement closed", 10*time.Second, func() bool {
		s, _ := w.store.GetSettlement(ctx, store.SettlementDelivered, postal.OrderNumber(late.ID))
		return s.State == store.SettlementClosed
	})
}

// BUU_CHINH and the COD THANH_TOAN, refused for good by the province (Sơn
// La does not know the dossier: 404), are each tried a bounded number of
// times, then quarantined once; the applicant is told all the same, and the
// national portal learns it. A replay, once the province knows the
// dossier, writes back under a new reference.
func TestPostalWritebacksRefusedAreQuarantined(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := dossier("000.00.14.H52-261121-0121")
	d.Fees = []schemas.Fee{{Code: "LP01", Name: "Lệ phí", Kind: schemas.FeeLevy, Amount: 20000, PaymentMethod: schemas.PayCOD}}
	w.inLedger(t, d)
	f := w.flow()
	if err := f.Order(ctx, d); err != nil {
		t.Fatal(err)
	}
	num := postal.OrderNumber(d.ID)
	w.advance(t, num, vnpost.StatusDelivered)
	w.advance(t, num, vnpost.StatusCODPaid)
	stop := follow(t, f)
	open := func() []store.QuarantineEntry {
		q, err := w.store.ListQuarantine(ctx, store.QuarantineFilter{DossierID: d.ID, State: store.QuarantineOpen})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	waitFor(t, "both writebacks quarantined", 15*time.Second, func() bool { return len(open()) == 2 })
	time.Sleep(300 * time.Millisecond) // passes go on
	stop()
	const attempts = 5 // the flow's default bound
	if n, c := w.writebacksOf(d.ID, "BUU_CHINH"), w.writebacksOf(d.ID, "THANH_TOAN"); n != attempts || c != attempts {
		t.Fatalf("%d BUU_CHINH and %d THANH_TOAN writebacks; want %d of each, then none", n, c, attempts)
	}
	fields := map[string]store.QuarantineEntry{}
	for _, e := range open() {
		fields[e.Field] = e
		if e.Source != "sonla" || e.Format != schemas.FormatSettlement || !strings.Contains(e.Reason, "404") || !strings.Contains(e.Reason, d.ID) {
			t.Errorf("entry %+v; want sonla, format settlement, the dossier and the 404 in the reason", e)
		}
	}
	if _, ok := fields["writeback:BUU_CHINH"]; !ok {
		t.Errorf("no BUU_CHINH entry in %v", fields)
	}
	if _, ok := fields["writeback:THANH_TOAN"]; !ok {
		t.Errorf("no THANH_TOAN entry in %v", fields)
	}
	if n, m := w.smsTo(d.ID), w.mailTo(d.ID); n != 1 || m != 1 {
		t.Errorf("%d SMS and %d emails; the applicant is told once whatever the province says", n, m)
	}
	w.rs.mu.Lock()
	resynced := slices.Contains(w.rs.ids, d.ID)
	w.rs.mu.Unlock()
	if !resynced {
		t.Error("the dossier was not resynced: the national portal would not learn of the delivery")
	}

	// The province gets the dossier; the operator replays the BUU_CHINH entry.
	w.atProvince(t, d.ID)
	svc := dlq.New(w.store, nil, router.Topics{}, "test")
	if err := svc.Replay(ctx, fields["writeback:BUU_CHINH"].ID); err != nil {
		t.Fatal(err)
	}
	follow(t, w.flow())
	waitFor(t, "the replayed writeback taken", 10*time.Second, func() bool {
		s, _ := w.store.GetSettlement(ctx, store.SettlementDelivered, num)
		return s.Writeback == store.WritebackDone && s.State == store.SettlementClosed
	})
	var keys []string
	for _, wb := range w.sonla.Book().Writebacks() {
		if wb.Status == http.StatusOK {
			keys = append(keys, wb.Key)
		}
	}
	if len(keys) != 1 || keys[0] != num+"/delivered/r1" {
		t.Errorf("writebacks taken %v; want one, under %s/delivered/r1", keys, num)
	}
	if s, _ := w.store.GetSettlement(ctx, store.SettlementCOD, num); s.Writeback != store.WritebackHeld {
		t.Errorf("COD settlement %+v; want still held: only the BUU_CHINH entry was replayed", s)
	}
}
