package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("PORTALSIM_HATINH_API_KEY", "from-env")
	t.Setenv("PORTALSIM_SMS_PASSWORD", "sms-from-env")
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.sonlaAddr != "127.0.0.1:18081" || o.thainguyenAddr != "127.0.0.1:18082" || o.hatinhAddr != "127.0.0.1:18083" || o.nationalAddr != "127.0.0.1:18090" {
		t.Errorf("default addresses %+v", o)
	}
	if o.paymentAddr != "127.0.0.1:18091" || o.vnpostAddr != "127.0.0.1:18092" || o.smsAddr != "127.0.0.1:18093" || o.mailAddr != "127.0.0.1:18094" || o.smtpAddr != "127.0.0.1:2525" {
		t.Errorf("default level-4 addresses %+v", o)
	}
	if o.htAPIKey != "from-env" || o.smsPassword != "sms-from-env" {
		t.Errorf("env credentials %q %q", o.htAPIKey, o.smsPassword)
	}
	// The partner accounts of devenv.PaymentPartners, so a hub configured like
	// `hub dev` can pay.
	want := map[string]string{"DVC14": "sonla-payment-secret", "DVC19": "thainguyen-payment-secret", "DVC42": "hatinh-payment-secret"}
	if !maps.Equal(o.paymentPartners, want) {
		t.Errorf("default partners %v", o.paymentPartners)
	}
	if o.paymentCallback != "http://127.0.0.1:18080/callbacks/payment" || o.paymentRetryDelays != nil {
		t.Errorf("payment defaults %q %v", o.paymentCallback, o.paymentRetryDelays)
	}
	if o.vnpostClientID != "hub" || o.vnpostClientSecret != "hub-secret" || o.smsUser != "hub" || o.smtpUser != "" || o.smtpPassword != "" {
		t.Errorf("level-4 credentials %+v", o)
	}
	o, err = parseFlags([]string{"-hatinh-api-key", "flag", "-generate", "5", "-seed", "9", "-steps", "2"}, io.Discard)
	if err != nil || o.htAPIKey != "flag" || o.generate != 5 || o.seed != 9 || o.steps != 2 {
		t.Errorf("flags %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-payment-partners", " DVC14=a , DVC19=b=c ", "-payment-retry-delays", "1s, 2s", "-payment-callback", "", "-smtp-user", "u", "-smtp-password", "p"}, io.Discard)
	if err != nil || !maps.Equal(o.paymentPartners, map[string]string{"DVC14": "a", "DVC19": "b=c"}) ||
		!slices.Equal(o.paymentRetryDelays, []time.Duration{time.Second, 2 * time.Second}) || o.paymentCallback != "" || o.smtpUser != "u" || o.smtpPassword != "p" {
		t.Errorf("level-4 flags %+v %v", o, err)
	}
	if o, err = parseFlags([]string{"-payment-retry-delays", "none"}, io.Discard); err != nil || o.paymentRetryDelays == nil || len(o.paymentRetryDelays) != 0 {
		t.Errorf("no retries: %#v %v", o.paymentRetryDelays, err)
	}
	// No partner is fine when the payment simulator is disabled.
	if _, err := parseFlags([]string{"-payment-addr", "", "-payment-partners", ""}, io.Discard); err != nil {
		t.Errorf("payment disabled: %v", err)
	}
	for _, bad := range [][]string{
		{"-hatinh-charset", "latin1"}, {"-thainguyen-prefix", "soap"}, {"-thainguyen-prefix", "a b"}, {"-generate", "-1"}, {"extra"},
		{"-payment-partners", "DVC14"}, {"-payment-partners", "=x"}, {"-payment-partners", "DVC14="}, {"-payment-partners", "A=1,A=2"}, {"-payment-partners", ""},
		{"-payment-callback", "ftp://hub/x"}, {"-payment-callback", "/callbacks/payment"},
		{"-payment-retry-delays", "soon"}, {"-payment-retry-delays", "1s,-1s"}, {"-vnpost-client-id", ""},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuildMailSMTPOnly(t *testing.T) {
	services := build(options{smtpAddr: "x"})
	if len(services) != 1 || services[0].name != "mail" || services[0].addr != "" || services[0].smtp == nil || services[0].smtpAddr != "x" {
		t.Fatalf("services %+v", services)
	}
	services[0].sim.Close()
	if services := build(options{}); len(services) != 0 {
		t.Errorf("all disabled: %+v", services)
	}
}

// syncBuffer is a log sink safe for the server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesAll(t *testing.T) {
	urls, logs, stop := launch(t, "-generate", "3", "-steps", "2", "-hatinh-charset", "windows-1258",
		"-smtp-user", "relay", "-smtp-password", "relay-secret")
	if !strings.Contains(logs.String(), "hatinh: generated 3 dossiers") {
		t.Errorf("generation not logged:\n%s", logs.String())
	}
	for name, u := range urls {
		if name == "smtp" {
			continue
		}
		resp, err := http.Get(u + "/_sim/health")
		if err != nil {
			t.Errorf("%s health: %v", name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s health: %s", name, resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", urls["hatinh"]+"/dvc/api/dongbo", nil)
	req.Header.Set("X-API-Key", "hub-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hatinh feed: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/xml; charset=windows-1258" {
		t.Errorf("hatinh feed: %v", resp.Header)
	}

	// SMTP requires the configured AUTH, then accepts the message, which the
	// control port lists.
	if err := sendMail(urls["smtp"], nil, "Không xác thực"); err == nil {
		t.Error("mail without AUTH accepted")
	}
	if err := sendMail(urls["smtp"], smtp.PlainAuth("", "relay", "wrong", "127.0.0.1"), "Sai mật khẩu"); err == nil {
		t.Error("mail with a wrong password accepted")
	}
	if err := sendMail(urls["smtp"], smtp.PlainAuth("", "relay", "relay-secret", "127.0.0.1"), "Kết quả hồ sơ"); err != nil {
		t.Fatalf("send mail: %v", err)
	}
	if got := fetch(t, "GET", urls["mail"]+"/_sim/mail", ""); !strings.Contains(got, `"subject":"Kết quả hồ sơ"`) || !strings.Contains(got, `"authUser":"relay"`) || strings.Count(got, `"subject"`) != 1 {
		t.Errorf("mail: %s", got)
	}
	// The SMS gateway takes the default credentials.
	if got := fetch(t, "POST", urls["sms"]+"/api/sms/send", `{"phone":"84912345678","message":"Ho so da co ket qua","brandname":"DICHVUCONG","requestId":"r-1"}`,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hub:hub-secret"))); !strings.Contains(got, `"messageId"`) {
		t.Errorf("sms send: %s", got)
	}
	if err := stop(); err != nil {
		t.Errorf("run: %v\n%s", err, logs.String())
	}
}

// sendMail sends one message with subject over SMTP to addr.
func sendMail(addr string, auth smtp.Auth, subject string) error {
	msg := "From: khongtraloi@dichvucong.gov.vn\r\n" +
		"To: cong.dan@example.vn\r\n" +
		"Subject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@dichvucong.gov.vn>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"Hồ sơ của ông/bà đã có kết quả.\r\n"
	return smtp.SendMail(addr, auth, "khongtraloi@dichvucong.gov.vn", []string{"cong.dan@example.vn"}, []byte(msg))
}

// Any number of portals of any kind, each its own province.
func TestExtraPortals(t *testing.T) {
	o, err := parseFlags([]string{
		"-portal", "name=laichau,kind=rest-json,province=12,addr=127.0.0.1:0,user=lc,secret=lc-secret",
		"-portal", "name=nghean,kind=xml-feed,province=40,addr=127.0.0.1:0,charset=utf-8",
		"-portal", "name=quangninh,kind=soap,province=22,addr=127.0.0.1:0",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]service{}
	for _, s := range build(o) {
		got[s.name] = s
	}
	for name, province := range map[string]string{"laichau": "12", "nghean": "40", "quangninh": "22"} {
		s, ok := got[name]
		if !ok || s.book == nil {
			t.Errorf("%s not built as a provincial portal", name)
			continue
		}
		res, err := s.book.Generate(simctl.GenerateRequest{Count: 3})
		if err != nil || len(res.Created) != 3 {
			t.Fatalf("%s: generate: %v %+v", name, err, res)
		}
		// Dossier codes start with one of the province's agency codes.
		if !slices.ContainsFunc(gen.ForProvince(province).Agencies, func(a gen.Agency) bool { return strings.HasPrefix(res.Created[0], a.Ma+"-") }) {
			t.Errorf("%s: dossier %s is not of an agency of province %s", name, res.Created[0], province)
		}
	}
	for _, bad := range []string{
		"name=sonla,kind=rest-json,province=14,addr=x:1",
		"name=x,kind=grpc,province=14,addr=x:1",
		"name=x,kind=soap,province=H5,addr=x:1",
		"name=x,kind=soap,province=14,addr=x:1,charset=utf-8",
		"name=x,kind=xml-feed,province=14",
		"name=x,colour=red",
	} {
		if _, err := parseFlags([]string{"-portal", bad}, io.Discard); err == nil {
			t.Errorf("-portal %s accepted", bad)
		}
	}
}
