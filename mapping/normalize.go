// Package mapping turns raw records of the provincial portals into canonical
// dossiers (schemas.Dossier): it dispatches on the source's interface kind to mapping/restjson,
// mapping/soap and mapping/xmlfeed, which share the normalisers here.
// mapping/national turns a canonical dossier into the national portal's form.
package mapping

import (
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/restjson"
	"github.com/lienthong/lienthong/mapping/soap"
	"github.com/lienthong/lienthong/mapping/xmlfeed"
	"github.com/lienthong/lienthong/schemas"
)

type mapper struct {
	mapFn    func([]byte) (*schemas.Dossier, error)
	format   string
	idField  string
	province string
}

var mappers = map[string]mapper{
	schemas.SourceSonLa:      {restjson.Map, schemas.FormatJSON, restjson.IDField, restjson.ProvinceCode},
	schemas.SourceThaiNguyen: {soap.Map, schemas.FormatXML, soap.IDField, soap.ProvinceCode},
	schemas.SourceHaTinh:     {xmlfeed.Map, schemas.FormatXML, xmlfeed.IDField, xmlfeed.ProvinceCode},
}

// Normalize maps one raw record to its canonical dossier.
//
// An upsert's payload is mapped by its source's mapper; the payload must
// carry its own dossier code, equal to rec.ID when the connector read one.
// SourceVersion and SourceUpdated come from the payload, or from the record
// when the payload has none (the Hà Tĩnh feed has no update time). A delete
// gives a dossier with only ID, Source, SourceVersion (SourceUpdated) and
// Deleted set. Every failure is a *FieldError carrying rec.Source and, as
// far as known, the dossier code.
func Normalize(rec schemas.RawRecord) (*schemas.Dossier, error) {
	m, ok := mappers[rec.Source]
	if !ok {
		return nil, &FieldError{Source: rec.Source, DossierID: rec.ID, Reason: "unknown source"}
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

	d, err := m.mapFn(rec.Payload)
	if err != nil {
		if fe, ok := err.(*FieldError); ok && fe.DossierID == "" {
			fe.DossierID = rec.ID
		}
		return nil, err
	}
	if rec.ID != "" && d.ID != rec.ID {
		return nil, fail(m.idField, "differs from the record's dossier code")
	}
	if d.Deleted { // a Hà Tĩnh XOA entry sent as an upsert: the connector misread it
		return nil, fail("", "payload deletes the dossier but the record is an upsert")
	}
	fillBookkeeping(d, rec)
	return d, nil
}

// deleted is the dossier a delete record stands for. The code comes from the
// record, or from the payload when the connector could not read it.
func deleted(rec schemas.RawRecord, m mapper) (*schemas.Dossier, error) {
	d := &schemas.Dossier{ID: rec.ID, Source: rec.Source, ProvinceCode: m.province, Deleted: true}
	if d.ID == "" && len(rec.Payload) > 0 {
		if p, err := m.mapFn(rec.Payload); err == nil {
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
		t := rec.Updated.In(fields.Loc)
		d.SourceUpdated = &t
	}
}
