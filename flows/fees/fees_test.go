package fees_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/schemas"
	simpay "github.com/lienthong/lienthong/sim/payment"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// writebacks records what the flow writes back (the provinces' side is
// covered end to end in e2e).
type writebacks struct {
	mu  sync.Mutex
	got []httpx.Event
}

func (w *writebacks) Send(_ context.Context, _ string, ev httpx.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, ev)
	return nil
}

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

type world struct {
	flow   *fees.Flow
	store  *sqlstore.Store
	sim    *simpay.Server
	simURL string
	hubURL string
	wb     *writebacks
	rs     *resyncs
}

const partner, secret = "DVC14", "test-secret"

// newWorld wires the flow to a real SQLite store and the payment simulator
// over HTTP; the simulator posts its notifications to the flow's handler.
// opts change the flow's configuration before it is built.
func newWorld(t *testing.T, opts ...func(w *world, cfg *fees.Config)) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{wb: &writebacks{}, rs: &resyncs{}}
	var err error
	w.store, err = sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.store.Close() })
	var flow http.Handler = http.NotFoundHandler()
	hub := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { flow.ServeHTTP(rw, r) }))
	t.Cleanup(hub.Close)
	w.hubURL = hub.URL
	w.sim = simpay.New(simpay.Config{Partners: map[string]string{partner: secret}, CallbackURL: hub.URL, RetryDelays: []time.Duration{}})
	t.Cleanup(w.sim.Close)
	simSrv := httptest.NewServer(w.sim)
	t.Cleanup(simSrv.Close)
	w.simURL = simSrv.URL
	cl, err := payment.New(payment.Config{BaseURL: simSrv.URL, PartnerCode: partner, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fees.Config{
		Partners: map[string]fees.Partner{"sonla": {Code: partner, Secret: secret, Platform: cl}},
		Store:    w.store, Writeback: w.wb, Resync: w.rs, QueryAfter: time.Millisecond,
	}
	for _, o := range opts {
		o(w, &cfg)
	}
	w.flow = fees.New(cfg)
	flow = w.flow
	return w
}

func dossier(id string) *schemas.Dossier {
	return &schemas.Dossier{
		ID: id, Source: "sonla", SourceVersion: 4, Status: schemas.StatusFeeDue,
		Agency:    schemas.Agency{Code: "000.00.14.H52", Name: "UBND huyện Thuận Châu"},
		Procedure: schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh"},
		Applicant: schemas.Applicant{Name: "Lò Văn Minh", IDNumber: "014095001234"},
		Fees: []schemas.Fee{
			{Code: "LP01", Name: "Lệ phí", Kind: schemas.FeeLevy, Amount: 8000, PaymentMethod: schemas.PayOnline},
			{Code: "LP02", Name: "Phí", Kind: schemas.FeeCharge, Amount: 20000, PaymentMethod: schemas.PayCOD},
			{Code: "LP03", Name: "Phí bản sao", Kind: schemas.FeeCharge, Amount: 5000, PaymentMethod: schemas.PayOnline, Paid: true},
		},
	}
}

func (w *world) request(t *testing.T, d *schemas.Dossier) store.Payment {
	t.Helper()
	if err := w.flow.Request(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	ps, err := w.store.ListPayments(context.Background(), store.PaymentFilter{DossierIDs: []string{d.ID}})
	if err != nil || len(ps) != 1 {
		t.Fatalf("payments of %s: %v %v", d.ID, ps, err)
	}
	return ps[0]
}

func (w *world) pay(t *testing.T, ref string, req map[string]any) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(w.simURL+"/_sim/pay/"+ref, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pay %s: %s %s", ref, resp.Status, b)
	}
}

func (w *world) post(t *testing.T, n payment.IPN) payment.IPNAnswer {
	t.Helper()
	body, _ := json.Marshal(n)
	resp, err := http.Post(w.hubURL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a, err := payment.ParseAnswer(b)
	if err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return a
}

func TestRequestOncePerFeeSet(t *testing.T) {
	w := newWorld(t)
	d := dossier("000.00.14.H52-261121-0001")
	p := w.request(t, d)
	if p.State != store.PaymentPending || p.Amount != 8000 || p.PayURL == "" || p.Ref != fees.Ref(d.ID, d.Fees[:1]) {
		t.Fatalf("payment %+v: want pending, 8000 (the unpaid online fee only), a link", p)
	}
	// Redelivered, and the same dossier at a later version: no second request.
	d.SourceVersion++
	w.request(t, d)
	txs := w.sim.Transactions()
	if len(txs) != 1 || txs[0].Repeats != 0 {
		t.Fatalf("platform has %d transactions (%+v); want one request", len(txs), txs)
	}
	// Not at status 6, or nothing online: no request.
	other := dossier("000.00.14.H52-261121-0002")
	other.Status = schemas.StatusProcessing
	if err := w.flow.Request(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if len(w.sim.Transactions()) != 1 {
		t.Fatal("a dossier at status 4 got a payment request")
	}
}

func TestIPNPaidOnceAndSettled(t *testing.T) {
	w := newWorld(t)
	d := dossier("000.00.14.H52-261121-0003")
	p := w.request(t, d)
	w.pay(t, p.Ref, map[string]any{"MaLoi": "00", "duplicate_ipn": true})
	got, err := w.store.GetPayment(context.Background(), p.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.PaymentPaid || got.SettledAt.IsZero() || got.TxnID != p.TxnID {
		t.Fatalf("after the IPN: %+v; want paid and settled", got)
	}
	ns, _ := w.store.ListPaymentNotices(context.Background(), store.NoticeFilter{Ref: p.Ref})
	verdicts := map[string]int{}
	for _, n := range ns {
		verdicts[n.Verdict+"/"+n.Answer]++
	}
	if verdicts["accepted/00"] != 1 || verdicts["duplicate/00"] != 1 || len(ns) != 2 {
		t.Fatalf("notices %v; want one accepted and one duplicate", verdicts)
	}
	if len(w.wb.got) != 1 || w.wb.got[0].Kind != httpx.KindPayment || w.wb.got[0].Reference != p.Ref {
		t.Fatalf("writebacks %+v; want one THANH_TOAN keyed by the reference", w.wb.got)
	}
	if len(w.rs.ids) != 1 || w.rs.ids[0] != d.ID {
		t.Fatalf("resyncs %v; want the dossier once", w.rs.ids)
	}
}

// An IPN's signature does not cover MaLoi: a notification saying "paid" for
// a payment the platform holds as pending verifies, and must be refused.
func TestIPNAlteredResultRefused(t *testing.T) {
	w := newWorld(t)
	p := w.request(t, dossier("000.00.14.H52-261121-0004"))
	n := payment.SignIPN(secret, payment.IPN{
		LoaiBanTin: "KETQUA", MaLoi: "00", MaDoiTac: partner, MaThamChieu: p.Ref, SoTien: p.Amount,
		MaTienTe: "VND", MaGiaoDich: p.TxnID, MaNganHang: "VCB", ThongTinGiaoDich: "x", ThoiGianGD: payment.FormatTime(time.Now()),
	})
	if a := w.post(t, n); a.MaLoi != "02" || payment.VerifyAnswer(secret, a) != nil {
		t.Fatalf("answer %+v; want a signed 02", a)
	}
	got, _ := w.store.GetPayment(context.Background(), p.Ref)
	if got.State != store.PaymentPending || len(w.wb.got) != 0 {
		t.Fatalf("payment %s after an unconfirmed 00: %s, %d writebacks", p.Ref, got.State, len(w.wb.got))
	}
}

// A lost IPN: the payment is found paid by the reconciliation's query.
func TestLostIPNSettledByQuery(t *testing.T) {
	w := newWorld(t)
	p := w.request(t, dossier("000.00.14.H52-261121-0005"))
	w.pay(t, p.Ref, map[string]any{"MaLoi": "00", "deliver_ipn": false})
	if got, _ := w.store.GetPayment(context.Background(), p.Ref); got.State != store.PaymentPending {
		t.Fatalf("payment %s is %s before any notification", p.Ref, got.State)
	}
	time.Sleep(5 * time.Millisecond) // past QueryAfter
	if err := w.flow.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := w.store.GetPayment(context.Background(), p.Ref)
	if got.State != store.PaymentPaid || got.SettledAt.IsZero() || len(w.wb.got) != 1 {
		t.Fatalf("after reconciling: %+v with %d writebacks; want paid, settled, one writeback", got, len(w.wb.got))
	}
	// Nothing left to do: a second pass writes nothing back.
	if err := w.flow.Reconcile(context.Background()); err != nil || len(w.wb.got) != 1 {
		t.Fatalf("second pass: %v, %d writebacks", err, len(w.wb.got))
	}
}

// A failed payment, then paid on a second try.
func TestFailedThenPaid(t *testing.T) {
	w := newWorld(t)
	p := w.request(t, dossier("000.00.14.H52-261121-0006"))
	w.pay(t, p.Ref, map[string]any{"MaLoi": "02"})
	if got, _ := w.store.GetPayment(context.Background(), p.Ref); got.State != store.PaymentFailed {
		t.Fatalf("after a failed payment: %s", got.State)
	}
	w.pay(t, p.Ref, map[string]any{"MaLoi": "00"})
	if got, _ := w.store.GetPayment(context.Background(), p.Ref); got.State != store.PaymentPaid || got.SettledAt.IsZero() {
		t.Fatalf("after paying again: %+v", got)
	}
}
