package restjson_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/mapping/restjson"
	"github.com/lienthong/lienthong/schemas"
)

// The spec's example portal of the kind.
var sonlaSrc = fields.Source{Name: "sonla", Province: "14", Statuses: restjson.Statuses}

func example(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/spec_example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutated is the spec example changed by f (on its decoded form).
func mutated(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(example(t), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
func item(m map[string]any, key string) map[string]any {
	return m[key].([]any)[0].(map[string]any)
}

func TestMapSpecExample(t *testing.T) {
	d, err := restjson.Map(sonlaSrc, example(t))
	if err != nil {
		t.Fatal(err)
	}
	at := testutil.At
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("ID", d.ID, "000.00.14.H52-261121-0001")
	check("Source", d.Source, "sonla")
	check("SourceVersion", d.SourceVersion, int64(3))
	testutil.SameInstant(t, "SourceUpdated", d.SourceUpdated, at(2026, 11, 21, 8, 15, 2))
	check("Deleted", d.Deleted, false)
	check("ProvinceCode", d.ProvinceCode, "14")
	check("Procedure", d.Procedure, schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh", Level: 4, FieldCode: "HT", FieldName: "Hộ tịch"})
	check("Agency", d.Agency, schemas.Agency{Code: "000.00.14.H52", Name: "UBND huyện Thuận Châu"})
	check("Channel", d.Channel, schemas.ChannelOnline)
	check("Applicant", d.Applicant, schemas.Applicant{
		Kind:      schemas.ApplicantCitizen,
		Name:      "Lò Văn Minh",
		IDType:    schemas.IDTypeCCCD,
		IDNumber:  "014095001234",
		BirthDate: "1995-03-02",
		Phone:     "0912345678",
		Email:     "minh@example.vn",
		Address:   schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó, xã Chiềng Lề"},
	})
	check("Summary", d.Summary, "Đăng ký khai sinh cho con")
	testutil.SameInstant(t, "SubmittedAt", d.SubmittedAt, at(2026, 11, 21, 7, 58, 40))
	testutil.SameInstant(t, "ReceivedAt", d.ReceivedAt, at(2026, 11, 21, 8, 2, 11))
	testutil.SameInstant(t, "DueAt", d.DueAt, at(2026, 11, 26, 17, 0, 0))
	if d.ReturnedAt != nil || d.ProcessingEndedAt != nil {
		t.Errorf("ReturnedAt %v ProcessingEndedAt %v, want nil (null / absent)", d.ReturnedAt, d.ProcessingEndedAt)
	}
	check("Status", d.Status, schemas.StatusProcessing)
	check("SourceStatus", d.SourceStatus, "DANG_XU_LY")
	check("ResultDelivery", d.ResultDelivery, schemas.DeliveryPost)
	check("ResultAddress", d.ResultAddress, &schemas.Recipient{
		Name: "Lò Văn Minh", Phone: "0912345678",
		Address: schemas.Address{ProvinceCode: "14", CommuneCode: "03646", Detail: "Bản Bó"},
	})
	check("Fees", d.Fees, []schemas.Fee{{Code: "LP01", Name: "Lệ phí đăng ký", Kind: schemas.FeeLevy, Amount: 8000, Paid: false, PaymentMethod: schemas.PayOnline}})
	check("Attachments", d.Attachments, []schemas.Attachment{{ID: "f-91", Name: "to-khai.pdf", ComponentCode: "TP1", Size: 183422, SHA256: "9f86…", URL: "https://…/files/f-91"}})
	if len(d.Steps) != 1 {
		t.Fatalf("steps %d, want 1", len(d.Steps))
	}
	s := d.Steps[0]
	testutil.SameInstant(t, "Steps[0].At", &s.At, at(2026, 11, 21, 8, 2, 11))
	s.At = at(2026, 11, 21, 8, 2, 11)
	check("Steps[0]", s, schemas.Step{At: s.At, Status: schemas.StatusReceived, SourceStatus: "DA_TIEP_NHAN",
		Handler: "Nguyễn Thị Hoa", Title: "Công chức một cửa", Department: "Bộ phận một cửa", Content: "Tiếp nhận hồ sơ"})
	check("ProcessingUnit", d.ProcessingUnit, "")
	check("AccountID", d.Applicant.AccountID, "")
	testutil.AllNFC(t, d)
}

func TestMapNFDInputGivesNFC(t *testing.T) {
	nfc, err := restjson.Map(sonlaSrc, example(t))
	if err != nil {
		t.Fatal(err)
	}
	payload := testutil.NFDJSON(t, example(t))
	if !strings.Contains(string(payload), "\\u0300") && !strings.Contains(string(payload), "\u0300") {
		t.Fatal("fixture is not NFD")
	}
	d, err := restjson.Map(sonlaSrc, payload)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllNFC(t, d)
	if !reflect.DeepEqual(d, nfc) {
		t.Errorf("NFD input mapped to\n%+v\nwant\n%+v", d, nfc)
	}
}

func TestMapOrganisation(t *testing.T) {
	d, err := restjson.Map(sonlaSrc, mutated(t, func(m map[string]any) {
		c := obj(m, "chuHoSo")
		c["loai"] = "TO_CHUC"
		c["hoTen"] = "Công ty TNHH Chè Mộc Châu"
		delete(c, "soDinhDanh")
		delete(c, "ngaySinh")
		c["maSoThue"] = "5500123456-001"
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Applicant
	if a.Kind != schemas.ApplicantOrganisation || a.IDType != schemas.IDTypeTax || a.IDNumber != "5500123456001" ||
		a.Name != "Công ty TNHH Chè Mộc Châu" || a.BirthDate != "" {
		t.Errorf("organisation = %+v", a)
	}

	// An organisation identified by a CCCD is refused.
	_, err = restjson.Map(sonlaSrc, mutated(t, func(m map[string]any) {
		c := obj(m, "chuHoSo")
		c["loai"] = "TO_CHUC"
		c["maSoThue"] = "014095001234"
	}))
	testutil.WantFieldError(t, err, "sonla", "chuHoSo.maSoThue", "014095001234")
}

func TestMapNoValues(t *testing.T) {
	d, err := restjson.Map(sonlaSrc, mutated(t, func(m map[string]any) {
		c := obj(m, "chuHoSo")
		c["ngaySinh"] = nil
		c["soDienThoai"] = ""
		c["email"] = nil
		delete(c, "soDinhDanh")
		m["ngayTiepNhan"] = ""
		m["diaChiNhanKetQua"] = nil
		m["hinhThucNhanKetQua"] = nil
		m["lePhi"] = []any{}
		delete(m, "tepDinhKem")
		m["lichSu"] = nil
		delete(m, "phienBan")
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Applicant
	if a.BirthDate != "" || a.Phone != "" || a.Email != "" || a.IDType != "" || a.IDNumber != "" {
		t.Errorf("applicant = %+v, want no values", a)
	}
	if d.ReceivedAt != nil || d.ResultAddress != nil || d.SourceVersion != 0 {
		t.Errorf("ReceivedAt %v ResultAddress %v SourceVersion %d, want none", d.ReceivedAt, d.ResultAddress, d.SourceVersion)
	}
	if d.ResultDelivery != schemas.DeliveryOffice {
		t.Errorf("ResultDelivery %q, want office by default", d.ResultDelivery)
	}
	if d.Fees == nil || len(d.Fees) != 0 || d.Attachments == nil || len(d.Attachments) != 0 || d.Steps == nil || len(d.Steps) != 0 {
		t.Errorf("lists %v %v %v, want empty and not nil", d.Fees, d.Attachments, d.Steps)
	}
}

func TestMapQuotedAmount(t *testing.T) {
	d, err := restjson.Map(sonlaSrc, mutated(t, func(m map[string]any) { item(m, "lePhi")["soTien"] = "8000" }))
	if err != nil {
		t.Fatal(err)
	}
	if d.Fees[0].Amount != 8000 {
		t.Errorf("amount %d", d.Fees[0].Amount)
	}
}

func TestMapMalformed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		field   string
		secrets []string
		f       func(m map[string]any)
	}{
		{"bad date of birth", "chuHoSo.ngaySinh", []string{"1995-02-30"}, func(m map[string]any) { obj(m, "chuHoSo")["ngaySinh"] = "1995-02-30" }},
		{"date of birth in another shape", "chuHoSo.ngaySinh", []string{"March"}, func(m map[string]any) { obj(m, "chuHoSo")["ngaySinh"] = "March 2, 1995" }},
		{"unknown status", "trangThai", nil, func(m map[string]any) { m["trangThai"] = "DANG_CHO" }},
		{"missing status", "trangThai", nil, func(m map[string]any) { delete(m, "trangThai") }},
		{"CCCD century digit against DOB", "chuHoSo.soDinhDanh", []string{"014295001234"}, func(m map[string]any) { obj(m, "chuHoSo")["soDinhDanh"] = "014295001234" }},
		{"CCCD year digits against DOB", "chuHoSo.soDinhDanh", []string{"014096001234"}, func(m map[string]any) { obj(m, "chuHoSo")["soDinhDanh"] = "014096001234" }},
		{"CCCD unknown province", "chuHoSo.soDinhDanh", []string{"003095001234"}, func(m map[string]any) { obj(m, "chuHoSo")["soDinhDanh"] = "003095001234" }},
		{"11-digit CCCD", "chuHoSo.soDinhDanh", []string{"01409500123"}, func(m map[string]any) { obj(m, "chuHoSo")["soDinhDanh"] = "01409500123" }},
		{"bad phone", "chuHoSo.soDienThoai", []string{"0212345678"}, func(m map[string]any) { obj(m, "chuHoSo")["soDienThoai"] = "0212345678" }},
		{"bad recipient phone", "diaChiNhanKetQua.soDienThoai", []string{"091234"}, func(m map[string]any) { obj(m, "diaChiNhanKetQua")["soDienThoai"] = "091234" }},
		{"non-numeric fee", "lePhi[0].soTien", nil, func(m map[string]any) { item(m, "lePhi")["soTien"] = "abc" }},
		{"negative fee", "lePhi[0].soTien", nil, func(m map[string]any) { item(m, "lePhi")["soTien"] = -8000 }},
		{"fractional fee", "lePhi[0].soTien", nil, func(m map[string]any) { item(m, "lePhi")["soTien"] = 8000.5 }},
		{"fee as object", "lePhi[0].soTien", nil, func(m map[string]any) { item(m, "lePhi")["soTien"] = map[string]any{} }},
		{"missing fee", "lePhi[0].soTien", nil, func(m map[string]any) { delete(item(m, "lePhi"), "soTien") }},
		{"unknown fee kind", "lePhi[0].loai", nil, func(m map[string]any) { item(m, "lePhi")["loai"] = "THUE" }},
		{"unknown payment", "lePhi[0].hinhThucThanhToan", nil, func(m map[string]any) { item(m, "lePhi")["hinhThucThanhToan"] = "THE" }},
		{"paid not boolean", "lePhi[0].daThanhToan", nil, func(m map[string]any) { item(m, "lePhi")["daThanhToan"] = "roi" }},
		{"garbage submission date", "ngayNop", []string{"hôm qua"}, func(m map[string]any) { m["ngayNop"] = "hôm qua" }},
		{"local submission date without offset", "ngayNop", []string{"21/11/2026 07:58:40"}, func(m map[string]any) { m["ngayNop"] = "21/11/2026 07:58:40" }},
		{"submission date wrong type", "ngayNop", nil, func(m map[string]any) { m["ngayNop"] = 20261121 }},
		{"missing maHoSo", "maHoSo", nil, func(m map[string]any) { delete(m, "maHoSo") }},
		{"missing procedure", "thuTuc.ma", nil, func(m map[string]any) { delete(obj(m, "thuTuc"), "ma") }},
		{"procedure not an object", "thuTuc", nil, func(m map[string]any) { m["thuTuc"] = "1.000894" }},
		{"unknown level", "thuTuc.mucDo", nil, func(m map[string]any) { obj(m, "thuTuc")["mucDo"] = 7 }},
		{"missing agency", "coQuanTiepNhan.ma", nil, func(m map[string]any) { m["coQuanTiepNhan"] = nil }},
		{"missing name", "chuHoSo.hoTen", nil, func(m map[string]any) { obj(m, "chuHoSo")["hoTen"] = "  " }},
		{"name wrong type", "chuHoSo.hoTen", nil, func(m map[string]any) { obj(m, "chuHoSo")["hoTen"] = 42 }},
		{"unknown applicant kind", "chuHoSo.loai", nil, func(m map[string]any) { obj(m, "chuHoSo")["loai"] = "HO_GIA_DINH" }},
		{"unknown channel", "kenhNop", nil, func(m map[string]any) { m["kenhNop"] = "FAX" }},
		{"missing channel", "kenhNop", nil, func(m map[string]any) { delete(m, "kenhNop") }},
		{"unknown delivery", "hinhThucNhanKetQua", nil, func(m map[string]any) { m["hinhThucNhanKetQua"] = "EMAIL" }},
		{"step status", "lichSu[0].trangThai", nil, func(m map[string]any) { item(m, "lichSu")["trangThai"] = "XONG" }},
		{"step without time", "lichSu[0].thoiDiem", nil, func(m map[string]any) { delete(item(m, "lichSu"), "thoiDiem") }},
		{"attachment size", "tepDinhKem[0].kichThuoc", nil, func(m map[string]any) { item(m, "tepDinhKem")["kichThuoc"] = "big" }},
		{"commune code", "chuHoSo.diaChi.maXa", nil, func(m map[string]any) { obj(obj(m, "chuHoSo"), "diaChi")["maXa"] = "3646" }},
		{"province code", "chuHoSo.diaChi.maTinh", nil, func(m map[string]any) { obj(obj(m, "chuHoSo"), "diaChi")["maTinh"] = "99" }},
		{"fees not a list", "lePhi", nil, func(m map[string]any) { m["lePhi"] = map[string]any{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := restjson.Map(sonlaSrc, mutated(t, tc.f))
			fe := testutil.WantFieldError(t, err, "sonla", tc.field, tc.secrets...)
			if tc.field != "maHoSo" && fe.DossierID != "000.00.14.H52-261121-0001" {
				t.Errorf("DossierID %q", fe.DossierID)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := restjson.Map(sonlaSrc, mutated(t, func(m map[string]any) { obj(m, "chuHoSo")["ngaySinh"] = "02/13/1995" }))
	want := "sonla: dossier 000.00.14.H52-261121-0001: field chuHoSo.ngaySinh: not a date (want YYYY-MM-DD)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	var fe *mapping.FieldError // the alias mapping exports is the same type
	if !errorsAs(err, &fe) {
		t.Errorf("errors.As(*mapping.FieldError) failed on %T", err)
	}
}

func TestMalformedPayload(t *testing.T) {
	for _, p := range []string{``, `nope`, `[1,2]`, `{"maHoSo": "x"`, `null`} {
		_, err := restjson.Map(sonlaSrc, []byte(p))
		testutil.WantFieldError(t, err, "sonla", "")
	}
}
