package national

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

const dst = "000.00.19.H55"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, cfg Config) (*Server, *httptest.Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	cfg.Now = clk.Now
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv, clk
}

func post(t *testing.T, u, dstcode string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest("POST", u, r)
	req.Header.Set("Content-Type", "application/json")
	if dstcode != "" {
		req.Header.Set("dstcode", dstcode)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header, m
}

func login(t *testing.T, base string) string {
	t.Helper()
	_, _, m := post(t, base+"/api/auth/login", dst, map[string]string{"username": "hub", "password": "hub-secret"})
	if m["error_code"] != float64(0) {
		t.Fatalf("login %v", m)
	}
	return m["session"].(string)
}

func hoso(id string, over map[string]any) map[string]any {
	h := map[string]any{
		"MaHoSo": id, "MaTTHC": "2.000815", "TenTTHC": "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
		"MaLinhVuc": "TLDN", "TenLinhVuc": "Thành lập và hoạt động doanh nghiệp", "KenhThucHien": "2",
		"ChuHoSo": "Hoàng Văn Nam", "LoaiDoiTuong": "1", "MaDoiTuong": "", "SoGiayTo": "019088004512",
		"SoDienThoai": "0983456789", "Email": "", "DiaChi": "Tổ 5, phường Quang Trung", "MaTinh": "19", "MaXa": "05443",
		"TrichYeuHoSo": "Đăng ký hộ kinh doanh tạp hoá", "NgayNopHoSo": "20261121074000", "NgayTiepNhan": "20261121075512",
		"NgayHenTra": "20261126170000", "TrangThaiHoSo": "4", "NgayTra": "", "HinhThuc": "1", "NgayKetThucXuLy": "",
		"DonViXuLy": "UBND thành phố Thái Nguyên", "GhiChu": "",
		"TaiLieuNop":    []any{map[string]any{"TepDinhKemId": "t-7", "TenTepDinhKem": "giay-de-nghi.pdf", "MaThanhPhanHoSo": "TP1", "DuongDanTaiTepTin": "https://x/t-7", "IsDeleted": false}},
		"DanhSachLePhi": []any{map[string]any{"MaPhiLePhi": "LP02", "TenPhiLePhi": "Lệ phí", "LoaiPhiLePhi": "2", "HinhThucThu": "1", "Gia": 100000, "DaThanhToan": "0"}},
	}
	for k, v := range over {
		h[k] = v
	}
	return h
}

func push(t *testing.T, base, session, service string, updating string, items ...any) map[string]any {
	t.Helper()
	body := map[string]any{"session": session, "madonvi": dst, "service": service, "data": items}
	if updating != "" {
		body["isUpdating"] = updating
	}
	code, _, m := post(t, base+"/api/integration", dst, body)
	if code != 200 {
		t.Fatalf("push %d %v", code, m)
	}
	return m
}

func itemCodes(m map[string]any) []string {
	var out []string
	res, _ := m["result"].([]any)
	for _, r := range res {
		out = append(out, r.(map[string]any)["error_code"].(string))
	}
	return out
}

func TestLoginAndSessionExpiry(t *testing.T) {
	s, srv, clk := start(t, Config{Accounts: []Account{{DstCode: dst, Username: "hub", Password: "hub-secret"}}, SessionTTL: time.Hour})
	for _, c := range []struct{ dst, user, pass string }{{dst, "hub", "x"}, {"000.00.14.H52", "hub", "hub-secret"}, {"", "hub", "hub-secret"}} {
		if _, _, m := post(t, srv.URL+"/api/auth/login", c.dst, map[string]string{"username": c.user, "password": c.pass}); m["error_code"] != "-1" {
			t.Errorf("%v: %v", c, m)
		}
	}
	sess := login(t, srv.URL)
	if m := push(t, srv.URL, sess, "DongBoHoSoMC", "False", hoso("A-1", nil)); m["error_code"] != "00" {
		t.Fatalf("push %v", m)
	}
	clk.Add(59 * time.Minute)
	if m := push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", ""); m["error_code"] != "00" {
		t.Errorf("session before expiry: %v", m)
	}
	clk.Add(2 * time.Minute)
	m := push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", "")
	if m["error_code"] != "98" || m["message"] != "Phiên làm việc hết hạn" {
		t.Errorf("expired session: %v", m)
	}
	// session_ttl_s overrides the configured lifetime.
	sess = login(t, srv.URL)
	post(t, srv.URL+"/_sim/faults", "", `{"session_ttl_s":10}`)
	clk.Add(11 * time.Second)
	if m := push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", ""); m["error_code"] != "98" {
		t.Errorf("session past session_ttl_s: %v", m)
	}
	if m := push(t, srv.URL, "nonsense", "CapNhatTienDoHoSoMC", ""); m["error_code"] != "98" {
		t.Errorf("unknown session: %v", m)
	}
	sess = login(t, srv.URL)
	_, _, m = post(t, srv.URL+"/api/integration", "000.00.14.H52", map[string]any{"session": sess, "service": "CapNhatTienDoHoSoMC", "data": []any{}})
	if m["error_code"] != "-1" {
		t.Errorf("dstcode mismatch: %v", m)
	}
	if st := s.Stats(); st.Logins != 3 || st.LoginFailures != 3 {
		t.Errorf("login stats %+v", st)
	}
}

