package fields

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Text is how every free-text field is stored: NFC (sources may send NFD,
// and windows-1258 feeds always decode to NFD) and trimmed.
func Text(s string) string {
	return strings.TrimSpace(norm.NFC.String(s))
}
