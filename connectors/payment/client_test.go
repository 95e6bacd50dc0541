package payment_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/schemas"
	simpay "github.com/lienthong/lienthong/sim/payment"
)

const (
	partner = "H52"
	secret  = "s3cret-son-la"
)

// callback is the hub's IPN endpoint in these tests: it parses and verifies
// each IPN and answers as answer decides (default: signed "00").
type callback struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	ipns   []payment.IPN
	bodies [][]byte
	bad    int // IPNs that failed ParseIPN or VerifyIPN
	answer func(n payment.IPN, seq int) (int, payment.IPNAnswer)
}

func newCallback(t *testing.T) *callback {
	cb := &callback{t: t}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := payment.ParseIPN(body)
		if err == nil {
			err = payment.VerifyIPN(secret, n)
		}
		cb.mu.Lock()
		if err != nil {
			cb.bad++
			cb.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		cb.ipns = append(cb.ipns, n)
		cb.bodies = append(cb.bodies, body)
		seq, answer := len(cb.ipns), cb.answer
		cb.mu.Unlock()
		status, a := http.StatusOK, payment.Answer(secret, n, payment.CodeOK, "Thành công")
		if answer != nil {
			status, a = answer(n, seq)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callback) received() []payment.IPN {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]payment.IPN(nil), cb.ipns...)
}

type env struct {
	sim    *simpay.Server
	srv    *httptest.Server
	cb     *callback
	client *payment.Client
}

func newEnv(t *testing.T, delays []time.Duration) *env {
	t.Helper()
	cb := newCallback(t)
	if delays == nil {
		delays = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	}
	sim := simpay.New(simpay.Config{
		Partners:    map[string]string{partner: secret, "H55": "other-secret"},
		CallbackURL: cb.srv.URL + "/ipn",
		RetryDelays: delays,
	})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	c, err := payment.New(payment.Config{BaseURL: srv.URL, PartnerCode: partner, Secret: secret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, srv: srv, cb: cb, client: c}
}

var at = time.Date(2026, 11, 21, 8, 15, 2, 0, schemas.Vietnam)

func request(ref string) payment.CreateRequest {
	return payment.CreateRequest{
		Ref:         ref,
		Amount:      8000,
		Description: "Lệ phí đăng ký khai sinh – hồ sơ 000.00.14.H52-261121-0001 Đỗ",
		At:          at,
		Receipt: payment.Receipt{
			UnitCode: "000.00.14.H52", UnitName: "UBND huyện Thuận Châu",
			DossierID: "000.00.14.H52-261121-0001", ProcedureCode: "1.000894", ProcedureName: "Đăng ký khai sinh",
			Fees:      []payment.Fee{{Kind: 2, Code: "LP01", Name: "Lệ phí đăng ký", Amount: 8000}},
			PayerName: "Lò Văn Minh", PayerID: "014095001234", PayerAddress: "Bản Bó, xã Chiềng Lề",
		},
	}
}

func (e *env) tx(t *testing.T, ref string) simpay.Transaction {
	t.Helper()
	for _, tx := range e.sim.Transactions() {
		if tx.Ref == ref {
			return tx
		}
	}
	t.Fatalf("no transaction %s", ref)
	return simpay.Transaction{}
}

func (e *env) pay(t *testing.T, ref, body string) simpay.PayResult {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/_sim/pay/"+ref, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res simpay.PayResult
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pay %s: HTTP %d %s", ref, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *env) faults(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("faults: %v %v", err, resp)
	}
	resp.Body.Close()
}

func asError(t *testing.T, err error) *httpx.Error {
	t.Helper()
	var e *httpx.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *httpx.Error, got %T %v", err, err)
	}
	return e
}

