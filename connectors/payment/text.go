package payment

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ASCII folds Vietnamese text to the plain ASCII the platform wants in
// ThongTinGiaoDich: tone and vowel marks dropped (NFD, then marks removed),
// đ/Đ → d/D, other non-ASCII characters and control characters dropped,
// whitespace runs collapsed to one space.
func ASCII(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == 'đ':
			r = 'd'
		case r == 'Đ':
			r = 'D'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r < 0x20 || r >= 0x7f:
			continue // combining marks, other scripts, controls
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nfc normalises text the hub sends (the spec: the hub sends NFC).
func nfc(s string) string { return norm.NFC.String(s) }
