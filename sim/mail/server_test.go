package mail

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/lienthong/lienthong/sim/gen"
)

func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Clock = func() time.Time { return time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN) }
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeSMTP(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeSMTP: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

const plain = "From: a@b.vn\r\nTo: c@d.vn\r\nDate: Sat, 21 Nov 2026 08:00:00 +0700\r\nMessage-ID: <1@b.vn>\r\nSubject: hi\r\n\r\nhello\r\n"

func TestSessionAndRecord(t *testing.T) {
	s, addr := start(t, Config{Domain: "relay.test"})
	c := dial(t, addr)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered without credentials")
	}
	if err := c.SendMail("a@b.vn", []string{"c@d.vn", "e@f.vn"}, strings.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	// An aborted transaction records nothing.
	if err := c.Mail("x@b.vn", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	ms := s.Mail()
	if len(ms) != 1 {
		t.Fatalf("mail %+v", ms)
	}
	m := ms[0]
	if m.From != "a@b.vn" || !reflect.DeepEqual(m.To, []string{"c@d.vn", "e@f.vn"}) || m.Helo != "client.test" ||
		m.Subject != "hi" || m.Body != "hello\n" || m.MessageID != "<1@b.vn>" || m.Size != len(plain) ||
		len(m.Violations) != 0 || m.Received.IsZero() || m.Headers["Subject"][0] != "hi" {
		t.Fatalf("recorded %+v", m)
	}

	// The control port.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.Controller().Patch([]byte(`{"down":true,"error_rate":1}`))
	for _, p := range []string{"/_sim/health", "/_sim/mail", "/_sim/faults"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d with faults on", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("DELETE", srv.URL+"/_sim/mail", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 || len(s.Mail()) != 0 {
		t.Fatalf("DELETE: %v %v", err, s.Mail())
	}
}

func TestAuthRequired(t *testing.T) {
	s, addr := start(t, Config{Username: "hub", Password: "pw"})
	c := dial(t, addr)
	if err := c.Mail("a@b.vn", nil); code(err) != 530 {
		t.Fatalf("MAIL before AUTH: %v", err)
	}
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN" {
		t.Fatalf("AUTH %v %q", ok, mechs)
	}
	if err := c.Auth(sasl.NewPlainClient("", "hub", "nope")); code(err) != 535 {
		t.Fatalf("bad password: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "hub", "pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@b.vn", []string{"c@d.vn"}, strings.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if ms := s.Mail(); len(ms) != 1 || ms[0].AuthUser != "hub" {
		t.Fatalf("mail %+v", ms)
	}
}

func TestFaults(t *testing.T) {
	s, addr := start(t, Config{})
	s.Controller().Patch([]byte(`{"down":true}`))
	// Down: a 421 greeting, then the connection closes.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(line, "421 ") {
		t.Fatalf("greeting while down: %q", line)
	}
	// A session opened before the relay went down gets 421 on its next command.
	s.Controller().Patch([]byte(`{"down":false}`))
	c := dial(t, addr)
	if err := c.Hello("x"); err != nil {
		t.Fatal(err)
	}
	s.Controller().Patch([]byte(`{"down":true}`))
	if err := c.Mail("a@b.vn", nil); code(err) != 421 {
		t.Fatalf("MAIL while down: %v", err)
	}
	s.Controller().Patch([]byte(`{"down":false,"error_rate":1}`))
	c = dial(t, addr)
	if err := c.SendMail("a@b.vn", []string{"c@d.vn"}, strings.NewReader(plain)); code(err) != 451 {
		t.Fatalf("error_rate: %v", err)
	}
	s.Controller().Patch([]byte(`{"error_rate":0,"latency_ms":100}`))
	start := time.Now()
	c = dial(t, addr)
	if err := c.SendMail("a@b.vn", []string{"c@d.vn"}, strings.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond { // EHLO, MAIL, RCPT, DATA
		t.Fatalf("latency not applied per command: %v", d)
	}
	if n := len(s.Mail()); n != 1 {
		t.Fatalf("%d mails", n)
	}
}

func TestParse(t *testing.T) {
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }
	hdr := "From: a@b.vn\nDate: Sat, 21 Nov 2026 08:00:00 +0700\nMessage-ID: <1@b.vn>\n"
	for name, tc := range map[string]struct {
		raw        []byte
		subject    string
		body       string
		violations []string
	}{
		"qp utf-8": {crlf(hdr + "Subject: =?UTF-8?Q?H=E1=BB=93_s=C6=A1?=\n =?utf-8?b?IMSRw6MgxJHGsOG7o2M=?=\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: Quoted-Printable\n\nH=E1=BB=93 s=C6=A1 =\nd=C3=A0i=\n"),
			"Hồ sơ đã được", "Hồ sơ dài", []string{}},
		"base64": {crlf(hdr + "Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSOG7kyBzxqEK\nxJHDow==\n"),
			"x", "Hồ sơ\nđã", []string{}},
		"windows-1258 8bit": {append(crlf(hdr+"Subject: x\nContent-Type: text/plain; charset=windows-1258\nContent-Transfer-Encoding: 8bit\n\n"), "H\xf4\xcc s\xf5\r\n"...),
			"x", "Hô\u0300 sơ\n", []string{}},
		"multipart": {crlf(hdr + "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=BB\n\n--BB\nContent-Type: text/html\n\n<p>no</p>\n--BB\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nv=C3=A2ng\n--BB--\n"),
			"x", "vâng", []string{}},
		"sloppy": {[]byte("Subject: Hồ sơ\nX: " + strings.Repeat("y", 1000) + "\n\nđã\n"),
			"Hồ sơ", "đã\n", []string{ViolationBareLF, ViolationLongLine, ViolationMissingDate, ViolationMissingFrom, ViolationMissingMessageID, ViolationNonASCIIHeader, ViolationUndeclared8Bit}},
		"html only": {crlf(hdr + "Subject: x\nContent-Type: text/html\n\n<p>x</p>\n"),
			"x", "", []string{ViolationNoTextPart}},
		"bad word": {crlf(hdr + "Subject: =?x-unknown?q?abc?=\n\nb\n"),
			"=?x-unknown?q?abc?=", "b\n", []string{ViolationBadEncodedWord}},
		"no header": {[]byte("just text"), "", "", []string{ViolationUnparsable}},
	} {
		m := parse(tc.raw)
		if m.Subject != tc.subject || m.Body != tc.body || !reflect.DeepEqual(m.Violations, tc.violations) {
			t.Errorf("%s: subject %q body %q violations %v", name, m.Subject, m.Body, m.Violations)
		}
	}
}

func TestSnapshot(t *testing.T) {
	s, addr := start(t, Config{})
	c := dial(t, addr)
	if err := c.SendMail("a@b.vn", []string{"c@d.vn"}, strings.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	s2 := New(Config{})
	defer s2.Close()
	if err := s2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := s2.Mail(), s.Mail(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %+v\nwant %+v", got, want)
	}
	if err := s2.Restore(strings.NewReader("lienthong-sim-state sms 1\n")); err == nil {
		t.Fatal("foreign state accepted")
	}
}
