// Package mail simulates the SMTP relay the hub sends applicant email to
// (contract §7, controls §8). It is a go-smtp server that accepts every
// message (after AUTH PLAIN when configured), records it decoded for tests,
// and lists what a strict relay or mail client would object to. The §8
// controls are served on a separate HTTP handler; faults apply to SMTP
// sessions: down refuses connections with 421, error_rate fails DATA with
// 451, latency and jitter delay every command, timeout_rate holds DATA and
// then drops the connection.
package mail

import (
	"crypto/subtle"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Limits of the simulated relay.
const (
	MaxMessageBytes = 10 << 20
	MaxRecipients   = 100
	// hold is how long timeout_rate keeps a DATA answer back (§8: 60 s).
	hold = 60 * time.Second
)

// Config configures the simulator. Zero fields take the defaults noted.
type Config struct {
	Domain string // announced in the greeting; default "localhost"
	// Username / Password: when set, AUTH PLAIN is required before MAIL.
	Username, Password string
	Clock              func() time.Time // default time.Now
}

// Mail is one accepted message, as GET /_sim/mail lists it.
type Mail struct {
	From      string   `json:"from"` // envelope MAIL FROM
	To        []string `json:"to"`   // envelope RCPT TO, in order
	MessageID string   `json:"messageId"`
	Subject   string   `json:"subject"` // RFC 2047 decoded
	// Body is the first text/plain part, transfer-decoded, converted to
	// UTF-8, with CRLF line ends turned into LF.
	Body       string              `json:"body"`
	Headers    map[string][]string `json:"headers"` // top-level headers as sent (canonical keys)
	Size       int                 `json:"size"`    // bytes of the message as received
	Helo       string              `json:"helo"`
	AuthUser   string              `json:"authUser,omitempty"`
	Received   time.Time           `json:"received"`
	Violations []string            `json:"violations"` // see the Violation constants
}

// Server is the simulated relay.
type Server struct {
	cfg   Config
	clock *gen.Clock
	ctl   *simctl.Controller
	smtp  *smtp.Server
	http  http.Handler

	mu   sync.Mutex
	mail []Mail

	closeOnce sync.Once
	done      chan struct{}
}

// New returns a relay that has received nothing. Serve SMTP with ServeSMTP
// and the controls with Handler.
func New(cfg Config) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	s := &Server{cfg: cfg, clock: gen.NewClock(cfg.Clock), done: make(chan struct{})}
	s.ctl = simctl.NewController(simctl.Options{
		// The control port has only /_sim/ routes, which faults never touch;
		// the SMTP side answers faults in SMTP terms (see the session).
		InternalError: func(w http.ResponseWriter, r *http.Request) {
			simctl.WriteError(w, http.StatusInternalServerError, errors.New("internal error"))
		},
	})
	mux := http.NewServeMux()
	s.ctl.Register(mux)
	mux.HandleFunc("GET /_sim/mail", func(w http.ResponseWriter, r *http.Request) {
		simctl.WriteJSON(w, http.StatusOK, s.Mail())
	})
	mux.HandleFunc("DELETE /_sim/mail", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		simctl.WriteJSON(w, http.StatusOK, map[string]int{"mail": 0})
	})
	s.http = mux

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Domain
	srv.AllowInsecureAuth = true // the simulator speaks plain TCP, as the contract says
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = MaxRecipients
	srv.ReadTimeout = 5 * time.Minute // RFC 5321's minimum server timeout
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up are no news
	s.smtp = srv
	return s
}

// Handler is the HTTP control port: GET|DELETE /_sim/mail, /_sim/health,
// /_sim/faults.
func (s *Server) Handler() http.Handler { return s.http }

// Controller returns the fault controller.
func (s *Server) Controller() *simctl.Controller { return s.ctl }

// ServeSMTP serves SMTP on ln until Close, then returns nil.
func (s *Server) ServeSMTP(ln net.Listener) error {
	select {
	case <-s.done:
		ln.Close()
		return smtp.ErrServerClosed
	default:
	}
	return s.smtp.Serve(gate{Listener: ln, s: s})
}

// Close stops serving, drops open sessions and releases held ones.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.ctl.Close()
		err = s.smtp.Close()
	})
	return err
}

// Mail returns every accepted message in arrival order.
func (s *Server) Mail() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Mail, len(s.mail))
	for i, m := range s.mail {
		m.To, m.Violations = slices.Clone(m.To), slices.Clone(m.Violations)
		h := make(map[string][]string, len(m.Headers))
		for k, v := range m.Headers {
			h[k] = slices.Clone(v)
		}
		m.Headers = h
		out[i] = m
	}
	return out
}

