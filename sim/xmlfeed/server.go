// Package xmlfeed simulates a provincial portal of the XML change feed kind
// (as at Hà Tĩnh): an XML change feed
// (an append-only log) served as UTF-8 or windows-1258 (contract §3,
// controls §8).
package xmlfeed

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	APIKey string // X-API-Key; default "hub-key"
	// Charset of the feed and of every API answer: "utf-8" (default) or
	// "windows-1258".
	Charset  string
	Agencies []gen.Agency // receiving agencies; default the profile\'s
	// Profile is the province simulated (default gen.HaTinh()).
	Profile *gen.Profile
	// DeleteRate is the share of generated dossiers created in error and then
	// deleted (an XOA entry); 0 means the default 0.02, negative means never.
	DeleteRate float64
	Now        func() time.Time
}

// Server is the simulated portal; it implements http.Handler.
type Server struct {
	cfg     Config
	ctl     *simctl.Controller
	book    *simctl.Book
	handler http.Handler
}

// New returns a simulator with an empty feed. It panics on an unknown Charset.
func New(cfg Config) *Server {
	if cfg.APIKey == "" {
		cfg.APIKey = "hub-key"
	}
	switch strings.ToLower(cfg.Charset) {
	case "", "utf-8", "utf8":
		cfg.Charset = "utf-8"
	case "windows-1258", "cp1258":
		cfg.Charset = "windows-1258"
	default:
		panic(fmt.Sprintf("hatinh: unsupported charset %q", cfg.Charset))
	}
	prof := gen.HaTinh()
	if cfg.Profile != nil {
		prof = *cfg.Profile
	}
	if len(cfg.Agencies) > 0 {
		prof.Agencies = cfg.Agencies
	}
	switch {
	case cfg.DeleteRate < 0:
		prof.DeleteRate = 0
	case cfg.DeleteRate > 0:
		prof.DeleteRate = cfg.DeleteRate
	}
	s := &Server{cfg: cfg}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			s.result(w, http.StatusInternalServerError, "99", "Lỗi hệ thống, vui lòng thử lại sau")
		},
	})
	s.book = simctl.NewBook(simctl.BookConfig{
		Format: format{}, Generator: gen.New(prof), Clock: gen.NewClock(cfg.Now), Controller: s.ctl, Feed: true,
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.book.Register(mux)
	mux.HandleFunc("GET /dvc/api/dongbo", s.auth(s.feed))
	mux.HandleFunc("POST /dvc/api/sukien", s.auth(s.event))
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Book returns the dossier store and feed.
func (s *Server) Book() *simctl.Book { return s.book }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases held requests and stops background generation.
func (s *Server) Close() {
	s.ctl.Close()
	s.book.Close()
}

// encode turns a UTF-8 document body (without prolog) into the configured
// charset, with the prolog declaring it, and the matching content type.
func (s *Server) encode(body []byte) (string, []byte) {
	if s.cfg.Charset == "windows-1258" {
		out := []byte(`<?xml version="1.0" encoding="windows-1258"?>` + "\n")
		return "application/xml; charset=windows-1258", append(out, ToWindows1258(body)...)
	}
	out := []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	return "application/xml; charset=utf-8", append(out, body...)
}

// result writes <KETQUA MA="code">msg</KETQUA>.
func (s *Server) result(w http.ResponseWriter, status int, code, msg string) {
	ct, body := s.encode(resultBody(code, msg))
	simctl.WriteRaw(w, status, ct, body)
}

func resultBody(code, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(`<KETQUA MA="` + code + `">`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</KETQUA>`)
	return b.Bytes()
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != s.cfg.APIKey {
			s.result(w, http.StatusForbidden, "403", "Sai hoặc thiếu X-API-Key")
			return
		}
		next(w, r)
	}
}

// feed answers GET /dvc/api/dongbo?tuSeq&gioiHan.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	after, err1 := simctl.QueryInt(r, "tuSeq", 0)
	limit, err2 := simctl.QueryInt(r, "gioiHan", 100)
	if err1 != nil || err2 != nil || after < 0 || limit < 1 || limit > 1000 {
		s.result(w, http.StatusBadRequest, "2", "tuSeq phải là số nguyên ≥ 0 và gioiHan trong khoảng 1..1000")
		return
	}
	items, last, more := s.book.Feed(int64(after), limit)
	var b bytes.Buffer
	more01 := "0"
	if more {
		more01 = "1"
	}
	b.WriteString(`<DONGBO SEQ_CUOI="` + strconv.FormatInt(last, 10) + `" CON_DU_LIEU="` + more01 + `">` + "\n")
	for _, it := range items {
		if it.Deleted {
			b.Write(it.Data) // XOA entries carry only MAHOSO: nothing to corrupt
		} else {
			b.Write(s.book.Serve(it.ID, it.Version, it.Data))
		}
		b.WriteByte('\n')
	}
	b.WriteString("</DONGBO>\n")
	ct, body := s.encode(b.Bytes())
	simctl.WriteRaw(w, http.StatusOK, ct, body)
}

var eventKinds = map[string]bool{"THANH_TOAN": true, "BUU_CHINH": true, "DONG_BO_QUOC_GIA": true}

// event handles the writeback <SUKIEN …>text</SUKIEN>. A repeated MATHAMCHIEU
// gets the first answer again without a second effect.
func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	body, err := simctl.ReadBody(r)
	if err != nil {
		s.result(w, http.StatusBadRequest, "2", err.Error())
		return
	}
	doc, err := simctl.ParseXML(body)
	if err != nil {
		s.result(w, http.StatusBadRequest, "2", err.Error())
		return
	}
	e := doc.Root()
	ev := map[string]string{"NOIDUNG": e.Text()}
	for _, a := range []string{"MAHOSO", "LOAI", "MATHAMCHIEU", "THOIDIEM"} {
		ev[a] = strings.TrimSpace(e.SelectAttrValue(a, ""))
	}
	var bad string
	switch _, terr := time.ParseInLocation(dateTime, ev["THOIDIEM"], gen.VN); {
	case e.Tag != "SUKIEN":
		bad = "Phần tử gốc phải là <SUKIEN>"
	case ev["MAHOSO"] == "" || ev["MATHAMCHIEU"] == "":
		bad = "MAHOSO và MATHAMCHIEU là bắt buộc"
	case !eventKinds[ev["LOAI"]]:
		bad = "LOAI phải là THANH_TOAN, BUU_CHINH hoặc DONG_BO_QUOC_GIA"
	case terr != nil:
		bad = "THOIDIEM phải có dạng yyyyMMddHHmmss"
	}
	if bad != "" {
		s.result(w, http.StatusBadRequest, "2", bad)
		return
	}
	a := s.book.Writeback(ev["MATHAMCHIEU"], func() (simctl.Answer, simctl.Writeback) {
		wb := simctl.Writeback{MaHoSo: ev["MAHOSO"], Kind: ev["LOAI"], Request: ev}
		if !s.book.Exists(ev["MAHOSO"]) {
			ct, b := s.encode(resultBody("1", "Không tìm thấy hồ sơ "+ev["MAHOSO"]))
			return simctl.Answer{Status: http.StatusNotFound, ContentType: ct, Body: b}, wb
		}
		ct, b := s.encode(resultBody("0", "OK"))
		return simctl.Answer{Status: http.StatusOK, ContentType: ct, Body: b}, wb
	})
	simctl.WriteRaw(w, a.Status, a.ContentType, a.Body)
}

// Snapshot writes the simulator's whole state: every dossier and all its
// versions, the change feed (SEQ and every entry), the generator's code
// sequences, generated dossiers with lifecycle left and background changes
// pending, writebacks and the malformed records served. Fault settings are
// not saved.
func (s *Server) Snapshot(w io.Writer) error { return s.book.Snapshot(w, "hatinh") }

// Restore replaces the simulator's state with one written by Snapshot. Call
// before serving.
func (s *Server) Restore(r io.Reader) error { return s.book.Restore(r, "hatinh") }
