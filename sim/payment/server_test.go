package payment

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pay "github.com/lienthong/lienthong/connectors/payment"
)

const (
	partner = "H55"
	secret  = "tn-secret"
)

func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Partners == nil {
		cfg.Partners = map[string]string{partner: secret, "H52": "sl-secret"}
	}
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv
}

func message(ref string) pay.CreateMessage {
	return pay.CreateMessage{
		LoaiBanTin: "KHOITAO", PhienBan: "1.0.0", MaDoiTac: partner, MaThamChieu: ref, SoTien: 100000,
		LoaiHinhThanhToan: "PAY", MaKenhThanhToan: "1", MaThietBi: "1", NgonNgu: "vi", MaTienTe: "VND",
		ThongTinGiaoDich: "Le phi dang ky ho kinh doanh", ThoiGianGD: "20261121080113", Ip: "10.0.0.7",
		ThongTinBienLai: pay.BienLai{
			MaDichVu: "2", MaDonVi: "000.00.19.H55", TenDonVi: "UBND thành phố Thái Nguyên",
			MaHoSo: "000.00.19.H55-261121-0007", MaTTHC: "2.000815", TenTTHC: "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
			PhiLePhi:      []pay.PhiLePhi{{LoaiPhiLePhi: 2, MaPhiLePhi: "LP02", TenPhiLePhi: "Lệ phí đăng ký hộ kinh doanh", SoTien: 100000}},
			HoTenNguoiNop: "Hoàng Văn Nam", SoCMNDNguoiNop: "019088004512", DiaChiNguoiNop: "Tổ 5, phường Quang Trung",
		},
	}
}

// create signs m with key (after mod), optionally edits the JSON (edit),
// posts it and returns the HTTP status and answer.
func create(t *testing.T, base, key string, m pay.CreateMessage, edit func(map[string]any)) (int, map[string]any) {
	t.Helper()
	m.MaXacThuc = pay.CreateSignature(key, m)
	b, _ := json.Marshal(m)
	if edit != nil {
		var o map[string]any
		_ = json.Unmarshal(b, &o)
		edit(o)
		b, _ = json.Marshal(o)
	}
	return postJSON(t, base+"/api/thanhtoan/khoitao", string(b))
}

