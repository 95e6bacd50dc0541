package api

import (
	"strings"
	"unicode/utf8"

	"github.com/lienthong/lienthong/schemas"
)

// Mask hides the personal identifiers of d for display: identity number and
// phone keep their first four and last two digits (0190******12), an email
// its first letter and its domain (n***@example.vn), a birth date its year,
// the national account ID its last two characters. Names and addresses stay:
// an operator needs them to recognise the dossier.
func Mask(d *schemas.Dossier) {
	a := &d.Applicant
	a.IDNumber = MaskNumber(a.IDNumber)
	a.Phone = MaskNumber(a.Phone)
	a.Email = MaskEmail(a.Email)
	if len(a.BirthDate) >= 4 {
		a.BirthDate = a.BirthDate[:4] + "-**-**"
	}
	a.AccountID = maskKeep(a.AccountID, 0, 2)
	if r := d.ResultAddress; r != nil {
		masked := *r
		masked.Phone = MaskNumber(r.Phone)
		d.ResultAddress = &masked
	}
}

// MaskNumber keeps the first four and last two characters of s, as in
// 0190******12; a shorter s keeps less, so that at least a third is hidden.
func MaskNumber(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n >= 10:
		return maskKeep(s, 4, 2)
	case n >= 6:
		return maskKeep(s, 2, 2)
	case n >= 3:
		return maskKeep(s, 1, 1)
	}
	return maskKeep(s, 0, 0)
}

// maskKeep replaces all but the first head and last tail runes of s by *.
func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	for i := range r {
		if i >= head && i < len(r)-tail {
			r[i] = '*'
		}
	}
	return string(r)
}

// MaskEmail keeps the first letter of the local part and the domain.
func MaskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return maskKeep(s, 0, 0)
	}
	first, _ := utf8.DecodeRuneInString(local)
	if local == "" {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}
