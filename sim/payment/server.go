// Package payment simulates the national portal's payment platform (contract
// §5, controls §8): payment creation with signature and field checks, state
// queries, and payment notifications (IPN) to the hub's callback URL with
// retries, duplicates and losses on demand. Signing strings come from
// connectors/payment, so there is one implementation of each.
//
// Choices where the spec is silent:
//   - unknown MaDoiTac answers "01" (like a bad signature: the partner is
//     not authenticated);
//   - a query for an unknown MaThamChieu answers "02" with MoTaLoi naming
//     MaThamChieu (the spec's table has no code of its own for it);
//   - error_rate answers HTTP 500 with {"MaLoi":"99","MoTaLoi":…}; rate
//     limiting answers HTTP 429 with Retry-After and the same body form;
//   - a transaction starts pending ("01"); POST /_sim/pay sets its result;
//   - receipt fees are checked one by one, their total is not compared with
//     SoTien (the spec does not require it).
package payment

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	pay "github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// DefaultPayBaseURL is the default base of DuongDanThanhToan.
const DefaultPayBaseURL = "https://thanhtoan.dichvucong.gov.vn/pay"

// DefaultRetryDelays are the waits between IPN attempts not answered "00":
// five retries over ten minutes, as the spec says the platform does.
var DefaultRetryDelays = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 3*time.Minute + 30*time.Second}

const (
	maxLinkLen = 69 // links go in SMS: DuongDanThanhToan stays under 70 characters
	tokenLen   = 8  // 62^8 tokens: short and unguessable enough for a simulator
	ipnTimeout = 10 * time.Second
	maxAnswer  = 1 << 20
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	Partners    map[string]string // MaDoiTac → secret; an unknown partner is answered "01"
	CallbackURL string            // where IPNs are POSTed (the hub's endpoint)
	// PayBaseURL is the base of DuongDanThanhToan (default DefaultPayBaseURL);
	// base + "/" + an 8-character token must stay under 70 characters.
	PayBaseURL  string
	RetryDelays []time.Duration // default DefaultRetryDelays; an empty non-nil slice: no retries
	HTTPClient  *http.Client    // for IPNs; default a plain client (each attempt times out after 10 s)
	Clock       func() time.Time
}

// Server is the simulated platform; it implements http.Handler.
type Server struct {
	cfg     Config
	clock   *gen.Clock
	ctl     *simctl.Controller
	handler http.Handler
	client  *http.Client

	mu     sync.Mutex
	txs    map[txKey]*Transaction
	order  []*Transaction
	tokens map[string]bool
	seq    int64
	closed bool

	ctx    context.Context // cancelled by Close: stops IPN attempts and retries
	cancel context.CancelFunc
	wg     sync.WaitGroup // IPN retry goroutines
}

type txKey struct{ partner, ref string }

// Transaction is one payment as GET /_sim/transactions lists it.
type Transaction struct {
	Ref      string    `json:"ref"`            // MaThamChieu
	Partner  string    `json:"partner"`        // MaDoiTac
	Amount   int64     `json:"amount"`         // SoTien
	TxnID    string    `json:"txn_id"`         // MaGiaoDich
	PayURL   string    `json:"pay_url"`        // DuongDanThanhToan
	State    string    `json:"state"`          // TrangThai: 01 pending, 00 paid, 02 failed, 03 cancelled
	Bank     string    `json:"bank,omitempty"` // MaNganHang: the create's, then the payer's bank once paid
	Created  time.Time `json:"created"`
	PaidAt   time.Time `json:"paid_at,omitzero"`
	ResultAt time.Time `json:"result_at,omitzero"` // when /_sim/pay last set a result
	// Repeats counts later creates answered "15".
	Repeats int `json:"repeats"`
	// Request is the first create request as received (simulator data is
	// fake, so it is kept whole).
	Request json.RawMessage `json:"request"`
	// IPNsSent counts IPNs sent (duplicates count twice), IPNsLost results
	// set with deliver_ipn false.
	IPNsSent int `json:"ipns_sent"`
	IPNsLost int `json:"ipns_lost"`
	// IPN lists every IPN attempt in order.
	IPN []IPNAttempt `json:"ipn"`
}

