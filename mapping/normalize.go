// Package mapping turns raw records of the provincial portals into canonical
// dossiers (schemas.Dossier): it dispatches on the source's interface kind to mapping/restjson,
// mapping/soap and mapping/xmlfeed, which share the normalisers here.
// mapping/national turns a canonical dossier into the national portal's form.
package mapping

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/restjson"
	"github.com/lienthong/lienthong/mapping/soap"
	"github.com/lienthong/lienthong/mapping/xmlfeed"
	"github.com/lienthong/lienthong/schemas"
)

// Source is one configured provincial portal, as mapping needs to know it.
type Source struct {
	Name     string // the source's name (slug): on every dossier and error
	Kind     string // schemas.KindRESTJSON, KindSOAP or KindXMLFeed
	Province string // its province code (Decision 124/2004), on every dossier
	// StatusMap maps the source's status values to national codes (1-10),
	// over the kind's own table: for a portal whose software names a
	// status differently.
	StatusMap map[string]int
	// Namespace is a SOAP service's target namespace ("" for the spec's).
	Namespace string
}

// kind is what an interface kind brings to a source's mapper.
type kind struct {
	mapFn    func(fields.Source, []byte) (*schemas.Dossier, error)
	format   string
	idField  string
	statuses map[string]int
}

var kinds = map[string]kind{
	schemas.KindRESTJSON: {restjson.Map, schemas.FormatJSON, restjson.IDField, restjson.Statuses},
	schemas.KindSOAP:     {soap.Map, schemas.FormatXML, soap.IDField, soap.Statuses},
	schemas.KindXMLFeed:  {xmlfeed.Map, schemas.FormatXML, xmlfeed.IDField, xmlfeed.Statuses},
}

type mapper struct {
	kind
	src fields.Source
}

func (m mapper) mapPayload(payload []byte) (*schemas.Dossier, error) { return m.mapFn(m.src, payload) }

// Mapper maps the raw records of the configured sources. It is safe for
// concurrent use.
type Mapper struct {
	by map[string]mapper
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// SourceError is a setting of a source that New refuses. Field is its key
// (name, kind, province, status_map).
type SourceError struct {
	Source, Field, Reason string
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("source %q: %s: %s", e.Source, e.Field, e.Reason)
}

// CheckSource returns every setting of s that New would refuse, so that a
// configuration can be reported whole rather than one error at a time.
func CheckSource(s Source) []*SourceError {
	var errs []*SourceError
	bad := func(field, format string, a ...any) {
		errs = append(errs, &SourceError{Source: s.Name, Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	if !sourceName.MatchString(s.Name) {
		bad("name", "must be 1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	}
	if _, ok := kinds[s.Kind]; !ok {
		bad("kind", "unknown kind %q (want one of %s)", s.Kind, strings.Join(schemas.Kinds, ", "))
	}
	if !fields.IsProvinceCode(s.Province) {
		bad("province", "%q is not a province code of Decision 124/2004 (two digits)", s.Province)
	}
	for _, v := range slices.Sorted(maps.Keys(s.StatusMap)) {
		if code := s.StatusMap[v]; code < schemas.StatusMin || code > schemas.StatusMax {
			bad("status_map", "%q: national status %d is not 1-10", v, code)
		}
	}
	return errs
}

// New returns a Mapper for sources, or an error naming the first source
// whose name, kind, province or status map is not usable (a *SourceError),
// or that is configured twice.
func New(sources ...Source) (*Mapper, error) {
	m := &Mapper{by: map[string]mapper{}}
	for _, s := range sources {
		if errs := CheckSource(s); len(errs) > 0 {
			return nil, errs[0]
		}
		if _, dup := m.by[s.Name]; dup {
			return nil, fmt.Errorf("source %q: configured twice", s.Name)
		}
		k := kinds[s.Kind]
		statuses := k.statuses
		if len(s.StatusMap) > 0 {
			statuses = maps.Clone(k.statuses)
			maps.Copy(statuses, s.StatusMap)
		}
		m.by[s.Name] = mapper{k, fields.Source{Name: s.Name, Province: s.Province, Statuses: statuses, Namespace: s.Namespace}}
	}
	return m, nil
}

// Normalize maps one raw record to its canonical dossier.
//
// An upsert's payload is mapped by its source's kind; the payload must
// carry its own dossier code, equal to rec.ID when the connector read one.
// SourceVersion and SourceUpdated come from the payload, or from the record
// when the payload has none (the change feed has no update time). A delete
// gives a dossier with only ID, Source, SourceVersion (SourceUpdated) and
// Deleted set. Every failure is a *FieldError carrying rec.Source and, as
// far as known, the dossier code.
func (mp *Mapper) Normalize(rec schemas.RawRecord) (*schemas.Dossier, error) {
	m, ok := mp.by[rec.Source]
	if !ok {
		return nil, &FieldError{Source: rec.Source, DossierID: rec.ID, Reason: "source not configured"}
	}
	fail := func(field, reason string) error {
		return &FieldError{Source: rec.Source, DossierID: rec.ID, Field: field, Reason: reason}
	}
	if rec.Format != "" && rec.Format != m.format {
		return nil, fail("", "payload format "+rec.Format+", want "+m.format)
	}
	switch rec.Op {
	case schemas.OpDelete:
		return deleted(rec, m)
	case schemas.OpUpsert:
	default:
		return nil, fail("", "unknown record op")
	}

	d, err := m.mapPayload(rec.Payload)
	if err != nil {
		if fe, ok := err.(*FieldError); ok && fe.DossierID == "" {
			fe.DossierID = rec.ID
		}
		return nil, err
	}
	if rec.ID != "" && d.ID != rec.ID {
		return nil, fail(m.idField, "differs from the record's dossier code")
	}
	if d.Deleted { // a change feed's XOA entry sent as an upsert: the connector misread it
		return nil, fail("", "payload deletes the dossier but the record is an upsert")
	}
	fillBookkeeping(d, rec)
	return d, nil
}

// deleted is the dossier a delete record stands for. The code comes from the
// record, or from the payload when the connector could not read it.
func deleted(rec schemas.RawRecord, m mapper) (*schemas.Dossier, error) {
	d := &schemas.Dossier{ID: rec.ID, Source: rec.Source, ProvinceCode: m.src.Province, Deleted: true}
	if d.ID == "" && len(rec.Payload) > 0 {
		if p, err := m.mapPayload(rec.Payload); err == nil {
			d.ID, d.SourceVersion, d.SourceUpdated = p.ID, p.SourceVersion, p.SourceUpdated
		}
	}
	if d.ID == "" {
		return nil, &FieldError{Source: rec.Source, Field: m.idField, Reason: "missing"}
	}
	fillBookkeeping(d, rec)
	fields.Tidy(d)
	return d, nil
}

func fillBookkeeping(d *schemas.Dossier, rec schemas.RawRecord) {
	d.Source = rec.Source
	if d.SourceVersion == 0 {
		d.SourceVersion = rec.Version
	}
	if d.SourceUpdated == nil && rec.Updated != nil {
		t := rec.Updated.In(schemas.Vietnam)
		d.SourceUpdated = &t
	}
}
