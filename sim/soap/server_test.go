package soap

import (
	"encoding/xml"
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

const ns = Namespace

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

// envelope builds a request with the given prefix for the target namespace
// ("" declares it as the default namespace).
func envelope(p, user, pass, op, inner string) string {
	q := func(n string) string {
		if p == "" {
			return n
		}
		return p + ":" + n
	}
	decl := ` xmlns="` + ns + `"`
	if p != "" {
		decl = ` xmlns:` + p + `="` + ns + `"`
	}
	return `<?xml version="1.0" encoding="utf-8"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"` + decl + `>` +
		`<S:Header><` + q("XacThuc") + `><` + q("TenDangNhap") + `>` + user + `</` + q("TenDangNhap") + `><` + q("MatKhau") + `>` + pass + `</` + q("MatKhau") + `></` + q("XacThuc") + `></S:Header>` +
		`<S:Body><` + q(op) + `>` + strings.ReplaceAll(strings.ReplaceAll(inner, "<", "<"+q("")), "<"+q("")+"/", "</"+q("")) + `</` + q(op) + `></S:Body></S:Envelope>`
}

func call(t *testing.T, base, op, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/MotCuaService.asmx", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+ns+op+`"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type hoSo struct {
	MaHoSo          string `xml:"http://motcua.thainguyen.gov.vn/ MaHoSo"`
	PhienBan        int    `xml:"http://motcua.thainguyen.gov.vn/ PhienBan"`
	ThoiDiemCapNhat string `xml:"http://motcua.thainguyen.gov.vn/ ThoiDiemCapNhat"`
	TrangThai       string `xml:"http://motcua.thainguyen.gov.vn/ TrangThai"`
	NguoiNop        struct {
		Loai     string `xml:"LoaiDoiTuong,attr"`
		HoTen    string `xml:"http://motcua.thainguyen.gov.vn/ HoTen"`
		NgaySinh string `xml:"http://motcua.thainguyen.gov.vn/ NgaySinh"`
	} `xml:"http://motcua.thainguyen.gov.vn/ NguoiNop"`
}

type listEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Resp struct {
			Result struct {
				Tong int `xml:"http://motcua.thainguyen.gov.vn/ TongSoBanGhi"`
				List struct {
					HoSo []hoSo `xml:"http://motcua.thainguyen.gov.vn/ HoSo"`
				} `xml:"http://motcua.thainguyen.gov.vn/ DanhSachHoSo"`
			} `xml:"http://motcua.thainguyen.gov.vn/ LayDanhSachHoSoResult"`
		} `xml:"http://motcua.thainguyen.gov.vn/ LayDanhSachHoSoResponse"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type faultEnvelope struct {
	Body struct {
		Fault struct {
			Code   string `xml:"faultcode"`
			String string `xml:"faultstring"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func list(t *testing.T, base, reqPrefix, from string, page, size int) (int, []hoSo) {
	t.Helper()
	inner := fmt.Sprintf("<TuThoiDiem>%s</TuThoiDiem><TrangSo>%d</TrangSo><SoBanGhi>%d</SoBanGhi>", from, page, size)
	code, b := call(t, base, "LayDanhSachHoSo", envelope(reqPrefix, "hub", "hub-secret", "LayDanhSachHoSo", inner))
	if code != 200 {
		t.Fatalf("list %d %s", code, b)
	}
	var env listEnvelope
	if err := xml.Unmarshal(b, &env); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return env.Body.Resp.Result.Tong, env.Body.Resp.Result.List.HoSo
}

func fault(t *testing.T, code int, b []byte) (string, string) {
	t.Helper()
	if code != 500 {
		t.Fatalf("fault status %d: %s", code, b)
	}
	var f faultEnvelope
	if err := xml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Body.Fault.Code, f.Body.Fault.String
}

func callFault(t *testing.T, base, op, body string) (string, string) {
	t.Helper()
	code, b := call(t, base, op, body)
	return fault(t, code, b)
}

func generate(t *testing.T, base, body string) {
	t.Helper()
	resp, err := http.Post(base+"/_sim/generate", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("generate: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

func TestPrefixesBothWays(t *testing.T) {
	for _, answer := range []string{"", "mc", "tns", "ns1", "*"} {
		_, srv, _ := start(t, Config{Prefix: answer})
		generate(t, srv.URL, `{"count":12,"seed":1,"steps":2}`)
		for _, reqPrefix := range []string{"", "mc", "x"} {
			total, items := list(t, srv.URL, reqPrefix, "21/11/2026 07:00:00", 1, 10)
			if total != 12 || len(items) != 10 {
				t.Fatalf("answer prefix %q, request prefix %q: total %d items %d", answer, reqPrefix, total, len(items))
			}
			h := items[0]
			if h.MaHoSo == "" || h.PhienBan != 3 || h.ThoiDiemCapNhat != "21/11/2026 08:00:00" || h.NguoiNop.HoTen == "" || h.NguoiNop.Loai == "" {
				t.Errorf("record %+v", h)
			}
			if _, ok := statusCodes[h.TrangThai]; !ok {
				t.Errorf("status %q", h.TrangThai)
			}
		}
	}
}

func TestAnswerUsesConfiguredPrefix(t *testing.T) {
	_, srv, _ := start(t, Config{Prefix: "tns"})
	generate(t, srv.URL, `{"count":1,"seed":1}`)
	_, b := call(t, srv.URL, "LayDanhSachHoSo", envelope("mc", "hub", "hub-secret", "LayDanhSachHoSo", "<TuThoiDiem>01/01/2026 00:00:00</TuThoiDiem>"))
	for _, want := range []string{`<tns:LayDanhSachHoSoResponse xmlns:tns="` + ns + `">`, "<tns:HoSo>", "<tns:HoTen>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer lacks %s:\n%s", want, b)
		}
	}
}

func TestAuthFaults(t *testing.T) {
	_, srv, _ := start(t, Config{Username: "u", Password: "p"})
	inner := "<TuThoiDiem>21/11/2026 07:00:00</TuThoiDiem>"
	code, b := call(t, srv.URL, "LayDanhSachHoSo", envelope("mc", "u", "wrong", "LayDanhSachHoSo", inner))
	if c, s := fault(t, code, b); c != "soap:Client" || s != "Sai thông tin xác thực" {
		t.Errorf("bad password: %s %s", c, s)
	}
	// Credentials in another namespace do not count.
	other := strings.Replace(envelope("mc", "u", "p", "LayDanhSachHoSo", inner), `<S:Header><mc:XacThuc>`, `<S:Header><mc:XacThuc xmlns:mc="urn:other">`, 1)
	if c, _ := callFault(t, srv.URL, "LayDanhSachHoSo", other); c != "soap:Client" {
		t.Errorf("foreign-namespace credentials accepted")
	}
	if code, _ := call(t, srv.URL, "LayDanhSachHoSo", envelope("mc", "u", "p", "LayDanhSachHoSo", inner)); code != 200 {
		t.Errorf("good credentials: %d", code)
	}
	// SOAPAction selects the operation.
	code, b = call(t, srv.URL, "Khac", envelope("mc", "u", "p", "LayDanhSachHoSo", inner))
	if c, _ := fault(t, code, b); c != "soap:Client" {
		t.Error("unknown SOAPAction accepted")
	}
	for _, bad := range []string{"<TuThoiDiem>2026-11-21</TuThoiDiem>", inner + "<SoBanGhi>501</SoBanGhi>", inner + "<TrangSo>0</TrangSo>"} {
		code, b := call(t, srv.URL, "LayDanhSachHoSo", envelope("", "u", "p", "LayDanhSachHoSo", bad))
		if c, _ := fault(t, code, b); c != "soap:Client" {
			t.Errorf("%s: %s", bad, c)
		}
	}
}

func TestPagingInclusive(t *testing.T) {
	_, srv, clk := start(t, Config{})
	generate(t, srv.URL, `{"count":30,"seed":2}`)
	clk.Add(5 * time.Second)
	generate(t, srv.URL, `{"count":20,"seed":3}`)
	if total, _ := list(t, srv.URL, "mc", "21/11/2026 08:00:05", 1, 500); total != 20 {
		t.Errorf("inclusive: %d", total)
	}
	var ids []string
	for p := 1; p <= 3; p++ {
		_, items := list(t, srv.URL, "mc", "21/11/2026 08:00:00", p, 20)
		for _, h := range items {
			ids = append(ids, h.ThoiDiemCapNhat+" "+h.MaHoSo)
		}
	}
	if len(ids) != 50 {
		t.Fatalf("%d records over 3 pages", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] { // same-date strings compare in time order here
			t.Fatalf("order broken at %d: %s >= %s", i, ids[i-1], ids[i])
		}
	}
}

func TestWriteback(t *testing.T) {
	s, srv, _ := start(t, Config{Prefix: "ns1"})
	generate(t, srv.URL, `{"count":1,"seed":4}`)
	_, items := list(t, srv.URL, "", "01/01/2026 00:00:00", 1, 1)
	inner := "<MaHoSo>" + items[0].MaHoSo + "</MaHoSo><LoaiSuKien>BUU_CHINH</LoaiSuKien><MaThamChieu>VN-1</MaThamChieu><ThoiDiem>21/11/2026 09:00:00</ThoiDiem><NoiDung>Đã giao</NoiDung>"
	for range 2 {
		code, b := call(t, srv.URL, "CapNhatSuKienHoSo", envelope("tns", "hub", "hub-secret", "CapNhatSuKienHoSo", inner))
		if code != 200 || !strings.Contains(string(b), "<ns1:KetQua>1</ns1:KetQua>") {
			t.Fatalf("writeback %d %s", code, b)
		}
	}
	wbs := s.Book().Writebacks()
	if len(wbs) != 2 || wbs[0].Duplicate || !wbs[1].Duplicate || wbs[0].Kind != "BUU_CHINH" || wbs[0].Key != "VN-1" {
		t.Errorf("writebacks %+v", wbs)
	}
	bad := strings.Replace(inner, "BUU_CHINH", "KHAC", 1)
	if c, _ := callFault(t, srv.URL, "CapNhatSuKienHoSo", envelope("", "hub", "hub-secret", "CapNhatSuKienHoSo", bad)); c != "soap:Client" {
		t.Error("bad LoaiSuKien accepted")
	}
	unknown := strings.NewReplacer(items[0].MaHoSo, "KHONG-CO", "VN-1", "VN-2").Replace(inner)
	if c, _ := callFault(t, srv.URL, "CapNhatSuKienHoSo", envelope("", "hub", "hub-secret", "CapNhatSuKienHoSo", unknown)); c != "soap:Client" {
		t.Error("unknown dossier accepted")
	}
}

func TestPostedHoSoAndServerFault(t *testing.T) {
	_, srv, _ := start(t, Config{Prefix: "mc"})
	posted := `<x:HoSo xmlns:x="` + ns + `"><!-- test --><x:MaHoSo>TN-1</x:MaHoSo><x:PhienBan>9</x:PhienBan><x:TrangThai>CBS</x:TrangThai><x:NguoiNop LoaiDoiTuong="1"><x:HoTen>Hoàng Văn Nam</x:HoTen><x:NgaySinh>31/02/1988</x:NgaySinh></x:NguoiNop></x:HoSo>`
	resp, err := http.Post(srv.URL+"/_sim/dossiers", "text/xml", strings.NewReader(posted))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	_, items := list(t, srv.URL, "", "21/11/2026 08:00:00", 1, 10)
	if len(items) != 1 || items[0].PhienBan != 1 || items[0].TrangThai != "CBS" || items[0].NguoiNop.NgaySinh != "31/02/1988" || items[0].ThoiDiemCapNhat != "21/11/2026 08:00:00" {
		t.Errorf("posted record served as %+v", items)
	}
	resp, _ = http.Get(srv.URL + "/_sim/dossiers/TN-1")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `<HoSo xmlns="`+ns+`"><MaHoSo>TN-1</MaHoSo><PhienBan>1</PhienBan><ThoiDiemCapNhat>`) {
		t.Errorf("current record %s", b)
	}

	resp, _ = http.Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(`{"error_rate":1}`))
	resp.Body.Close()
	code, b := call(t, srv.URL, "LayDanhSachHoSo", envelope("", "hub", "hub-secret", "LayDanhSachHoSo", "<TuThoiDiem>21/11/2026 08:00:00</TuThoiDiem>"))
	if c, _ := fault(t, code, b); c != "soap:Server" {
		t.Errorf("internal error fault %q", c)
	}
}

func TestMalformedKeepsDocumentWellFormed(t *testing.T) {
	s, srv, _ := start(t, Config{Prefix: "mc"})
	generate(t, srv.URL, `{"count":60,"seed":6,"steps":3}`)
	resp, _ := http.Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(`{"malformed_rate":1}`))
	resp.Body.Close()
	total, items := list(t, srv.URL, "", "21/11/2026 08:00:00", 1, 500)
	if total != 60 || len(items) != 60 {
		t.Fatalf("%d/%d", total, len(items))
	}
	for _, h := range items {
		if h.MaHoSo == "" || h.PhienBan < 1 {
			t.Fatalf("identity lost: %+v", h)
		}
	}
	mal := s.Book().MalformedServed()
	if len(mal) != 60 {
		t.Fatalf("%d corruptions recorded", len(mal))
	}
	fields := map[string]bool{}
	for _, m := range mal {
		fields[m.Field] = true
	}
	for _, f := range []string{"NguoiNop/NgaySinh", "TrangThai", "NguoiNop/SoGiayTo", "NgayNop"} {
		if !fields[f] {
			t.Errorf("no corruption of %s: %v", f, fields)
		}
	}
}

func TestPrefixed(t *testing.T) {
	in := `<HoSo><A x="1&lt;2">t&lt;x</A><B/><o:C>z</o:C></HoSo>`
	want := `<p:HoSo><p:A x="1&lt;2">t&lt;x</p:A><p:B/><o:C>z</o:C></p:HoSo>`
	if got := string(prefixed([]byte(in), "p")); got != want {
		t.Errorf("got %s", got)
	}
}
