// Package vnpost simulates VNPost's order API for result delivery by public
// postal service (contract §6, controls §8): client-credentials bearer
// tokens, order creation with field validation and 409 on a repeated order
// number, and the polled tracking feed. Orders move through the MyVNPost
// status table by hand (POST /_sim/advance) or on a timer (POST /_sim/auto).
package vnpost

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	// Clients maps client_id (the customer key) to client_secret; default
	// one client hub / hub-secret.
	Clients map[string]string
	// TokenTTL defaults to 3600 s; POST /_sim/faults session_ttl_s overrides.
	TokenTTL time.Duration
	// Clock defaults to time.Now. Event times and token expiry read it.
	Clock func() time.Time
}

// MaxPageSize is the largest tracking pageSize accepted.
const MaxPageSize = 500

// defaultPageSize applies when a tracking request has no pageSize.
const defaultPageSize = 100

// Server is the simulated VNPost API; it implements http.Handler.
type Server struct {
	cfg     Config
	clock   *gen.Clock
	ctl     *simctl.Controller
	handler http.Handler

	mu       sync.Mutex
	tokens   map[string]token
	orders   map[string]*Order // by orderNumber
	list     []*Order          // creation order
	log      []logEntry        // every tracking event, ascending id
	lastID   int64             // last tracking event id handed out
	serial   int64             // last item-code serial handed out
	auto     bool
	interval time.Duration
	stop     chan struct{} // closes the running auto timer; nil when none runs
	closed   bool

	wg sync.WaitGroup
}

type token struct {
	client string
	issued time.Time
}

// logEntry is one tracking event with the client whose account it belongs to.
type logEntry struct {
	ev     Event
	client string
}

// New returns a simulator holding no orders.
func New(cfg Config) *Server {
	clients := make(map[string]string, len(cfg.Clients))
	for id, secret := range cfg.Clients {
		clients[id] = secret
	}
	if len(clients) == 0 {
		clients["hub"] = "hub-secret"
	}
	cfg.Clients = clients
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 3600 * time.Second
	}
	s := &Server{
		cfg:      cfg,
		clock:    gen.NewClock(cfg.Clock),
		tokens:   map[string]token{},
		orders:   map[string]*Order{},
		interval: defaultInterval,
	}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			writeMessage(w, http.StatusInternalServerError, "Lỗi hệ thống, vui lòng thử lại sau")
		},
		RateLimited: func(w http.ResponseWriter, r *http.Request, retry int) {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			writeMessage(w, http.StatusTooManyRequests, "Quá nhiều yêu cầu, vui lòng thử lại sau")
		},
		SessionTTL: cfg.TokenTTL,
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	s.registerSim(mux)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /api/order/post", s.auth(s.createOrder))
	mux.HandleFunc("GET /api/order/tracking", s.auth(s.tracking))
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close stops the auto-advance timer and releases requests held by
// timeout_rate. The auto setting itself is kept, so a snapshot taken after
// Close still records it.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.stopAutoLocked()
	s.mu.Unlock()
	s.wg.Wait()
	s.ctl.Close()
}

// apiError is the body of every non-2xx API answer; Field names the
// offending request field when there is one.
type apiError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	simctl.WriteJSON(w, status, apiError{Message: msg})
}

