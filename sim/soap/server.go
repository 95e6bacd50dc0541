// Package soap simulates a provincial portal of the SOAP kind (as at Thái
// Nguyên): a SOAP 1.1
// web service with credentials in a SOAP header (contract §2, controls §8).
package soap

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	Username string // default "hub"
	Password string // default "hub-secret"
	// Prefix is the namespace prefix answers use for the target namespace:
	// "" (default namespace, as in the contract's example), "mc", "tns",
	// "ns1" or any other NCName; "*" rotates through "", "mc", "tns", "ns1"
	// answer by answer.
	Prefix   string
	Agencies []gen.Agency // receiving agencies; default the profile\'s
	// Profile is the province simulated (default gen.ThaiNguyen()).
	Profile *gen.Profile
	Now     func() time.Time
}

// Server is the simulated portal; it implements http.Handler.
type Server struct {
	cfg     Config
	ctl     *simctl.Controller
	book    *simctl.Book
	handler http.Handler
	turn    atomic.Uint64 // rotation for Prefix "*"
}

var ncName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// rotation is the prefix cycle for Prefix "*".
var rotation = []string{"", "mc", "tns", "ns1"}

// ValidPrefix reports whether p can be used as Config.Prefix.
func ValidPrefix(p string) error {
	if p != "" && p != "*" && (!ncName.MatchString(p) || p == "soap" || strings.HasPrefix(strings.ToLower(p), "xml")) {
		return fmt.Errorf("thainguyen: invalid namespace prefix %q", p)
	}
	return nil
}

