package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// TestLevel4 runs level-4 ("toàn trình") dossiers of every province through
// the whole path over real TCP: 1→2→4→6, paid through the payment
// simulator (IPN delivered, delivered twice, or lost and found by query),
// on to 9, delivered by the VNPost simulator and returned (10) at the
// national simulator, with writebacks at the province and one SMS and one
// email per event.
func TestLevel4(t *testing.T) { runLevel4(t, false) }

// TestLevel4DuplicateDeliveries is the same with every router message handed
// to its handler twice (Watermill's Duplicator): still one payment request
// per fee set, one VNPost order per delivery, one SMS and email per event.
func TestLevel4DuplicateDeliveries(t *testing.T) { runLevel4(t, true) }

// l4dossier is one dossier of the test and what it should go through.
type l4dossier struct {
	src, id, pay string // pay: online, cod, mixed
}

func (d l4dossier) feeDue() bool { return d.pay != "cod" }
func (d l4dossier) cod() bool    { return d.pay != "online" }

func runLevel4(t *testing.T, duplicate bool) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	e := newEnv(t, devenv.Options{})
	e.cfg.Router.DuplicateDeliveries = duplicate
	e.cfg.Payment.QueryAfter = 2 * time.Second
	stop := e.runHub()
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	// Per province: online fees, cash on delivery, and both.
	var all []l4dossier
	shapes := []struct {
		pay   string
		count int
		plan  []int
	}{
		{"online", 3, []int{2, 4, 6, 4, 9}},
		{"cod", 2, []int{2, 4, 9}},
		{"mixed", 1, []int{2, 4, 6, 4, 9}},
	}
	for i, src := range devenv.Sources {
		for j, sh := range shapes {
			var res struct {
				Created []string `json:"created"`
			}
			postJSONOut(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{
				"count": sh.count, "seed": 4000 + 10*i + j, "steps": 0,
				"shape": map[string]any{"level4": true, "result": "post", "pay": sh.pay, "plan": sh.plan},
			}, &res)
			for _, id := range res.Created {
				all = append(all, l4dossier{src: src, id: id, pay: sh.pay})
			}
		}
	}
	feeDue := filter(all, l4dossier.feeDue)
	// One more whose delivery fails and goes back to the sender.
	var res struct {
		Created []string `json:"created"`
	}
	postJSONOut(t, e.sims.URLs[devenv.NameSonLa]+"/_sim/generate", map[string]any{
		"count": 1, "seed": 4999, "shape": map[string]any{"level4": true, "result": "post", "pay": "online", "plan": []int{2, 4, 9}},
	}, &res)
	returned := l4dossier{src: devenv.NameSonLa, id: res.Created[0], pay: "prepaid"}
	withReturned := append(slices.Clone(all), returned)

	// The provinces move their dossiers one step at a time; each step is
	// waited for at the national portal, so the hub sees every status.
	e.advance(t, withReturned)
	e.waitNational(t, withReturned, func(h hosoView) bool { return h.Status == schemas.StatusReceived }, "status 2")
	e.advance(t, withReturned)
	e.waitNational(t, withReturned, func(h hosoView) bool { return h.Status == schemas.StatusProcessing }, "status 4")
	e.advance(t, withReturned) // online and mixed to 6, cod and the returned one to 9
	e.waitNational(t, feeDue, func(h hosoView) bool { return h.Status == schemas.StatusFeeDue }, "status 6")

	// One payment request per dossier, then the applicants pay: IPN
	// delivered, delivered twice, or lost.
	txs := e.waitTransactions(t, feeDue)
	var lost, twice []string
	for i, d := range feeDue {
		tx := txs[d.id]
		req := map[string]any{"MaLoi": "00"}
		switch i % 3 {
		case 1:
			req["duplicate_ipn"] = true
			twice = append(twice, tx.Ref)
		case 2:
			req["deliver_ipn"] = false
			lost = append(lost, tx.Ref)
		}
		postJSON(t, e.sims.URLs[devenv.NamePayment]+"/_sim/pay/"+url.PathEscape(tx.Ref), req)
	}
	payments := e.waitPaymentsSettled(t, feeDue)
	e.waitNational(t, filter(feeDue, func(d l4dossier) bool { return d.pay == "online" }),
		func(h hosoView) bool { return h.Status == schemas.StatusFeeDue && h.allPaid() }, "fees paid at status 6")

	e.advance(t, feeDue) // 6 → 4 at the province
	e.waitNational(t, feeDue, func(h hosoView) bool { return h.Status == schemas.StatusProcessing }, "status 4 after payment")
	e.advance(t, feeDue) // 4 → 9
	e.waitNational(t, all, func(h hosoView) bool { return h.Status == schemas.StatusResolved }, "status 9")

	orders := e.waitOrders(t, withReturned)
	// The postman fails to deliver the one and sends it back.
	for _, code := range []int{15, 16} {
		postJSON(t, e.sims.URLs[devenv.NameVNPost]+"/_sim/advance/"+url.PathEscape(orders[returned.id].OrderNumber), map[string]any{"statusCode": code})
	}
	postJSON(t, e.sims.URLs[devenv.NameVNPost]+"/_sim/auto", map[string]any{"auto": true, "interval_ms": 100})
	e.waitNational(t, all, func(h hosoView) bool {
		return h.Status == schemas.StatusReturned && h.NgayTra != "" && h.allPaid()
	}, "status 10 with NgayTra and every fee paid")
	// The national portal can learn a collected COD (laid over by the sink
	// from the recorded delivery) before the province is written back to:
	// wait for every writeback owed.
	e.waitWritebacksDone(t)
	e.checkIPNRefusals(t, feeDue[0], payments[feeDue[0].id])
	e.checkReturned(t, returned, orders[returned.id])
	if !duplicate {
		// Sơn La and Lai Châu are portals of one kind: a province's token
		// sees its own and nothing of the other's.
		e.checkProvinceScope(t, all, devenv.NameLaiChau, "12", devenv.NameSonLa)
	}
	time.Sleep(time.Second) // let anything that would go twice go twice
	stop()
	stopped = true

	e.checkPayments(t, feeDue, txs, payments, lost, twice)
	e.checkOrders(t, all, orders)
	e.checkWritebacks(t, all)
	e.checkNotifications(t, all)
	e.checkNotDelivered(t, returned)
	e.checkLogHasNoPersonalData(t)
}

