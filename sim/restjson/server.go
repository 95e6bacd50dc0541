// Package restjson simulates a provincial portal of the JSON REST kind (as at
// Sơn La): a JSON REST API with
// OAuth2 client-credentials tokens (contract §1, controls §8).
package restjson

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	ClientID     string        // default "hub"
	ClientSecret string        // default "hub-secret"
	TokenTTL     time.Duration // default 300 s; POST /_sim/faults session_ttl_s overrides
	Agencies     []gen.Agency  // receiving agencies; default the profile\'s
	// Profile is the province simulated (default gen.SonLa()).
	Profile *gen.Profile
	Now     func() time.Time
}

// Server is the simulated portal; it implements http.Handler.
type Server struct {
	cfg     Config
	clock   *gen.Clock
	ctl     *simctl.Controller
	book    *simctl.Book
	handler http.Handler

	mu     sync.Mutex
	tokens map[string]time.Time // token → issue time
}

// New returns a simulator with an empty store.
func New(cfg Config) *Server {
	if cfg.ClientID == "" {
		cfg.ClientID = "hub"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "hub-secret"
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 300 * time.Second
	}
	prof := gen.SonLa()
	if cfg.Profile != nil {
		prof = *cfg.Profile
	}
	if len(cfg.Agencies) > 0 {
		prof.Agencies = cfg.Agencies
	}
	s := &Server{cfg: cfg, clock: gen.NewClock(cfg.Now), tokens: map[string]time.Time{}}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, http.StatusInternalServerError, "LOI_HE_THONG", "Lỗi hệ thống, vui lòng thử lại sau")
		},
		RateLimited: func(w http.ResponseWriter, r *http.Request, retry int) {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			writeErr(w, http.StatusTooManyRequests, "QUA_TAI", "Quá nhiều yêu cầu, vui lòng thử lại sau")
		},
		SessionTTL: cfg.TokenTTL,
	})
	s.book = simctl.NewBook(simctl.BookConfig{
		Format: format{}, Generator: gen.New(prof), Clock: s.clock, Controller: s.ctl,
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.book.Register(mux)
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("GET /api/v1/hoso", s.auth(s.list))
	mux.HandleFunc("POST /api/v1/hoso/{maHoSo}/su-kien", s.auth(s.event))
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Book returns the dossier store (generation, records, writebacks, corruptions).
func (s *Server) Book() *simctl.Book { return s.book }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases held requests and stops background generation.
func (s *Server) Close() {
	s.ctl.Close()
	s.book.Close()
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	simctl.WriteJSON(w, status, map[string]string{"maLoi": code, "thongBao": msg})
}

// token issues a bearer token for the client-credentials grant (form fields or
// HTTP Basic client authentication).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		simctl.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		simctl.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	if id != s.cfg.ClientID || secret != s.cfg.ClientSecret {
		simctl.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	ttl := s.ctl.SessionTTL()
	now := s.clock.Raw()
	s.mu.Lock()
	for t, issued := range s.tokens { // forget expired tokens so the map stays small
		if now.Sub(issued) >= ttl {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	simctl.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
	})
}

// auth admits requests carrying a live bearer token. Expiry is judged with the
// current session_ttl_s, so shortening it expires tokens already issued.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			tok, ok = strings.CutPrefix(h, "bearer ")
		}
		if ok {
			s.mu.Lock()
			issued, known := s.tokens[strings.TrimSpace(tok)]
			s.mu.Unlock()
			ok = known && s.clock.Raw().Sub(issued) < s.ctl.SessionTTL()
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "Token không hợp lệ hoặc đã hết hạn")
			return
		}
		next(w, r)
	}
}

// list answers GET /api/v1/hoso?tuNgay&trang&soLuong.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var from time.Time
	if v := q.Get("tuNgay"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "THAM_SO_KHONG_HOP_LE",
				"tuNgay phải theo RFC 3339, ví dụ 2026-11-21T08:00:00+07:00 (dấu + mã hoá thành %2B)")
			return
		}
		from = t
	}
	page, err1 := simctl.QueryInt(r, "trang", 1)
	size, err2 := simctl.QueryInt(r, "soLuong", 100)
	if err1 != nil || err2 != nil || page < 1 || size < 1 || size > 500 {
		writeErr(w, http.StatusBadRequest, "THAM_SO_KHONG_HOP_LE", "trang phải ≥ 1 và soLuong trong khoảng 1..500")
		return
	}
	total, items := s.book.Since(from, page, size)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"tongSo":%d,"trang":%d,"soLuong":%d,"duLieu":[`, total, page, size)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(s.book.Serve(it.ID, it.Version, it.Data))
	}
	b.WriteString("]}")
	simctl.WriteRaw(w, http.StatusOK, "application/json; charset=utf-8", b.Bytes())
}

var eventKinds = map[string]bool{"THANH_TOAN": true, "BUU_CHINH": true, "DONG_BO_QUOC_GIA": true}

// event answers the writeback POST /api/v1/hoso/{maHoSo}/su-kien. Requests
// failing validation are not remembered under their Idempotency-Key; the
// first processed answer (200 or 404) is.
func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if key == "" {
		writeErr(w, http.StatusBadRequest, "THIEU_IDEMPOTENCY_KEY", "Thiếu header Idempotency-Key")
		return
	}
	body, err := simctl.ReadBody(r)
	var ev struct {
		Loai        string          `json:"loai"`
		MaThamChieu string          `json:"maThamChieu"`
		ThoiDiem    string          `json:"thoiDiem"`
		NoiDung     string          `json:"noiDung"`
		DuLieu      json.RawMessage `json:"duLieu"`
	}
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err == nil {
		err = validateEvent(ev.Loai, ev.ThoiDiem)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "DU_LIEU_KHONG_HOP_LE", err.Error())
		return
	}
	id := r.PathValue("maHoSo")
	a := s.book.Writeback(key, func() (simctl.Answer, simctl.Writeback) {
		wb := simctl.Writeback{MaHoSo: id, Kind: ev.Loai, Request: json.RawMessage(body)}
		if !s.book.Exists(id) {
			b, _ := json.Marshal(map[string]string{"maLoi": "KHONG_TIM_THAY", "thongBao": "Không tìm thấy hồ sơ " + id})
			return simctl.Answer{Status: http.StatusNotFound, ContentType: "application/json; charset=utf-8", Body: b}, wb
		}
		return simctl.Answer{Status: http.StatusOK, ContentType: "application/json; charset=utf-8", Body: []byte(`{"ketQua":"OK"}`)}, wb
	})
	simctl.WriteRaw(w, a.Status, a.ContentType, a.Body)
}

func validateEvent(kind, when string) error {
	if !eventKinds[kind] {
		return errors.New("loai phải là THANH_TOAN, BUU_CHINH hoặc DONG_BO_QUOC_GIA")
	}
	if _, err := time.Parse(time.RFC3339, when); err != nil {
		return errors.New("thoiDiem phải theo RFC 3339")
	}
	return nil
}

// Snapshot writes the simulator's whole state: every dossier and all its
// versions, version counters, the generator's code sequences, generated
// dossiers with lifecycle left and background changes pending, writebacks
// and the malformed records served. Tokens and fault settings are not saved.
func (s *Server) Snapshot(w io.Writer) error { return s.book.Snapshot(w, "sonla") }

// Restore replaces the simulator's state with one written by Snapshot. Call
// before serving.
func (s *Server) Restore(r io.Reader) error { return s.book.Restore(r, "sonla") }