// New returns a simulator with an empty store. It panics on an invalid Prefix.
func New(cfg Config) *Server {
	if cfg.Username == "" {
		cfg.Username = "hub"
	}
	if cfg.Password == "" {
		cfg.Password = "hub-secret"
	}
	if err := ValidPrefix(cfg.Prefix); err != nil {
		panic(err)
	}
	prof := gen.ThaiNguyen()
	if cfg.Profile != nil {
		prof = *cfg.Profile
	}
	if len(cfg.Agencies) > 0 {
		prof.Agencies = cfg.Agencies
	}
	s := &Server{cfg: cfg}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			writeFault(w, "soap:Server", "Lỗi hệ thống, vui lòng thử lại sau")
		},
	})
	s.book = simctl.NewBook(simctl.BookConfig{
		Format: format{}, Generator: gen.New(prof), Clock: gen.NewClock(cfg.Now), Controller: s.ctl,
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.book.Register(mux)
	mux.HandleFunc("POST /MotCuaService.asmx", s.serve)
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Book returns the dossier store.
func (s *Server) Book() *simctl.Book { return s.book }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases held requests and stops background generation.
func (s *Server) Close() {
	s.ctl.Close()
	s.book.Close()
}

func (s *Server) prefix() string {
	if s.cfg.Prefix == "*" {
		return rotation[(s.turn.Add(1)-1)%uint64(len(rotation))]
	}
	return s.cfg.Prefix
}

// serve dispatches on the SOAPAction header, as ASMX services do.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := simctl.ReadBody(r)
	if err != nil {
		writeFault(w, "soap:Client", err.Error())
		return
	}
	action := strings.Trim(strings.TrimSpace(r.Header.Get("SOAPAction")), `"`)
	op, ok := strings.CutPrefix(action, Namespace)
	if !ok || (op != "LayDanhSachHoSo" && op != "CapNhatSuKienHoSo") {
		writeFault(w, "soap:Client", "Máy chủ không nhận ra giá trị của HTTP header SOAPAction: "+action)
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		writeFault(w, "soap:Client", err.Error())
		return
	}
	if !req.hasAuth || req.user != s.cfg.Username || req.password != s.cfg.Password {
		writeFault(w, "soap:Client", "Sai thông tin xác thực")
		return
	}
	if req.op.Tag != op || req.op.NamespaceURI() != Namespace {
		writeFault(w, "soap:Client", "Phần tử trong soap:Body không khớp với SOAPAction "+action)
		return
	}
	switch op {
	case "LayDanhSachHoSo":
		s.list(w, req)
	case "CapNhatSuKienHoSo":
		s.event(w, req)
	}
}

func (s *Server) list(w http.ResponseWriter, req *request) {
	from, err := time.ParseInLocation(dateTime, strings.TrimSpace(childText(req.op, "TuThoiDiem")), gen.VN)
	if err != nil {
		writeFault(w, "soap:Client", "TuThoiDiem phải có dạng dd/MM/yyyy HH:mm:ss")
		return
	}
	page, size := 1, 100
	if hasChild(req.op, "TrangSo") {
		page, err = strconv.Atoi(strings.TrimSpace(childText(req.op, "TrangSo")))
		if err != nil || page < 1 {
			writeFault(w, "soap:Client", "TrangSo phải là số nguyên ≥ 1")
			return
		}
	}
	if hasChild(req.op, "SoBanGhi") {
		size, err = strconv.Atoi(strings.TrimSpace(childText(req.op, "SoBanGhi")))
		if err != nil || size < 1 || size > 500 {
			writeFault(w, "soap:Client", "SoBanGhi phải trong khoảng 1..500")
			return
		}
	}
	total, items := s.book.Since(from, page, size)
	var b bytes.Buffer
	b.WriteString("<LayDanhSachHoSoResult><TongSoBanGhi>" + itoa(total) + "</TongSoBanGhi><DanhSachHoSo>")
	for _, it := range items {
		b.Write(s.book.Serve(it.ID, it.Version, it.Data))
	}
	b.WriteString("</DanhSachHoSo></LayDanhSachHoSoResult>")
	simctl.WriteRaw(w, http.StatusOK, contentType, response("LayDanhSachHoSo", s.prefix(), b.Bytes()))
}

var eventKinds = map[string]bool{"THANH_TOAN": true, "BUU_CHINH": true, "DONG_BO_QUOC_GIA": true}

// event handles CapNhatSuKienHoSo. The first answer for a MaThamChieu is
// remembered: a repeat is acknowledged again without a second effect.
func (s *Server) event(w http.ResponseWriter, req *request) {
	ev := map[string]string{}
	for _, f := range []string{"MaHoSo", "LoaiSuKien", "MaThamChieu", "ThoiDiem", "NoiDung"} {
		ev[f] = strings.TrimSpace(childText(req.op, f))
	}
	switch {
	case ev["MaHoSo"] == "" || ev["MaThamChieu"] == "":
		writeFault(w, "soap:Client", "MaHoSo và MaThamChieu là bắt buộc")
		return
	case !eventKinds[ev["LoaiSuKien"]]:
		writeFault(w, "soap:Client", "LoaiSuKien phải là THANH_TOAN, BUU_CHINH hoặc DONG_BO_QUOC_GIA")
		return
	}
	if _, err := time.ParseInLocation(dateTime, ev["ThoiDiem"], gen.VN); err != nil {
		writeFault(w, "soap:Client", "ThoiDiem phải có dạng dd/MM/yyyy HH:mm:ss")
		return
	}
	p := s.prefix()
	a := s.book.Writeback(ev["MaThamChieu"], func() (simctl.Answer, simctl.Writeback) {
		wb := simctl.Writeback{MaHoSo: ev["MaHoSo"], Kind: ev["LoaiSuKien"], Request: ev}
		if !s.book.Exists(ev["MaHoSo"]) {
			return simctl.Answer{Status: http.StatusInternalServerError, ContentType: contentType,
				Body: faultBody("soap:Client", "Không tìm thấy hồ sơ "+ev["MaHoSo"])}, wb
		}
		return simctl.Answer{Status: http.StatusOK, ContentType: contentType,
			Body: response("CapNhatSuKienHoSo", p, []byte("<KetQua>1</KetQua>"))}, wb
	})
	simctl.WriteRaw(w, a.Status, a.ContentType, a.Body)
}

// Snapshot writes the simulator's whole state: every dossier and all its
// versions, version counters, the generator's code sequences, generated
// dossiers with lifecycle left and background changes pending, writebacks
// and the malformed records served. Tokens and fault settings are not saved.
func (s *Server) Snapshot(w io.Writer) error { return s.book.Snapshot(w, "thainguyen") }

// Restore replaces the simulator's state with one written by Snapshot. Call
// before serving.
func (s *Server) Restore(r io.Reader) error { return s.book.Restore(r, "thainguyen") }
