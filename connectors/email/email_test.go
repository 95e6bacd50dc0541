package email_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/httpx"
	simmail "github.com/lienthong/lienthong/sim/mail"
	"golang.org/x/text/unicode/norm"
)

const rcpt = "lan@example.vn"

type relay struct {
	sim  *simmail.Server
	addr string
	ctl  *httptest.Server
}

func newRelay(t *testing.T, cfg simmail.Config) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{sim: simmail.New(cfg), addr: ln.Addr().String()}
	r.ctl = httptest.NewServer(r.sim.Handler())
	served := make(chan error, 1)
	go func() { served <- r.sim.ServeSMTP(ln) }()
	t.Cleanup(func() {
		r.sim.Close()
		if err := <-served; err != nil {
			t.Errorf("ServeSMTP: %v", err)
		}
		r.ctl.Close()
	})
	return r
}

func (r *relay) faults(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(r.ctl.URL+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("faults %s: %d", body, resp.StatusCode)
	}
}

func (r *relay) client(t *testing.T, edit func(*email.Config)) *email.Client {
	t.Helper()
	cfg := email.Config{Addr: r.addr, From: "Cổng liên thông <noreply@lienthong.gov.vn>", HelloName: "hub.lienthong.test", Timeout: 3 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noPersonalData fails if err's text holds an address or message text.
func noPersonalData(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, rcpt, "lan@", "noreply@", "Hồ sơ") {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q leaks %q", err, s)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := newRelay(t, simmail.Config{Domain: "relay.test"})
	c := r.client(t, nil)
	subject := "Thông báo: Hồ sơ 000.00.19.H55-261121-0007 đã được tiếp nhận và đang được xử lý tại Bộ phận một cửa UBND thành phố Thái Nguyên"
	bodies := []string{
		"Kính gửi ông/bà Hoàng Văn Nam,\n\nHồ sơ \"Đăng ký hộ kinh doanh tạp hoá\" đã được tiếp nhận lúc 07:55 ngày 21/11/2026.\n" +
			"Một dòng rất dài để kiểm tra việc ngắt dòng mềm của quoted-printable: " + strings.Repeat("ưởng ", 40) + "\n" +
			".dòng bắt đầu bằng dấu chấm\n" +
			".\n" +
			"phí = 8.000 đồng; dấu cách cuối dòng   \n" +
			"\tthụt lề\n" +
			"Trân trọng.",
		"Kết thúc bằng xuống dòng\n",
		"Hai dòng trống cuối\n\n",
		"",
		"CRLF\r\nvẫn là xuống dòng\r\n",
	}
	for i, body := range bodies {
		id := "<notif-" + string(rune('a'+i)) + "@lienthong>"
		if err := c.Send(context.Background(), email.Message{To: "Hoàng Văn Nam <" + rcpt + ">", Subject: subject, Body: body, MessageID: id}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got := r.sim.Mail()
		if len(got) != i+1 {
			t.Fatalf("%d mails recorded", len(got))
		}
		m := got[i]
		want := strings.ReplaceAll(body, "\r\n", "\n")
		if m.Subject != subject || m.Body != want || m.MessageID != id {
			t.Fatalf("mail %d:\nsubject %q\nbody    %q\nwant    %q\nid %q", i, m.Subject, m.Body, want, m.MessageID)
		}
		if m.From != "noreply@lienthong.gov.vn" || len(m.To) != 1 || m.To[0] != rcpt || m.Helo != "hub.lienthong.test" {
			t.Fatalf("envelope %+v", m)
		}
		if len(m.Violations) != 0 {
			t.Fatalf("mail %d violations %v", i, m.Violations)
		}
		h := m.Headers
		if h["Content-Type"][0] != "text/plain; charset=utf-8" || h["Content-Transfer-Encoding"][0] != "quoted-printable" ||
			h["Mime-Version"][0] != "1.0" || len(h["Date"]) != 1 || !strings.HasSuffix(h["Date"][0], "+0700") {
			t.Fatalf("headers %v", h)
		}
		if !strings.Contains(h["From"][0], "=?utf-8?") || !strings.HasSuffix(h["To"][0], "<"+rcpt+">") {
			t.Fatalf("address headers %v %v", h["From"], h["To"])
		}
	}

	// NFD text is sent as NFC, as the hub promises for everything it sends.
	if err := c.Send(context.Background(), email.Message{To: rcpt, Subject: norm.NFD.String("Hồ sơ"), Body: norm.NFD.String("Đã tiếp nhận"), MessageID: "nfd@lienthong"}); err != nil {
		t.Fatal(err)
	}
	got := r.sim.Mail()
	if m := got[len(got)-1]; m.Subject != "Hồ sơ" || m.Body != "Đã tiếp nhận" || m.MessageID != "<nfd@lienthong>" {
		t.Fatalf("NFD mail %q %q %q", m.Subject, m.Body, m.MessageID)
	}

	// The control port lists the same.
	resp, err := http.Get(r.ctl.URL + "/_sim/mail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var listed []simmail.Mail
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || len(listed) != len(bodies)+1 || listed[0].Subject != subject {
		t.Fatalf("GET /_sim/mail: %v %d", err, len(listed))
	}
}

func TestAuth(t *testing.T) {
	r := newRelay(t, simmail.Config{Username: "hub", Password: "mail-secret"})
	ctx := context.Background()
	msg := email.Message{To: rcpt, Subject: "Hồ sơ", Body: "Hồ sơ đã được tiếp nhận", MessageID: "<a@lienthong>"}
	if err := r.client(t, func(c *email.Config) { c.Username, c.Password = "hub", "mail-secret" }).Send(ctx, msg); err != nil {
		t.Fatalf("with AUTH: %v", err)
	}
	if m := r.sim.Mail(); len(m) != 1 || m[0].AuthUser != "hub" {
		t.Fatalf("mail %+v", m)
	}
	for name, edit := range map[string]func(*email.Config){
		"no credentials": nil,
		"wrong password": func(c *email.Config) { c.Username, c.Password = "hub", "wrong" },
	} {
		err := r.client(t, edit).Send(ctx, msg)
		if !errors.Is(err, httpx.ErrAuth) || email.IsTransient(err) {
			t.Fatalf("%s: %v", name, err)
		}
		noPersonalData(t, err, "wrong", "mail-secret")
	}
	if n := len(r.sim.Mail()); n != 1 {
		t.Fatalf("%d mails recorded", n)
	}
}

func TestFaults(t *testing.T) {
	r := newRelay(t, simmail.Config{})
	c := r.client(t, func(c *email.Config) { c.Timeout = 500 * time.Millisecond })
	ctx := context.Background()
	msg := email.Message{To: rcpt, Subject: "Hồ sơ", Body: "Hồ sơ đã được tiếp nhận", MessageID: "<f@lienthong>"}
	// uncertain: whether the relay may have taken the message (no reply
	// after the final dot).
	check := func(name, code string, uncertain bool) {
		t.Helper()
		err := c.Send(ctx, msg)
		var he *httpx.Error
		if !email.IsTransient(err) || !errors.As(err, &he) || he.Code != code || email.Uncertain(err) != uncertain {
			t.Fatalf("%s: %v (uncertain %v)", name, err, email.Uncertain(err))
		}
		noPersonalData(t, err)
	}
	r.faults(t, `{"down":true}`)
	check("down", "421", false)
	r.faults(t, `{"down":false,"error_rate":1}`)
	check("error_rate", "451", false) // a reply to the message: certainly not taken
	r.faults(t, `{"error_rate":0,"latency_ms":2000}`)
	start := time.Now()
	check("latency beyond the timeout", "", false)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("timeout not respected: %v", d)
	}
	r.faults(t, `{"latency_ms":0,"timeout_rate":1}`)
	check("timeout_rate", "", true) // the message went, the reply never came
	if n := len(r.sim.Mail()); n != 0 {
		t.Fatalf("%d mails recorded under faults", n)
	}
	r.faults(t, `{"timeout_rate":0}`)
	if err := c.Send(ctx, msg); err != nil {
		t.Fatalf("after faults: %v", err)
	}

	// The caller's deadline wins over the configured timeout.
	r.faults(t, `{"latency_ms":2000}`)
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := r.client(t, nil).Send(dctx, msg); !email.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ctx deadline not respected: %v", d)
	}
	// A cancellation is the caller stopping, not the relay failing.
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, ccancel)
	if err := r.client(t, nil).Send(cctx, msg); !errors.Is(err, context.Canceled) || email.IsTransient(err) {
		t.Fatalf("cancel: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	err := r.client(t, func(c *email.Config) { c.Addr = closed }).Send(ctx, msg)
	if !email.IsTransient(err) {
		t.Fatalf("connection refused: %v", err)
	}
}

// TestReplyCodes checks replies the simulator never gives: 5xx are
// permanent and their text (which echoes the address) stays out of errors.
func TestReplyCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.WriteString(conn, "220 fake ESMTP\r\n")
				buf := make([]byte, 4096)
				for {
					n, err := conn.Read(buf)
					if err != nil {
						return
					}
					line := string(buf[:n])
					switch {
					case strings.HasPrefix(line, "EHLO"):
						io.WriteString(conn, "250-fake\r\n250 8BITMIME\r\n")
					case strings.HasPrefix(line, "MAIL"):
						io.WriteString(conn, "250 2.1.0 ok\r\n")
					case strings.HasPrefix(line, "RCPT"):
						io.WriteString(conn, "550 5.1.1 <"+rcpt+">: Recipient address rejected: User unknown\r\n")
					default:
						io.WriteString(conn, "221 bye\r\n")
					}
				}
			}()
		}
	}()
	c, err := email.New(email.Config{Addr: ln.Addr().String(), From: "noreply@lienthong.gov.vn", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(context.Background(), email.Message{To: rcpt, Subject: "x", Body: "y", MessageID: "<r@lienthong>"})
	var he *httpx.Error
	if email.IsTransient(err) || !errors.As(err, &he) || he.Code != "550" || he.Message != "5.1.1" || !strings.Contains(err.Error(), "RCPT") {
		t.Fatalf("err %v", err)
	}
	noPersonalData(t, err)
}

func TestRefusedBeforeConnecting(t *testing.T) {
	// Nothing listens there: a connection attempt would be a transient error.
	c, err := email.New(email.Config{Addr: "127.0.0.1:1", From: "noreply@lienthong.gov.vn"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		m    email.Message
		want error
	}{
		"bad address":     {email.Message{To: "lan at example.vn", MessageID: "<x@y>"}, email.ErrInvalidAddress},
		"two addresses":   {email.Message{To: "a@b.vn, c@d.vn", MessageID: "<x@y>"}, email.ErrInvalidAddress},
		"unicode address": {email.Message{To: "lân@example.vn", MessageID: "<x@y>"}, email.ErrInvalidAddress},
		"no id":           {email.Message{To: rcpt}, email.ErrInvalidMessageID},
		"id without @":    {email.Message{To: rcpt, MessageID: "<notif-1>"}, email.ErrInvalidMessageID},
		"id with space":   {email.Message{To: rcpt, MessageID: "<a b@c>"}, email.ErrInvalidMessageID},
		"header break":    {email.Message{To: rcpt, MessageID: "<x@y>", Subject: "Hồ sơ\r\nBcc: x@y"}, email.ErrInvalidHeader},
	} {
		err := c.Send(context.Background(), tc.m)
		if !errors.Is(err, tc.want) || email.IsTransient(err) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		noPersonalData(t, err, "lân", "lan at")
	}
	for _, cfg := range []email.Config{
		{Addr: "relay", From: "a@b.vn"},
		{Addr: "relay:25", From: "not an address"},
		{Addr: "relay:25", From: "a@b.vn", Username: "u"},
	} {
		if _, err := email.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// The hooks bound the window in which the relay may have the message
// unbeknown to the caller: BeforeData runs after RCPT with nothing sent
// yet, Accepted once the relay holds it; a BeforeData error sends nothing.
func TestHooksAroundData(t *testing.T) {
	r := newRelay(t, simmail.Config{})
	c := r.client(t, nil)
	var order []string
	m := email.Message{To: rcpt, Subject: "Hồ sơ", Body: "Đã trả kết quả", MessageID: "<hooks@lienthong>",
		BeforeData: func(context.Context) error {
			order = append(order, "before DATA with "+strconv.Itoa(len(r.sim.Mail()))+" mail")
			return nil
		},
		Accepted: func(context.Context) { order = append(order, "accepted with "+strconv.Itoa(len(r.sim.Mail()))+" mail") },
	}
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, "; "); got != "before DATA with 0 mail; accepted with 1 mail" {
		t.Fatalf("hooks ran: %s", got)
	}

	refused := errors.New("claim not recorded")
	m.MessageID, m.Accepted = "<hooks-2@lienthong>", func(context.Context) { t.Error("accepted after BeforeData failed") }
	m.BeforeData = func(context.Context) error { return refused }
	err := c.Send(context.Background(), m)
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "before DATA") {
		t.Fatalf("err %v; want the hook's error, at stage before DATA", err)
	}
	if n := len(r.sim.Mail()); n != 1 {
		t.Fatalf("%d mails; the second must not have been sent", n)
	}
}

// Accepted does not wait for QUIT: a relay that takes the message and then
// never answers QUIT still has the caller told at once.
func TestAcceptedBeforeQuit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		rd := bufio.NewReader(conn)
		io.WriteString(conn, "220 fake ESMTP\r\n")
		inData := false
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case inData:
				if line == ".\r\n" {
					inData = false
					io.WriteString(conn, "250 2.0.0 queued\r\n")
				}
			case strings.HasPrefix(line, "EHLO"):
				io.WriteString(conn, "250-fake\r\n250 8BITMIME\r\n")
			case strings.HasPrefix(line, "MAIL"), strings.HasPrefix(line, "RCPT"):
				io.WriteString(conn, "250 2.1.0 ok\r\n")
			case strings.HasPrefix(line, "DATA"):
				inData = true
				io.WriteString(conn, "354 go ahead\r\n")
			default: // QUIT: no answer, ever
			}
		}
	}()
	c, err := email.New(email.Config{Addr: ln.Addr().String(), From: "noreply@lienthong.gov.vn", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var accepted time.Duration
	err = c.Send(context.Background(), email.Message{To: rcpt, Subject: "x", Body: "y", MessageID: "<q@lienthong>",
		Accepted: func(context.Context) { accepted = time.Since(start) }})
	if err != nil {
		t.Fatalf("a QUIT left unanswered after the 250 failed the send: %v", err)
	}
	if accepted == 0 || accepted > time.Second {
		t.Fatalf("accepted after %v; want at once, before QUIT's answer (which never comes)", accepted)
	}
}

// countingListener counts the relay's connections and can drop them all.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *countingListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// TestSessionReused: Sends one after another share one session; a session
// the relay dropped while idle is replaced without failing the Send; with
// MaxIdle negative every Send connects.
func TestSessionReused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	sim := simmail.New(simmail.Config{Username: "hub", Password: "pw"})
	served := make(chan error, 1)
	go func() { served <- sim.ServeSMTP(cl) }()
	t.Cleanup(func() {
		sim.Close()
		<-served
	})
	newClient := func(maxIdle int) *email.Client {
		c, err := email.New(email.Config{Addr: ln.Addr().String(), From: "noreply@lienthong.gov.vn", Username: "hub", Password: "pw",
			Timeout: 3 * time.Second, MaxIdle: maxIdle})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	send := func(c *email.Client, id string) {
		t.Helper()
		if err := c.Send(context.Background(), email.Message{To: rcpt, Subject: "Hồ sơ", Body: "Đã tiếp nhận", MessageID: "<" + id + "@lienthong>"}); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	c := newClient(0)
	for i := range 3 {
		send(c, "s"+strconv.Itoa(i))
	}
	if n := cl.accepted(); n != 1 {
		t.Fatalf("3 sends made %d connections, want 1", n)
	}
	cl.dropAll()
	send(c, "after-drop")
	if n := cl.accepted(); n != 2 {
		t.Fatalf("after the relay dropped the session: %d connections, want 2", n)
	}
	c.Close()
	send(c, "after-close")
	if n := cl.accepted(); n != 3 {
		t.Fatalf("after Close: %d connections, want 3", n)
	}
	each := newClient(-1)
	send(each, "e1")
	send(each, "e2")
	if n := cl.accepted(); n != 5 {
		t.Fatalf("MaxIdle -1: %d connections, want 5", n)
	}
	mails := sim.Mail()
	if len(mails) != 7 {
		t.Fatalf("relay has %d mails, want 7", len(mails))
	}
	for _, m := range mails {
		if m.AuthUser != "hub" {
			t.Fatalf("a mail on a reused session lost its authentication: %+v", m)
		}
	}
}