func TestCreate(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.client.Create(ctx, request("REF-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Existing || res.TxnID == "" || !strings.HasPrefix(res.PayURL, simpay.DefaultPayBaseURL+"/") || len(res.PayURL) >= 70 {
		t.Fatalf("result %+v", res)
	}
	tx := e.tx(t, "REF-1")
	if tx.TxnID != res.TxnID || tx.State != payment.StatePending || tx.Amount != 8000 || tx.Partner != partner {
		t.Fatalf("transaction %+v", tx)
	}
	var sent map[string]any
	if err := json.Unmarshal(tx.Request, &sent); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"LoaiBanTin": "KHOITAO", "PhienBan": "1.0.0", "MaDoiTac": partner, "MaThamChieu": "REF-1",
		"SoTien": float64(8000), "LoaiHinhThanhToan": payment.DefaultPaymentType, "MaKenhThanhToan": payment.DefaultChannel,
		"MaThietBi": payment.DefaultDevice, "NgonNgu": "vi", "MaTienTe": "VND", "MaNganHang": "",
		"ThongTinGiaoDich": "Le phi dang ky khai sinh ho so 000.00.14.H52-261121-0001 Do",
		"ThoiGianGD":       "20261121081502", "Ip": payment.DefaultIP,
	}
	for k, v := range want {
		if sent[k] != v {
			t.Errorf("%s = %#v, want %#v", k, sent[k], v)
		}
	}
	bl, _ := sent["ThongTinBienLai"].(map[string]any)
	if bl["MaDichVu"] != "2" || bl["HoTenNguoiNop"] != "Lò Văn Minh" || bl["MaHoSo"] != "000.00.14.H52-261121-0001" {
		t.Errorf("receipt %v", bl)
	}
	fees, _ := bl["PhiLePhi"].([]any)
	if len(fees) != 1 || fees[0].(map[string]any)["LoaiPhiLePhi"] != float64(2) || fees[0].(map[string]any)["SoTien"] != float64(8000) {
		t.Errorf("fees %v", fees)
	}

	// The same reference again: "15" with the first transaction.
	again, err := e.client.Create(ctx, request("REF-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.TxnID != res.TxnID || again.PayURL != res.PayURL {
		t.Fatalf("repeat %+v, first %+v", again, res)
	}
	if e.tx(t, "REF-1").Repeats != 1 {
		t.Error("repeat not counted")
	}
	// Another partner may use the same reference: its own transaction.
	other, _ := payment.New(payment.Config{BaseURL: e.srv.URL, PartnerCode: "H55", Secret: "other-secret"})
	o, err := other.Create(ctx, request("REF-1"))
	if err != nil || o.Existing || o.TxnID == res.TxnID {
		t.Fatalf("other partner: %+v %v", o, err)
	}
}

func TestCreateRejected(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for name, cfg := range map[string]payment.Config{
		"bad secret":      {BaseURL: e.srv.URL, PartnerCode: partner, Secret: "wrong"},
		"unknown partner": {BaseURL: e.srv.URL, PartnerCode: "H99", Secret: secret},
	} {
		c, err := payment.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, request("REF-2"))
		pe := asError(t, err)
		if pe.Code != payment.CodeBadSignature || pe.Transient || !errors.Is(err, httpx.ErrAuth) || httpx.IsTransient(err) {
			t.Errorf("%s: %#v", name, pe)
		}
		if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows a secret: %v", name, err)
		}
	}

	// Invalid field: the platform answers "02" naming it.
	r := request("REF-3")
	r.IP = "not-an-ip"
	r.Receipt.Fees[0].Kind = 3
	_, err := e.client.Create(ctx, r)
	pe := asError(t, err)
	if pe.Code != payment.CodeInvalidField || pe.Transient || !strings.Contains(pe.Message, "Ip") ||
		!strings.Contains(pe.Message, "LoaiPhiLePhi") || !errors.Is(err, httpx.ErrRejected) {
		t.Errorf("invalid field: %#v", pe)
	}
	if len(e.sim.Transactions()) != 0 {
		t.Error("rejected creates stored")
	}

	// Checked before sending: permanent, nothing sent.
	for name, mod := range map[string]func(*payment.CreateRequest){
		"no ref":       func(r *payment.CreateRequest) { r.Ref = "" },
		"zero amount":  func(r *payment.CreateRequest) { r.Amount = 0 },
		"no ASCII":     func(r *payment.CreateRequest) { r.Description = "–––" },
		"empty descr.": func(r *payment.CreateRequest) { r.Description = "  " },
	} {
		r := request("REF-4")
		mod(&r)
		if _, err := e.client.Create(ctx, r); err == nil || httpx.IsTransient(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTransientFailures(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.faults(t, `{"error_rate":1}`)
	_, err := e.client.Create(ctx, request("REF-5"))
	pe := asError(t, err)
	if !pe.Transient || pe.Code != payment.CodeInternal || pe.Status != http.StatusInternalServerError {
		t.Errorf("error_rate: %#v", pe)
	}
	if _, err := e.client.Query(ctx, "REF-5"); !httpx.IsTransient(err) {
		t.Errorf("query under error_rate: %v", err)
	}
	e.faults(t, `{"error_rate":0,"down":true}`)
	_, err = e.client.Create(ctx, request("REF-5"))
	if pe := asError(t, err); !pe.Transient || pe.Status != http.StatusServiceUnavailable {
		t.Errorf("down: %#v", pe)
	}
	e.faults(t, `{"down":false,"rate_limit_rps":0.5}`)
	if _, err := e.client.Create(ctx, request("REF-5")); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Create(ctx, request("REF-5"))
	if pe := asError(t, err); !pe.Transient || pe.Status != http.StatusTooManyRequests || pe.RetryAfter < time.Second {
		t.Errorf("rate limited: %#v", pe)
	}
	e.faults(t, `{"rate_limit_rps":0}`)

	// Transport failure: nothing listens.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, _ := payment.New(payment.Config{BaseURL: dead.URL, PartnerCode: partner, Secret: secret})
	if _, err := c.Create(ctx, request("REF-6")); !httpx.IsTransient(err) {
		t.Errorf("transport: %v", err)
	}
}

func TestQueryStates(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, ref := range []string{"Q-PENDING", "Q-PAID", "Q-FAILED", "Q-CANCELLED"} {
		if _, err := e.client.Create(ctx, request(ref)); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().Add(-time.Second)
	e.pay(t, "Q-PAID", `{}`)
	e.pay(t, "Q-FAILED", `{"MaLoi":"02"}`)
	e.pay(t, "Q-CANCELLED", `{"MaLoi":"03","deliver_ipn":false}`)
	for ref, state := range map[string]string{"Q-PENDING": "01", "Q-PAID": "00", "Q-FAILED": "02", "Q-CANCELLED": "03"} {
		q, err := e.client.Query(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		tx := e.tx(t, ref)
		if q.State != state || q.Amount != 8000 || q.TxnID != tx.TxnID {
			t.Errorf("%s: %+v", ref, q)
		}
		if paid := state == payment.StatePaid; paid != !q.PaidAt.IsZero() || paid && (q.PaidAt.Before(before.Truncate(time.Second)) || !q.PaidAt.Equal(tx.PaidAt)) {
			t.Errorf("%s: PaidAt %v (transaction %v)", ref, q.PaidAt, tx.PaidAt)
		}
	}
	_, err := e.client.Query(ctx, "Q-UNKNOWN")
	pe := asError(t, err)
	if pe.Code != payment.CodeInvalidField || pe.Transient || !errors.Is(err, httpx.ErrNotFound) {
		t.Errorf("unknown: %#v", pe)
	}
	// Another partner does not see this partner's transactions.
	other, _ := payment.New(payment.Config{BaseURL: e.srv.URL, PartnerCode: "H55", Secret: "other-secret"})
	if _, err := other.Query(ctx, "Q-PAID"); !errors.Is(err, httpx.ErrNotFound) {
		t.Errorf("other partner: %v", err)
	}
	bad, _ := payment.New(payment.Config{BaseURL: e.srv.URL, PartnerCode: partner, Secret: "wrong"})
	if _, err := bad.Query(ctx, "Q-PAID"); !errors.Is(err, httpx.ErrAuth) || httpx.IsTransient(err) {
		t.Errorf("bad secret: %v", err)
	}
	// A failed payment can still be paid later.
	e.pay(t, "Q-FAILED", `{"MaLoi":"00"}`)
	if q, _ := e.client.Query(ctx, "Q-FAILED"); q.State != payment.StatePaid || q.PaidAt.IsZero() {
		t.Errorf("failed then paid: %+v", q)
	}
}

func TestIPNRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.client.Create(ctx, request("IPN-1"))
	if err != nil {
		t.Fatal(err)
	}
	pr := e.pay(t, "IPN-1", `{"MaLoi":"00","deliver_ipn":true,"duplicate_ipn":false}`)
	if len(pr.IPN) != 1 || !pr.IPN[0].Delivered || !pr.IPN[0].SignatureOK || pr.IPN[0].Answer != "00" || pr.IPN[0].Status != 200 {
		t.Fatalf("pay result %+v", pr.IPN)
	}
	got := e.cb.received()
	if len(got) != 1 {
		t.Fatalf("%d IPNs", len(got))
	}
	n := got[0]
	tx := e.tx(t, "IPN-1")
	if n.LoaiBanTin != "KETQUA" || n.MaLoi != "00" || n.MaDoiTac != partner || n.MaThamChieu != "IPN-1" ||
		n.SoTien != 8000 || n.MaTienTe != "VND" || n.MaGiaoDich != res.TxnID || n.MaNganHang == "" ||
		n.ThoiGianGD != payment.FormatTime(tx.PaidAt) || n.ThongTinGiaoDich == "" {
		t.Errorf("IPN %+v", n)
	}
	var raw map[string]any
	_ = json.Unmarshal(e.cb.bodies[0], &raw)
	if _, isNumber := raw["SoTien"].(float64); !isNumber {
		t.Errorf("SoTien sent as %T", raw["SoTien"])
	}
	if q, _ := e.client.Query(ctx, "IPN-1"); q.State != payment.StatePaid {
		t.Errorf("query %+v", q)
	}
	time.Sleep(50 * time.Millisecond) // no retry of a delivered IPN
	if len(e.cb.received()) != 1 || len(e.tx(t, "IPN-1").IPN) != 1 {
		t.Error("a delivered IPN was sent again")
	}
}

func TestDuplicateAndLostIPN(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, ref := range []string{"DUP", "LOST"} {
		if _, err := e.client.Create(ctx, request(ref)); err != nil {
			t.Fatal(err)
		}
	}
	pr := e.pay(t, "DUP", `{"duplicate_ipn":true}`)
	got := e.cb.received()
	if len(pr.IPN) != 2 || len(got) != 2 || got[0] != got[1] || pr.IPN[0].Delivery == pr.IPN[1].Delivery {
		t.Fatalf("duplicate: %d IPNs, result %+v", len(got), pr.IPN)
	}
	pr = e.pay(t, "LOST", `{"deliver_ipn":false}`)
	if len(pr.IPN) != 0 || len(e.cb.received()) != 2 || pr.Transaction.IPNsLost != 1 {
		t.Fatalf("lost: %+v", pr)
	}
	q, err := e.client.Query(ctx, "LOST")
	if err != nil || q.State != payment.StatePaid {
		t.Fatalf("lost IPN, query %+v %v", q, err)
	}
}

func TestIPNRetries(t *testing.T) {
	e := newEnv(t, []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond})
	ctx := context.Background()
	for _, ref := range []string{"BADSIG", "NINETYNINE", "ALWAYS"} {
		if _, err := e.client.Create(ctx, request(ref)); err != nil {
			t.Fatal(err)
		}
	}
	e.cb.mu.Lock()
	e.cb.answer = func(n payment.IPN, seq int) (int, payment.IPNAnswer) {
		a := payment.Answer(secret, n, payment.CodeOK, "OK")
		switch {
		case n.MaThamChieu == "BADSIG" && seq == 1:
			a = payment.Answer("not-the-secret", n, payment.CodeOK, "OK") // signed with the wrong key
		case n.MaThamChieu == "NINETYNINE" && seq <= 3:
			a = payment.Answer(secret, n, "99", "try later")
		case n.MaThamChieu == "ALWAYS":
			return http.StatusInternalServerError, payment.Answer(secret, n, "99", "down")
		}
		return http.StatusOK, a
	}
	e.cb.mu.Unlock()

	pr := e.pay(t, "BADSIG", `{}`)
	if a := pr.IPN[0]; a.Delivered || a.SignatureOK || a.Answer != "00" || !strings.Contains(a.Error, "signature") {
		t.Fatalf("bad signature counted: %+v", a)
	}
	waitFor(t, func() bool { return delivered(e.tx(t, "BADSIG")) })
	if att := e.tx(t, "BADSIG").IPN; len(att) != 2 || att[1].Attempt != 2 || !att[1].SignatureOK {
		t.Errorf("attempts %+v", att)
	}

	e.cb.mu.Lock()
	e.cb.ipns = nil // seq counts per reference from here
	e.cb.mu.Unlock()
	pr = e.pay(t, "NINETYNINE", `{}`)
	if a := pr.IPN[0]; a.Delivered || a.Answer != "99" || !a.SignatureOK {
		t.Fatalf("99 counted: %+v", a)
	}
	waitFor(t, func() bool { return delivered(e.tx(t, "NINETYNINE")) })
	if att := e.tx(t, "NINETYNINE").IPN; len(att) != 4 || att[3].Attempt != 4 {
		t.Errorf("attempts %+v", att)
	}

	e.pay(t, "ALWAYS", `{}`)
	waitFor(t, func() bool { return len(e.tx(t, "ALWAYS").IPN) == 4 }) // first + 3 retries
	time.Sleep(30 * time.Millisecond)
	att := e.tx(t, "ALWAYS").IPN
	if len(att) != 4 || delivered(e.tx(t, "ALWAYS")) || att[3].Status != 500 || att[3].Error == "" {
		t.Errorf("attempts %+v", att)
	}
}

func delivered(tx simpay.Transaction) bool {
	for _, a := range tx.IPN {
		if a.Delivered {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// independent answers the way a platform written from the spec text might:
// numbers as strings, MaLoi as a number, HTTP 200 with "99".
func TestIndependentPlatformAnswers(t *testing.T) {
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	c, _ := payment.New(payment.Config{BaseURL: srv.URL + "/", PartnerCode: partner, Secret: secret})
	ctx := context.Background()

	answer = `{"MaLoi":"00","TrangThai":"00","SoTien":"8000","MaGiaoDich":20261121001,"ThoiGianThanhToan":"20261121081502"}`
	q, err := c.Query(ctx, "R")
	if err != nil || q.State != "00" || q.Amount != 8000 || q.TxnID != "20261121001" || !q.PaidAt.Equal(at) {
		t.Errorf("lenient query: %+v %v", q, err)
	}
	answer = `{"MaLoi":0,"TrangThai":1,"SoTien":8000,"MaGiaoDich":"X","ThoiGianThanhToan":""}`
	if q, err := c.Query(ctx, "R"); err != nil || q.State != "01" || !q.PaidAt.IsZero() {
		t.Errorf("numeric codes: %+v %v", q, err)
	}
	answer = `{"MaLoi":"00","TrangThai":"07","SoTien":8000}`
	if _, err := c.Query(ctx, "R"); !errors.Is(err, httpx.ErrMalformed) {
		t.Errorf("unknown state: %v", err)
	}
	answer = `{"MaLoi":"99","MoTaLoi":"Lỗi hệ thống"}`
	if _, err := c.Create(ctx, request("R")); !httpx.IsTransient(err) {
		t.Errorf("200 with 99: %v", err)
	}
	answer = `<html>gateway</html>`
	if _, err := c.Create(ctx, request("R")); !errors.Is(err, httpx.ErrMalformed) || !httpx.IsTransient(err) {
		t.Errorf("not JSON: %v", err)
	}
	answer = `{"MaLoi":"15","MoTaLoi":"Đã tồn tại","MaThamChieu":"R","MaGiaoDich":"GD1"}`
	if r, err := c.Create(ctx, request("R")); err != nil || !r.Existing || r.TxnID != "GD1" || r.PayURL != "" {
		t.Errorf("15 without link: %+v %v", r, err)
	}
	answer = `{"MaLoi":"00","MaThamChieu":"OTHER","MaGiaoDich":"GD1","DuongDanThanhToan":"https://x/y"}`
	if _, err := c.Create(ctx, request("R")); !errors.Is(err, httpx.ErrMalformed) {
		t.Errorf("other reference: %v", err)
	}
	answer = `{"MaLoi":"07","MoTaLoi":"Giao dịch bị từ chối"}`
	if _, err := c.Create(ctx, request("R")); err == nil || httpx.IsTransient(err) || asError(t, err).Code != "07" {
		t.Errorf("unknown code: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]payment.Config{
		"no URL":     {PartnerCode: partner, Secret: secret},
		"relative":   {BaseURL: "/pay", PartnerCode: partner, Secret: secret},
		"no partner": {BaseURL: "http://x", Secret: secret},
		"no secret":  {BaseURL: "http://x", PartnerCode: partner},
	} {
		if _, err := payment.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := payment.New(payment.Config{BaseURL: "http://x", PartnerCode: partner, Secret: secret})
	if err != nil || c.PartnerCode() != partner {
		t.Fatal(err)
	}
}
