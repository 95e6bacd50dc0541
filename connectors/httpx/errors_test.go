package httpx_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lienthong/lienthong/connectors/httpx"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Now()
	for v, want := range map[string]time.Duration{
		"":     0,
		" 7 ":  7 * time.Second,
		"0":    0,
		"-5":   0,
		"soon": 0,
		now.Add(-time.Hour).UTC().Format(http.TimeFormat): 0, // a date already past
		"Sun, 06 Nov 1994 08:49:37 GMT":                   0,
	} {
		if got := httpx.ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	future := now.Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := httpx.ParseRetryAfter(future); got <= 0 || got > 90*time.Second {
		t.Errorf("ParseRetryAfter(%q) = %v, want (0, 90s]", future, got)
	}
}

func TestClipKeepsRunesWhole(t *testing.T) {
	s := strings.Repeat("Hồ sơ không tồn tại. ", 20)
	for _, max := range []int{1, 5, 199, 200} {
		got := httpx.Clip(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("Clip(.., %d) split a character: %q", max, got)
		}
		if n := utf8.RuneCountInString(strings.TrimSuffix(got, "…")); n != max || !strings.HasSuffix(got, "…") {
			t.Errorf("Clip(.., %d) = %d characters %q", max, n, got)
		}
	}
	if got := httpx.Clip("  Lỗi hệ thống \n", 200); got != "Lỗi hệ thống" {
		t.Errorf("short text: %q", got)
	}
	if got := httpx.Clip("Lỗi", 3); got != "Lỗi" {
		t.Errorf("exact length: %q", got)
	}
}

func TestClassification(t *testing.T) {
	for status, transient := range map[int]bool{500: true, 502: true, 503: true, 429: true, 408: true, 400: false, 401: false, 403: false, 404: false, 409: false} {
		e := httpx.StatusError("x", &httpx.Response{Status: status, Header: http.Header{"Retry-After": {"3"}}})
		if httpx.IsTransient(e) != transient || httpx.IsPermanent(e) == transient {
			t.Errorf("%d: transient %v", status, httpx.IsTransient(e))
		}
		if (status == 401 || status == 403) != errors.Is(e, httpx.ErrAuth) {
			t.Errorf("%d: auth", status)
		}
	}
	if httpx.IsTransient(nil) || httpx.IsPermanent(nil) {
		t.Error("nil")
	}
}
