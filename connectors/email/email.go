// Package email sends applicant notifications as plain-text email through
// the configured SMTP relay (spec §7). Each Send is one SMTP transaction
// (MAIL, RCPT, DATA) on a session opened with EHLO and AUTH PLAIN when
// configured; a session that ended its transaction cleanly is kept for the
// next Send for a while, as SMTP allows, so a busy hub does not connect
// and authenticate once per email.
//
// Errors are *httpx.Error so the hub classifies them like every other
// connector's: 4xx replies and connection failures are transient, 5xx
// replies permanent, rejected credentials wrap httpx.ErrAuth. They carry the
// SMTP stage and reply code, never the relay's reply text (it often echoes
// addresses) nor anything from the message.
package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// DefaultTimeout bounds one whole Send when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Sentinels for messages refused before connecting. They never carry the
// address or the text.
var (
	ErrInvalidAddress   = errors.New("invalid recipient address")
	ErrInvalidMessageID = errors.New("invalid Message-ID")
	ErrInvalidHeader    = errors.New("subject contains a line break")
)

// Config configures a Client. Addr and From are required.
type Config struct {
	Addr string // host:port of the relay
	// From is the sender, optionally with a display name
	// ("Cổng liên thông <noreply@example.vn>"); its address must be ASCII.
	From string
	// Username / Password: when set, the client authenticates with AUTH PLAIN.
	// The contract's relay speaks plain TCP, so this is only as private as
	// the network to the relay.
	Username, Password string
	HelloName          string        // EHLO name; default "localhost"
	Timeout            time.Duration // whole session, per Send (default 30s)
	// MaxIdle sessions are kept open for later Sends (default 64; negative:
	// none, every Send connects and ends with QUIT), each for at most
	// IdleTimeout (default 30s, well under the 5 minutes RFC 5321 gives a
	// server before it may close).
	MaxIdle     int
	IdleTimeout time.Duration
}

// Client sends mail through one relay. It is safe for concurrent use; each
// Send has a session to itself.
type Client struct {
	cfg  Config
	from *mail.Address

	mu   sync.Mutex
	idle []*session // most recently used last
}

// session is one open, greeted (and authenticated) SMTP connection.
type session struct {
	nc    net.Conn
	dc    *deadlineConn
	cl    *smtp.Client
	since time.Time // idle since
}