func TestItemCodes(t *testing.T) {
	s, srv, _ := start(t, Config{})
	sess := login(t, srv.URL)
	m := push(t, srv.URL, sess, "DongBoHoSoMC", "False",
		hoso("A-1", nil),
		hoso("A-1", nil), // same call, already held now
		hoso("A-2", map[string]any{"MaTTHC": "9.999999"}),
		hoso("A-3", map[string]any{"MaTTHC": "2.000815.000.00.00.H55"}),
		hoso("A-4", map[string]any{"NgayTiepNhan": "21/11/2026"}),
		hoso("A-5", map[string]any{"TrangThaiHoSo": 11}),
		hoso("A-6", map[string]any{"HinhThuc": "2"}),
		hoso("A-7", map[string]any{"DanhSachLePhi": []any{map[string]any{"LoaiPhiLePhi": 2, "Gia": -5, "DaThanhToan": "0"}}}),
		hoso("A-8", map[string]any{"DanhSachLePhi": []any{map[string]any{"LoaiPhiLePhi": 2, "Gia": 5, "DaThanhToan": "yes"}}}),
		hoso("", nil),
		hoso("A-9", map[string]any{"ChuHoSo": ""}),
		hoso("A-10", map[string]any{"KenhThucHien": 4}),
		hoso("A-11", map[string]any{"LoaiDoiTuong": "3"}),
		hoso("A-12", map[string]any{"NgayTra": "20261321000000"}),
		hoso("A-13", map[string]any{"Gia": 1, "TrangThaiHoSo": 10, "KenhThucHien": 3, "NgayTra": ""}),
		"not an object",
	)
	want := []string{"00", "22", "21", "00", "24", "24", "24", "24", "24", "24", "24", "24", "24", "24", "00", "24"}
	if got := itemCodes(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("codes\n got %v\nwant %v\n%v", got, want, m["result"])
	}
	msgs := m["result"].([]any)
	for i, field := range map[int]string{4: "NgayTiepNhan", 5: "TrangThaiHoSo", 6: "HinhThuc", 7: "DanhSachLePhi[0].Gia", 8: "DanhSachLePhi[0].DaThanhToan", 9: "MaHoSo", 10: "ChuHoSo", 13: "NgayTra"} {
		if msg := msgs[i].(map[string]any)["message"].(string); !strings.Contains(msg, field) {
			t.Errorf("item %d message %q does not name %s", i, msg, field)
		}
	}
	// Updates: held → 00, unknown → 23; a create with isUpdating "True" for unknown → 23.
	m = push(t, srv.URL, sess, "DongBoHoSoMC", "True", hoso("A-1", map[string]any{"TrangThaiHoSo": "9"}), hoso("B-1", nil))
	if got := strings.Join(itemCodes(m), ","); got != "00,23" {
		t.Errorf("updates %s", got)
	}
	step := func(id string, over map[string]any) map[string]any {
		st := map[string]any{"MaHoSo": id, "NguoiXuLy": "Trần Thu Hà", "ChucDanh": "Chuyên viên", "ThoiDiemXuLy": "20261121075512",
			"PhongBanXuLy": "Bộ phận một cửa", "NoiDungXuLy": "Tiếp nhận", "TrangThai": 2, "NgayBatDau": "20261121075512", "NgayKetThucTheoQuyDinh": "20261126170000"}
		for k, v := range over {
			st[k] = v
		}
		return st
	}
	m = push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", "", step("A-1", nil), step("B-1", nil),
		step("A-1", map[string]any{"TrangThai": 0}), step("A-1", map[string]any{"ThoiDiemXuLy": "2026-11-21"}), step("A-1", map[string]any{"ThoiDiemXuLy": ""}))
	if got := strings.Join(itemCodes(m), ","); got != "00,23,24,24,24" {
		t.Errorf("steps %s", got)
	}
	d, ok := s.Dossier("A-1")
	if !ok || len(d.History) != 3 || d.History[0].IsUpdating != "False" || d.History[1].IsUpdating != "True" || d.History[2].Service != "CapNhatTienDoHoSoMC" {
		t.Fatalf("history %+v", d.History)
	}
	var h map[string]any
	_ = json.Unmarshal(d.HoSo, &h)
	if h["TrangThaiHoSo"] != "9" {
		t.Errorf("stored HOSO is the last DongBoHoSoMC item, steps do not change it: %v", h["TrangThaiHoSo"])
	}
	st := s.Stats()
	if st.Dossiers != 3 || st.ItemsAccepted["DongBoHoSoMC"] != 4 || st.ItemsAccepted["CapNhatTienDoHoSoMC"] != 1 ||
		st.ItemErrors["24"] != 14 || st.ItemErrors["23"] != 2 || st.ItemErrors["22"] != 1 || st.ItemErrors["21"] != 1 || st.Requests["DongBoHoSoMC"] != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestCallErrors(t *testing.T) {
	_, srv, _ := start(t, Config{})
	sess := login(t, srv.URL)
	many := make([]any, 101)
	for i := range many {
		many[i] = hoso(fmt.Sprintf("M-%d", i), nil)
	}
	if m := push(t, srv.URL, sess, "DongBoHoSoMC", "False", many...); m["error_code"] != "-1" || m["result"] != nil {
		t.Errorf("101 items: %v", m["error_code"])
	}
	if m := push(t, srv.URL, sess, "DongBoHoSoMC", "false", many[:100]...); m["error_code"] != "00" || len(m["result"].([]any)) != 100 {
		t.Errorf("100 items: %v", m["error_code"])
	}
	if m := push(t, srv.URL, sess, "DongBoHoSoMC", "Maybe", hoso("X", nil)); m["error_code"] != "-1" {
		t.Errorf("bad isUpdating: %v", m)
	}
	if m := push(t, srv.URL, sess, "XoaHoSo", "", hoso("X", nil)); m["error_code"] != "-1" {
		t.Errorf("unknown service: %v", m)
	}
	if _, _, m := post(t, srv.URL+"/api/integration", dst, `{"session":`); m["error_code"] != "-1" {
		t.Errorf("bad JSON: %v", m)
	}
}

