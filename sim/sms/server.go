// Package sms simulates the SMS brand-name gateway (contract §7, controls
// §8): POST /api/sms/send with HTTP Basic auth and requestId idempotency.
// It sends nothing; it records every accepted request, and flags what a real
// gateway would garble (diacritics) or split (more than 160 characters)
// while still accepting it, so that tests can assert on the hub's messages.
package sms

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// PartLength is the characters of one SMS part.
const PartLength = 160

// Violations a message can carry.
const (
	ViolationDiacritics = "diacritics" // a non-ASCII character: brand-name SMS carry none
	ViolationTooLong    = "too_long"   // more than PartLength characters
)

// Answer codes.
const (
	codeOK       = "00"
	codeAuth     = "01"
	codeInvalid  = "02"
	codeInternal = "99"
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	// Username / Password of the gateway account; default hub / hub-secret.
	Username, Password string
	Clock              func() time.Time // default time.Now
}

// Message is one accepted send request, as GET /_sim/messages lists it.
type Message struct {
	Phone      string    `json:"phone"`
	Message    string    `json:"message"`
	Brandname  string    `json:"brandname"`
	RequestID  string    `json:"requestId"`
	MessageID  string    `json:"messageId"`
	Received   time.Time `json:"received"`
	Duplicate  bool      `json:"duplicate"` // repeated requestId: answered, not sent
	Parts      int       `json:"parts"`
	Violations []string  `json:"violations"`
}

// Server is the simulated gateway; it implements http.Handler.
type Server struct {
	cfg     Config
	clock   *gen.Clock
	ctl     *simctl.Controller
	handler http.Handler

	mu       sync.Mutex
	messages []Message
	sent     map[string]string // requestId → messageId
	seq      int64
}

// New returns a gateway that has sent nothing.
func New(cfg Config) *Server {
	if cfg.Username == "" && cfg.Password == "" {
		cfg.Username, cfg.Password = "hub", "hub-secret"
	}
	s := &Server{cfg: cfg, clock: gen.NewClock(cfg.Clock), sent: map[string]string{}}
	s.ctl = simctl.NewController(simctl.Options{
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			simctl.WriteJSON(w, http.StatusInternalServerError, answer(codeInternal, "Lỗi hệ thống, vui lòng thử lại sau"))
		},
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	mux.HandleFunc("GET /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		simctl.WriteJSON(w, http.StatusOK, s.Messages())
	})
	mux.HandleFunc("DELETE /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		simctl.WriteJSON(w, http.StatusOK, map[string]int{"messages": 0})
	})
	mux.HandleFunc("POST /api/sms/send", s.send)
	s.handler = s.ctl.Wrap(mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// Close releases requests held by timeout_rate.
func (s *Server) Close() { s.ctl.Close() }

func answer(code, msg string) map[string]string {
	return map[string]string{"code": code, "message": msg}
}

// phone is the gateway's own number form: 84 and a 9-digit mobile number.
var phone = regexp.MustCompile(`^84[35789]\d{8}$`)

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	// Both compared every time, so the answer time says nothing about which was wrong.
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.Username))
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password))
	if !ok || okUser&okPass != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="sms", charset="UTF-8"`)
		simctl.WriteJSON(w, http.StatusUnauthorized, answer(codeAuth, "Sai thông tin xác thực"))
		return
	}
	body, err := simctl.ReadBody(r)
	if err != nil {
		simctl.WriteJSON(w, http.StatusBadRequest, answer(codeInvalid, "Yêu cầu không hợp lệ: body"))
		return
	}
	var req struct {
		Phone     string `json:"phone"`
		Message   string `json:"message"`
		Brandname string `json:"brandname"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		field := "body"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field = te.Field
		}
		simctl.WriteJSON(w, http.StatusBadRequest, answer(codeInvalid, "Tham số không hợp lệ: "+field))
		return
	}
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"phone", phone.MatchString(req.Phone)},
		{"message", req.Message != ""},
		{"brandname", req.Brandname != ""},
		{"requestId", req.RequestID != ""},
	} {
		if !f.ok {
			simctl.WriteJSON(w, http.StatusBadRequest, answer(codeInvalid, "Tham số không hợp lệ: "+f.name))
			return
		}
	}
	m := Message{Phone: req.Phone, Message: req.Message, Brandname: req.Brandname, RequestID: req.RequestID,
		Received: s.clock.Now(), Parts: parts(req.Message), Violations: violations(req.Message)}
	s.mu.Lock()
	if id, dup := s.sent[req.RequestID]; dup {
		m.MessageID, m.Duplicate = id, true
	} else {
		s.seq++
		m.MessageID = fmt.Sprintf("SMS%010d", s.seq)
		s.sent[req.RequestID] = m.MessageID
	}
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	simctl.WriteJSON(w, http.StatusOK, map[string]string{"code": codeOK, "message": "Thành công", "messageId": m.MessageID})
}

// parts is the number of PartLength-character parts a message takes.
func parts(msg string) int {
	return (utf8.RuneCountInString(msg) + PartLength - 1) / PartLength
}

// violations lists what a real brand-name gateway would garble or split.
func violations(msg string) []string {
	v := []string{} // [] rather than null in JSON: tests compare it
	for i := 0; i < len(msg); i++ {
		if msg[i] >= utf8.RuneSelf {
			v = append(v, ViolationDiacritics)
			break
		}
	}
	if utf8.RuneCountInString(msg) > PartLength {
		v = append(v, ViolationTooLong)
	}
	return v
}

// Messages returns every accepted request in arrival order, duplicates
// included.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.Violations = slices.Clone(m.Violations)
		out[i] = m
	}
	return out
}

// Reset forgets every message and requestId (DELETE /_sim/messages).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages, s.sent = nil, map[string]string{}
}

// stateVersion is bumped when the state changes incompatibly.
const stateVersion = 1

type state struct {
	Messages []Message
	Seq      int64
}

// Snapshot writes every recorded message and the id sequence. Fault settings
// are not saved.
func (s *Server) Snapshot(w io.Writer) error {
	s.mu.Lock()
	st := state{Messages: slices.Clone(s.messages), Seq: s.seq}
	s.mu.Unlock()
	// Stored messages are never modified in place: encoding outside the lock is safe.
	return simctl.WriteState(w, "sms", stateVersion, &st)
}

// Restore replaces the state with one written by Snapshot. The requestId
// index is rebuilt from the messages that were sent.
func (s *Server) Restore(r io.Reader) error {
	var st state
	if err := simctl.ReadState(r, "sms", stateVersion, &st); err != nil {
		return err
	}
	sent := make(map[string]string, len(st.Messages))
	var latest time.Time
	for i := range st.Messages {
		m := &st.Messages[i]
		m.Received = gen.InVN(m.Received)
		if m.Violations == nil {
			m.Violations = []string{} // gob drops empty slices
		}
		if m.Received.After(latest) {
			latest = m.Received
		}
		if !m.Duplicate {
			if _, ok := sent[m.RequestID]; ok || m.RequestID == "" {
				return fmt.Errorf("sms state: message %d: requestId sent twice or empty", i)
			}
			sent[m.RequestID] = m.MessageID
		}
	}
	s.clock.NotBefore(latest)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages, s.sent, s.seq = st.Messages, sent, st.Seq
	return nil
}
