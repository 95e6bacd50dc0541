package national_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lienthong/lienthong/connectors/national"
)

// portal answers login with a session and every call with status and body.
func portal(t *testing.T, status int, header http.Header, body string) *national.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/auth/login" {
			w.Write([]byte(`{"error_code":0,"session":"s-1"}`))
			return
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := national.New(national.Config{BaseURL: srv.URL + "/", Username: "hub", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var unit = national.Unit{DstCode: "000.00.00.H52", MaDonVi: "000.00.00.H52"}

func TestCallErrors(t *testing.T) {
	long := strings.Repeat("Hệ thống đang bảo trì. ", 30) // multi-byte runes across the cut
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name                    string
		status                  int
		header                  http.Header
		body                    string
		transient, notProcessed bool
		retryMin, retryMax      time.Duration
		code                    string
	}{
		{name: "429 seconds", status: 429, header: http.Header{"Retry-After": {"7"}}, transient: true, notProcessed: true, retryMin: 7 * time.Second, retryMax: 7 * time.Second},
		{name: "429 past date", status: 429, header: http.Header{"Retry-After": {past}}, transient: true, notProcessed: true},
		{name: "503", status: 503, header: http.Header{"Retry-After": {"30"}}, body: long, transient: true, notProcessed: true},
		{name: "500", status: 500, body: long, transient: true},
		{name: "400", status: 400, body: long},
		{name: "404", status: 404},
		{name: "99", status: 200, body: `{"error_code":"99","message":"Lỗi hệ thống"}`, transient: true, code: "99"},
		{name: "24", status: 200, body: `{"error_code":"24","message":"Sai trường"}`, code: "24"},
		{name: "not JSON", status: 200, body: `<html>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := portal(t, tc.status, tc.header, tc.body)
			_, err := c.Steps(context.Background(), unit, []national.Step{{MaHoSo: "D-1"}})
			var e *national.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v: not a *national.Error", err)
			}
			if national.IsTransient(err) != tc.transient || national.NotProcessed(err) != tc.notProcessed || e.Code != tc.code {
				t.Errorf("%v: transient %v, not processed %v, code %q", err, national.IsTransient(err), national.NotProcessed(err), e.Code)
			}
			if d := national.RetryAfter(err); d < tc.retryMin || d > tc.retryMax {
				t.Errorf("RetryAfter %v, want [%v, %v]", d, tc.retryMin, tc.retryMax)
			}
			if !utf8.ValidString(err.Error()) || utf8.RuneCountInString(e.Message) > 201 {
				t.Errorf("message not clipped whole: %q", e.Message)
			}
			if !strings.HasPrefix(err.Error(), "national: CapNhatTienDoHoSoMC") {
				t.Errorf("error %q does not name the call", err)
			}
		})
	}
}

func TestSessionRenewedOnce(t *testing.T) {
	logins, calls := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/auth/login" {
			logins++
			w.Write([]byte(`{"error_code":0,"session":"s"}`))
			return
		}
		calls++
		if calls == 1 {
			w.Write([]byte(`{"error_code":"98","message":"Phiên hết hạn"}`))
			return
		}
		w.Write([]byte(`{"error_code":"00","result":[{"MaHoSo":"D-1","error_code":"00"}]}`))
	}))
	t.Cleanup(srv.Close)
	c, err := national.New(national.Config{BaseURL: srv.URL, Username: "hub", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Steps(context.Background(), unit, []national.Step{{MaHoSo: "D-1"}})
	if err != nil || len(res) != 1 || res[0].ErrorCode != national.CodeOK || logins != 2 || calls != 2 {
		t.Fatalf("%+v %v: %d logins, %d calls", res, err, logins, calls)
	}
}

func TestCallerDeadlineIsNotTransient(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	c, err := national.New(national.Config{BaseURL: srv.URL, Username: "hub", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Catalog(ctx, unit); !errors.Is(err, context.DeadlineExceeded) || national.IsTransient(err) {
		t.Fatalf("%v: transient %v", err, national.IsTransient(err))
	}
}