// Reset forgets every message (DELETE /_sim/mail).
func (s *Server) Reset() {
	s.mu.Lock()
	s.mail = nil
	s.mu.Unlock()
}

// gate refuses connections while the relay is down, the way a relay that is
// shutting down or overloaded does (RFC 5321 §3.8): a 421 greeting, then close.
type gate struct {
	net.Listener
	s *Server
}

func (g gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || !g.s.ctl.Faults().Down {
			return c, err
		}
		// A fresh socket's send buffer takes one line without blocking; the
		// deadline only guards against the impossible.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, "421 4.3.2 Service not available, closing transmission channel\r\n")
		c.Close()
	}
}

// Replies for faults and policy.
var (
	errDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Service not available, closing transmission channel"}
	errTemporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Requested action aborted: local error in processing"}
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
)

// session is one SMTP connection's state.
type session struct {
	s    *Server
	conn *smtp.Conn
	user string // authenticated user, "" before AUTH
	from string
	to   []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{s: s, conn: c}
	if err := ss.command(); err != nil {
		return nil, err
	}
	return ss, nil
}

// command applies the faults every command meets: down, then latency.
func (ss *session) command() error {
	f := ss.s.ctl.Faults()
	if f.Down {
		return errDown
	}
	d := time.Duration(f.LatencyMS) * time.Millisecond
	if f.JitterMS > 0 {
		d += time.Duration(rand.IntN(f.JitterMS+1)) * time.Millisecond
	}
	if d > 0 && !ss.s.sleep(d) {
		return errDown // closing
	}
	return nil
}

// sleep waits d unless the server closes; it reports whether d elapsed.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (ss *session) authRequired() bool { return ss.s.cfg.Username != "" || ss.s.cfg.Password != "" }

// AuthMechanisms advertises PLAIN only when credentials are configured.
func (ss *session) AuthMechanisms() []string {
	if ss.authRequired() {
		return []string{sasl.Plain}
	}
	return nil
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if err := ss.command(); err != nil {
		return nil, err
	}
	if !ss.authRequired() {
		return nil, smtp.ErrAuthUnsupported
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		okUser := subtle.ConstantTimeCompare([]byte(username), []byte(ss.s.cfg.Username))
		okPass := subtle.ConstantTimeCompare([]byte(password), []byte(ss.s.cfg.Password))
		if okUser&okPass != 1 || (identity != "" && identity != username) {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if err := ss.command(); err != nil {
		return err
	}
	if ss.authRequired() && ss.user == "" {
		return errAuthRequired
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.command(); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	// The whole message is read first: go-smtp requires it, and a real relay
	// decides after the final dot.
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge carries its own 552
	}
	if err := ss.command(); err != nil {
		return err
	}
	f := ss.s.ctl.Faults()
	if f.TimeoutRate > 0 && rand.Float64() < f.TimeoutRate {
		// Hold the answer back, then hang up without one, like a relay whose
		// queue disk hangs: the client must time out and retry.
		ss.s.sleep(hold)
		ss.conn.Close()
		return errDown
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		return errTemporary
	}
	m := parse(raw)
	m.From, m.To, m.Helo, m.AuthUser = ss.from, slices.Clone(ss.to), ss.conn.Hostname(), ss.user
	m.Received = ss.s.clock.Now()
	ss.s.mu.Lock()
	ss.s.mail = append(ss.s.mail, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// stateVersion is bumped when the state changes incompatibly.
const stateVersion = 1

type state struct{ Mail []Mail }

// Snapshot writes every recorded message. Fault settings are not saved.
func (s *Server) Snapshot(w io.Writer) error {
	s.mu.Lock()
	st := state{Mail: slices.Clone(s.mail)}
	s.mu.Unlock()
	// Stored messages are never modified in place: encoding outside the lock is safe.
	return simctl.WriteState(w, "mail", stateVersion, &st)
}

// Restore replaces the recorded messages with those written by Snapshot.
func (s *Server) Restore(r io.Reader) error {
	var st state
	if err := simctl.ReadState(r, "mail", stateVersion, &st); err != nil {
		return err
	}
	var latest time.Time
	for i := range st.Mail {
		m := &st.Mail[i]
		m.Received = gen.InVN(m.Received)
		if m.Violations == nil {
			m.Violations = []string{} // gob drops empty slices
		}
		if m.Headers == nil {
			m.Headers = map[string][]string{}
		}
		if m.Received.After(latest) {
			latest = m.Received
		}
	}
	s.clock.NotBefore(latest)
	s.mu.Lock()
	s.mail = st.Mail
	s.mu.Unlock()
	return nil
}