func filter(ds []l4dossier, keep func(l4dossier) bool) []l4dossier {
	var out []l4dossier
	for _, d := range ds {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}

func postJSONOut(t testing.TB, u string, in, out any) int {
	t.Helper()
	body, _ := json.Marshal(in)
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %s: decode: %v: %.300s", u, resp.Status, err, b)
		}
	}
	return resp.StatusCode
}

// advance moves each dossier one lifecycle step at its province.
func (e *env) advance(t *testing.T, ds []l4dossier) {
	t.Helper()
	bySrc := map[string][]string{}
	for _, d := range ds {
		bySrc[d.src] = append(bySrc[d.src], d.id)
	}
	for src, ids := range bySrc {
		var res struct {
			Missing []string `json:"missing"`
		}
		postJSONOut(t, e.sims.URLs[src]+"/_sim/advance", map[string]any{"steps": 1, "ids": ids}, &res)
		if len(res.Missing) > 0 {
			t.Fatalf("%s: advance: dossiers without lifecycle left: %v", src, res.Missing)
		}
	}
}

// hosoView is what the test reads of a national HOSO.
type hosoView struct {
	Status  int    `json:"TrangThaiHoSo"`
	NgayTra string `json:"NgayTra"`
	Fees    []struct {
		Code string `json:"MaPhiLePhi"`
		Paid string `json:"DaThanhToan"`
	} `json:"DanhSachLePhi"`
}

func (h hosoView) allPaid() bool {
	for _, f := range h.Fees {
		if f.Paid != "1" {
			return false
		}
	}
	return len(h.Fees) > 0
}

func (e *env) national(t *testing.T, id string) (hosoView, bool) {
	d, ok := e.sims.National.Dossier(id)
	if !ok {
		return hosoView{}, false
	}
	var h hosoView
	if err := json.Unmarshal(d.HoSo, &h); err != nil {
		t.Fatalf("national HOSO of %s: %v", id, err)
	}
	return h, true
}

