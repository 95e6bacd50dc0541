package xmlfeed_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/mapping/xmlfeed"
	"github.com/lienthong/lienthong/schemas"
)

// The spec's example portal of the kind.
var hatinhSrc = fields.Source{Name: "hatinh", Province: "42", Statuses: xmlfeed.Statuses}

func example(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/spec_example.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func edit(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := example(t)
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			t.Fatalf("fixture has %d of %q", strings.Count(s, pairs[i]), pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

func TestMapSpecExample(t *testing.T) {
	d, err := xmlfeed.Map(hatinhSrc, []byte(example(t)))
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
	check("ID", d.ID, "000.00.42.H25-261121-0003")
	check("Source", d.Source, "hatinh")
	check("SourceVersion", d.SourceVersion, int64(1001))
	if d.SourceUpdated != nil {
		t.Errorf("SourceUpdated %v, want nil (the feed has none)", d.SourceUpdated)
	}
	check("Deleted", d.Deleted, false)
	check("ProvinceCode", d.ProvinceCode, "42")
	check("Procedure", d.Procedure, schemas.Procedure{Code: "1.000894", Name: "Đăng ký khai sinh", Scope: schemas.ScopeFull,
		FieldCode: "HT", FieldName: "Hộ tịch"})
	check("Agency", d.Agency, schemas.Agency{Code: "000.00.42.H25", Name: "UBND phường Bắc Hồng"})
	check("Channel", d.Channel, schemas.ChannelOnline)
	check("Applicant", d.Applicant, schemas.Applicant{
		Kind:      schemas.ApplicantCitizen,
		Name:      "Phan Thị Lan",
		IDType:    schemas.IDTypeCCCD,
		IDNumber:  "042196007781",
		BirthDate: "1996-08-15",
		Phone:     "0904123456",
		Email:     "lan@example.vn",
		Address:   schemas.Address{ProvinceCode: "42", DistrictCode: "437", CommuneCode: "18412", Detail: "Khối 3, phường Bắc Hồng"},
	})
	check("Summary", d.Summary, "Khai sinh cho con thứ hai")
	testutil.SameInstant(t, "SubmittedAt", d.SubmittedAt, at(2026, 11, 21, 7, 45, 0))
	testutil.SameInstant(t, "ReceivedAt", d.ReceivedAt, at(2026, 11, 21, 8, 0, 0))
	testutil.SameInstant(t, "DueAt", d.DueAt, at(2026, 11, 25, 17, 0, 0))
	if d.ReturnedAt != nil {
		t.Errorf("ReturnedAt %v, want nil for <NGAYTRA></NGAYTRA>", d.ReturnedAt)
	}
	check("Status", d.Status, schemas.StatusProcessing)
	check("SourceStatus", d.SourceStatus, "4")
	check("ResultDelivery", d.ResultDelivery, schemas.DeliveryPost)
	check("ResultAddress", d.ResultAddress, &schemas.Recipient{Name: "Phan Thị Lan", Phone: "0904123456",
		Address: schemas.Address{ProvinceCode: "42", CommuneCode: "18412", Detail: "Khối 3, phường Bắc Hồng"}})
	check("Fees", d.Fees, []schemas.Fee{{Code: "LP01", Name: "Lệ phí khai sinh", Kind: schemas.FeeLevy, Amount: 8000,
		Paid: false, PaymentMethod: schemas.PayOnline}})
	check("Attachments", d.Attachments, []schemas.Attachment{{ID: "h-5", Name: "to-khai.pdf", ComponentCode: "TP1",
		Size: 50211, SHA256: "…", URL: "https://…/h-5"}})
	if len(d.Steps) != 1 {
		t.Fatalf("steps %d, want 1", len(d.Steps))
	}
	s := d.Steps[0]
	testutil.SameInstant(t, "Steps[0].At", &s.At, at(2026, 11, 21, 8, 0, 0))
	check("Steps[0]", s, schemas.Step{At: s.At, Status: schemas.StatusReceived, SourceStatus: "2",
		Handler: "Lê Văn Tâm", Title: "Công chức", Department: "Một cửa", Content: "Tiếp nhận"})
	testutil.AllNFC(t, d)
}

func TestMapDeleteEntry(t *testing.T) {
	b, err := os.ReadFile("testdata/spec_delete.xml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := xmlfeed.Map(hatinhSrc, b)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Deleted || d.ID != "000.00.42.H25-261120-0019" || d.SourceVersion != 1002 || d.Source != "hatinh" {
		t.Errorf("delete entry = %+v", d)
	}
	_, err = xmlfeed.Map(hatinhSrc, []byte(`<HOSO SEQ="1002" THAO_TAC="XOA"/>`))
	testutil.WantFieldError(t, err, "hatinh", "MAHOSO")
	_, err = xmlfeed.Map(hatinhSrc, edit(t, `THAO_TAC="CAPNHAT"`, `THAO_TAC="SUA"`))
	testutil.WantFieldError(t, err, "hatinh", "@THAO_TAC")
}

// TestMapWithoutFeedAttributes: a connector may re-serialise the entry
// without SEQ/THAO_TAC; the record then carries them.
func TestMapWithoutFeedAttributes(t *testing.T) {
	d, err := xmlfeed.Map(hatinhSrc, edit(t, `<HOSO SEQ="1001" THAO_TAC="CAPNHAT">`, `<HOSO>`))
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceVersion != 0 || d.Deleted || d.ID != "000.00.42.H25-261121-0003" {
		t.Errorf("dossier %+v", d)
	}
}

func TestMapNFDInputGivesNFC(t *testing.T) {
	want, err := xmlfeed.Map(hatinhSrc, []byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	payload := norm.NFD.String(example(t))
	if payload == example(t) {
		t.Fatal("fixture is not NFD")
	}
	got, err := xmlfeed.Map(hatinhSrc, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllNFC(t, got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NFD input mapped to\n%+v\nwant\n%+v", got, want)
	}
}

// to1258 writes s as windows-1258 does: a base letter (with its
// circumflex, breve or horn) followed by a combining tone mark.
func to1258(t *testing.T, s string) []byte {
	t.Helper()
	tones := "\u0300\u0301\u0303\u0309\u0323"
	var b strings.Builder
	for _, r := range norm.NFC.String(s) {
		d := norm.NFD.String(string(r))
		tone := ""
		for _, m := range d {
			if strings.ContainsRune(tones, m) {
				tone = string(m)
			}
		}
		if tone == "" {
			b.WriteRune(r)
			continue
		}
		b.WriteString(norm.NFC.String(strings.Replace(d, tone, "", 1)) + tone)
	}
	out, err := charmap.Windows1258.NewEncoder().String(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

// TestMapWindows1258 feeds an entry still in windows-1258 with its prolog:
// it is decoded, and the decomposed tone marks come out NFC.
func TestMapWindows1258(t *testing.T) {
	want, err := xmlfeed.Map(hatinhSrc, []byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte(`<?xml version="1.0" encoding="windows-1258"?>`+"\n"), to1258(t, example(t))...)
	if utf8.Valid(payload) {
		t.Fatal("fixture is valid UTF-8")
	}
	got, err := xmlfeed.Map(hatinhSrc, payload)
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllNFC(t, got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("windows-1258 input mapped to\n%+v\nwant\n%+v", got, want)
	}
	// Already decoded by the connector but the prolog kept: read as UTF-8.
	payload = []byte(`<?xml version="1.0" encoding="windows-1258"?>` + "\n" + example(t))
	if got, err = xmlfeed.Map(hatinhSrc, payload); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("decoded payload with a stale prolog: %v", err)
	}
}

func TestMapOrganisation(t *testing.T) {
	org := func(t *testing.T, idElems string) []byte {
		return edit(t,
			`<CHUHOSO LOAI="1">`, `<CHUHOSO LOAI="2">`,
			"<HOTEN>Phan Thị Lan</HOTEN><CCCD>042196007781</CCCD><NGAYSINH>19960815</NGAYSINH>",
			"<HOTEN>Công ty CP Cảng Vũng Áng</HOTEN>"+idElems+"<NGAYSINH/>")
	}
	for name, tc := range map[string]struct{ elems, want string }{
		"tax code in MST":       {"<MST>3000123456</MST>", "3000123456"},
		"tax code in CCCD":      {"<CCCD>3000123456-002</CCCD>", "3000123456002"},
		"MST preferred to CCCD": {"<CCCD></CCCD><MST>3000123456</MST>", "3000123456"},
		"no number":             {"<CCCD/>", ""},
	} {
		d, err := xmlfeed.Map(hatinhSrc, org(t, tc.elems))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a := d.Applicant
		wantType := schemas.IDTypeTax
		if tc.want == "" {
			wantType = ""
		}
		if a.Kind != schemas.ApplicantOrganisation || a.IDNumber != tc.want || a.IDType != wantType || a.Name != "Công ty CP Cảng Vũng Áng" {
			t.Errorf("%s: applicant %+v", name, a)
		}
	}
	_, err := xmlfeed.Map(hatinhSrc, org(t, "<MST>30001234</MST>"))
	testutil.WantFieldError(t, err, "hatinh", "CHUHOSO/MST", "30001234")
	_, err = xmlfeed.Map(hatinhSrc, org(t, "<CCCD>042196007781</CCCD>"))
	testutil.WantFieldError(t, err, "hatinh", "CHUHOSO/CCCD", "042196007781")
}

func TestMapEmptyElementsAndNoLists(t *testing.T) {
	d, err := xmlfeed.Map(hatinhSrc, edit(t,
		"<NGAYSINH>19960815</NGAYSINH>", "<NGAYSINH></NGAYSINH>",
		"<SDT>0904123456</SDT>", "<SDT/>",
		"<EMAIL>lan@example.vn</EMAIL>", "<EMAIL></EMAIL>",
		"<MAHUYEN>437</MAHUYEN>", "<MAHUYEN/>",
		"<NGAYTIEPNHAN>20261121080000</NGAYTIEPNHAN>", "<NGAYTIEPNHAN></NGAYTIEPNHAN>",
		"<HINHTHUCTRA>1</HINHTHUCTRA>", "<HINHTHUCTRA/>",
		"<MUCDO>TOAN_TRINH</MUCDO>", "<MUCDO/>",
		`<LEPHI MA="LP01" LOAI="2" SOTIEN="8000" DANOP="0" HINHTHUC="2">Lệ phí khai sinh</LEPHI>`, "",
		`<TEPTIN ID="h-5" MATP="TP1" SIZE="50211" SHA256="…" URL="https://…/h-5">to-khai.pdf</TEPTIN>`, "",
		`<XULY THOIDIEM="20261121080000" TRANGTHAI="2" NGUOIXULY="Lê Văn Tâm" CHUCDANH="Công chức" PHONGBAN="Một cửa">Tiếp nhận</XULY>`, "",
	))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Applicant
	// The CCCD stays checked (province, century digit) without a DOB.
	if a.BirthDate != "" || a.Phone != "" || a.Email != "" || a.Address.DistrictCode != "" || a.IDNumber != "042196007781" {
		t.Errorf("applicant %+v", a)
	}
	if d.ReceivedAt != nil || d.ResultDelivery != schemas.DeliveryOffice || d.Procedure.Scope != "" || d.Procedure.Level != 0 {
		t.Errorf("dossier %+v", d)
	}
	if d.Fees == nil || len(d.Fees) != 0 || d.Attachments == nil || len(d.Attachments) != 0 || d.Steps == nil || len(d.Steps) != 0 {
		t.Errorf("lists %v %v %v, want empty and not nil", d.Fees, d.Attachments, d.Steps)
	}
}

func TestMapRepeatedElementsInOrder(t *testing.T) {
	d, err := xmlfeed.Map(hatinhSrc, edit(t,
		`<LEPHI MA="LP01" LOAI="2" SOTIEN="8000" DANOP="0" HINHTHUC="2">Lệ phí khai sinh</LEPHI>`,
		`<LEPHI MA="LP01" LOAI="2" SOTIEN="8000" DANOP="1" HINHTHUC="2">Lệ phí khai sinh</LEPHI>`+
			`<LEPHI MA="P02" LOAI="1" SOTIEN="0" DANOP="0" HINHTHUC="3">Phí trả kết quả</LEPHI>`,
		`<XULY THOIDIEM="20261121080000" TRANGTHAI="2" NGUOIXULY="Lê Văn Tâm" CHUCDANH="Công chức" PHONGBAN="Một cửa">Tiếp nhận</XULY>`,
		// Out of order at the source: canonical steps are oldest first.
		`<XULY THOIDIEM="20261122090000" TRANGTHAI="9" NGUOIXULY="B">Xong</XULY>`+
			`<XULY THOIDIEM="20261121080000" TRANGTHAI="2" NGUOIXULY="A">Tiếp nhận</XULY>`+
			`<XULY THOIDIEM="20261121100000" TRANGTHAI="4" NGUOIXULY="A">Chuyển xử lý</XULY>`,
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Fees) != 2 || !d.Fees[0].Paid || d.Fees[1].Kind != schemas.FeeCharge || d.Fees[1].PaymentMethod != schemas.PayCOD || d.Fees[1].Amount != 0 {
		t.Errorf("fees %+v", d.Fees)
	}
	var got []int
	for _, s := range d.Steps {
		got = append(got, s.Status)
	}
	if !reflect.DeepEqual(got, []int{2, 4, 9}) {
		t.Errorf("step statuses %v, want oldest first", got)
	}
}

func TestMapMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		pairs       []string
		secrets     []string
	}{
		{"bad date of birth", "CHUHOSO/NGAYSINH", []string{"19960815", "19961315"}, []string{"19961315"}},
		{"date of birth with time", "CHUHOSO/NGAYSINH", []string{"19960815", "19960815000000"}, []string{"19960815"}},
		{"unknown status", "TRANGTHAI", []string{"<TRANGTHAI>4</TRANGTHAI>", "<TRANGTHAI>11</TRANGTHAI>"}, nil},
		{"status by name", "TRANGTHAI", []string{"<TRANGTHAI>4</TRANGTHAI>", "<TRANGTHAI>DANG_XU_LY</TRANGTHAI>"}, nil},
		{"CCCD century digit against DOB", "CHUHOSO/CCCD", []string{"042196007781", "042396007781"}, []string{"042396007781"}},
		{"CCCD century digit 6", "CHUHOSO/CCCD", []string{"042196007781", "042696007781"}, []string{"042696007781"}},
		{"11-digit CCCD", "CHUHOSO/CCCD", []string{"042196007781", "04219600778"}, []string{"04219600778"}},
		{"bad phone", "CHUHOSO/SDT", []string{"<SDT>0904123456</SDT>", "<SDT>090412345</SDT>"}, []string{"090412345"}},
		{"landline", "DIACHINHAN/@SDT", []string{`SDT="0904123456" MATINH`, `SDT="02393855555" MATINH`}, []string{"02393855555"}},
		{"non-numeric fee", "LEPHI[0]/@SOTIEN", []string{`SOTIEN="8000"`, `SOTIEN="abc"`}, nil},
		{"missing fee", "LEPHI[0]/@SOTIEN", []string{` SOTIEN="8000"`, ""}, nil},
		{"unknown fee kind", "LEPHI[0]/@LOAI", []string{`LOAI="2" SOTIEN`, `LOAI="3" SOTIEN`}, nil},
		{"unknown payment", "LEPHI[0]/@HINHTHUC", []string{`HINHTHUC="2"`, `HINHTHUC="4"`}, nil},
		{"paid not 0/1", "LEPHI[0]/@DANOP", []string{`DANOP="0"`, `DANOP="2"`}, nil},
		{"garbage submission date", "NGAYNOP", []string{"<NGAYNOP>20261121074500</NGAYNOP>", "<NGAYNOP>2026112107450</NGAYNOP>"}, nil},
		{"impossible submission date", "NGAYNOP", []string{"<NGAYNOP>20261121074500</NGAYNOP>", "<NGAYNOP>20261131074500</NGAYNOP>"}, nil},
		{"other layout submission date", "NGAYNOP", []string{"<NGAYNOP>20261121074500</NGAYNOP>", "<NGAYNOP>21/11/2026 07:45:00</NGAYNOP>"}, nil},
		{"other layout birth date", "CHUHOSO/NGAYSINH", []string{"<NGAYSINH>19960815</NGAYSINH>", "<NGAYSINH>1996-08-15</NGAYSINH>"}, nil},
		{"missing MAHOSO", "MAHOSO", []string{"<MAHOSO>000.00.42.H25-261121-0003</MAHOSO>", ""}, nil},
		{"repeated MAHOSO", "MAHOSO", []string{"<MAHOSO>000.00.42.H25-261121-0003</MAHOSO>", "<MAHOSO>000.00.42.H25-261121-0003</MAHOSO><MAHOSO>y</MAHOSO>"}, nil},
		{"missing MATTHC", "MATTHC", []string{"<MATTHC>1.000894</MATTHC>", "<MATTHC/>"}, nil},
		{"missing MADONVI", "MADONVI", []string{"<MADONVI>000.00.42.H25</MADONVI>", ""}, nil},
		{"missing name", "CHUHOSO/HOTEN", []string{"<HOTEN>Phan Thị Lan</HOTEN>", "<HOTEN></HOTEN>"}, nil},
		{"missing applicant", "CHUHOSO", []string{`<CHUHOSO LOAI="1">`, `<NGUOINOP LOAI="1">`, "</CHUHOSO>", "</NGUOINOP>"}, nil},
		{"unknown applicant kind", "CHUHOSO/@LOAI", []string{`<CHUHOSO LOAI="1">`, `<CHUHOSO LOAI="3">`}, nil},
		{"unknown level", "MUCDO", []string{"<MUCDO>TOAN_TRINH</MUCDO>", "<MUCDO>TOAN_PHAN</MUCDO>"}, nil},
		{"unknown channel", "KENH", []string{"<KENH>2</KENH>", "<KENH>0</KENH>"}, nil},
		{"unknown delivery", "HINHTHUCTRA", []string{"<HINHTHUCTRA>1</HINHTHUCTRA>", "<HINHTHUCTRA>3</HINHTHUCTRA>"}, nil},
		{"step status", "XULY[0]/@TRANGTHAI", []string{`TRANGTHAI="2"`, `TRANGTHAI="DA_TN"`}, nil},
		{"step time", "XULY[0]/@THOIDIEM", []string{`THOIDIEM="20261121080000"`, `THOIDIEM=""`}, nil},
		{"district code", "CHUHOSO/MAHUYEN", []string{"<MAHUYEN>437</MAHUYEN>", "<MAHUYEN>4370</MAHUYEN>"}, nil},
		{"commune code", "CHUHOSO/MAXA", []string{"<MAXA>18412</MAXA>", "<MAXA>X8412</MAXA>"}, nil},
		{"bad SEQ", "@SEQ", []string{`SEQ="1001"`, `SEQ="abc"`}, nil},
		{"not well-formed", "", []string{"</TRICHYEU>", "</TRICH>"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := xmlfeed.Map(hatinhSrc, edit(t, tc.pairs...))
			testutil.WantFieldError(t, err, "hatinh", tc.field, tc.secrets...)
		})
	}
}
