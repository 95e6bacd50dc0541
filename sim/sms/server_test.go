package sms

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

func start(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New(Config{Username: "hub", Password: "pw", Clock: func() time.Time {
		return time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)
	}})
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

func send(t *testing.T, base, user, pass, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/sms/send", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestViolationsRecorded(t *testing.T) {
	s, srv := start(t)
	long := strings.Repeat("x", 161)
	for _, tc := range []struct {
		msg   string
		parts int
		want  []string
	}{
		{"Ho so da duoc tiep nhan", 1, []string{}},
		{"Hồ sơ đã được tiếp nhận", 1, []string{ViolationDiacritics}},
		{long, 2, []string{ViolationTooLong}},
		{"Hồ sơ " + long, 2, []string{ViolationDiacritics, ViolationTooLong}},
		{strings.Repeat("đ", 160), 1, []string{ViolationDiacritics}}, // characters, not bytes
	} {
		body, _ := json.Marshal(map[string]string{"phone": "84912345678", "message": tc.msg, "brandname": "LIENTHONG", "requestId": tc.msg})
		code, ans := send(t, srv.URL, "hub", "pw", string(body))
		if code != 200 || ans["code"] != "00" || ans["messageId"] == "" {
			t.Fatalf("%q: %d %v", tc.msg, code, ans)
		}
		ms := s.Messages()
		m := ms[len(ms)-1]
		if m.Parts != tc.parts || !reflect.DeepEqual(m.Violations, tc.want) || m.Message != tc.msg || m.MessageID != ans["messageId"] {
			t.Fatalf("%q: recorded %+v", tc.msg, m)
		}
	}
	// /_sim/messages shows violations as a list, [] when there are none.
	resp, err := http.Get(srv.URL + "/_sim/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var listed []map[string]any
	if err := json.Unmarshal(raw, &listed); err != nil || len(listed) != 5 {
		t.Fatalf("listing %s", raw)
	}
	if v, ok := listed[0]["violations"].([]any); !ok || len(v) != 0 || listed[0]["duplicate"] != false || listed[1]["parts"] != float64(1) {
		t.Fatalf("listing %s", raw)
	}
}

func TestRefusals(t *testing.T) {
	s, srv := start(t)
	good := map[string]any{"phone": "84912345678", "message": "Ho so", "brandname": "LT", "requestId": "r1"}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return string(b)
	}
	if code, ans := send(t, srv.URL, "hub", "wrong", with("requestId", "r1")); code != 401 || ans["code"] != "01" {
		t.Fatalf("wrong password: %d %v", code, ans)
	}
	if code, ans := send(t, srv.URL, "", "", with("requestId", "r1")); code != 401 || ans["code"] != "01" {
		t.Fatalf("no auth: %d %v", code, ans)
	}
	for field, body := range map[string]string{
		"phone":     with("phone", "0912345678"),
		"phone ":    with("phone", "84212345678"),
		"phone  ":   with("phone", 84912345678),
		"message":   with("message", ""),
		"brandname": with("brandname", ""),
		"requestId": with("requestId", ""),
		"body":      `{"phone":`,
	} {
		code, ans := send(t, srv.URL, "hub", "pw", body)
		if code != 400 || ans["code"] != "02" || !strings.HasSuffix(ans["message"], strings.TrimSpace(field)) {
			t.Errorf("%s: %d %v", field, code, ans)
		}
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d refused messages recorded", n)
	}
}

func TestDuplicateAndSnapshot(t *testing.T) {
	s, srv := start(t)
	body := `{"phone":"84912345678","message":"Ho so","brandname":"LT","requestId":"r1"}`
	_, a := send(t, srv.URL, "hub", "pw", body)
	_, b := send(t, srv.URL, "hub", "pw", strings.Replace(body, "Ho so", "Khac", 1))
	if a["messageId"] == "" || a["messageId"] != b["messageId"] {
		t.Fatalf("repeat gave %v then %v", a, b)
	}
	ms := s.Messages()
	if len(ms) != 2 || ms[0].Duplicate || !ms[1].Duplicate || ms[1].Message != "Khac" {
		t.Fatalf("messages %+v", ms)
	}

	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	s2, srv2 := start(t)
	if err := s2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got := s2.Messages(); !reflect.DeepEqual(got, ms) {
		t.Fatalf("restored %+v\nwant %+v", got, ms)
	}
	_, c := send(t, srv2.URL, "hub", "pw", body)
	_, d := send(t, srv2.URL, "hub", "pw", strings.Replace(body, "r1", "r2", 1))
	if c["messageId"] != a["messageId"] || d["messageId"] == "" || d["messageId"] == a["messageId"] {
		t.Fatalf("after restore: %v %v (first %v)", c, d, a)
	}
	if err := s2.Restore(strings.NewReader("lienthong-sim-state mail 1\n")); err == nil || !strings.Contains(err.Error(), "mail") {
		t.Fatalf("foreign state accepted: %v", err)
	}
}

func TestFaultsSpareSimRoutes(t *testing.T) {
	s, srv := start(t)
	if _, err := s.Controller().Patch([]byte(`{"down":true}`)); err != nil {
		t.Fatal(err)
	}
	if code, _ := send(t, srv.URL, "hub", "pw", `{}`); code != 503 {
		t.Fatalf("down: %d", code)
	}
	for _, p := range []string{"/_sim/health", "/_sim/messages", "/_sim/faults"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d while down", p, resp.StatusCode)
		}
	}
	s.Controller().Patch([]byte(`{"down":false,"error_rate":1}`))
	if code, ans := send(t, srv.URL, "hub", "pw", `{}`); code != 500 || ans["code"] != "99" {
		t.Fatalf("error_rate: %d %v", code, ans)
	}
}
