package mapping_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/schemas"
)

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// records are the spec's examples as connectors hand them over.
func records(t *testing.T) map[string]schemas.RawRecord {
	upd := time.Date(2026, 11, 21, 1, 15, 2, 0, time.UTC)
	return map[string]schemas.RawRecord{
		"sonla": {Source: "sonla", ID: "000.00.14.H52-261121-0001", Version: 3, Updated: &upd,
			Op: schemas.OpUpsert, Format: schemas.FormatJSON, Payload: fixture(t, "restjson/testdata/spec_example.json")},
		"thainguyen": {Source: "thainguyen", ID: "000.00.19.H55-261121-0007", Version: 2,
			Op: schemas.OpUpsert, Format: schemas.FormatXML, Payload: fixture(t, "soap/testdata/spec_example.xml")},
		"hatinh": {Source: "hatinh", ID: "000.00.42.H25-261121-0003", Version: 1001,
			Op: schemas.OpUpsert, Format: schemas.FormatXML, Payload: fixture(t, "xmlfeed/testdata/spec_example.xml")},
	}
}

func TestNormalizeEachSource(t *testing.T) {
	for src, rec := range records(t) {
		d, err := specMapper.Normalize(rec)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if d.ID != rec.ID || d.Source != src || d.SourceVersion != rec.Version || d.Deleted {
			t.Errorf("%s: id %q source %q version %d deleted %v", src, d.ID, d.Source, d.SourceVersion, d.Deleted)
		}
		if d.Applicant.Name == "" || d.Status == 0 {
			t.Errorf("%s: not mapped: %+v", src, d)
		}
		testutil.AllNFC(t, d)
	}
}

func TestNormalizeFillsBookkeepingFromRecord(t *testing.T) {
	rec := records(t)["hatinh"]
	rec.Payload = []byte(strings.Replace(string(rec.Payload), `<HOSO SEQ="1001" THAO_TAC="CAPNHAT">`, "<HOSO>", 1))
	rec.Version = 1042
	upd := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	rec.Updated = &upd
	d, err := specMapper.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceVersion != 1042 {
		t.Errorf("SourceVersion %d, want the record's", d.SourceVersion)
	}
	testutil.SameInstant(t, "SourceUpdated", d.SourceUpdated, testutil.At(2026, 11, 21, 9, 0, 0))

	// The payload's own bookkeeping wins when it has some.
	rec = records(t)["sonla"]
	rec.Version = 99
	d, err = specMapper.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceVersion != 3 {
		t.Errorf("SourceVersion %d, want the payload's 3", d.SourceVersion)
	}
	testutil.SameInstant(t, "SourceUpdated", d.SourceUpdated, testutil.At(2026, 11, 21, 8, 15, 2))
}

func TestNormalizeIDMismatch(t *testing.T) {
	for src, field := range map[string]string{"sonla": "maHoSo", "thainguyen": "MaHoSo", "hatinh": "MAHOSO"} {
		rec := records(t)[src]
		rec.ID = "000.00.00.H00-261121-9999"
		_, err := specMapper.Normalize(rec)
		fe := testutil.WantFieldError(t, err, src, field)
		if fe.DossierID != rec.ID {
			t.Errorf("%s: DossierID %q", src, fe.DossierID)
		}
	}
}

func TestNormalizeErrorsCarryRecordID(t *testing.T) {
	rec := records(t)["sonla"]
	rec.Payload = []byte(`{"maHoSo": 7`) // unreadable, even its code
	_, err := specMapper.Normalize(rec)
	fe := testutil.WantFieldError(t, err, "sonla", "")
	if fe.DossierID != rec.ID {
		t.Errorf("DossierID %q, want the record's", fe.DossierID)
	}
	if !strings.HasPrefix(err.Error(), "sonla: dossier 000.00.14.H52-261121-0001: ") {
		t.Errorf("message %q", err)
	}

	// Missing MaHoSo stays an error even when the record knows the code:
	// a payload without its own code is corrupt.
	rec = records(t)["thainguyen"]
	rec.Payload = []byte(strings.Replace(string(rec.Payload), "<MaHoSo>000.00.19.H55-261121-0007</MaHoSo>", "", 1))
	_, err = specMapper.Normalize(rec)
	fe = testutil.WantFieldError(t, err, "thainguyen", "MaHoSo")
	if fe.DossierID != rec.ID {
		t.Errorf("DossierID %q, want the record's", fe.DossierID)
	}
}

func TestNormalizeDelete(t *testing.T) {
	upd := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	rec := schemas.RawRecord{Source: "hatinh", ID: "000.00.42.H25-261120-0019", Version: 1002, Updated: &upd,
		Op: schemas.OpDelete, Format: schemas.FormatXML, Payload: fixture(t, "xmlfeed/testdata/spec_delete.xml")}
	d, err := specMapper.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Deleted || d.ID != rec.ID || d.Source != "hatinh" || d.SourceVersion != 1002 || d.Status != 0 || d.Applicant.Name != "" {
		t.Errorf("deleted = %+v", d)
	}
	testutil.SameInstant(t, "SourceUpdated", d.SourceUpdated, upd)

	// The connector could not read the code: the payload gives it.
	rec.ID, rec.Version = "", 0
	if d, err = specMapper.Normalize(rec); err != nil || d.ID != "000.00.42.H25-261120-0019" || d.SourceVersion != 1002 {
		t.Errorf("delete from payload = %+v, %v", d, err)
	}
	// Nobody knows the code.
	rec.Payload = []byte(`<HOSO SEQ="1002" THAO_TAC="XOA"/>`)
	_, err = specMapper.Normalize(rec)
	testutil.WantFieldError(t, err, "hatinh", "MAHOSO")

	// A delete record without a payload at all.
	d, err = specMapper.Normalize(schemas.RawRecord{Source: "sonla", ID: "000.00.14.H52-261121-0001", Version: 4, Op: schemas.OpDelete})
	if err != nil || !d.Deleted || d.SourceVersion != 4 || d.Fees == nil {
		t.Errorf("sonla delete = %+v, %v", d, err)
	}
}

func TestNormalizeRejects(t *testing.T) {
	good := records(t)["hatinh"]
	for name, f := range map[string]func(*schemas.RawRecord){
		"unknown source": func(r *schemas.RawRecord) { r.Source = "laocai" },
		"unknown op":     func(r *schemas.RawRecord) { r.Op = "merge" },
		"no op":          func(r *schemas.RawRecord) { r.Op = "" },
		"wrong format":   func(r *schemas.RawRecord) { r.Format = schemas.FormatJSON },
		"XOA as upsert": func(r *schemas.RawRecord) {
			r.ID = "000.00.42.H25-261120-0019"
			r.Payload = fixture(t, "xmlfeed/testdata/spec_delete.xml")
		},
	} {
		rec := good
		f(&rec)
		_, err := specMapper.Normalize(rec)
		var fe *mapping.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a FieldError", name, err)
		}
	}
}
