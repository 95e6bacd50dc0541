package mapping_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lienthong/lienthong/schemas"
)

const schemaPath = "../schemas/dossier.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time and date are checked, not just annotated
	const url = "https://lienthong.example/schemas/dossier.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, d *schemas.Dossier) error {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// full is a dossier with every field set, so that the schema's
// additionalProperties:false catches a field it does not know.
func full() *schemas.Dossier {
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, schemas.Vietnam)
	later := at.Add(48 * time.Hour)
	return &schemas.Dossier{
		ID: "000.00.19.H55-261121-0007", Source: "thainguyen", SourceVersion: 2, SourceUpdated: &at,
		ProvinceCode: "19",
		Procedure:    schemas.Procedure{Code: "2.000815", Name: "Cấp giấy", Level: 3, Scope: schemas.ScopePartial, FieldCode: "TLDN", FieldName: "Doanh nghiệp"},
		Agency:       schemas.Agency{Code: "000.00.19.H55", Name: "UBND"},
		Channel:      schemas.ChannelPostal,
		Applicant: schemas.Applicant{Kind: schemas.ApplicantCitizen, Name: "Hoàng Văn Nam", IDType: schemas.IDTypeCCCD,
			IDNumber: "019088004512", BirthDate: "1988-07-14", Phone: "0983456789", Email: "nam@example.vn", AccountID: "acc-1",
			Address: schemas.Address{ProvinceCode: "19", DistrictCode: "164", CommuneCode: "05443", Detail: "Tổ 5"}},
		Summary:     "Đăng ký",
		SubmittedAt: &at, ReceivedAt: &at, DueAt: &later, ReturnedAt: &later, ProcessingEndedAt: &later,
		Status: schemas.StatusReturned, SourceStatus: "DA_TRAKQ",
		ResultDelivery: schemas.DeliveryPost,
		ResultAddress:  &schemas.Recipient{Name: "Hoàng Văn Nam", Phone: "0983456789", Address: schemas.Address{ProvinceCode: "19", CommuneCode: "05443", Detail: "Tổ 5"}},
		Fees:           []schemas.Fee{{Code: "LP02", Name: "Lệ phí", Kind: schemas.FeeLevy, Amount: 100000, Paid: true, PaymentMethod: schemas.PayCOD, CollectStage: 4}},
		Attachments:    []schemas.Attachment{{ID: "t-7", Name: "a.pdf", ComponentCode: "TP1", Size: 1, SHA256: "ab", URL: "https://x/t-7", Deleted: true}},
		Steps: []schemas.Step{{At: at, Status: 2, SourceStatus: "DA_TN", Handler: "Hà", Title: "Chuyên viên", Department: "Một cửa",
			Content: "Tiếp nhận", StartAt: &at, DueAt: &later}},
		ProcessingUnit: "000.00.19.H55.01", Note: "ghi chú",
	}
}

func TestMappedDossiersMatchSchema(t *testing.T) {
	sch := compileSchema(t)
	for src, rec := range records(t) {
		d, err := specMapper.Normalize(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, d); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	// An organisation, a deleted dossier, and one with every field set.
	rec := records(t)["hatinh"]
	rec.Payload = []byte(strings.NewReplacer(`<CHUHOSO LOAI="1">`, `<CHUHOSO LOAI="2">`,
		"<CCCD>042196007781</CCCD>", "<MST>3000123456-001</MST>").Replace(string(rec.Payload)))
	org, err := specMapper.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	del, err := specMapper.Normalize(schemas.RawRecord{Source: "hatinh", ID: "000.00.42.H25-261120-0019", Version: 1002, Op: schemas.OpDelete})
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*schemas.Dossier{"organisation": org, "deleted": del, "full": full()} {
		if err := validate(t, sch, d); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSchemaRejects makes sure the validator does validate.
func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	for name, f := range map[string]func(d *schemas.Dossier){
		"status 11":        func(d *schemas.Dossier) { d.Status = 11 },
		"no status":        func(d *schemas.Dossier) { d.Status = 0 },
		"phone not normal": func(d *schemas.Dossier) { d.Applicant.Phone = "+84983456789" },
		"CCCD of 9 digits": func(d *schemas.Dossier) { d.Applicant.IDNumber = "019088004" },
		"negative fee":     func(d *schemas.Dossier) { d.Fees[0].Amount = -1 },
		"collect stage 3":  func(d *schemas.Dossier) { d.Fees[0].CollectStage = 3 },
		"unknown delivery": func(d *schemas.Dossier) { d.ResultDelivery = "drone" },
		"no name":          func(d *schemas.Dossier) { d.Applicant.Name = "" },
		"bad birth date":   func(d *schemas.Dossier) { d.Applicant.BirthDate = "1988-02-30" },
		"unknown source":   func(d *schemas.Dossier) { d.Source = "laocai" },
		"null fees":        func(d *schemas.Dossier) { d.Fees = nil },
	} {
		d := full()
		f(d)
		if err := validate(t, sch, d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
