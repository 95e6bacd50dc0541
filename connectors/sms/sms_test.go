package sms_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/sms"
	simsms "github.com/lienthong/lienthong/sim/sms"
	"golang.org/x/text/unicode/norm"
)

const phone = "0912345678"

type gateway struct {
	sim      *simsms.Server
	srv      *httptest.Server
	requests atomic.Int64 // requests that reached the gateway
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{sim: simsms.New(simsms.Config{Username: "hub", Password: "s3cret"})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_sim/") {
			g.requests.Add(1)
		}
		g.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.sim.Close(); g.srv.Close() })
	return g
}

func (g *gateway) client(t *testing.T, edit func(*sms.Config)) *sms.Client {
	t.Helper()
	cfg := sms.Config{BaseURL: g.srv.URL, Username: "hub", Password: "s3cret", Brandname: "LIENTHONG", Timeout: 2 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noPersonalData fails if err's text holds the number or the message.
func noPersonalData(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, "912345678", "s3cret") {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q leaks %q", err, s)
		}
	}
}

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		"Hồ sơ đã được tiếp nhận":                       "Ho so da duoc tiep nhan",
		norm.NFD.String("Hồ sơ đã được tiếp nhận"):      "Ho so da duoc tiep nhan",
		"ĐĂNG KÝ KHAI SINH – Sơn La":                    "DANG KY KHAI SINH - Son La",
		"  Mã hồ sơ:\n000.00.19.H55-261121-0007\t ":     "Ma ho so: 000.00.19.H55-261121-0007",
		"“Phí” 8.000\u00a0đồng…":                        `"Phi" 8.000 dong...`,
		"Ưu tiên Ỷ Ỹ ỵ ữ":                               "Uu tien Y Y y u",
		"already ascii":                                 "already ascii",
		"":                                              "",
		norm.NFD.String("Đặng Thị Ngọc Hà, Quảng Ngãi"): "Dang Thi Ngoc Ha, Quang Ngai",
	} {
		if got := sms.ASCII(in); got != want {
			t.Errorf("ASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInternational(t *testing.T) {
	for _, ok := range []string{"0912345678", "+84 912 345 678", "0912.345.678", "0912-345-678", "84912345678", " 0912345678 "} {
		got, err := sms.International(ok)
		if err != nil || got != "84912345678" {
			t.Errorf("International(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "0212345678", "091234567", "09123456789", "+85 912 345 678", "0912a45678", "0412345678", "(0912)345678"} {
		if got, err := sms.International(bad); !errors.Is(err, sms.ErrInvalidPhone) {
			t.Errorf("International(%q) = %q, %v; want ErrInvalidPhone", bad, got, err)
		}
	}
}

func TestSend(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, nil)
	ctx := context.Background()
	text := sms.ASCII("Hồ sơ 000.00.19.H55-261121-0007 đã được tiếp nhận")
	id, err := c.Send(ctx, "+84 912 345 678", text, "notif-1")
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	again, err := c.Send(ctx, "0912.345.678", text, "notif-1")
	if err != nil || again != id {
		t.Fatalf("repeat: %q %v, want %q", again, err, id)
	}
	other, err := c.Send(ctx, phone, text, "notif-2")
	if err != nil || other == id {
		t.Fatalf("second request: %q %v", other, err)
	}
	msgs := g.sim.Messages()
	if len(msgs) != 3 {
		t.Fatalf("messages %+v", msgs)
	}
	m := msgs[0]
	if m.Phone != "84912345678" || m.Message != text || m.Brandname != "LIENTHONG" || m.RequestID != "notif-1" ||
		m.MessageID != id || m.Duplicate || m.Parts != 1 || len(m.Violations) != 0 || m.Received.IsZero() {
		t.Fatalf("recorded %+v", m)
	}
	if d := msgs[1]; !d.Duplicate || d.MessageID != id || d.RequestID != "notif-1" {
		t.Fatalf("duplicate not recorded: %+v", d)
	}
	if msgs[2].Duplicate {
		t.Fatalf("new requestId recorded as duplicate: %+v", msgs[2])
	}
}

func TestWrongPassword(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, func(cfg *sms.Config) { cfg.Password = "wrong" })
	_, err := c.Send(context.Background(), phone, "Ho so da duoc tiep nhan", "r1")
	var he *httpx.Error
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || sms.IsTransient(err) || !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("err %v", err)
	}
	noPersonalData(t, err, "wrong", "Ho so")
	if len(g.sim.Messages()) != 0 {
		t.Fatal("message recorded despite bad credentials")
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, nil)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		phone, msg, req string
		want            error
	}{
		"landline":    {"0243 826 1234", "Ho so da duoc tiep nhan", "r", sms.ErrInvalidPhone},
		"short":       {"091234567", "Ho so da duoc tiep nhan", "r", sms.ErrInvalidPhone},
		"diacritics":  {phone, "Hồ sơ đã được tiếp nhận", "r", sms.ErrInvalidMessage},
		"NFD":         {phone, norm.NFD.String("Hồ sơ"), "r", sms.ErrInvalidMessage},
		"too long":    {phone, strings.Repeat("a", sms.MaxLength+1), "r", sms.ErrInvalidMessage},
		"empty":       {phone, "", "r", sms.ErrInvalidMessage},
		"no request":  {phone, "Ho so da duoc tiep nhan", " ", sms.ErrNoRequestID},
		"stray glyph": {phone, sms.ASCII("Phí 8.000₫"), "r", sms.ErrInvalidMessage},
	} {
		_, err := c.Send(ctx, tc.phone, tc.msg, tc.req)
		if !errors.Is(err, tc.want) || !httpx.IsPermanent(err) {
			t.Errorf("%s: err %v, want permanent %v", name, err, tc.want)
			continue
		}
		noPersonalData(t, err, tc.msg)
	}
	if _, err := c.Send(ctx, phone, strings.Repeat("a", sms.MaxLength), "exactly-160"); err != nil {
		t.Fatalf("160 characters refused: %v", err)
	}
	if n := g.requests.Load(); n != 1 {
		t.Fatalf("%d requests reached the gateway, want only the valid one", n)
	}
}

