package schemas

import (
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Asia/Ho_Chi_Minh must resolve on hosts without a zoneinfo database
)

// Vietnam is Asia/Ho_Chi_Minh: the zone of every source time written
// without an offset, and the zone canonical times are kept in. It falls back
// to a fixed +07:00 (the zone has had no DST since 1975).
var Vietnam = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return l
	}
	return time.FixedZone("ICT", 7*3600)
}()

// Zoned time layouts ParseTime tries for RFC 3339-ish values.
var zonedLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
}

// Local (zoneless) layouts ParseTime reads in Vietnam.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"02/01/2006 15:04:05.999999999",
	"2/1/2006 15:04:05.999999999",
	"02/01/2006 15:04",
	"20060102150405",
	"2006-01-02",
	"02/01/2006",
}

// ParseTime reads a timestamp leniently, as a connector does what a portal
// sends: the given layouts first (read in Vietnam), then RFC 3339 variants
// (keeping the written offset), then common zoneless forms in Vietnam, then
// Unix epoch seconds or milliseconds. Surrounding space is ignored.
func ParseTime(s string, layouts ...string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, Vietnam); err == nil {
			return t, true
		}
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, Vietnam); err == nil {
			return t, true
		}
	}
	if n, ok := ParseInt(s); ok && n > 0 {
		return EpochTime(n), true
	}
	return time.Time{}, false
}

// ParseExact reads s in one of layouts and nothing else, as a mapper checks
// a source's own format: each layout must match s to its full width, except
// time.RFC3339, which also takes fractional seconds and keeps the written
// offset; the others are read in Vietnam. The result is in Vietnam.
// Surrounding space is ignored; "" is no time.
func ParseExact(s string, layouts ...string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range layouts {
		var (
			t   time.Time
			err error
		)
		switch {
		case l == time.RFC3339:
			t, err = time.Parse(l, s)
		case len(l) == len(s):
			t, err = time.ParseInLocation(l, s, Vietnam)
		default:
			continue
		}
		if err == nil {
			return t.In(Vietnam), true
		}
	}
	return time.Time{}, false
}

// EpochTime reads n as Unix seconds, or milliseconds when too large for
// seconds of this era, in Vietnam.
func EpochTime(n int64) time.Time {
	if n > 1e11 {
		return time.UnixMilli(n).In(Vietnam)
	}
	return time.Unix(n, 0).In(Vietnam)
}

// ParseInt reads an integer leniently: surrounding space, a leading '+',
// or a float with no fractional part ("3.0").
func ParseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), true
	}
	return 0, false
}
