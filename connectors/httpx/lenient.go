package httpx

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Asia/Ho_Chi_Minh must resolve on hosts without a zoneinfo database
)

// Vietnam is Asia/Ho_Chi_Minh, falling back to a fixed +07:00 (the zone has
// had no DST since 1975).
var Vietnam = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return l
	}
	return time.FixedZone("ICT", 7*3600)
}()

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

// JSONInt reads an integer given as a JSON number or numeric string,
// leniently as ParseInt.
func JSONInt(v json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return ParseInt(n.String())
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return ParseInt(s)
	}
	return 0, false
}

// JSONString reads a JSON string, trimmed, or a number's literal; ""
// otherwise.
func JSONString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}

// Zoned time layouts tried for RFC 3339-ish values.
var zonedLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
}

// Local (zoneless) layouts; interpreted in the caller's location.
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

// ParseTime reads a timestamp leniently: the given layouts first, then
// RFC 3339 variants, then common zoneless forms in loc, then Unix epoch
// seconds or milliseconds.
func ParseTime(s string, loc *time.Location, layouts ...string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	if n, ok := ParseInt(s); ok && n > 0 {
		return EpochTime(n, loc), true
	}
	return time.Time{}, false
}

// EpochTime reads n as Unix seconds, or milliseconds when too large for
// seconds of this era.
func EpochTime(n int64, loc *time.Location) time.Time {
	if n > 1e11 {
		return time.UnixMilli(n).In(loc)
	}
	return time.Unix(n, 0).In(loc)
}
