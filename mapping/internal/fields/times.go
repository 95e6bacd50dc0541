package fields

import (
	"errors"
	"strings"
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// TimeFormat is one source's date-time format.
type TimeFormat struct {
	Layouts []string // Go layouts read in Asia/Ho_Chi_Minh; time.RFC3339 keeps the written offset
	Want    string   // the layout as the spec writes it, for errors
}

// Source time formats of the spec.
var (
	TimesRFC3339 = TimeFormat{Layouts: []string{time.RFC3339}, Want: "RFC 3339"}
	TimesDMY     = TimeFormat{Layouts: []string{"02/01/2006 15:04:05", "02/01/2006"}, Want: "dd/MM/yyyy HH:mm:ss"}
	TimesCompact = TimeFormat{Layouts: []string{"20060102150405", "20060102"}, Want: "yyyyMMddHHmmss"}
	// timesAny is every source's format: Thái Nguyên dd/MM/yyyy[ HH:mm:ss],
	// Hà Tĩnh yyyyMMdd[HHmmss], RFC 3339, and an ISO local time for JSON
	// sources that forget the offset.
	timesAny = TimeFormat{
		Layouts: []string{time.RFC3339, "02/01/2006 15:04:05", "02/01/2006", "20060102150405", "20060102", "2006-01-02T15:04:05"},
		Want:    "dd/MM/yyyy HH:mm:ss, yyyyMMddHHmmss or RFC 3339",
	}
)

// ParseTime reads a source time in any source's format (see timesAny). The
// result is in Asia/Ho_Chi_Minh whatever offset was written. Empty is no
// value (nil).
func ParseTime(s string) (*time.Time, error) { return timesAny.Parse(s) }

// Parse reads s in one of f's layouts only (schemas.ParseExact); with no
// layouts, in any source's. Empty is no value.
func (f TimeFormat) Parse(s string) (*time.Time, error) {
	if len(f.Layouts) == 0 {
		f = timesAny
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	t, ok := schemas.ParseExact(s, f.Layouts...)
	if !ok {
		return nil, errors.New("not a date-time (want " + f.Want + ")")
	}
	return &t, nil
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