func postJSON(t *testing.T, u, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func query(t *testing.T, base, key, ref string) map[string]any {
	t.Helper()
	q := pay.QueryMessage{MaDoiTac: partner, MaThamChieu: ref, ThoiGianGD: "20261121090000"}
	q.MaXacThuc = pay.QuerySignature(key, q)
	b, _ := json.Marshal(q)
	_, m := postJSON(t, base+"/api/thanhtoan/truyvan", string(b))
	return m
}

func TestCreateCodes(t *testing.T) {
	_, srv := start(t, Config{})
	code, m := create(t, srv.URL, secret, message("A-1"), nil)
	link, _ := m["DuongDanThanhToan"].(string)
	if code != 200 || m["MaLoi"] != "00" || m["MaGiaoDich"] == "" || m["MaThamChieu"] != "A-1" ||
		!strings.HasPrefix(link, DefaultPayBaseURL+"/") || len(link) >= 70 {
		t.Fatalf("create: %d %v", code, m)
	}
	_, again := create(t, srv.URL, secret, message("A-1"), nil)
	if again["MaLoi"] != "15" || again["MaGiaoDich"] != m["MaGiaoDich"] || again["DuongDanThanhToan"] != link {
		t.Errorf("repeat: %v", again)
	}

	unknown := message("A-2")
	unknown.MaDoiTac = "H99"
	for name, c := range map[string]struct {
		key  string
		m    pay.CreateMessage
		edit func(map[string]any)
		code string
		says string // in MoTaLoi
	}{
		"unknown partner":  {secret, unknown, nil, "01", "MaDoiTac"},
		"bad signature":    {"wrong", message("A-2"), nil, "01", "MaXacThuc"},
		"edited after":     {secret, message("A-2"), func(o map[string]any) { o["SoTien"] = 1000 }, "01", "MaXacThuc"},
		"LoaiBanTin":       {secret, with(func(m *pay.CreateMessage) { m.LoaiBanTin = "KETQUA" }), nil, "02", "LoaiBanTin"},
		"SoTien zero":      {secret, with(func(m *pay.CreateMessage) { m.SoTien = 0 }), nil, "02", "SoTien"},
		"SoTien negative":  {secret, with(func(m *pay.CreateMessage) { m.SoTien = -5 }), nil, "02", "SoTien"},
		"SoTien text":      {secret, message("A-2"), func(o map[string]any) { o["SoTien"] = "abc" }, "02", "SoTien"},
		"no MaThamChieu":   {secret, with(func(m *pay.CreateMessage) { m.MaThamChieu = "" }), nil, "02", "MaThamChieu"},
		"diacritics":       {secret, with(func(m *pay.CreateMessage) { m.ThongTinGiaoDich = "Lệ phí" }), nil, "02", "ThongTinGiaoDich"},
		"time":             {secret, with(func(m *pay.CreateMessage) { m.ThoiGianGD = "2026-11-21" }), nil, "02", "ThoiGianGD"},
		"currency":         {secret, with(func(m *pay.CreateMessage) { m.MaTienTe = "USD" }), nil, "02", "MaTienTe"},
		"version":          {secret, with(func(m *pay.CreateMessage) { m.PhienBan = "2.0" }), nil, "02", "PhienBan"},
		"service code":     {secret, with(func(m *pay.CreateMessage) { m.ThongTinBienLai.MaDichVu = "1" }), nil, "02", "ThongTinBienLai.MaDichVu"},
		"no fees":          {secret, with(func(m *pay.CreateMessage) { m.ThongTinBienLai.PhiLePhi = nil }), nil, "02", "PhiLePhi"},
		"fee kind":         {secret, with(func(m *pay.CreateMessage) { m.ThongTinBienLai.PhiLePhi[0].LoaiPhiLePhi = 3 }), nil, "02", "PhiLePhi[0].LoaiPhiLePhi"},
		"no receipt":       {secret, message("A-2"), func(o map[string]any) { delete(o, "ThongTinBienLai") }, "02", "ThongTinBienLai"},
		"ip":               {secret, with(func(m *pay.CreateMessage) { m.Ip = "10.0.0.999" }), nil, "02", "Ip"},
		"number as string": {secret, message("A-2"), func(o map[string]any) { o["MaKenhThanhToan"] = 1 }, "02", "MaKenhThanhToan"},
	} {
		_, ans := create(t, srv.URL, c.key, c.m, c.edit)
		msg, _ := ans["MoTaLoi"].(string)
		if ans["MaLoi"] != c.code || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %v, want %s naming %s", name, ans, c.code, c.says)
		}
		if strings.Contains(msg, "10.0.0.999") || strings.Contains(msg, "Lệ phí") {
			t.Errorf("%s: MoTaLoi echoes a value: %s", name, msg)
		}
	}
	for _, body := range []string{"", "null", "[1]", "{"} {
		if code, ans := postJSON(t, srv.URL+"/api/thanhtoan/khoitao", body); code != 200 || ans["MaLoi"] != "02" {
			t.Errorf("body %q: %d %v", body, code, ans)
		}
	}
	// SoTien as a numeric string is read leniently; the signature uses its digits.
	if _, ans := create(t, srv.URL, secret, message("A-3"), func(o map[string]any) { o["SoTien"] = "100000" }); ans["MaLoi"] != "00" {
		t.Errorf("numeric string SoTien: %v", ans)
	}
}

func with(mod func(*pay.CreateMessage)) pay.CreateMessage {
	m := message("A-2")
	m.ThongTinBienLai.PhiLePhi = append([]pay.PhiLePhi(nil), m.ThongTinBienLai.PhiLePhi...)
	mod(&m)
	return m
}

