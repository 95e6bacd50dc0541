package soap_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/mapping/soap"
	"github.com/lienthong/lienthong/schemas"
)

// The spec's example portal of the kind.
var thainguyenSrc = fields.Source{Name: "thainguyen", Province: "19", Statuses: soap.Statuses}

const ns = `xmlns="http://motcua.thainguyen.gov.vn/"`

// example is the spec's <HoSo>, standalone with a default namespace.
func example(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/spec_example.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old by new exactly once in the example.
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

var tagRE = regexp.MustCompile(`<(/?)([A-Za-z])`)

// prefixed writes the example with every element under prefix p.
func prefixed(t *testing.T, p string) []byte {
	s := tagRE.ReplaceAllString(example(t), "<${1}"+p+":${2}")
	return []byte(strings.Replace(s, ns, `xmlns:`+p+`="http://motcua.thainguyen.gov.vn/"`, 1))
}

func TestMapSpecExample(t *testing.T) {
	d, err := soap.Map(thainguyenSrc, []byte(example(t)))
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
	check("ID", d.ID, "000.00.19.H55-261121-0007")
	check("Source", d.Source, "thainguyen")
	check("SourceVersion", d.SourceVersion, int64(2))
	testutil.SameInstant(t, "SourceUpdated", d.SourceUpdated, at(2026, 11, 21, 8, 1, 13))
	check("ProvinceCode", d.ProvinceCode, "19")
	check("Procedure", d.Procedure, schemas.Procedure{Code: "2.000815", Name: "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
		Level: 3, FieldCode: "TLDN", FieldName: "Thành lập và hoạt động doanh nghiệp"})
	check("Agency", d.Agency, schemas.Agency{Code: "000.00.19.H55", Name: "UBND thành phố Thái Nguyên"})
	check("Channel", d.Channel, schemas.ChannelOnline)
	check("Applicant", d.Applicant, schemas.Applicant{
		Kind:      schemas.ApplicantCitizen,
		Name:      "Hoàng Văn Nam",
		IDType:    schemas.IDTypeCCCD,
		IDNumber:  "019088004512",
		BirthDate: "1988-07-14",
		Phone:     "0983456789",
		Email:     "", // <Email/>
		Address:   schemas.Address{ProvinceCode: "19", CommuneCode: "05443", Detail: "Tổ 5, phường Quang Trung"},
	})
	check("Summary", d.Summary, "Đăng ký hộ kinh doanh tạp hoá")
	testutil.SameInstant(t, "SubmittedAt", d.SubmittedAt, at(2026, 11, 21, 7, 40, 0))
	testutil.SameInstant(t, "ReceivedAt", d.ReceivedAt, at(2026, 11, 21, 7, 55, 12))
	testutil.SameInstant(t, "DueAt", d.DueAt, at(2026, 11, 26, 17, 0, 0))
	if d.ReturnedAt != nil {
		t.Errorf("ReturnedAt %v, want nil for <NgayTra/>", d.ReturnedAt)
	}
	check("Status", d.Status, schemas.StatusProcessing)
	check("SourceStatus", d.SourceStatus, "DANG_XL")
	check("ResultDelivery", d.ResultDelivery, schemas.DeliveryPost)
	check("ResultAddress", d.ResultAddress, &schemas.Recipient{Name: "Hoàng Văn Nam", Phone: "0983456789",
		Address: schemas.Address{ProvinceCode: "19", CommuneCode: "05443", Detail: "Tổ 5, phường Quang Trung"}})
	check("Fees", d.Fees, []schemas.Fee{{Code: "LP02", Name: "Lệ phí đăng ký hộ kinh doanh", Kind: schemas.FeeLevy,
		Amount: 100000, Paid: false, PaymentMethod: schemas.PayOnline}})
	check("Attachments", d.Attachments, []schemas.Attachment{{ID: "t-7", Name: "giay-de-nghi.pdf", ComponentCode: "TP1",
		Size: 90211, SHA256: "…", URL: "https://…/t-7"}})
	if len(d.Steps) != 1 {
		t.Fatalf("steps %d, want 1", len(d.Steps))
	}
	s := d.Steps[0]
	testutil.SameInstant(t, "Steps[0].At", &s.At, at(2026, 11, 21, 7, 55, 12))
	check("Steps[0]", s, schemas.Step{At: s.At, Status: schemas.StatusReceived, SourceStatus: "DA_TN",
		Handler: "Trần Thu Hà", Title: "Chuyên viên", Department: "Bộ phận một cửa", Content: "Tiếp nhận"})
	testutil.AllNFC(t, d)
}

func TestMapNamespacePrefixes(t *testing.T) {
	want, err := soap.Map(thainguyenSrc, []byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"mc", "tns", "ns1", "x9"} {
		payload := prefixed(t, p)
		if !bytes.Contains(payload, []byte("<"+p+":HoSo ")) || !bytes.Contains(payload, []byte("</"+p+":MaHoSo>")) {
			t.Fatalf("prefix %s not applied", p)
		}
		got, err := soap.Map(thainguyenSrc, payload)
		if err != nil {
			t.Fatalf("prefix %s: %v", p, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("prefix %s mapped differently:\n%+v\nwant\n%+v", p, got, want)
		}
	}
	// A prefix declared further out than the element (as in a SOAP answer
	// cut out with its ancestors' declarations copied) and the prefix the
	// spec uses for its envelope, with a prolog.
	payload := append([]byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n"), prefixed(t, "soap")...)
	if _, err := soap.Map(thainguyenSrc, payload); err != nil {
		t.Errorf("soap prefix bound to the service namespace: %v", err)
	}
}

func TestMapWrongNamespace(t *testing.T) {
	for name, payload := range map[string][]byte{
		"other namespace":         []byte(strings.Replace(example(t), "http://motcua.thainguyen.gov.vn/", "http://motcua.thainguyen.gov.vn/v2/", 1)),
		"no namespace":            []byte(strings.Replace(example(t), " "+ns, "", 1)),
		"right prefix, wrong URI": []byte(strings.Replace(string(prefixed(t, "mc")), "http://motcua.thainguyen.gov.vn/", "http://example.org/", 1)),
		"undeclared prefix":       []byte(strings.Replace(string(prefixed(t, "mc")), ` xmlns:mc="http://motcua.thainguyen.gov.vn/"`, "", 1)),
		"other element":           []byte(`<LePhi ` + ns + `/>`),
	} {
		_, err := soap.Map(thainguyenSrc, payload)
		testutil.WantFieldError(t, err, "thainguyen", "")
		_ = name
	}
	// Children in a foreign namespace are someone else's elements.
	_, err := soap.Map(thainguyenSrc, edit(t, "<MaHoSo>000.00.19.H55-261121-0007</MaHoSo>",
		`<MaHoSo xmlns="urn:other">000.00.19.H55-261121-0007</MaHoSo>`))
	testutil.WantFieldError(t, err, "thainguyen", "MaHoSo")
}

// TestMapElementFromSOAP streams the spec's whole SOAP answer and maps the
// <HoSo> inside it where it stands.
func TestMapElementFromSOAP(t *testing.T) {
	want, err := soap.Map(thainguyenSrc, []byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/spec_response.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name == (xml.Name{Space: soap.DefaultNamespace, Local: "HoSo"}) {
			got, err := soap.MapElement(thainguyenSrc, dec, se)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("MapElement = %+v, want %+v", got, want)
			}
			n++
		}
	}
	if n != 1 {
		t.Errorf("found %d HoSo", n)
	}
}

func TestMapNFDInputGivesNFC(t *testing.T) {
	want, err := soap.Map(thainguyenSrc, []byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	payload := norm.NFD.String(example(t))
	if payload == example(t) {
		t.Fatal("fixture is not NFD")
	}
	got, err := soap.Map(thainguyenSrc, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllNFC(t, got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NFD input mapped to\n%+v\nwant\n%+v", got, want)
	}
}

func TestMapOrganisation(t *testing.T) {
	d, err := soap.Map(thainguyenSrc, edit(t,
		`LoaiDoiTuong="1"`, `LoaiDoiTuong="2"`,
		"<HoTen>Hoàng Văn Nam</HoTen>", "<HoTen>Hợp tác xã Chè Tân Cương</HoTen>",
		`<SoGiayTo Loai="CCCD">019088004512</SoGiayTo>`, `<SoGiayTo Loai="MST">4600123456</SoGiayTo>`,
		"<NgaySinh>14/07/1988</NgaySinh>", "<NgaySinh/>"))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Applicant
	if a.Kind != schemas.ApplicantOrganisation || a.IDType != schemas.IDTypeTax || a.IDNumber != "4600123456" ||
		a.Name != "Hợp tác xã Chè Tân Cương" || a.BirthDate != "" {
		t.Errorf("organisation = %+v", a)
	}
	// An organisation must carry a tax code, a citizen must not.
	_, err = soap.Map(thainguyenSrc, edit(t, `LoaiDoiTuong="1"`, `LoaiDoiTuong="2"`))
	testutil.WantFieldError(t, err, "thainguyen", "NguoiNop/SoGiayTo", "019088004512")
	_, err = soap.Map(thainguyenSrc, edit(t, `<SoGiayTo Loai="CCCD">019088004512</SoGiayTo>`, `<SoGiayTo Loai="MST">4600123456</SoGiayTo>`))
	testutil.WantFieldError(t, err, "thainguyen", "NguoiNop/SoGiayTo", "4600123456")
}

func TestMapCMND(t *testing.T) {
	d, err := soap.Map(thainguyenSrc, edit(t, `<SoGiayTo Loai="CCCD">019088004512</SoGiayTo>`, `<SoGiayTo Loai="CMND">090123456</SoGiayTo>`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Applicant.IDType != schemas.IDTypeCMND || d.Applicant.IDNumber != "090123456" {
		t.Errorf("applicant %+v", d.Applicant)
	}
}

func TestMapEmptyElements(t *testing.T) {
	d, err := soap.Map(thainguyenSrc, edit(t,
		"<NgaySinh>14/07/1988</NgaySinh>", "<NgaySinh></NgaySinh>",
		"<DienThoai>0983.456.789</DienThoai>", "<DienThoai>  </DienThoai>",
		`<SoGiayTo Loai="CCCD">019088004512</SoGiayTo>`, `<SoGiayTo Loai="CCCD"/>`,
		"<NgayTiepNhan>21/11/2026 07:55:12</NgayTiepNhan>", "<NgayTiepNhan/>",
		"<NhanKetQuaQuaBuuChinh>true</NhanKetQuaQuaBuuChinh>", "<NhanKetQuaQuaBuuChinh/>",
		`<DiaChiNhanKetQua MaTinh="19" MaXa="05443" NguoiNhan="Hoàng Văn Nam" DienThoai="0983456789">Tổ 5, phường Quang Trung</DiaChiNhanKetQua>`, "<DiaChiNhanKetQua/>",
		"<PhienBan>2</PhienBan>", "",
	))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Applicant
	if a.BirthDate != "" || a.Phone != "" || a.IDNumber != "" || a.IDType != "" {
		t.Errorf("applicant %+v, want no values", a)
	}
	if d.ReceivedAt != nil || d.ResultAddress != nil || d.ResultDelivery != schemas.DeliveryOffice || d.SourceVersion != 0 {
		t.Errorf("ReceivedAt %v ResultAddress %v delivery %q version %d", d.ReceivedAt, d.ResultAddress, d.ResultDelivery, d.SourceVersion)
	}
	// No lists at all: empty, not nil.
	d, err = soap.Map(thainguyenSrc, edit(t,
		`<DanhSachLePhi><LePhi Ma="LP02" Loai="2" SoTien="100000" DaNop="false" HinhThucNop="2">Lệ phí đăng ký hộ kinh doanh</LePhi></DanhSachLePhi>`, "<DanhSachLePhi/>",
		`<QuaTrinhXuLy><Buoc ThoiDiem="21/11/2026 07:55:12" TrangThai="DA_TN" NguoiXuLy="Trần Thu Hà" ChucDanh="Chuyên viên" PhongBan="Bộ phận một cửa">Tiếp nhận</Buoc></QuaTrinhXuLy>`, ""))
	if err != nil {
		t.Fatal(err)
	}
	if d.Fees == nil || len(d.Fees) != 0 || d.Steps == nil || len(d.Steps) != 0 {
		t.Errorf("fees %v steps %v", d.Fees, d.Steps)
	}
}

func TestMapMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		pairs       []string
		secrets     []string
	}{
		{"bad date of birth", "NguoiNop/NgaySinh", []string{"14/07/1988", "31/02/1988"}, []string{"31/02/1988"}},
		{"date of birth ISO-ish", "NguoiNop/NgaySinh", []string{"14/07/1988", "1988/07/14"}, []string{"1988/07/14"}},
		{"unknown status", "TrangThai", []string{"<TrangThai>DANG_XL</TrangThai>", "<TrangThai>DANG_XU_LY</TrangThai>"}, nil},
		{"missing status", "TrangThai", []string{"<TrangThai>DANG_XL</TrangThai>", "<TrangThai/>"}, nil},
		{"CCCD century digit against DOB", "NguoiNop/SoGiayTo", []string{">019088004512<", ">019288004512<"}, []string{"019288004512"}},
		{"11-digit CCCD", "NguoiNop/SoGiayTo", []string{">019088004512<", ">01908800451<"}, []string{"01908800451"}},
		{"CMND declared, 12 digits", "NguoiNop/SoGiayTo", []string{`Loai="CCCD"`, `Loai="CMND"`}, []string{"019088004512"}},
		{"unknown document type", "NguoiNop/SoGiayTo/@Loai", []string{`Loai="CCCD"`, `Loai="HC"`}, nil},
		{"bad phone", "NguoiNop/DienThoai", []string{"0983.456.789", "0983.456.78"}, []string{"0983.456.78"}},
		{"bad recipient phone", "DiaChiNhanKetQua/@DienThoai", []string{`DienThoai="0983456789"`, `DienThoai="+1 555 0100"`}, []string{"555"}},
		{"non-numeric fee", "DanhSachLePhi/LePhi[0]/@SoTien", []string{`SoTien="100000"`, `SoTien="abc"`}, nil},
		{"fee with separators", "DanhSachLePhi/LePhi[0]/@SoTien", []string{`SoTien="100000"`, `SoTien="100.000"`}, nil},
		{"unknown fee kind", "DanhSachLePhi/LePhi[0]/@Loai", []string{`Loai="2" SoTien`, `Loai="5" SoTien`}, nil},
		{"unknown payment", "DanhSachLePhi/LePhi[0]/@HinhThucNop", []string{`HinhThucNop="2"`, `HinhThucNop="9"`}, nil},
		{"paid not boolean", "DanhSachLePhi/LePhi[0]/@DaNop", []string{`DaNop="false"`, `DaNop="chua"`}, nil},
		{"garbage submission date", "NgayNop", []string{"<NgayNop>21/11/2026 07:40:00</NgayNop>", "<NgayNop>21-11-2026 7h40</NgayNop>"}, nil},
		// Another source's layout is still not this source's contract.
		{"ISO submission date", "NgayNop", []string{"<NgayNop>21/11/2026 07:40:00</NgayNop>", "<NgayNop>2026-11-21T07:40:00</NgayNop>"}, nil},
		{"compact submission date", "NgayNop", []string{"<NgayNop>21/11/2026 07:40:00</NgayNop>", "<NgayNop>20261121074000</NgayNop>"}, nil},
		{"missing MaHoSo", "MaHoSo", []string{"<MaHoSo>000.00.19.H55-261121-0007</MaHoSo>", ""}, nil},
		{"empty MaHoSo", "MaHoSo", []string{"<MaHoSo>000.00.19.H55-261121-0007</MaHoSo>", "<MaHoSo> </MaHoSo>"}, nil},
		{"repeated MaHoSo", "MaHoSo", []string{"<MaHoSo>000.00.19.H55-261121-0007</MaHoSo>", "<MaHoSo>000.00.19.H55-261121-0007</MaHoSo><MaHoSo>x</MaHoSo>"}, nil},
		{"missing MaTTHC", "MaTTHC", []string{"<MaTTHC>2.000815</MaTTHC>", ""}, nil},
		{"missing MaDonVi", "MaDonVi", []string{"<MaDonVi>000.00.19.H55</MaDonVi>", "<MaDonVi/>"}, nil},
		{"missing name", "NguoiNop/HoTen", []string{"<HoTen>Hoàng Văn Nam</HoTen>", ""}, nil},
		{"missing applicant kind", "NguoiNop/@LoaiDoiTuong", []string{` LoaiDoiTuong="1"`, ""}, nil},
		{"unknown channel", "KenhNop", []string{"<KenhNop>2</KenhNop>", "<KenhNop>4</KenhNop>"}, nil},
		{"unknown level", "MucDo", []string{"<MucDo>3</MucDo>", "<MucDo>5</MucDo>"}, nil},
		{"post flag not boolean", "NhanKetQuaQuaBuuChinh", []string{">true<", ">co<"}, nil},
		{"step status", "QuaTrinhXuLy/Buoc[0]/@TrangThai", []string{`TrangThai="DA_TN"`, `TrangThai="2"`}, nil},
		{"step time", "QuaTrinhXuLy/Buoc[0]/@ThoiDiem", []string{`ThoiDiem="21/11/2026 07:55:12"`, `ThoiDiem="hôm nay"`}, nil},
		{"file size", "DanhSachTepTin/TepTin[0]/@KichThuoc", []string{`KichThuoc="90211"`, `KichThuoc="-1"`}, nil},
		{"address province", "NguoiNop/DiaChi/@MaTinh", []string{`<DiaChi MaTinh="19"`, `<DiaChi MaTinh="Thái Nguyên"`}, nil},
		{"not well-formed", "", []string{"</TrichYeu>", "</TrichYeuX>"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := soap.Map(thainguyenSrc, edit(t, tc.pairs...))
			testutil.WantFieldError(t, err, "thainguyen", tc.field, tc.secrets...)
		})
	}
}
