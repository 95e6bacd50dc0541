package schemas_test

import (
	"testing"
	"time"

	"github.com/lienthong/lienthong/schemas"
)

func TestVietnam(t *testing.T) {
	if schemas.Vietnam.String() != "Asia/Ho_Chi_Minh" {
		t.Errorf("zone %v", schemas.Vietnam)
	}
	if _, off := time.Date(2026, 7, 1, 0, 0, 0, 0, schemas.Vietnam).Zone(); off != 7*3600 {
		t.Errorf("offset %d", off)
	}
}

func TestParseTimeLenient(t *testing.T) {
	want := time.Date(2026, 11, 21, 8, 1, 13, 0, schemas.Vietnam)
	for _, in := range []string{
		"2026-11-21T08:01:13+07:00", " 2026-11-21T01:01:13Z ", "2026-11-21T08:01:13+0700", "2026-11-21 08:01:13+07:00", "2026-11-21 01:01:13Z",
		"2026-11-21T08:01:13", "2026-11-21 08:01:13", "21/11/2026 08:01:13", "21/11/2026 8:01:13", "20261121080113",
		"1795222873", "1795222873000", "+1795222873", "1795222873.0",
	} {
		if got, ok := schemas.ParseTime(in); !ok || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, ok)
		}
	}
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, schemas.Vietnam)
	for _, in := range []string{"2026-11-21", "21/11/2026"} {
		if got, ok := schemas.ParseTime(in); !ok || !got.Equal(day) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, ok)
		}
	}
	if got, ok := schemas.ParseTime("21/11/2026 08:01", "02/01/2006 15:04"); !ok || !got.Equal(want.Add(-13*time.Second)) {
		t.Errorf("with a layout: %v %v", got, ok)
	}
	for _, in := range []string{"", " ", "hôm qua", "0", "-5", "31/11/2026 08:00:00"} {
		if got, ok := schemas.ParseTime(in); ok {
			t.Errorf("ParseTime(%q) = %v", in, got)
		}
	}
}

func TestParseExact(t *testing.T) {
	want := time.Date(2026, 11, 21, 8, 1, 13, 0, schemas.Vietnam)
	layouts := []string{time.RFC3339, "02/01/2006 15:04:05", "20060102150405"}
	for _, in := range []string{"2026-11-21T01:01:13Z", "2026-11-21T08:01:13.000+07:00", " 21/11/2026 08:01:13", "20261121080113"} {
		got, ok := schemas.ParseExact(in, layouts...)
		if !ok || !got.Equal(want) || got.Location() != schemas.Vietnam {
			t.Errorf("ParseExact(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "21/11/2026 8:01:13", "20261121080113.5", "2026-11-21", "2026-11-21T08:01:13", "1795222873"} {
		if got, ok := schemas.ParseExact(in, layouts...); ok {
			t.Errorf("ParseExact(%q) = %v", in, got)
		}
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{"7": 7, " +7 ": 7, "-3": -3, "3.0": 3, "1e3": 1000} {
		if got, ok := schemas.ParseInt(in); !ok || got != want {
			t.Errorf("ParseInt(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "3.5", "x", "1e300"} {
		if got, ok := schemas.ParseInt(in); ok {
			t.Errorf("ParseInt(%q) = %d", in, got)
		}
	}
}
