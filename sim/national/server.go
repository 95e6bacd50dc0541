// Package national simulates the national public service portal's adapter API
// (contract §4, controls §8): login sessions, DongBoHoSoMC /
// CapNhatTienDoHoSoMC pushes with per-item validation, TraCuuHoSo and
// LayDanhSachTTHC reads. It records every accepted item for inspection.
package national

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Account is a login the portal accepts. DstCode "" accepts any dstcode.
type Account struct {
	DstCode  string
	Username string
	Password string
}

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	// Accounts default to one account hub / hub-secret for any dstcode.
	Accounts []Account
	// SessionTTL defaults to 30 minutes; POST /_sim/faults session_ttl_s overrides.
	SessionTTL time.Duration
	// Catalog defaults to catalog.Default(); PUT /_sim/catalog replaces it.
	Catalog []catalog.Procedure
	// MaxItems per DongBoHoSoMC / CapNhatTienDoHoSoMC call; default 100.
	MaxItems int
	Now      func() time.Time
}

// Server is the simulated portal; it implements http.Handler.
type Server struct {
	cfg     Config
	clock   *gen.Clock
	ctl     *simctl.Controller
	handler http.Handler

	mu       sync.Mutex
	sessions map[string]session
	catalog  []catalog.Procedure
	index    catalog.Index
	dossiers map[string]*dossier
	order    []*dossier
	stats    Stats
}

type session struct {
	dst     string
	created time.Time
}

type dossier struct {
	id, dst, unit    string
	hoso             json.RawMessage
	created, updated time.Time
	history          []HistoryEntry
}

// HistoryEntry is one accepted item, in arrival order.
type HistoryEntry struct {
	Service    string          `json:"service"`
	IsUpdating string          `json:"isUpdating,omitempty"`
	Item       json.RawMessage `json:"item"`
	Received   time.Time       `json:"received"`
	DstCode    string          `json:"dstcode"`
	MaDonVi    string          `json:"madonvi"`
}