func (s *session) close() { _ = s.cl.Close() }

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, errors.New("email: Addr must be host:port")
	}
	from, err := ParseAddress(cfg.From)
	if err != nil {
		return nil, errors.New("email: From must be one ASCII mail address")
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if strings.ContainsAny(cfg.HelloName, " \r\n") {
		return nil, errors.New("email: HelloName must be a host name")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("email: Username and Password go together")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = 64
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	return &Client{cfg: cfg, from: from}, nil
}

// Message is one email. Subject and Body are UTF-8 text (normalised to NFC
// before sending); line breaks in Body may be LF or CRLF.
type Message struct {
	To      string // one recipient, optionally with a display name
	Subject string
	Body    string
	// MessageID is the caller's deterministic id, e.g. "<key@lienthong>"
	// (the angle brackets are added when missing): a resend after an
	// ambiguous failure carries the same id, so mail systems can tell.
	MessageID string

	// SMTP has no idempotency key, so a caller that records what it sent
	// needs the two moments that bound the window in which the message may
	// be with the relay without the caller knowing.
	//
	// BeforeData, when set, runs once the relay has taken the recipient,
	// just before DATA: the last moment the message is certainly not sent.
	// An error ends the session without sending it.
	BeforeData func(ctx context.Context) error
	// Accepted, when set, runs as soon as the relay has answered 250 to the
	// message, before QUIT: the first moment it is certainly sent.
	Accepted func(ctx context.Context)
}

// IsTransient reports whether a Send error is worth retrying later.
func IsTransient(err error) bool { return httpx.IsTransient(err) }

// stageEndOfData is the stage of the final dot and its reply.
const stageEndOfData = "end of DATA"

// Uncertain reports whether a Send error leaves it unknown whether the relay
// took the message: the whole message and its final dot were sent and no
// reply came (a broken connection, a timeout). Any SMTP reply, and any
// failure before that point, is certain: not sent.
func Uncertain(err error) bool {
	var e *httpx.Error
	return errors.As(err, &e) && e.Op == "email: "+stageEndOfData && e.Code == ""
}

// Send delivers m to the relay. It returns once the relay accepted the
// message (250 after DATA), within ctx and the configured timeout.
func (c *Client) Send(ctx context.Context, m Message) error {
	to, err := ParseAddress(m.To)
	if err != nil {
		return &httpx.Error{Op: "email: send", Err: ErrInvalidAddress}
	}
	raw, err := c.compose(to, m, time.Now())
	if err != nil {
		return &httpx.Error{Op: "email: send", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		stage := "connect"
		ss, reused := c.take()
		if ss == nil {
			var err error
			if ss, err = c.open(ctx, &stage); err != nil {
				return classify(ctx, "email: "+stage, err)
			}
		}
		err := c.transact(ctx, ss, to.Address, raw, m, &stage)
		if err == nil {
			c.keep(ss)
			return nil
		}
		ss.close()
		if reused && stage == "MAIL" && attempt == 1 && ctx.Err() == nil {
			// The relay may have dropped the idle session; nothing of the
			// message has gone yet, so a new session tries again.
			continue
		}
		return classify(ctx, "email: "+stage, err)
	}
}

// take returns an idle session, if one is fresh enough, closing those that
// are not.
func (c *Client) take() (*session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.idle) > 0 {
		ss := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(ss.since) < c.cfg.IdleTimeout {
			return ss, true
		}
		ss.close()
	}
	return nil, false
}

// keep puts a session whose transaction ended cleanly back for the next
// Send, or ends it with QUIT when the client keeps none or enough.
func (c *Client) keep(ss *session) {
	ss.since = time.Now()
	c.mu.Lock()
	if len(c.idle) < c.cfg.MaxIdle {
		c.idle = append(c.idle, ss)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// A failed QUIT changes nothing for the message.
	_ = ss.cl.Quit()
	ss.close()
}

// Close ends the idle sessions. Sends still running finish; their sessions
// are kept again, so call it once nothing sends any more.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, ss := range idle {
		ss.close()
	}
	return nil
}

