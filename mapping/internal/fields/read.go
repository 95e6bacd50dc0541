package fields

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// The methods below read one source value into its canonical form and
// record a failure against path; after a failure they still return a zero
// value so that the mapper can go on without checks at every line.

// Required is Text of a value that must be there.
func (c *Errs) Required(path, s string) string {
	s = Text(s)
	if s == "" {
		c.Fail(path, "missing")
	}
	return s
}

// Time reads an optional time in the source's format (see Errs.Times).
func (c *Errs) Time(path, s string) *time.Time {
	t, err := c.Times.Parse(s)
	c.Check(path, err)
	return t
}

// RequiredTime reads a time that must be there.
func (c *Errs) RequiredTime(path, s string) time.Time {
	t := c.Time(path, s)
	if t == nil {
		c.Fail(path, "missing")
		return time.Time{}
	}
	return *t
}

// BirthDate reads an optional date of birth (see ParseBirthDate).
func (c *Errs) BirthDate(path, s, want string) string {
	d, err := ParseBirthDate(s, want)
	c.Check(path, err)
	return d
}

// Phone reads an optional mobile number (see Phone).
func (c *Errs) Phone(path, s string) string {
	p, err := Phone(s)
	c.Check(path, err)
	return p
}

// Money reads a required fee amount (see Money).
func (c *Errs) Money(path, s string) int64 {
	n, err := Money(s)
	c.Check(path, err)
	return n
}

// Size reads an optional non-negative count; empty is 0.
func (c *Errs) Size(path, s string) int64 {
	if strings.TrimSpace(s) == "" {
		return 0
	}
	n, err := Size(s)
	c.Check(path, err)
	return n
}

// Bool reads an optional boolean; empty is false.
func (c *Errs) Bool(path, s string) bool {
	b, err := Bool(s)
	c.Check(path, err)
	return b
}

// Enum reads a required coded value through its table.
func Enum[T any](c *Errs, path, s string, table map[string]T) T {
	v, err := LookUp(s, table)
	c.Check(path, err)
	return v
}

// OptionalEnum reads a coded value that may be absent, giving def then.
func OptionalEnum[T any](c *Errs, path, s string, table map[string]T, def T) T {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return Enum(c, path, s, table)
}

// Province reads an optional 2-digit province code of Decision 124/2004.
func (c *Errs) Province(path, s string) string {
	s = strings.TrimSpace(s)
	if s != "" && (len(s) != 2 || !IsProvinceCode(s)) {
		c.Fail(path, "not a 2-digit province code")
	}
	return s
}

// Code reads an optional administrative code of exactly n digits (district
// 3, commune 5).
func (c *Errs) Code(path, s string, n int) string {
	s = strings.TrimSpace(s)
	if s != "" && (len(s) != n || !allDigits(s)) {
		c.Fail(path, "not a "+strconv.Itoa(n)+"-digit code")
	}
	return s
}

// Level reads a service level in either vocabulary: Circular 32/2017 levels
// 1–4, or Decree 42/2022 TOAN_TRINH / MOT_PHAN. Empty is no value.
func (c *Errs) Level(path, s string) (level int, scope string) {
	switch s = strings.TrimSpace(s); s {
	case "":
	case "1", "2", "3", "4":
		level = int(s[0] - '0')
	case schemas.ScopeFull, schemas.ScopePartial:
		scope = s
	default:
		c.Fail(path, "unknown service level "+strconv.Quote(Truncate(s, 24)))
	}
	return level, scope
}

// Identity reads the applicant's identity number (see Identity).
func (c *Errs) Identity(path string, kind int, declared, number, birthDate string) (idType, id string) {
	idType, id, err := Identity(kind, declared, number, birthDate)
	c.Check(path, err)
	return idType, id
}

// Tidy gives a mapped dossier the shape every consumer may rely on: lists
// are never nil (they encode as [] not null) and steps are oldest first.
func Tidy(d *schemas.Dossier) {
	if d.Fees == nil {
		d.Fees = []schemas.Fee{}
	}
	if d.Attachments == nil {
		d.Attachments = []schemas.Attachment{}
	}
	if d.Steps == nil {
		d.Steps = []schemas.Step{}
	}
	sort.SliceStable(d.Steps, func(i, j int) bool { return d.Steps[i].At.Before(d.Steps[j].At) })
}
