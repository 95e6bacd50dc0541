package fields

import (
	"errors"
	"strings"
	"time"
	_ "time/tzdata" // the zone must exist on machines without a zoneinfo database
)

// Loc is Asia/Ho_Chi_Minh, the zone of every source time without an offset.
var Loc = func() *time.Location {
	l, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil { // cannot happen with time/tzdata; the zone has no DST
		return time.FixedZone("ICT", 7*3600)
	}
	return l
}()

// localLayouts are the source layouts without an offset, read in Loc:
// Thái Nguyên dd/MM/yyyy[ HH:mm:ss], Hà Tĩnh yyyyMMdd[HHmmss], and an ISO
// local time for JSON sources that forget the offset.
var localLayouts = []string{
	"02/01/2006 15:04:05",
	"02/01/2006",
	"20060102150405",
	"20060102",
	"2006-01-02T15:04:05",
}

// ParseTime reads a source time: dd/MM/yyyy HH:mm:ss, dd/MM/yyyy,
// yyyyMMddHHmmss, yyyyMMdd (all local to Asia/Ho_Chi_Minh) or RFC 3339. The
// result is in Loc whatever offset was written. Empty is no value (nil).
func ParseTime(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.In(Loc)
		return &t, nil
	}
	for _, l := range localLayouts {
		if len(l) != len(s) {
			continue // layouts are fixed-width; this also keeps 8-digit dates from matching 14
		}
		if t, err := time.ParseInLocation(l, s, Loc); err == nil {
			return &t, nil
		}
	}
	return nil, errors.New("not a date-time (want dd/MM/yyyy HH:mm:ss, yyyyMMddHHmmss or RFC 3339)")
}

// TimeFormat is one source's date-time format.
type TimeFormat struct {
	Layouts []string // Go layouts read in Loc; time.RFC3339 keeps the written offset
	Want    string   // the layout as the spec writes it, for errors
}

// Source time formats of the spec.
var (
	TimesRFC3339 = TimeFormat{Layouts: []string{time.RFC3339}, Want: "RFC 3339"}
	TimesDMY     = TimeFormat{Layouts: []string{"02/01/2006 15:04:05", "02/01/2006"}, Want: "dd/MM/yyyy HH:mm:ss"}
	TimesCompact = TimeFormat{Layouts: []string{"20060102150405", "20060102"}, Want: "yyyyMMddHHmmss"}
)

// Parse reads s in one of f's layouts; with no layouts it falls back to
// ParseTime. Empty is no value.
func (f TimeFormat) Parse(s string) (*time.Time, error) {
	if len(f.Layouts) == 0 {
		return ParseTime(s)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, l := range f.Layouts {
		var (
			t   time.Time
			err error
		)
		if l == time.RFC3339 {
			t, err = time.Parse(l, s)
		} else if len(l) == len(s) {
			t, err = time.ParseInLocation(l, s, Loc)
		} else {
			continue
		}
		if err == nil {
			t = t.In(Loc)
			return &t, nil
		}
	}
	return nil, errors.New("not a date-time (want " + f.Want + ")")
}

// birthLayouts are the civil-date layouts the sources use for dates of birth.
var birthLayouts = []string{"2006-01-02", "02/01/2006", "20060102"}

// birthLayoutOf maps a spec layout to Go's.
var birthLayoutOf = map[string]string{"YYYY-MM-DD": "2006-01-02", "dd/MM/yyyy": "02/01/2006", "yyyyMMdd": "20060102"}

// ParseBirthDate reads a civil date (YYYY-MM-DD, dd/MM/yyyy or yyyyMMdd) and
// returns it as YYYY-MM-DD; want names the source's own layout for the
// error. Empty is no value.
func ParseBirthDate(s, want string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	layouts := birthLayouts
	if l, ok := birthLayoutOf[want]; ok {
		// The source's own layout only: see Errs.Times.
		layouts = []string{l}
	}
	for _, l := range layouts {
		if len(l) != len(s) {
			continue
		}
		if t, err := time.Parse(l, s); err == nil {
			return t.Format("2006-01-02"), nil
		}
	}
	return "", errors.New("not a date (want " + want + ")")
}