func TestFaultsAreTransient(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, func(cfg *sms.Config) { cfg.Timeout = 300 * time.Millisecond })
	ctx := context.Background()
	for _, tc := range []struct {
		faults string
		status int
		code   string
	}{
		{`{"error_rate":1}`, 500, "99"},
		{`{"error_rate":0,"down":true}`, 503, ""},
		{`{"down":false,"rate_limit_rps":0.001}`, 0, ""}, // first token passes
	} {
		if _, err := g.sim.Controller().Patch([]byte(tc.faults)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Send(ctx, phone, "Ho so da duoc tiep nhan", "r-"+tc.faults)
		if tc.status == 0 {
			if err != nil {
				t.Fatalf("%s: %v", tc.faults, err)
			}
			_, err = c.Send(ctx, phone, "Ho so da duoc tiep nhan", "r-limited")
			tc.status = 429
		}
		var he *httpx.Error
		if !sms.IsTransient(err) || !errors.As(err, &he) || he.Status != tc.status || he.Code != tc.code {
			t.Fatalf("%s: err %v", tc.faults, err)
		}
		if tc.status == 429 && httpx.RetryAfter(err) <= 0 {
			t.Fatalf("429 without Retry-After: %v", err)
		}
		noPersonalData(t, err)
	}
	if _, err := g.sim.Controller().Patch([]byte(`{"rate_limit_rps":0,"timeout_rate":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, phone, "Ho so da duoc tiep nhan", "r-timeout"); !sms.IsTransient(err) {
		t.Fatalf("timeout not transient: %v", err)
	}
	if _, err := g.sim.Controller().Patch([]byte(`{"timeout_rate":0}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, phone, "Ho so da duoc tiep nhan", "r-after"); err != nil {
		t.Fatalf("after faults: %v", err)
	}
	down := g.client(t, func(cfg *sms.Config) { cfg.BaseURL = "http://127.0.0.1:1" })
	if _, err := down.Send(ctx, phone, "Ho so", "r"); !sms.IsTransient(err) {
		t.Fatalf("connection refused not transient: %v", err)
	}
}

// TestAnswerCodes checks answers the simulator never gives but another
// gateway might.
func TestAnswerCodes(t *testing.T) {
	var answer atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer.Load().([2]string)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(map[string]int{"200": 200, "400": 400}[a[0]])
		w.Write([]byte(a[1]))
	}))
	defer srv.Close()
	c, err := sms.New(sms.Config{BaseURL: srv.URL + "/", Username: "u", Password: "p", Brandname: "B"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status, body string
		transient    bool
		code         string
	}{
		{"200", `{"code":"05","message":"Số 0912345678 bị chặn"}`, false, "05"},
		{"200", `{"code":"99"}`, true, "99"},
		{"400", `{"code":"02","message":"phone 84912345678"}`, false, "02"},
		{"200", `not json`, true, ""},
		{"200", `{"code":"00"}`, true, ""},
	} {
		answer.Store([2]string{tc.status, tc.body})
		_, err := c.Send(context.Background(), phone, "Ho so", "r")
		var he *httpx.Error
		if err == nil || sms.IsTransient(err) != tc.transient || !errors.As(err, &he) || he.Code != tc.code {
			t.Fatalf("%s %s: err %v", tc.status, tc.body, err)
		}
		noPersonalData(t, err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []sms.Config{
		{BaseURL: "gateway:8080", Username: "u", Password: "p", Brandname: "B"},
		{BaseURL: "http://gw", Password: "p", Brandname: "B"},
		{BaseURL: "http://gw", Username: "u", Password: "p"},
		{BaseURL: "http://gw", Username: "u", Password: "p", Brandname: "Liên thông"},
	} {
		if _, err := sms.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
