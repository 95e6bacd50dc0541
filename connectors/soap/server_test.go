package soap

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
	"github.com/lienthong/lienthong/schemas"
)

const ns = "http://motcua.thainguyen.gov.vn/"

var t0 = time.Date(2026, 11, 21, 8, 1, 13, 0, schemas.Vietnam)

// service is an independent test implementation of spec §2.
type service struct {
	t   *testing.T
	tab *httpxtest.LiveTable
	srv *httptest.Server

	mu     sync.Mutex
	style  string   // answer namespace style: default | tns | x9 | mixed
	faults []string // next answers: "client", "server", "html503"
	events map[string]bool
	order  []string
	calls  int
	noDate bool // list answers carry no Date header
}

func newService(t *testing.T) *service {
	s := &service{t: t, tab: httpxtest.NewLiveTable(t0), style: "default", events: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *service) client(t *testing.T, mod func(*Config)) *Client {
	cfg := Config{Source: "thainguyen", BaseURL: s.srv.URL, Username: "hub", Password: "p&ss<1>", PageSize: 3, Start: t0.Add(-24 * time.Hour)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type request struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Header  struct {
		User string `xml:"http://motcua.thainguyen.gov.vn/ XacThuc>TenDangNhap"`
		Pass string `xml:"http://motcua.thainguyen.gov.vn/ XacThuc>MatKhau"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body struct {
		List *struct {
			TuThoiDiem string `xml:"http://motcua.thainguyen.gov.vn/ TuThoiDiem"`
			TrangSo    int    `xml:"http://motcua.thainguyen.gov.vn/ TrangSo"`
			SoBanGhi   int    `xml:"http://motcua.thainguyen.gov.vn/ SoBanGhi"`
		} `xml:"http://motcua.thainguyen.gov.vn/ LayDanhSachHoSo"`
		Event *struct {
			MaHoSo      string `xml:"http://motcua.thainguyen.gov.vn/ MaHoSo"`
			LoaiSuKien  string `xml:"http://motcua.thainguyen.gov.vn/ LoaiSuKien"`
			MaThamChieu string `xml:"http://motcua.thainguyen.gov.vn/ MaThamChieu"`
			ThoiDiem    string `xml:"http://motcua.thainguyen.gov.vn/ ThoiDiem"`
			NoiDung     string `xml:"http://motcua.thainguyen.gov.vn/ NoiDung"`
		} `xml:"http://motcua.thainguyen.gov.vn/ CapNhatSuKienHoSo"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func fault(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring></soap:Fault></soap:Body></soap:Envelope>`, code, msg)
}

func (s *service) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	var next string
	if len(s.faults) > 0 {
		next, s.faults = s.faults[0], s.faults[1:]
	}
	style := s.style
	s.mu.Unlock()
	switch next {
	case "server":
		fault(w, "soap:Server", "Lỗi hệ thống")
		return
	case "html503":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html><body>Service Unavailable</body></html>")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/MotCuaService.asmx" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
		s.t.Errorf("bad request line/headers: %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		fault(w, "soap:Client", "bad request")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var req request
	if err := xml.Unmarshal(raw, &req); err != nil {
		fault(w, "soap:Client", "XML không hợp lệ")
		return
	}
	if next == "client" || req.Header.User != "hub" || req.Header.Pass != "p&ss<1>" {
		fault(w, "soap:Client", "Sai thông tin xác thực")
		return
	}
	action := r.Header.Get("SOAPAction")
	switch {
	case req.Body.List != nil && action == `"`+ns+`LayDanhSachHoSo"`:
		l := req.Body.List
		since, err := time.ParseInLocation("02/01/2006 15:04:05", l.TuThoiDiem, schemas.Vietnam)
		if err != nil || l.TrangSo < 1 || l.SoBanGhi < 1 || l.SoBanGhi > 500 {
			fault(w, "soap:Client", "Tham số không hợp lệ")
			return
		}
		rows, total := s.tab.Query(since, l.TrangSo, l.SoBanGhi)
		s.mu.Lock()
		noDate := s.noDate
		s.mu.Unlock()
		if noDate {
			w.Header()["Date"] = nil // suppresses net/http's own
		} else {
			// The clock that stamps the dossiers writes Date, as on the portal.
			w.Header().Set("Date", s.tab.Now().UTC().Format(http.TimeFormat))
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, renderList(style, rows, total))
	case req.Body.Event != nil && action == `"`+ns+`CapNhatSuKienHoSo"`:
		e := req.Body.Event
		if _, ok := s.tab.Latest()[e.MaHoSo]; !ok {
			fault(w, "soap:Client", "Không tìm thấy hồ sơ")
			return
		}
		s.mu.Lock()
		if !s.events[e.MaThamChieu] {
			s.events[e.MaThamChieu] = true
			s.order = append(s.order, strings.Join([]string{e.MaHoSo, e.LoaiSuKien, e.MaThamChieu, e.ThoiDiem, e.NoiDung}, "|"))
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><CapNhatSuKienHoSoResponse xmlns="%s"><CapNhatSuKienHoSoResult><KetQua>1</KetQua></CapNhatSuKienHoSoResult></CapNhatSuKienHoSoResponse></soap:Body></soap:Envelope>`, ns)
	default:
		fault(w, "soap:Client", "Thao tác không hợp lệ")
	}
}

// renderList writes a LayDanhSachHoSo answer in one of several namespace
// styles; the content is the same.
func renderList(style string, rows []httpxtest.Row, total int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	var p, open string
	switch style {
	case "default":
		b.WriteString(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`)
		open = `<LayDanhSachHoSoResponse xmlns="` + ns + `">`
	case "tns": // prefix declared on the envelope only
		b.WriteString(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="` + ns + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>`)
		p = "tns:"
		open = `<tns:LayDanhSachHoSoResponse>`
	case "x9": // odd prefixes everywhere, also for SOAP
		b.WriteString(`<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>`)
		p = "x9:"
		open = `<x9:LayDanhSachHoSoResponse xmlns:x9="` + ns + `">`
	case "mixed": // default namespace outside, ns1: on the records
		b.WriteString(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`)
		open = `<LayDanhSachHoSoResponse xmlns="` + ns + `" xmlns:ns1="` + ns + `">`
	}
	rp := p
	if style == "mixed" {
		rp = "ns1:"
	}
	b.WriteString(open)
	fmt.Fprintf(&b, "<%sLayDanhSachHoSoResult><%sTongSoBanGhi>%d</%sTongSoBanGhi><%sDanhSachHoSo>", p, p, total, p, p)
	for _, r := range rows {
		b.WriteString(renderHoSo(rp, r))
	}
	fmt.Fprintf(&b, "</%sDanhSachHoSo></%sLayDanhSachHoSoResult></%sLayDanhSachHoSoResponse>", p, p, p)
	if style == "x9" {
		b.WriteString(`</S:Body></S:Envelope>`)
	} else {
		b.WriteString(`</soap:Body></soap:Envelope>`)
	}
	return b.String()
}

func renderHoSo(p string, r httpxtest.Row) string {
	e := func(name, v string) string { return "<" + p + name + ">" + v + "</" + p + name + ">" }
	ver := strconv.FormatInt(r.Version, 10)
	when := r.Updated.Format("02/01/2006 15:04:05")
	id := r.ID
	switch r.Broken {
	case "badversion":
		ver = "hai"
	case "notime":
		when = "31/02/2026 25:61:00"
	case "noid":
		id = ""
	}
	s := "<" + p + "HoSo>" + e("MaHoSo", id) + e("PhienBan", ver) + e("ThoiDiemCapNhat", when) +
		e("MaTTHC", "2.000815") + e("TenTTHC", "Cấp giấy chứng nhận đăng ký hộ kinh doanh") +
		"<" + p + `NguoiNop LoaiDoiTuong="1">` + e("HoTen", "Hoàng Văn Nam") + "<" + p + `SoGiayTo Loai="CCCD">019088004512</` + p + "SoGiayTo>" +
		"<" + p + "Email/>" + "</" + p + "NguoiNop>" +
		e("TrichYeu", "Đăng ký hộ kinh doanh tạp hoá &amp; dịch vụ") + e("TrangThai", "DANG_XL")
	if p == "tns:" {
		s += `<tns:NgayTra xsi:nil="true"/>`
	}
	return s + "</" + p + "HoSo>"
}
