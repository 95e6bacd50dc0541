package gen

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MobileRE is the national mobile-number pattern, applied after removing the
// spaces and dots some sources write.
var MobileRE = regexp.MustCompile(`^(0|\+84)[35789]\d{8}$`)

// CCCD returns a 12-digit citizen ID registered in the province with prefix
// (e.g. "014") for someone born at birth: digit 4 encodes century and sex
// (0/1 = 1900s male/female, 2/3 = 2000s), digits 5–6 the year of birth.
func CCCD(rng *rand.Rand, prefix string, birth time.Time, female bool) string {
	return prefix + strconvDigit(centurySexDigit(birth.Year(), female)) +
		fmt.Sprintf("%02d%06d", birth.Year()%100, rng.IntN(1_000_000))
}

func centurySexDigit(year int, female bool) int {
	d := 2 * ((year - 1900) / 100) // 0 for the 1900s, 2 for the 2000s, 4 for the 2100s
	if female {
		d++
	}
	return d
}

func strconvDigit(d int) string { return string(rune('0' + d)) }

// CheckCCCD reports why id is not a valid CCCD for the province prefix and the
// holder's date of birth and sex, or nil.
func CheckCCCD(id, prefix string, birth time.Time, female bool) error {
	if len(id) != 12 || strings.Trim(id, "0123456789") != "" {
		return fmt.Errorf("CCCD %q: want 12 digits", id)
	}
	if !strings.HasPrefix(id, prefix) {
		return fmt.Errorf("CCCD %q: province prefix want %s", id, prefix)
	}
	if want := centurySexDigit(birth.Year(), female); int(id[3]-'0') != want {
		return fmt.Errorf("CCCD %q: century/sex digit %c, want %d", id, id[3], want)
	}
	if yy := fmt.Sprintf("%02d", birth.Year()%100); id[4:6] != yy {
		return fmt.Errorf("CCCD %q: year digits %s, want %s", id, id[4:6], yy)
	}
	return nil
}

// TaxCode returns a 10-digit enterprise tax code (mã số thuế) with the local
// two-digit prefix and a valid check digit.
func TaxCode(rng *rand.Rand, prefix string) string {
	weights := [9]int{31, 29, 23, 19, 17, 13, 7, 5, 3}
	for {
		body := prefix + fmt.Sprintf("%07d", rng.IntN(10_000_000))
		sum := 0
		for i := range 9 {
			sum += int(body[i]-'0') * weights[i]
		}
		if c := 10 - sum%11; c < 10 {
			return body + strconvDigit(c)
		}
	}
}

// ValidTaxCode reports whether s is a 10-digit tax code with a correct check digit.
func ValidTaxCode(s string) bool {
	if len(s) != 10 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	weights := [9]int{31, 29, 23, 19, 17, 13, 7, 5, 3}
	sum := 0
	for i := range 9 {
		sum += int(s[i]-'0') * weights[i]
	}
	return 10-sum%11 == int(s[9]-'0')
}

// Mobile returns a mobile number in one of the ways people write them, and the
// same number as ten plain digits.
func Mobile(rng *rand.Rand) (written, plain string) {
	p := mobilePrefixes[rng.IntN(len(mobilePrefixes))]
	rest := fmt.Sprintf("%07d", rng.IntN(10_000_000))
	nine := p + rest // nine digits after the leading 0
	plain = "0" + nine
	switch n := rng.IntN(20); {
	case n < 8:
		written = plain
	case n < 12:
		written = plain[:4] + "." + plain[4:7] + "." + plain[7:]
	case n < 15:
		written = plain[:4] + " " + plain[4:7] + " " + plain[7:]
	case n < 18:
		written = "+84 " + nine[:3] + " " + nine[3:6] + " " + nine[6:]
	default:
		written = "+84" + nine
	}
	return written, plain
}

// NormalizePhone strips spaces and dots and rewrites +84 as 0.
func NormalizePhone(s string) string {
	s = strings.NewReplacer(" ", "", ".", "", "-", "").Replace(s)
	if strings.HasPrefix(s, "+84") {
		s = "0" + s[3:]
	}
	return s
}

// ASCII folds Vietnamese text to ASCII letters (đ → d, tone marks dropped).
func ASCII(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == 'đ':
			b.WriteByte('d')
		case r == 'Đ':
			b.WriteByte('D')
		case unicode.Is(unicode.Mn, r):
		case r < 0x80:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hexString(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}