// IPNAttempt is one POST of an IPN to the callback URL.
type IPNAttempt struct {
	Delivery int       `json:"delivery"` // which IPN (each sending counts; duplicate_ipn sends two)
	Attempt  int       `json:"attempt"`  // 1 the first, 2… retries
	Time     time.Time `json:"time"`
	MaLoi    string    `json:"MaLoi"` // the result the IPN carried
	Status   int       `json:"http_status,omitempty"`
	// Answer is the MaLoi the hub answered ("" if none could be read).
	Answer string `json:"answer"`
	// SignatureOK: the answer's MaXacThuc verified with the partner's secret.
	SignatureOK bool `json:"signature_ok"`
	// Delivered: a 2xx answer, MaLoi "00", signature verified, naming this
	// transaction. Anything else is retried.
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// New returns a simulator holding no transactions. It panics if PayBaseURL
// is too long for short links (a configuration error found at start).
func New(cfg Config) *Server {
	partners := make(map[string]string, len(cfg.Partners))
	for k, v := range cfg.Partners {
		partners[k] = v
	}
	cfg.Partners = partners
	cfg.PayBaseURL = strings.TrimRight(cfg.PayBaseURL, "/")
	if cfg.PayBaseURL == "" {
		cfg.PayBaseURL = DefaultPayBaseURL
	}
	if n := len(cfg.PayBaseURL) + 1 + tokenLen; n > maxLinkLen {
		panic(fmt.Sprintf("payment sim: PayBaseURL too long: links would have %d characters, at most %d fit an SMS", n, maxLinkLen))
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = DefaultRetryDelays
	}
	cfg.RetryDelays = append([]time.Duration(nil), cfg.RetryDelays...)
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		clock:  gen.NewClock(cfg.Clock),
		client: client,
		txs:    map[txKey]*Transaction{},
		tokens: map[string]bool{},
		ctx:    ctx,
		cancel: cancel,
	}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			simctl.WriteJSON(w, http.StatusInternalServerError, answer{MaLoi: pay.CodeInternal, MoTaLoi: "Lỗi hệ thống, vui lòng thử lại sau"})
		},
		RateLimited: func(w http.ResponseWriter, r *http.Request, retry int) {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			simctl.WriteJSON(w, http.StatusTooManyRequests, answer{MaLoi: pay.CodeInternal, MoTaLoi: "Hệ thống đang quá tải, vui lòng thử lại sau"})
		},
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.registerSim(mux)
	mux.HandleFunc("POST /api/thanhtoan/khoitao", s.create)
	mux.HandleFunc("POST /api/thanhtoan/truyvan", s.query)
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases requests held by timeout_rate and stops IPN retries,
// waiting for them to end.
func (s *Server) Close() {
	s.ctl.Close()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// answer is every API answer: create ("00"/"15" carry MaGiaoDich and the
// link), query ("00" carries the state) and errors (MaLoi, MoTaLoi only).
type answer struct {
	MaLoi             string  `json:"MaLoi"`
	MoTaLoi           string  `json:"MoTaLoi"`
	MaThamChieu       string  `json:"MaThamChieu,omitempty"`
	MaGiaoDich        string  `json:"MaGiaoDich,omitempty"`
	DuongDanThanhToan string  `json:"DuongDanThanhToan,omitempty"`
	TrangThai         string  `json:"TrangThai,omitempty"`
	SoTien            *int64  `json:"SoTien,omitempty"`
	ThoiGianThanhToan *string `json:"ThoiGianThanhToan,omitempty"`
}

func reply(w http.ResponseWriter, a answer) { simctl.WriteJSON(w, http.StatusOK, a) }

// fields reads a request object, collecting the names of fields of the
// wrong JSON type. Messages name fields, never values.
type fields struct {
	o   map[string]json.RawMessage
	bad []string
}

func (f *fields) text(name string) string {
	raw := bytes.TrimSpace(f.o[name])
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		f.bad = append(f.bad, name+" (phải là chuỗi)")
	}
	return s
}

// number reads an integer sent as a JSON number or a numeric string.
func (f *fields) number(name string) (int64, bool) {
	raw := bytes.TrimSpace(f.o[name])
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, ok := schemas.ParseInt(s)
	if !ok {
		f.bad = append(f.bad, name+" (phải là số nguyên)")
	}
	return n, ok
}

func (f *fields) object(name string) *fields {
	raw := bytes.TrimSpace(f.o[name])
	var o map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &o) != nil || o == nil {
		f.bad = append(f.bad, name+" (phải là đối tượng)")
		return nil
	}
	return &fields{o: o}
}

func (f *fields) require(cond bool, what string) {
	if !cond {
		f.bad = append(f.bad, what)
	}
}

func invalid(bad []string) answer {
	return answer{MaLoi: pay.CodeInvalidField, MoTaLoi: "Dữ liệu không hợp lệ: " + strings.Join(bad, "; ")}
}