// Dossier is a dossier as the portal holds it: the last HOSO received and the
// history of every accepted item.
type Dossier struct {
	MaHoSo  string          `json:"MaHoSo"`
	DstCode string          `json:"dstcode"`
	MaDonVi string          `json:"madonvi"`
	HoSo    json.RawMessage `json:"HOSO"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	History []HistoryEntry  `json:"history"`
}

// Stats is GET /_sim/stats.
type Stats struct {
	Requests      map[string]int `json:"requests"`       // calls by service ("login" for logins)
	ItemsAccepted map[string]int `json:"items_accepted"` // by service
	ItemErrors    map[string]int `json:"item_errors"`    // by item code
	CallErrors    map[string]int `json:"call_errors"`    // by call-level code
	Logins        int            `json:"logins"`
	LoginFailures int            `json:"login_failures"`
	Dossiers      int            `json:"dossiers"`
}

// New returns a simulator holding no dossiers.
func New(cfg Config) *Server {
	if len(cfg.Accounts) == 0 {
		cfg.Accounts = []Account{{Username: "hub", Password: "hub-secret"}}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 30 * time.Minute
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 100
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	s := &Server{
		cfg:      cfg,
		clock:    gen.NewClock(cfg.Now),
		sessions: map[string]session{},
		dossiers: map[string]*dossier{},
		stats: Stats{Requests: map[string]int{}, ItemsAccepted: map[string]int{},
			ItemErrors: map[string]int{}, CallErrors: map[string]int{}},
	}
	s.setCatalog(cfg.Catalog)
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			s.countCallError(callErrorInternal)
			simctl.WriteJSON(w, http.StatusOK, callError(callErrorInternal, "Lỗi hệ thống, vui lòng thử lại sau"))
		},
		RateLimited: func(w http.ResponseWriter, r *http.Request, retry int) {
			s.countCallError("429")
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			simctl.WriteJSON(w, http.StatusTooManyRequests, callError("429", "Hệ thống đang quá tải, vui lòng thử lại sau"))
		},
		SessionTTL: cfg.SessionTTL,
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.registerSim(mux)
	mux.HandleFunc("POST /api/auth/login", s.login)
	mux.HandleFunc("POST /api/integration", s.integration)
	mux.HandleFunc("POST /api/share", s.share)
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases requests held by timeout_rate.
func (s *Server) Close() { s.ctl.Close() }

func callError(code, msg string) map[string]any {
	return map[string]any{"error_code": code, "message": msg}
}

func (s *Server) countCallError(code string) {
	s.mu.Lock()
	s.stats.CallErrors[code]++
	s.mu.Unlock()
}

func (s *Server) setCatalog(procs []catalog.Procedure) {
	s.catalog = procs
	s.index = catalog.NewIndex(procs)
}

// knownProcedure accepts a code whose base (first two dot-separated parts) is
// in the catalogue; s.mu is held.
func (s *Server) knownProcedure(code string) bool {
	_, ok := s.index.Lookup(code)
	return ok
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	dst := strings.TrimSpace(r.Header.Get("dstcode"))
	body, err := simctl.ReadBody(r)
	var cred struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err == nil {
		err = json.Unmarshal(body, &cred)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests["login"]++
	ok := err == nil && dst != ""
	if ok {
		ok = false
		for _, a := range s.cfg.Accounts {
			if a.Username == cred.Username && a.Password == cred.Password && (a.DstCode == "" || a.DstCode == dst) {
				ok = true
				break
			}
		}
	}
	if !ok {
		s.stats.LoginFailures++
		simctl.WriteJSON(w, http.StatusOK, callError(callErrorInvalid, "Sai tên đăng nhập, mật khẩu hoặc dstcode"))
		return
	}
	now, ttl := s.clock.Raw(), s.ctl.SessionTTL()
	for k, v := range s.sessions { // forget expired sessions so the map stays small
		if now.Sub(v.created) >= ttl {
			delete(s.sessions, k)
		}
	}
	tok := newToken()
	s.sessions[tok] = session{dst: dst, created: now}
	s.stats.Logins++
	simctl.WriteJSON(w, http.StatusOK, map[string]any{"error_code": 0, "session": tok})
}

// envelope is the body of /api/integration and /api/share calls.
type envelope struct {
	Session    string          `json:"session"`
	MaDonVi    string          `json:"madonvi"`
	Service    string          `json:"service"`
	IsUpdating string          `json:"isUpdating"`
	Data       json.RawMessage `json:"data"`
	MaHoSo     string          `json:"MaHoSo"` // TraCuuHoSo
}

// open parses the envelope and checks the session; s.mu is held. It writes the
// call-level error itself and returns false on failure.
func (s *Server) open(w http.ResponseWriter, r *http.Request, body []byte, bodyErr error) (*envelope, bool) {
	var env envelope
	if bodyErr == nil {
		bodyErr = json.Unmarshal(body, &env)
	}
	return &env, s.opened(w, r, &env, bodyErr)
}

// opened is open for an envelope already parsed (bodyErr: why it could
// not be read or parsed).
func (s *Server) opened(w http.ResponseWriter, r *http.Request, env *envelope, bodyErr error) bool {
	svc := env.Service
	if svc == "" {
		svc = "(none)"
	}
	s.stats.Requests[svc]++
	fail := func(code, msg string) bool {
		s.stats.CallErrors[code]++
		simctl.WriteJSON(w, http.StatusOK, callError(code, msg))
		return false
	}
	if bodyErr != nil {
		return fail(callErrorInvalid, "Dữ liệu yêu cầu không hợp lệ: "+bodyErr.Error())
	}
	sess, ok := s.sessions[env.Session]
	if ok && s.clock.Raw().Sub(sess.created) >= s.ctl.SessionTTL() {
		delete(s.sessions, env.Session)
		ok = false
	}
	if !ok {
		return fail(callErrorSession, "Phiên làm việc hết hạn")
	}
	if dst := strings.TrimSpace(r.Header.Get("dstcode")); dst != sess.dst {
		return fail(callErrorInvalid, "dstcode không khớp với phiên đăng nhập")
	}
	return true
}

type itemResult struct {
	MaHoSo    string `json:"MaHoSo"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func (s *Server) integration(w http.ResponseWriter, r *http.Request) {
	body, err := simctl.ReadBody(r)
	// Reading and checking the items needs no state: it is done before
	// the lock is taken, so calls in flight together are read together,
	// as a real portal would.
	var env envelope
	if err == nil {
		err = json.Unmarshal(body, &env)
	}
	var (
		items    []json.RawMessage
		itemsErr error
		checks   []itemCheck
	)
	if err == nil {
		if itemsErr = json.Unmarshal(env.Data, &items); itemsErr == nil && len(items) <= s.cfg.MaxItems {
			checks = make([]itemCheck, len(items))
			for i, raw := range items {
				checks[i] = checkItem(env.Service, raw)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened(w, r, &env, err) {
		return
	}
	dst := r.Header.Get("dstcode")
	fail := func(msg string) {
		s.stats.CallErrors[callErrorInvalid]++
		simctl.WriteJSON(w, http.StatusOK, callError(callErrorInvalid, msg))
	}
	if itemsErr != nil {
		fail("data phải là mảng")
		return
	}
	if len(items) > s.cfg.MaxItems {
		fail("Mỗi lần gửi tối đa " + strconv.Itoa(s.cfg.MaxItems) + " bản ghi")
		return
	}
	var updating bool
	switch env.Service {
	case "DongBoHoSoMC":
		switch strings.ToLower(env.IsUpdating) {
		case "false":
		case "true":
			updating = true
		default:
			fail(`isUpdating phải là "False" hoặc "True"`)
			return
		}
	case "CapNhatTienDoHoSoMC":
	default:
		fail("Dịch vụ không hợp lệ: " + env.Service)
		return
	}
	now := s.clock.Now()
	results := make([]itemResult, 0, len(items))
	for _, c := range checks {
		id, ie := c.id, c.err
		if c.hoso != nil {
			id, ie = c.hoso.checked(s.knownProcedure)
		}
		d := s.dossiers[id]
		if ie == nil {
			switch {
			case env.Service == "DongBoHoSoMC" && !updating && d != nil:
				ie = &itemError{codeExists, "Hồ sơ " + id + " đã tồn tại"}
			case d == nil && (updating || env.Service == "CapNhatTienDoHoSoMC"):
				ie = &itemError{codeNotExists, "Hồ sơ " + id + " không tồn tại"}
			}
		}
		if ie != nil {
			s.stats.ItemErrors[ie.code]++
			results = append(results, itemResult{MaHoSo: id, ErrorCode: ie.code, Message: ie.msg})
			continue
		}
		h := HistoryEntry{Service: env.Service, Item: c.item, Received: now, DstCode: dst, MaDonVi: env.MaDonVi}
		if env.Service == "DongBoHoSoMC" {
			h.IsUpdating = env.IsUpdating
			if d == nil {
				d = &dossier{id: id, created: now}
				s.dossiers[id] = d
				s.order = append(s.order, d)
			}
			d.hoso, d.dst, d.unit = c.item, dst, env.MaDonVi
		}
		d.updated = now
		d.history = append(d.history, h)
		s.stats.ItemsAccepted[env.Service]++
		results = append(results, itemResult{MaHoSo: id, ErrorCode: codeOK, Message: "Thành công"})
	}
	simctl.WriteJSON(w, http.StatusOK, map[string]any{"error_code": codeOK, "message": "Thành công", "result": results})
}

// itemCheck is one item of a call as read and checked without the state.
type itemCheck struct {
	id   string
	err  *itemError
	hoso *hosoCheck      // DongBoHoSoMC: the catalogue decides the rest
	item json.RawMessage // compacted, to be stored
}

func checkItem(service string, raw json.RawMessage) itemCheck {
	o, ok := parseObject(raw)
	if !ok {
		return itemCheck{err: &itemError{codeInvalidField, "Bản ghi phải là đối tượng JSON"}}
	}
	c := itemCheck{item: compact(raw)}
	switch service {
	case "DongBoHoSoMC":
		h := validateHoSo(o)
		c.hoso = &h
	case "CapNhatTienDoHoSoMC":
		c.id, c.err = validateStep(o)
	}
	return c
}

// compact stores an item without insignificant whitespace.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}

func (s *Server) share(w http.ResponseWriter, r *http.Request) {
	body, err := simctl.ReadBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	env, ok := s.open(w, r, body, err)
	if !ok {
		return
	}
	switch env.Service {
	case "TraCuuHoSo":
		result := []json.RawMessage{}
		if d := s.dossiers[strings.TrimSpace(env.MaHoSo)]; d != nil {
			result = append(result, d.hoso)
		}
		simctl.WriteJSON(w, http.StatusOK, map[string]any{"error_code": codeOK, "message": "Thành công", "result": result})
	case "LayDanhSachTTHC":
		simctl.WriteJSON(w, http.StatusOK, map[string]any{"error_code": codeOK, "message": "Thành công",
			"result": json.RawMessage(catalog.JSON(s.catalog))})
	default:
		s.stats.CallErrors[callErrorInvalid]++
		simctl.WriteJSON(w, http.StatusOK, callError(callErrorInvalid, "Dịch vụ không hợp lệ: "+env.Service))
	}
}