// token issues a bearer token for the client-credentials grant (form fields,
// or HTTP Basic client authentication as OAuth allows).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, simctl.MaxBody)
	if err := r.ParseForm(); err != nil {
		simctl.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		simctl.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	if want, ok := s.cfg.Clients[id]; !ok || id == "" || secret != want {
		simctl.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	ttl, now := s.ctl.SessionTTL(), s.clock.Raw()
	s.mu.Lock()
	for t, v := range s.tokens { // forget expired tokens so the map stays small
		if now.Sub(v.issued) >= ttl {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = token{client: id, issued: now}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	simctl.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
	})
}

// auth admits requests carrying a live bearer token and passes on the client
// it was issued to. Expiry is judged with the current session_ttl_s, so
// shortening it expires tokens already issued.
func (s *Server) auth(next func(w http.ResponseWriter, r *http.Request, client string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := strings.TrimSpace(r.Header.Get("Authorization"))
		var t token
		ok := len(h) > 7 && strings.EqualFold(h[:7], "Bearer ")
		if ok {
			s.mu.Lock()
			t, ok = s.tokens[strings.TrimSpace(h[7:])]
			s.mu.Unlock()
			ok = ok && s.clock.Raw().Sub(t.issued) < s.ctl.SessionTTL()
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeMessage(w, http.StatusUnauthorized, "Token không hợp lệ hoặc đã hết hạn")
			return
		}
		next(w, r, t.client)
	}
}

// orderAnswer is the body of 201 and 409 answers to POST /api/order/post.
type orderAnswer struct {
	ItemCode    string `json:"itemCode"`
	OrderNumber string `json:"orderNumber"`
	Status      int    `json:"status"`
	TotalFee    int64  `json:"totalFee"`
}

func (o *Order) answer() orderAnswer {
	return orderAnswer{ItemCode: o.ItemCode, OrderNumber: o.OrderNumber, Status: o.Status, TotalFee: o.TotalFee}
}

// createOrder answers POST /api/order/post: 400 naming the first invalid
// field, 409 with the existing order for a repeated orderNumber (whatever
// the rest of the body says), else 201 and a "created" tracking event.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, client string) {
	body, err := simctl.ReadBody(r)
	if err != nil {
		simctl.WriteJSON(w, http.StatusBadRequest, apiError{Message: err.Error()})
		return
	}
	req, fe := parseOrder(body)
	if fe != nil {
		simctl.WriteJSON(w, http.StatusBadRequest, apiError{Message: fe.msg, Field: fe.field})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.orders[req.orderNumber]; o != nil {
		simctl.WriteJSON(w, http.StatusConflict, o.answer())
		return
	}
	s.serial++
	o := &Order{
		OrderNumber:  req.orderNumber,
		CustomerCode: req.customerCode,
		ClientID:     client,
		ItemCode:     itemCode(s.serial),
		CODAmount:    req.codAmount,
		TotalFee:     totalFee(req),
		Created:      s.clock.Now(),
		Request:      compact(body),
	}
	s.orders[o.OrderNumber] = o
	s.list = append(s.list, o)
	s.appendLocked(o, StatusCreated, "")
	simctl.WriteJSON(w, http.StatusCreated, o.answer())
}

// appendLocked appends a tracking event to o and the log; s.mu is held.
func (s *Server) appendLocked(o *Order, code int, msg string) Event {
	if msg == "" {
		msg = StatusText(code)
	}
	s.lastID++
	ev := Event{ID: s.lastID, OrderNumber: o.OrderNumber, ItemCode: o.ItemCode,
		StatusCode: code, StatusMessage: msg, Time: s.clock.Now()}
	o.Status, o.StatusMessage = code, msg
	o.Tracking = append(o.Tracking, ev)
	s.log = append(s.log, logEntry{ev: ev, client: o.ClientID})
	return ev
}

// trackingAnswer is the body of GET /api/order/tracking.
type trackingAnswer struct {
	Embedded struct {
		RhDoc []Event `json:"rhDoc"`
	} `json:"_embedded"`
	LastID int64 `json:"lastId"`
}

// tracking answers GET /api/order/tracking?lastId&pageSize: the events of
// the caller's account with id > lastId, ascending, at most pageSize.
func (s *Server) tracking(w http.ResponseWriter, r *http.Request, client string) {
	q := r.URL.Query()
	var after int64
	if v := q.Get("lastId"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			simctl.WriteJSON(w, http.StatusBadRequest, apiError{Message: "lastId phải là số nguyên ≥ 0", Field: "lastId"})
			return
		}
		after = n
	}
	size, err := simctl.QueryInt(r, "pageSize", defaultPageSize)
	if err != nil || size < 1 || size > MaxPageSize {
		simctl.WriteJSON(w, http.StatusBadRequest, apiError{Message: "pageSize phải trong khoảng 1..500", Field: "pageSize"})
		return
	}
	var a trackingAnswer
	a.Embedded.RhDoc = []Event{}
	a.LastID = after
	s.mu.Lock()
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].ev.ID > after })
	for ; i < len(s.log) && len(a.Embedded.RhDoc) < size; i++ {
		if e := s.log[i]; e.client == client {
			a.Embedded.RhDoc = append(a.Embedded.RhDoc, e.ev)
			a.LastID = e.ev.ID
		}
	}
	s.mu.Unlock()
	simctl.WriteJSON(w, http.StatusOK, a)
}

// compact keeps the request as sent, without insignificant whitespace.
func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}