func TestQuery(t *testing.T) {
	s, srv := start(t, Config{})
	create(t, srv.URL, secret, message("Q-1"), nil)
	m := query(t, srv.URL, secret, "Q-1")
	if m["MaLoi"] != "00" || m["TrangThai"] != "01" || m["SoTien"] != float64(100000) || m["ThoiGianThanhToan"] != "" ||
		m["MaGiaoDich"] != s.Transactions()[0].TxnID {
		t.Errorf("pending: %v", m)
	}
	if m := query(t, srv.URL, secret, "Q-404"); m["MaLoi"] != "02" || !strings.Contains(m["MoTaLoi"].(string), "MaThamChieu") {
		t.Errorf("unknown: %v", m)
	}
	if m := query(t, srv.URL, "wrong", "Q-1"); m["MaLoi"] != "01" {
		t.Errorf("bad signature: %v", m)
	}
	if _, err := s.Pay("Q-1", PayRequest{DeliverIPN: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	m = query(t, srv.URL, secret, "Q-1")
	if paid, _ := m["ThoiGianThanhToan"].(string); m["TrangThai"] != "00" || len(paid) != 14 {
		t.Errorf("paid: %v", m)
	}
}

func ptr[T any](v T) *T { return &v }

// Fault injection applies to the platform's API, never to /_sim/ controls.
func TestFaultsSpareControls(t *testing.T) {
	_, srv := start(t, Config{})
	create(t, srv.URL, secret, message("F-1"), nil)
	if code, _ := postJSON(t, srv.URL+"/_sim/faults", `{"error_rate":1}`); code != 200 {
		t.Fatal(code)
	}
	code, ans := create(t, srv.URL, secret, message("F-2"), nil)
	if code != http.StatusInternalServerError || ans["MaLoi"] != "99" || ans["MoTaLoi"] == "" {
		t.Errorf("error_rate: %d %v", code, ans)
	}
	for _, u := range []string{"/_sim/health", "/_sim/transactions"} {
		resp, err := http.Get(srv.URL + u)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s under faults: %v %v", u, err, resp.StatusCode)
		}
		resp.Body.Close()
	}
	if code, _ := postJSON(t, srv.URL+"/_sim/pay/F-1", `{"deliver_ipn":false}`); code != 200 {
		t.Errorf("pay under faults: %d", code)
	}
	postJSON(t, srv.URL+"/_sim/faults", `{"error_rate":0,"down":true}`)
	if code, _ := create(t, srv.URL, secret, message("F-3"), nil); code != http.StatusServiceUnavailable {
		t.Errorf("down: %d", code)
	}
}

func TestPayControl(t *testing.T) {
	var hits atomic.Int32
	var last atomic.Value
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		last.Store(body)
		n, err := pay.ParseIPN(body)
		if err != nil || pay.VerifyIPN(secret, n) != nil {
			w.WriteHeader(400)
			return
		}
		json.NewEncoder(w).Encode(pay.Answer(secret, n, "00", "OK"))
	}))
	defer cb.Close()
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC).Unix())
	s, srv := start(t, Config{CallbackURL: cb.URL, Clock: func() time.Time { return time.Unix(now.Load(), 0) }})
	create(t, srv.URL, secret, message("P-1"), nil)
	shared := message("P-1")
	shared.MaDoiTac = "H52"
	create(t, srv.URL, "sl-secret", shared, nil)

	for name, c := range map[string]struct {
		path, body string
		status     int
	}{
		"unknown ref":  {"/_sim/pay/P-404", `{}`, 404},
		"bad MaLoi":    {"/_sim/pay/P-1?", `{"MaLoi":"01","MaDoiTac":"H55"}`, 400},
		"unknown key":  {"/_sim/pay/P-1", `{"deliver":false,"MaDoiTac":"H55"}`, 400},
		"ambiguous":    {"/_sim/pay/P-1", `{}`, 400},
		"other parter": {"/_sim/pay/P-1", `{"MaDoiTac":"H99"}`, 404},
	} {
		if code, ans := postJSON(t, srv.URL+c.path, c.body); code != c.status || ans["error"] == "" {
			t.Errorf("%s: %d %v", name, code, ans)
		}
	}
	res, err := s.Pay("P-1", PayRequest{MaDoiTac: partner, MaNganHang: "NCB"})
	if err != nil || len(res.IPN) != 1 || !res.IPN[0].Delivered || res.Transaction.State != "00" || res.Transaction.Bank != "NCB" {
		t.Fatalf("pay: %+v %v", res, err)
	}
	first := last.Load().([]byte)
	// Paid is final: no failing afterwards; paying again re-sends the same IPN.
	if _, err := s.Pay("P-1", PayRequest{MaDoiTac: partner, MaLoi: ptr("02")}); err == nil {
		t.Error("paid transaction failed")
	}
	now.Add(60) // a minute later: the IPN time must not move
	res, err = s.Pay("P-1", PayRequest{MaDoiTac: partner})
	if err != nil || !bytes.Equal(last.Load().([]byte), first) || res.Transaction.IPNsSent != 2 || res.IPN[0].Delivery != 2 {
		t.Errorf("re-pay: %+v %v\n%s\n%s", res, err, first, last.Load())
	}
	if hits.Load() != 2 {
		t.Errorf("%d IPNs", hits.Load())
	}
}

