package mapping

import (
	"time"

	"github.com/lienthong/lienthong/mapping/internal/fields"
)

// The normalisers every source mapper applies, for other stages that meet
// the same kinds of values (a connector's cursor, a writeback). Errors are
// reasons without the offending value.

// Text is NFC and trimmed: how every text field is stored.
func Text(s string) string { return fields.Text(s) }

// Phone normalises a Vietnamese mobile number (spaces, dots, dashes and
// +84/84 allowed) to 0xxxxxxxxx; "" stays "".
func Phone(s string) (string, error) { return fields.Phone(s) }

// CheckCCCD checks a 12-digit CCCD: province of Decision 124/2004, century
// and sex digit 0–5, and (when birthDate YYYY-MM-DD is not empty) century
// and year against the date of birth.
func CheckCCCD(id, birthDate string) error { return fields.CheckCCCD(id, birthDate) }

// TaxCode checks a tax code (10 digits, or 10-3 / 13) and returns its digits.
func TaxCode(s string) (string, error) { return fields.TaxCode(s) }

// ParseTime reads dd/MM/yyyy HH:mm:ss, dd/MM/yyyy, yyyyMMddHHmmss, yyyyMMdd
// (in Asia/Ho_Chi_Minh) or RFC 3339, and nothing else, and returns the
// instant in schemas.Vietnam; "" is no value (nil).
func ParseTime(s string) (*time.Time, error) { return fields.ParseTime(s) }

// ParseBirthDate reads a civil date (YYYY-MM-DD, dd/MM/yyyy, yyyyMMdd) and
// returns YYYY-MM-DD; "" is no value.
func ParseBirthDate(s string) (string, error) {
	return fields.ParseBirthDate(s, "YYYY-MM-DD, dd/MM/yyyy or yyyyMMdd")
}

// IsProvinceCode tells whether code is a province of Decision 124/2004
// ("14" or "014").
func IsProvinceCode(code string) bool { return fields.IsProvinceCode(code) }
