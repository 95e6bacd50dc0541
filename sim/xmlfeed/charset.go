package xmlfeed

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Vietnamese tone marks; windows-1258 has them only as combining characters.
func isTone(r rune) bool {
	switch r {
	case 0x0300, 0x0301, 0x0303, 0x0309, 0x0323: // grave, acute, tilde, hook above, dot below
		return true
	}
	return false
}

// ToWindows1258 encodes UTF-8 text as windows-1258 the way Vietnamese software
// does: each letter is decomposed, the vowel-shape marks (circumflex, breve,
// horn) are recomposed with their base (â ê ô ă ơ ư; đ is a letter of its own),
// and the tone mark follows as a combining character. Input may be NFC or NFD.
// Characters the code page lacks become XML character references, so the
// output must be XML text.
func ToWindows1258(s []byte) []byte {
	out := make([]byte, 0, len(s))
	cache := map[string][]byte{} // a feed repeats the same few letters
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf && (i+1 == len(s) || s[i+1] < utf8.RuneSelf) {
			out = append(out, s[i]) // ASCII not followed by a combining mark
			i++
			continue
		}
		// A segment is one character and the combining marks after it.
		_, n := utf8.DecodeRune(s[i:])
		j := i + n
		for j < len(s) {
			r, n := utf8.DecodeRune(s[j:])
			if !unicode.Is(unicode.Mn, r) {
				break
			}
			j += n
		}
		seg := string(s[i:j])
		enc, ok := cache[seg]
		if !ok {
			enc = encodeSegment(seg)
			cache[seg] = enc
		}
		out = append(out, enc...)
		i = j
	}
	return out
}

// encodeSegment encodes one character with its combining marks.
func encodeSegment(seg string) []byte {
	var keep, tones []rune
	for k, r := range []rune(norm.NFD.String(seg)) {
		if k > 0 && isTone(r) {
			tones = append(tones, r)
		} else {
			keep = append(keep, r)
		}
	}
	var out []byte
	for _, r := range append([]rune(norm.NFC.String(string(keep))), tones...) {
		switch b, ok := charmap.Windows1258.EncodeRune(r); {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case ok:
			out = append(out, b)
		default:
			out = append(out, "&#"+strconv.Itoa(int(r))+";"...)
		}
	}
	return out
}