func TestNoCallbackURL(t *testing.T) {
	s, srv := start(t, Config{RetryDelays: []time.Duration{time.Millisecond}})
	create(t, srv.URL, secret, message("N-1"), nil)
	res, err := s.Pay("N-1", PayRequest{})
	if err != nil || len(res.IPN) != 1 || res.IPN[0].Delivered || !strings.Contains(res.IPN[0].Error, "CallbackURL") {
		t.Fatalf("%+v %v", res, err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(s.Transactions()[0].IPN); n != 1 {
		t.Errorf("%d attempts without a callback URL", n)
	}
}

// Close stops IPN retries waiting for a long delay.
func TestCloseStopsRetries(t *testing.T) {
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer cb.Close()
	s := New(Config{Partners: map[string]string{partner: secret}, CallbackURL: cb.URL})
	srv := httptest.NewServer(s)
	defer srv.Close()
	create(t, srv.URL, secret, message("C-1"), nil)
	if res, err := s.Pay("C-1", PayRequest{}); err != nil || res.IPN[0].Delivered || res.IPN[0].Status != 500 {
		t.Fatalf("%+v %v", res, err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the retry delay")
	}
}

func TestPayLinks(t *testing.T) {
	s, srv := start(t, Config{PayBaseURL: "https://pay.example.vn/p/"})
	seen := map[string]bool{}
	for i := range 50 {
		_, m := create(t, srv.URL, secret, message("L-"+string(rune('A'+i%26))+string(rune('a'+i/26))), nil)
		link := m["DuongDanThanhToan"].(string)
		if !strings.HasPrefix(link, "https://pay.example.vn/p/") || strings.Contains(link, "/p//") || len(link) >= 70 || seen[link] {
			t.Fatalf("link %q", link)
		}
		seen[link] = true
	}
	if len(s.Transactions()) != 50 {
		t.Error("transactions")
	}
	defer func() {
		if recover() == nil {
			t.Error("a base URL too long for SMS links was accepted")
		}
	}()
	New(Config{PayBaseURL: "https://thanhtoan.dichvucong.gov.vn/a/very/long/path/for/links"})
}

func TestSnapshotRestore(t *testing.T) {
	s, srv := start(t, Config{})
	create(t, srv.URL, secret, message("S-1"), nil)
	create(t, srv.URL, secret, message("S-2"), nil)
	create(t, srv.URL, secret, message("S-2"), nil)       // a repeat
	if _, err := s.Pay("S-1", PayRequest{}); err != nil { // no callback: one failed attempt recorded
		t.Fatal(err)
	}
	if _, err := s.Pay("S-2", PayRequest{MaLoi: ptr("03"), DeliverIPN: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(s.Transactions())

	r, srv2 := start(t, Config{})
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(r.Transactions())
	if !bytes.Equal(before, after) {
		t.Fatalf("restored transactions differ:\n%s\n%s", before, after)
	}
	if m := query(t, srv2.URL, secret, "S-1"); m["TrangThai"] != "00" {
		t.Errorf("restored query: %v", m)
	}
	txs := r.Transactions()
	if _, m := create(t, srv2.URL, secret, message("S-2"), nil); m["MaLoi"] != "15" || m["MaGiaoDich"] != txs[1].TxnID {
		t.Errorf("restored repeat: %v", m)
	}
	_, m := create(t, srv2.URL, secret, message("S-3"), nil)
	if m["MaLoi"] != "00" || m["MaGiaoDich"] == txs[0].TxnID || m["MaGiaoDich"] == txs[1].TxnID {
		t.Errorf("after restore, new transaction %v", m)
	}
	if err := r.Restore(strings.NewReader("lienthong-sim-state national 1\n")); err == nil || !strings.Contains(err.Error(), "national") {
		t.Errorf("other system's state: %v", err)
	}
}

func TestTransactionsControl(t *testing.T) {
	_, srv := start(t, Config{})
	create(t, srv.URL, secret, message("T-1"), nil)
	create(t, srv.URL, secret, message("T-2"), nil)
	resp, err := http.Get(srv.URL + "/_sim/transactions?ref=T-2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var txs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&txs); err != nil || len(txs) != 1 {
		t.Fatalf("%v %v", txs, err)
	}
	tx := txs[0]
	for _, k := range []string{"ref", "partner", "amount", "txn_id", "state", "created", "request", "ipn"} {
		if _, ok := tx[k]; !ok {
			t.Errorf("transaction lacks %s: %v", k, tx)
		}
	}
	if req, _ := tx["request"].(map[string]any); req["MaThamChieu"] != "T-2" || req["MaXacThuc"] == "" {
		t.Errorf("request as received: %v", tx["request"])
	}
	if _, paid := tx["paid_at"]; paid {
		t.Error("pending transaction has paid_at")
	}
}