func TestRateLimitAndInternalError(t *testing.T) {
	_, srv, _ := start(t, Config{})
	sess := login(t, srv.URL)
	post(t, srv.URL+"/_sim/faults", "", `{"rate_limit_rps":1}`)
	push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", "")
	code, h, _ := post(t, srv.URL+"/api/integration", dst, map[string]any{"session": sess, "service": "CapNhatTienDoHoSoMC", "data": []any{}})
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("rate limit: %d Retry-After %q", code, h.Get("Retry-After"))
	}
	post(t, srv.URL+"/_sim/faults", "", `{"rate_limit_rps":0,"error_rate":1}`)
	if m := push(t, srv.URL, sess, "CapNhatTienDoHoSoMC", ""); m["error_code"] != "99" {
		t.Errorf("internal error: %v", m)
	}
}

func TestShareAndCatalog(t *testing.T) {
	_, srv, _ := start(t, Config{})
	sess := login(t, srv.URL)
	push(t, srv.URL, sess, "DongBoHoSoMC", "False", hoso("S-1", nil))
	_, _, m := post(t, srv.URL+"/api/share", dst, map[string]any{"session": sess, "service": "TraCuuHoSo", "MaHoSo": "S-1"})
	res := m["result"].([]any)
	if m["error_code"] != "00" || len(res) != 1 || res[0].(map[string]any)["ChuHoSo"] != "Hoàng Văn Nam" {
		t.Errorf("TraCuuHoSo %v", m)
	}
	_, _, m = post(t, srv.URL+"/api/share", dst, map[string]any{"session": sess, "service": "TraCuuHoSo", "MaHoSo": "S-2"})
	if res := m["result"].([]any); len(res) != 0 {
		t.Errorf("unknown dossier: %v", m)
	}
	_, _, m = post(t, srv.URL+"/api/share", dst, map[string]any{"session": sess, "service": "LayDanhSachTTHC"})
	if procs := m["result"].([]any); len(procs) < 10 || procs[0].(map[string]any)["MaTTHC"] == "" {
		t.Errorf("LayDanhSachTTHC %v", m)
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/_sim/catalog", strings.NewReader(`[{"MaTTHC":"1.000894","TenTTHC":"Đăng ký khai sinh","MaLinhVuc":"HT","TenLinhVuc":"Hộ tịch","MucDo":"TOAN_TRINH","PhiLePhi":[]}]`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT catalog %v %v", err, resp.Status)
	}
	resp.Body.Close()
	m = push(t, srv.URL, sess, "DongBoHoSoMC", "False", hoso("S-3", nil), hoso("S-4", map[string]any{"MaTTHC": "1.000894.000.00.00.H25"}))
	if got := strings.Join(itemCodes(m), ","); got != "21,00" {
		t.Errorf("after catalogue change: %s", got)
	}
	_, _, m = post(t, srv.URL+"/api/share", dst, map[string]any{"session": sess, "service": "LayDanhSachTTHC"})
	if procs := m["result"].([]any); len(procs) != 1 || procs[0].(map[string]any)["MucDo"] != "TOAN_TRINH" {
		t.Errorf("catalogue %v", m["result"])
	}
}

