// Package fields holds what every source mapper shares: the field error, a
// collector that keeps the first failure while a mapper reads a record, and
// the normalisers for text, identity numbers, phones, dates and money.
//
// It is internal so that package mapping can re-export it (mapping imports
// the per-source mappers, which therefore cannot import mapping).
package fields

import "strings"

// FieldError says which field of which dossier a source sent wrongly. It goes
// to logs and quarantine, so Reason never carries a value that can be
// personal data (names, ID numbers, phones, emails, addresses, dates of
// birth). Field is a path in the source's own vocabulary: chuHoSo.soDinhDanh,
// NguoiNop/SoGiayTo, CHUHOSO/CCCD, lePhi[0].soTien.
type FieldError struct {
	Source    string
	DossierID string
	Field     string
	Reason    string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.DossierID != "" {
		b.WriteString(": dossier ")
		b.WriteString(e.DossierID)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Errs collects the first failure while a mapper reads one record. Mappers
// call the reading helpers unconditionally and look at Err once at the end;
// only the first failure is kept because it is the one that explains the
// record (later ones are often its consequences).
type Errs struct {
	Source    string
	DossierID string // set as soon as the mapper has read the dossier code
	// Times is the source's own date-time format. A value in another
	// format is an error: accepting any layout would hide a source that
	// sends what its contract does not say.
	Times TimeFormat
	first *FieldError
}

// Fail records a failure of field unless one is already recorded.
func (c *Errs) Fail(field, reason string) {
	if c.first == nil {
		c.first = &FieldError{Field: field, Reason: reason}
	}
}

// Check records err (a reason without a value) against field, if not nil.
func (c *Errs) Check(field string, err error) {
	if err != nil {
		c.Fail(field, err.Error())
	}
}

// Failed tells whether a failure has been recorded.
func (c *Errs) Failed() bool { return c.first != nil }

// Err returns the recorded failure as a *FieldError, or a nil error.
func (c *Errs) Err() error {
	if c.first == nil {
		return nil
	}
	e := *c.first
	e.Source, e.DossierID = c.Source, c.DossierID
	return &e
}

// Source is the configured portal a record came from: its name (in errors
// and on the dossier), its province code, and its status table (source value
// → national code: the kind's table with the source's overrides).
type Source struct {
	Name     string
	Province string
	Statuses map[string]int
	// Namespace is a SOAP service's target namespace ("" for its kind's
	// default, and for the other kinds).
	Namespace string
}