// open connects and greets the relay (EHLO, AUTH); *stage tracks where it
// failed.
func (c *Client) open(ctx context.Context, stage *string) (*session, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, err
	}
	ss := &session{nc: nc, dc: &deadlineConn{Conn: nc}}
	ss.cl = smtp.NewClient(ss.dc)
	ss.cl.CommandTimeout, ss.cl.SubmissionTimeout = c.cfg.Timeout, c.cfg.Timeout
	if err := ss.bound(ctx, func() error {
		*stage = "EHLO"
		if err := ss.cl.Hello(c.cfg.HelloName); err != nil {
			return err
		}
		if c.cfg.Username != "" {
			*stage = "AUTH"
			if err := ss.cl.Auth(sasl.NewPlainClient("", c.cfg.Username, c.cfg.Password)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		ss.close()
		return nil, err
	}
	return ss, nil
}

// bound runs f within ctx: go-smtp sets its own per-command deadlines;
// deadlineConn caps them at ctx's deadline, and a cancellation closes the
// socket under it.
func (ss *session) bound(ctx context.Context, f func() error) error {
	ss.dc.limit, _ = ctx.Deadline()
	stop := context.AfterFunc(ctx, func() { ss.nc.Close() })
	defer stop()
	return f()
}

// transact runs one SMTP transaction on ss, calling m's hooks around DATA;
// *stage tracks where it failed.
func (c *Client) transact(ctx context.Context, ss *session, rcpt string, raw []byte, m Message, stage *string) error {
	return ss.bound(ctx, func() error {
		*stage = "MAIL"
		if err := ss.cl.Mail(c.from.Address, &smtp.MailOptions{Size: int64(len(raw))}); err != nil {
			return err
		}
		*stage = "RCPT"
		if err := ss.cl.Rcpt(rcpt, nil); err != nil {
			return err
		}
		if m.BeforeData != nil {
			*stage = "before DATA"
			if err := m.BeforeData(ctx); err != nil {
				return err
			}
		}
		*stage = "DATA"
		w, err := ss.cl.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
		// Close sends the final dot and reads the reply: from here on a
		// broken connection leaves it unknown whether the relay took the
		// message.
		*stage = stageEndOfData
		if err := w.Close(); err != nil {
			return err
		}
		// The relay has the message: tell the caller before anything else
		// can fail or take time.
		if m.Accepted != nil {
			m.Accepted(ctx)
		}
		return nil
	})
}

// classify turns a session error into an *httpx.Error.
func classify(ctx context.Context, op string, err error) error {
	ctxErr := ctx.Err()
	if dl, ok := ctx.Deadline(); ctxErr == nil && ok && !time.Now().Before(dl) {
		// The socket deadline (the same instant) fired before ctx's timer.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		// The socket was closed under the client: the context is the cause.
		// A deadline is transient; a cancellation is the caller stopping.
		return &httpx.Error{Op: op, Transient: errors.Is(ctxErr, context.DeadlineExceeded), Err: ctxErr}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := &httpx.Error{Op: op, Code: strconv.Itoa(se.Code), Transient: se.Code/100 == 4}
		if se.EnhancedCode != smtp.EnhancedCodeNotSet && se.EnhancedCode != smtp.NoEnhancedCode {
			e.Message = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		switch se.Code {
		case 530, 534, 535, 538: // RFC 4954: authentication required / failed
			e.Err = httpx.ErrAuth
		}
		// se itself is dropped: its text may echo addresses.
		return e
	}
	// Connection refused, reset, a garbled reply: all may be gone on retry.
	return httpx.TransportError(op, err)
}

// deadlineConn keeps every deadline go-smtp sets at or before limit.
type deadlineConn struct {
	net.Conn
	limit time.Time
}

func (c *deadlineConn) cap(t time.Time) time.Time {
	if c.limit.IsZero() || (!t.IsZero() && t.Before(c.limit)) {
		return t
	}
	return c.limit
}

func (c *deadlineConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.cap(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.cap(t)) }

// ParseAddress accepts exactly one address whose addr-spec is ASCII: the
// relay is not assumed to offer SMTPUTF8.
func ParseAddress(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || !isASCII(a.Address) || strings.ContainsAny(a.Address, "\r\n<>") {
		return nil, ErrInvalidAddress
	}
	return a, nil
}

// messageID is the RFC 5322 msg-id form: "<" id-left "@" id-right ">", printable
// ASCII without spaces or brackets.
var messageID = regexp.MustCompile(`^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$`)

// compose builds the RFC 5322 message with CRLF line ends, all ASCII:
// the subject as RFC 2047 Q-encoded words, the body as quoted-printable.
func (c *Client) compose(to *mail.Address, m Message, now time.Time) ([]byte, error) {
	id := strings.TrimSpace(m.MessageID)
	if id != "" && !strings.HasPrefix(id, "<") {
		id = "<" + id + ">"
	}
	if strings.Count(id, "@") != 1 || !messageID.MatchString(id) {
		return nil, ErrInvalidMessageID
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, ErrInvalidHeader
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", c.from.String()) // mail.Address.String Q-encodes a non-ASCII display name
	header("To", to.String())
	header("Subject", encodeSubject(norm.NFC.String(m.Subject)))
	header("Date", now.In(schemas.Vietnam).Format(time.RFC1123Z))
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: no vacation auto-replies to a notification nobody reads.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// The writer turns LF and CRLF into CRLF hard breaks and wraps at 76.
	if _, err := qp.Write([]byte(norm.NFC.String(m.Body))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		// DATA must end with CRLF; a soft break adds one without adding a
		// newline to the text, so the body arrives exactly as given.
		b.WriteString("=\r\n")
	}
	return b.Bytes(), nil
}

// encodeSubject Q-encodes a subject that needs it and folds it between
// encoded words, keeping header lines short (RFC 2047 §2: at most 76).
func encodeSubject(s string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