func TestSimDossiers(t *testing.T) {
	_, srv, _ := start(t, Config{})
	sess := login(t, srv.URL)
	for i := range 5 {
		push(t, srv.URL, sess, "DongBoHoSoMC", "False", hoso(fmt.Sprintf("L-%d", i), nil))
	}
	resp, _ := http.Get(srv.URL + "/_sim/dossiers?offset=3&limit=10")
	var page struct {
		Total int       `json:"total"`
		Items []Dossier `json:"items"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page.Total != 5 || len(page.Items) != 2 || page.Items[0].MaHoSo != "L-3" || len(page.Items[0].History) != 1 || page.Items[0].DstCode != dst {
		t.Errorf("page %+v", page)
	}
	resp, _ = http.Get(srv.URL + "/_sim/dossiers/L-0")
	var d Dossier
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.MaHoSo != "L-0" || !strings.Contains(string(d.HoSo), `"MaTTHC":"2.000815"`) || d.History[0].Item == nil {
		t.Errorf("dossier %+v", d)
	}
	resp, _ = http.Get(srv.URL + "/_sim/dossiers/none")
	if resp.StatusCode != 404 {
		t.Errorf("unknown: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Get(srv.URL + "/_sim/stats")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, k := range []string{`"requests"`, `"items_accepted"`, `"item_errors"`, `"logins":1`, `"dossiers":5`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("stats lack %s: %s", k, b)
		}
	}
}