// waitNational waits until every dossier's national HOSO satisfies ok.
func (e *env) waitNational(t *testing.T, ds []l4dossier, ok func(hosoView) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var behind []string
		for _, d := range ds {
			h, held := e.national(t, d.id)
			if !held || !ok(h) {
				behind = append(behind, fmt.Sprintf("%s/%s (status %d)", d.src, d.id, h.Status))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d dossiers not there: %s", what, len(behind), shorten(behind, 5))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// simTransaction is what the test reads of /_sim/transactions.
type simTransaction struct {
	Ref     string `json:"ref"`
	Partner string `json:"partner"`
	Amount  int64  `json:"amount"`
	TxnID   string `json:"txn_id"`
	State   string `json:"state"`
	Repeats int    `json:"repeats"`
	Request struct {
		Receipt struct {
			DossierID string `json:"MaHoSo"`
		} `json:"ThongTinBienLai"`
	} `json:"request"`
	IPN []struct {
		Answer    string `json:"answer"`
		Delivered bool   `json:"delivered"`
	} `json:"ipn"`
	IPNsSent int `json:"ipns_sent"`
	IPNsLost int `json:"ipns_lost"`
}

func (e *env) transactions(t *testing.T) []simTransaction {
	var txs []simTransaction
	getJSON(t, e.sims.URLs[devenv.NamePayment]+"/_sim/transactions", &txs)
	return txs
}

// waitTransactions waits for the payment requests and returns them by
// dossier; a dossier with two requests fails the test.
func (e *env) waitTransactions(t *testing.T, ds []l4dossier) map[string]simTransaction {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		byDossier := map[string]simTransaction{}
		for _, tx := range e.transactions(t) {
			id := tx.Request.Receipt.DossierID
			if prev, dup := byDossier[id]; dup {
				t.Fatalf("dossier %s has two payment requests: %s and %s", id, prev.Ref, tx.Ref)
			}
			byDossier[id] = tx
		}
		missing := 0
		for _, d := range ds {
			if _, ok := byDossier[d.id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return byDossier
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dossiers at status 6 got no payment request", missing, len(ds))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPaymentsSettled waits until the hub holds every payment as paid and
// settled, and returns them by dossier.
func (e *env) waitPaymentsSettled(t *testing.T, ds []l4dossier) map[string]store.Payment {
	t.Helper()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps, err := e.store.ListPayments(context.Background(), store.PaymentFilter{DossierIDs: ids})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]store.Payment{}
		settled := 0
		for _, p := range ps {
			if _, dup := out[p.DossierID]; dup {
				t.Fatalf("dossier %s has two payments in the hub", p.DossierID)
			}
			out[p.DossierID] = p
			if p.State == store.PaymentPaid && !p.SettledAt.IsZero() {
				settled++
			}
		}
		if settled == len(ds) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d payments settled", settled, len(ds))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// simOrder is what the test reads of /_sim/orders.
type simOrder struct {
	OrderNumber string `json:"orderNumber"`
	ItemCode    string `json:"itemCode"`
	CODAmount   int64  `json:"codAmount"`
	Status      int    `json:"status"`
	Request     struct {
		Description string `json:"description"`
	} `json:"request"`
}

// waitOrders waits for one VNPost order per dossier and returns them by
// dossier.
func (e *env) waitOrders(t *testing.T, ds []l4dossier) map[string]simOrder {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var orders []simOrder
		getJSON(t, e.sims.URLs[devenv.NameVNPost]+"/_sim/orders", &orders)
		byDossier := map[string]simOrder{}
		for _, o := range orders {
			for _, d := range ds {
				if strings.HasSuffix(o.OrderNumber, d.id) {
					if _, dup := byDossier[d.id]; dup {
						t.Fatalf("dossier %s has two VNPost orders", d.id)
					}
					byDossier[d.id] = o
				}
			}
		}
		if len(byDossier) == len(ds) {
			return byDossier
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d dossiers at status 9 got a VNPost order", len(byDossier), len(ds))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// canonical reads the hub's canonical dossier from its ledger.
func (e *env) canonical(t *testing.T, id string) schemas.Dossier {
	l, err := e.store.GetLedger(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	var d schemas.Dossier
	if err := json.Unmarshal(l[id].Canonical, &d); err != nil {
		t.Fatalf("canonical %s: %v", id, err)
	}
	return d
}

func (e *env) checkPayments(t *testing.T, ds []l4dossier, txs map[string]simTransaction, payments map[string]store.Payment, lost, twice []string) {
	final := map[string]simTransaction{}
	for _, tx := range e.transactions(t) {
		final[tx.Ref] = tx
	}
	if len(final) != len(ds) {
		t.Errorf("payment platform holds %d transactions; want %d (one per fee set)", len(final), len(ds))
	}
	for _, d := range ds {
		tx := final[txs[d.id].Ref]
		p := payments[d.id]
		if tx.Repeats != 0 {
			t.Errorf("%s: payment request %s sent %d more times", d.id, tx.Ref, tx.Repeats)
		}
		if tx.State != "00" || p.Ref != tx.Ref || p.Amount != tx.Amount || p.TxnID != tx.TxnID {
			t.Errorf("%s: platform has %s state %s amount %d txn %s; hub has %s amount %d txn %s",
				d.id, tx.Ref, tx.State, tx.Amount, tx.TxnID, p.Ref, p.Amount, p.TxnID)
		}
		// The amount is the dossier's online fees.
		var want int64
		for _, f := range e.canonical(t, d.id).Fees {
			if f.PaymentMethod == schemas.PayOnline {
				want += f.Amount
			}
		}
		if p.Amount != want {
			t.Errorf("%s: payment of %d; online fees total %d", d.id, p.Amount, want)
		}
	}
	for _, ref := range lost {
		ns, err := e.store.ListPaymentNotices(context.Background(), store.NoticeFilter{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 0 || final[ref].IPNsLost == 0 {
			t.Errorf("payment %s: IPN meant lost, but the hub recorded %d notices", ref, len(ns))
		}
	}
	for _, ref := range twice {
		ns, err := e.store.ListPaymentNotices(context.Background(), store.NoticeFilter{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		var verdicts []string
		for _, n := range ns {
			verdicts = append(verdicts, n.Verdict+"/"+n.Answer)
		}
		slices.Sort(verdicts)
		if !slices.Equal(verdicts, []string{"accepted/00", "duplicate/00"}) {
			t.Errorf("payment %s: duplicated IPN judged %v; want one accepted and one duplicate, both answered 00", ref, verdicts)
		}
	}
}

func (e *env) checkOrders(t *testing.T, ds []l4dossier, orders map[string]simOrder) {
	for _, d := range ds {
		o := orders[d.id]
		var cod int64
		for _, f := range e.canonical(t, d.id).Fees {
			if f.PaymentMethod == schemas.PayCOD {
				cod += f.Amount
			}
		}
		if d.cod() && cod == 0 {
			t.Errorf("%s: shaped %s but has no COD fee", d.id, d.pay)
		}
		if o.CODAmount != cod {
			t.Errorf("%s (%s): VNPost order codAmount %d; COD fees total %d", d.id, d.pay, o.CODAmount, cod)
		}
		tl, err := e.store.Timeline(context.Background(), d.id)
		if err != nil {
			t.Fatal(err)
		}
		ordered := 0
		for _, ev := range tl {
			if ev.Kind == "postal.ordered" {
				ordered++
				if strings.Contains(ev.Detail, "already") {
					t.Errorf("%s: order sent twice: %s", d.id, ev.Detail)
				}
			}
		}
		if ordered != 1 {
			t.Errorf("%s: %d postal.ordered events; want 1", d.id, ordered)
		}
	}
}

func (e *env) checkWritebacks(t *testing.T, ds []l4dossier) {
	type key struct{ id, kind string }
	got := map[key]int{}
	for _, src := range devenv.Sources {
		for _, wb := range e.sims.Book(src).Writebacks() {
			if wb.Duplicate {
				t.Errorf("%s: writeback %s %s sent twice", src, wb.Kind, wb.Key)
				continue
			}
			got[key{wb.MaHoSo, wb.Kind}]++
		}
	}
	for _, d := range ds {
		wantPay := 0
		if d.feeDue() {
			wantPay++ // paid online
		}
		if d.cod() {
			wantPay++ // collected on delivery
		}
		if n := got[key{d.id, "THANH_TOAN"}]; n != wantPay {
			t.Errorf("%s (%s): %d THANH_TOAN writebacks; want %d", d.id, d.pay, n, wantPay)
		}
		if n := got[key{d.id, "BUU_CHINH"}]; n != 1 {
			t.Errorf("%s: %d BUU_CHINH writebacks; want 1", d.id, n)
		}
	}
}

func (e *env) checkNotifications(t *testing.T, ds []l4dossier) {
	var msgs []struct {
		Message    string   `json:"message"`
		Duplicate  bool     `json:"duplicate"`
		Violations []string `json:"violations"`
	}
	getJSON(t, e.sims.URLs[devenv.NameSMS]+"/_sim/messages", &msgs)
	var mails []struct {
		Subject    string   `json:"subject"`
		Violations []string `json:"violations"`
	}
	getJSON(t, e.sims.URLs[devenv.NameMail]+"/_sim/mail", &mails)
	smsKinds := map[string]string{"da duoc tiep nhan": "received", "phi, le phi": "fee_due", "da co ket qua": "result_ready", "da duoc phat": "delivered"}
	mailKinds := map[string]string{"đã được tiếp nhận": "received", "nộp phí": "fee_due", "đã có kết quả": "result_ready", "đã được phát": "delivered"}
	type key struct{ id, kind string }
	smsCount, mailCount := map[key]int{}, map[key]int{}
	for _, m := range msgs {
		if m.Duplicate {
			t.Errorf("SMS sent twice: %q", m.Message)
		}
		if len(m.Violations) > 0 {
			t.Errorf("SMS %q breaks brand-name rules: %v", m.Message, m.Violations)
		}
		for _, d := range ds {
			if strings.Contains(m.Message, d.id) {
				for phrase, kind := range smsKinds {
					if strings.Contains(m.Message, phrase) {
						smsCount[key{d.id, kind}]++
					}
				}
			}
		}
	}
	for _, m := range mails {
		if len(m.Violations) > 0 {
			t.Errorf("email %q has violations: %v", m.Subject, m.Violations)
		}
		for _, d := range ds {
			if strings.Contains(m.Subject, d.id) {
				for phrase, kind := range mailKinds {
					if strings.Contains(m.Subject, phrase) {
						mailCount[key{d.id, kind}]++
					}
				}
			}
		}
	}
	for _, d := range ds {
		kinds := []string{"received", "result_ready", "delivered"}
		if d.feeDue() {
			kinds = append(kinds, "fee_due")
		}
		for _, k := range kinds {
			if n := smsCount[key{d.id, k}]; n != 1 {
				t.Errorf("%s: %d SMS for %s; want 1", d.id, n, k)
			}
			if n := mailCount[key{d.id, k}]; n != 1 {
				t.Errorf("%s: %d emails for %s; want 1", d.id, n, k)
			}
		}
		if !d.feeDue() && (smsCount[key{d.id, "fee_due"}] != 0 || mailCount[key{d.id, "fee_due"}] != 0) {
			t.Errorf("%s: fee-due notice for a dossier whose fees are paid on delivery", d.id)
		}
	}
	// The fee-due SMS carries the payment link.
	for _, m := range msgs {
		if strings.Contains(m.Message, "phi, le phi") && !strings.Contains(m.Message, "https://") {
			t.Errorf("fee-due SMS without the payment link: %q", m.Message)
		}
	}
}

// checkIPNRefusals posts hand-made notifications to the hub's callback:
// forged, replayed for another amount, for an unknown reference, and a
// genuine repeat. Each is answered with the right code and recorded, and
// none changes anything.
func (e *env) checkIPNRefusals(t *testing.T, d l4dossier, p store.Payment) {
	src, _ := e.cfg.Source(d.src)
	partner := *src.Payment
	callback := "http://" + e.sims.HubAddr + hub.PaymentCallbackPath
	genuine := payment.IPN{
		LoaiBanTin: "KETQUA", MaLoi: "00", MaDoiTac: partner.Code, MaThamChieu: p.Ref, SoTien: p.Amount,
		MaTienTe: "VND", MaGiaoDich: p.TxnID, MaNganHang: "VCB", ThongTinGiaoDich: "Thanh toan phi",
		ThoiGianGD: payment.FormatTime(time.Now()),
	}
	forged := payment.SignIPN(partner.Secret, genuine)
	forged.MaXacThuc = strings.Repeat("ab", 32)
	otherAmount := genuine
	otherAmount.SoTien = p.Amount + 1000
	otherAmount = payment.SignIPN(partner.Secret, otherAmount)
	unknown := genuine
	unknown.MaThamChieu = "000.00.00.H00-000000-0000-deadbeef"
	unknown = payment.SignIPN(partner.Secret, unknown)
	cases := []struct {
		name    string
		ipn     payment.IPN
		answer  string
		verdict string
	}{
		{"forged signature", forged, "01", store.NoticeRefused},
		{"replayed for another amount", otherAmount, "02", store.NoticeRefused},
		{"unknown reference", unknown, "02", store.NoticeRefused},
		{"genuine repeat", payment.SignIPN(partner.Secret, genuine), "00", store.NoticeDuplicate},
	}
	before, _ := e.store.ListPaymentNotices(context.Background(), store.NoticeFilter{})
	wbBefore := len(e.sims.Book(d.src).Writebacks())
	for _, c := range cases {
		body, _ := json.Marshal(c.ipn)
		resp, err := http.Post(callback, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ans, err := payment.ParseAnswer(b)
		if err != nil {
			t.Fatalf("%s: answer %.200q: %v", c.name, b, err)
		}
		if ans.MaLoi != c.answer {
			t.Errorf("%s: hub answered %s (%s); want %s", c.name, ans.MaLoi, ans.MoTaLoi, c.answer)
		}
		if c.answer != "01" {
			if err := payment.VerifyAnswer(partner.Secret, ans); err != nil {
				t.Errorf("%s: answer signature: %v", c.name, err)
			}
		}
	}
	after, err := e.store.ListPaymentNotices(context.Background(), store.NoticeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	added := after[len(before):]
	if len(added) != len(cases) {
		t.Fatalf("%d notices recorded for %d notifications", len(added), len(cases))
	}
	for i, c := range cases {
		n := added[i]
		if n.Verdict != c.verdict || n.Answer != c.answer || n.Ref != c.ipn.MaThamChieu {
			t.Errorf("%s: recorded %s/%s for %s; want %s/%s", c.name, n.Verdict, n.Answer, n.Ref, c.verdict, c.answer)
		}
		if c.verdict == store.NoticeRefused && n.Reason == "" {
			t.Errorf("%s: refused without a reason", c.name)
		}
	}
	now, err := e.store.GetPayment(context.Background(), p.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if now.State != store.PaymentPaid || now.Amount != p.Amount || now.TxnID != p.TxnID || !now.PaidAt.Equal(p.PaidAt) {
		t.Errorf("payment %s changed by refused or repeated notifications: %+v → %+v", p.Ref, p, now)
	}
	if n := len(e.sims.Book(d.src).Writebacks()); n != wbBefore {
		t.Errorf("%d writebacks after the notifications; want none", n-wbBefore)
	}
}

// waitWritebacksDone waits until no settlement owes its writeback.
func (e *env) waitWritebacksDone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		owed, err := e.store.ListSettlements(context.Background(), store.SettlementFilter{Writeback: []string{store.WritebackDue}})
		if err != nil {
			t.Fatal(err)
		}
		if len(owed) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writebacks still owed after 60 s, e.g. %s %s of %s", len(owed), owed[0].Kind, owed[0].Ref, owed[0].DossierID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkReturned checks that a failed and returned delivery is surfaced to
// operators (the delivery's problem, the timeline, the log) and changes
// nothing at the national portal.
func (e *env) checkReturned(t *testing.T, d l4dossier, o simOrder) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := e.store.ListDeliveries(context.Background(), store.DeliveryFilter{Problems: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].OrderNumber == o.OrderNumber && strings.HasPrefix(ds[0].Problem, "16 ") && ds[0].DeliveredAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries with a problem: %+v; want only %s, returning (16)", ds, o.OrderNumber)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tl, err := e.store.Timeline(context.Background(), d.id)
	if err != nil {
		t.Fatal(err)
	}
	problems := 0
	for _, ev := range tl {
		if ev.Kind == "postal.problem" {
			problems++
		}
	}
	if problems != 2 {
		t.Errorf("%s: %d postal.problem events; want 2 (15 and 16)", d.id, problems)
	}
	if h, _ := e.national(t, d.id); h.Status != schemas.StatusResolved || h.NgayTra != "" {
		t.Errorf("%s: national status %d NgayTra %q after a failed delivery; want 9 and none", d.id, h.Status, h.NgayTra)
	}
}

// checkNotDelivered checks that nobody was told a returned result arrived.
func (e *env) checkNotDelivered(t *testing.T, d l4dossier) {
	for _, wb := range e.sims.Book(d.src).Writebacks() {
		if wb.MaHoSo == d.id && wb.Kind == "BUU_CHINH" {
			t.Errorf("%s: BUU_CHINH writeback for a delivery that failed", d.id)
		}
	}
	var msgs []struct {
		Message string `json:"message"`
	}
	getJSON(t, e.sims.URLs[devenv.NameSMS]+"/_sim/messages", &msgs)
	for _, m := range msgs {
		if strings.Contains(m.Message, d.id) && strings.Contains(m.Message, "da duoc phat") {
			t.Errorf("%s: delivered SMS for a delivery that failed", d.id)
		}
	}
}

// checkProvinceScope reads the operator API with a provincial token of
// province (the province of source own): its dossiers, quarantine, payments
// and deliveries are own's only, and a dossier of other is not found.
func (e *env) checkProvinceScope(t *testing.T, all []l4dossier, own, province, other string) {
	t.Helper()
	secret, tok, err := auth.NewToken(store.RoleProvincial, province, "e2e "+own)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, []byte) { return call(t, "GET", "http://"+e.sims.HubAddr+path, secret) }
	sourceOf := map[string]string{}
	var otherID string
	for _, d := range all {
		sourceOf[d.id] = d.src
		if d.src == other {
			otherID = d.id
		}
	}
	var seen []string
	for _, path := range []string{"/api/payments?state=new,pending,paid,failed,cancelled&limit=1000", "/api/deliveries?inflight=false&limit=1000", "/api/dlq?state=all&limit=1000"} {
		code, body := get(path)
		var res struct {
			Items []struct {
				Source    string `json:"source"`
				DossierID string `json:"dossier_id"`
			} `json:"items"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &res) != nil {
			t.Errorf("%s with the %s token: HTTP %d %s", path, own, code, body)
			continue
		}
		mine := 0
		for _, it := range res.Items {
			src := it.Source
			if src == "" {
				src = sourceOf[it.DossierID]
			}
			if src != own {
				t.Errorf("%s with the %s token shows %s's dossier %s", path, own, src, it.DossierID)
				continue
			}
			mine++
		}
		if mine == 0 && !strings.HasPrefix(path, "/api/dlq") {
			t.Errorf("%s with the %s token lists none of its own", path, own)
		}
		seen = append(seen, fmt.Sprintf("%s: %d", strings.SplitN(path, "?", 2)[0], mine))
	}
	t.Logf("the %s token (province %s) sees its own only: %s", own, province, strings.Join(seen, ", "))
	if code, body := get("/api/dossiers/" + url.PathEscape(otherID)); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("%s's dossier %s with the %s token: HTTP %d %s", other, otherID, own, code, body)
	}
	if code, body := get("/api/overview"); code != http.StatusOK || strings.Contains(string(body), `"source":"`+other+`"`) || !strings.Contains(string(body), `"source":"`+own+`"`) {
		t.Errorf("overview with the %s token: HTTP %d, shows %s or not itself", own, code, other)
	}
}