func readObject(r *http.Request) (*fields, bool) {
	body, err := simctl.ReadBody(r)
	if err != nil {
		return nil, false
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(body, &o) != nil || o == nil {
		return nil, false
	}
	return &fields{o: o}, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, err := simctl.ReadBody(r)
	var o map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(body, &o)
	}
	if err != nil || o == nil {
		reply(w, answer{MaLoi: pay.CodeInvalidField, MoTaLoi: "Dữ liệu không hợp lệ: yêu cầu phải là đối tượng JSON"})
		return
	}
	f := &fields{o: o}
	m := pay.CreateMessage{
		LoaiBanTin: f.text("LoaiBanTin"), PhienBan: f.text("PhienBan"), MaDoiTac: f.text("MaDoiTac"),
		MaThamChieu: f.text("MaThamChieu"), LoaiHinhThanhToan: f.text("LoaiHinhThanhToan"),
		MaKenhThanhToan: f.text("MaKenhThanhToan"), MaThietBi: f.text("MaThietBi"), NgonNgu: f.text("NgonNgu"),
		MaTienTe: f.text("MaTienTe"), MaNganHang: f.text("MaNganHang"), ThongTinGiaoDich: f.text("ThongTinGiaoDich"),
		ThoiGianGD: f.text("ThoiGianGD"), Ip: f.text("Ip"), MaXacThuc: f.text("MaXacThuc"),
	}
	amount, hasAmount := f.number("SoTien")
	m.SoTien = amount
	if len(f.bad) > 0 { // cannot rebuild the signed string from the wrong types
		reply(w, invalid(f.bad))
		return
	}
	secret, known := s.cfg.Partners[m.MaDoiTac]
	if !known {
		reply(w, answer{MaLoi: pay.CodeBadSignature, MoTaLoi: "Sai thông tin xác thực: MaDoiTac không hợp lệ"})
		return
	}
	if pay.VerifyCreate(secret, m) != nil {
		reply(w, answer{MaLoi: pay.CodeBadSignature, MoTaLoi: "Sai chữ ký: MaXacThuc không khớp"})
		return
	}
	validateCreate(f, m, hasAmount)
	if len(f.bad) > 0 {
		reply(w, invalid(f.bad))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	k := txKey{m.MaDoiTac, m.MaThamChieu}
	if tx := s.txs[k]; tx != nil {
		tx.Repeats++
		reply(w, answer{MaLoi: pay.CodeRefUsed, MoTaLoi: "MaThamChieu đã được sử dụng", MaThamChieu: tx.Ref,
			MaGiaoDich: tx.TxnID, DuongDanThanhToan: tx.PayURL})
		return
	}
	now := s.clock.Now()
	s.seq++
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		compact.Write(body)
	}
	tx := &Transaction{
		Ref: m.MaThamChieu, Partner: m.MaDoiTac, Amount: m.SoTien,
		TxnID:   fmt.Sprintf("GD%s%06d", now.Format("060102"), s.seq),
		PayURL:  s.cfg.PayBaseURL + "/" + s.newToken(),
		State:   pay.StatePending,
		Bank:    m.MaNganHang,
		Created: now, Request: compact.Bytes(), IPN: []IPNAttempt{},
	}
	s.txs[k] = tx
	s.order = append(s.order, tx)
	reply(w, answer{MaLoi: pay.CodeOK, MoTaLoi: "Thành công", MaThamChieu: tx.Ref, MaGiaoDich: tx.TxnID, DuongDanThanhToan: tx.PayURL})
}

// validateCreate checks the fields of an authenticated create request,
// adding what is wrong to f.bad.
func validateCreate(f *fields, m pay.CreateMessage, hasAmount bool) {
	f.require(m.LoaiBanTin == pay.MsgCreate, "LoaiBanTin (phải là "+pay.MsgCreate+")")
	f.require(m.PhienBan == pay.Version, "PhienBan (phải là "+pay.Version+")")
	f.require(m.MaThamChieu != "", "MaThamChieu (bắt buộc)")
	f.require(hasAmount && m.SoTien > 0, "SoTien (phải là số nguyên dương)")
	f.require(m.LoaiHinhThanhToan != "", "LoaiHinhThanhToan (bắt buộc)")
	f.require(m.MaKenhThanhToan != "", "MaKenhThanhToan (bắt buộc)")
	f.require(m.MaThietBi != "", "MaThietBi (bắt buộc)")
	f.require(m.NgonNgu == "vi" || m.NgonNgu == "en", "NgonNgu (phải là vi hoặc en)")
	f.require(m.MaTienTe == pay.Currency, "MaTienTe (phải là "+pay.Currency+")")
	f.require(m.ThongTinGiaoDich != "" && plainASCII(m.ThongTinGiaoDich), "ThongTinGiaoDich (bắt buộc, không dấu)")
	_, err := pay.ParseTime(m.ThoiGianGD)
	f.require(err == nil, "ThoiGianGD (định dạng yyyyMMddHHmmss)")
	_, err = netip.ParseAddr(m.Ip)
	f.require(err == nil, "Ip (phải là địa chỉ IP)")
	b := f.object("ThongTinBienLai")
	if b == nil {
		return
	}
	b.require(b.text("MaDichVu") == pay.ServiceCode, "MaDichVu (phải là "+pay.ServiceCode+")")
	b.require(b.text("MaDonVi") != "", "MaDonVi (bắt buộc)")
	b.require(b.text("MaHoSo") != "", "MaHoSo (bắt buộc)")
	b.require(b.text("MaTTHC") != "", "MaTTHC (bắt buộc)")
	b.require(b.text("HoTenNguoiNop") != "", "HoTenNguoiNop (bắt buộc)")
	for _, name := range []string{"TenDonVi", "TenTTHC", "SoCMNDNguoiNop", "DiaChiNguoiNop"} {
		b.text(name) // optional, but text when present
	}
	var fees []json.RawMessage
	if json.Unmarshal(b.o["PhiLePhi"], &fees) != nil || len(fees) == 0 {
		b.bad = append(b.bad, "PhiLePhi (phải là mảng có ít nhất một khoản)")
	}
	for i, raw := range fees {
		var o map[string]json.RawMessage
		name := fmt.Sprintf("PhiLePhi[%d]", i)
		if json.Unmarshal(raw, &o) != nil || o == nil {
			b.bad = append(b.bad, name+" (phải là đối tượng)")
			continue
		}
		fee := &fields{o: o}
		kind, _ := fee.number("LoaiPhiLePhi")
		fee.require(kind == 1 || kind == 2, "LoaiPhiLePhi (1 phí, 2 lệ phí)")
		fee.require(fee.text("TenPhiLePhi") != "", "TenPhiLePhi (bắt buộc)")
		fee.text("MaPhiLePhi")
		n, ok := fee.number("SoTien")
		fee.require(ok && n >= 0, "SoTien (số nguyên không âm)")
		for _, x := range fee.bad {
			b.bad = append(b.bad, name+"."+x)
		}
	}
	for _, x := range b.bad {
		f.bad = append(f.bad, "ThongTinBienLai."+x)
	}
}

// plainASCII: printable ASCII only (the spec wants ThongTinGiaoDich without
// diacritics).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newToken returns an unused link token; s.mu is held.
func (s *Server) newToken() string {
	for {
		var b [tokenLen]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
		}
		if t := string(b[:]); !s.tokens[t] {
			s.tokens[t] = true
			return t
		}
	}
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	f, ok := readObject(r)
	if !ok {
		reply(w, answer{MaLoi: pay.CodeInvalidField, MoTaLoi: "Dữ liệu không hợp lệ: yêu cầu phải là đối tượng JSON"})
		return
	}
	m := pay.QueryMessage{MaDoiTac: f.text("MaDoiTac"), MaThamChieu: f.text("MaThamChieu"),
		ThoiGianGD: f.text("ThoiGianGD"), MaXacThuc: f.text("MaXacThuc")}
	if len(f.bad) > 0 {
		reply(w, invalid(f.bad))
		return
	}
	secret, known := s.cfg.Partners[m.MaDoiTac]
	if !known {
		reply(w, answer{MaLoi: pay.CodeBadSignature, MoTaLoi: "Sai thông tin xác thực: MaDoiTac không hợp lệ"})
		return
	}
	if pay.VerifyQuery(secret, m) != nil {
		reply(w, answer{MaLoi: pay.CodeBadSignature, MoTaLoi: "Sai chữ ký: MaXacThuc không khớp"})
		return
	}
	f.require(m.MaThamChieu != "", "MaThamChieu (bắt buộc)")
	_, err := pay.ParseTime(m.ThoiGianGD)
	f.require(err == nil, "ThoiGianGD (định dạng yyyyMMddHHmmss)")
	if len(f.bad) > 0 {
		reply(w, invalid(f.bad))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.txs[txKey{m.MaDoiTac, m.MaThamChieu}]
	if tx == nil {
		reply(w, answer{MaLoi: pay.CodeInvalidField, MoTaLoi: "MaThamChieu không tồn tại", MaThamChieu: m.MaThamChieu})
		return
	}
	amount, paid := tx.Amount, ""
	if tx.State == pay.StatePaid {
		paid = pay.FormatTime(tx.PaidAt)
	}
	reply(w, answer{MaLoi: pay.CodeOK, MoTaLoi: "Thành công", MaThamChieu: tx.Ref, MaGiaoDich: tx.TxnID,
		TrangThai: tx.State, SoTien: &amount, ThoiGianThanhToan: &paid})
}

// Transactions lists every transaction in creation order (deep copies).
func (s *Server) Transactions() []Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Transaction, 0, len(s.order))
	for _, tx := range s.order {
		out = append(out, tx.clone())
	}
	return out
}

func (tx *Transaction) clone() Transaction {
	c := *tx
	c.Request = append(json.RawMessage(nil), tx.Request...)
	c.IPN = append([]IPNAttempt{}, tx.IPN...)
	return c
}
