package national_test

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	wire "github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/mapping/restjson"
	"github.com/lienthong/lienthong/schemas"
)

// The spec's example portal of the kind.
var sonlaSrc = fields.Source{Name: "sonla", Province: "14", Statuses: restjson.Statuses}

// dossier has every field set and its times in UTC, to show that the
// portal still gets +07:00 wall-clock times.
func dossier() *schemas.Dossier {
	u := func(d, h, m int) *time.Time { t := time.Date(2026, 11, d, h, m, 0, 0, time.UTC); return &t }
	return &schemas.Dossier{
		ID: "000.00.19.H55-261121-0007", Source: "thainguyen", SourceVersion: 5, SourceUpdated: u(21, 3, 0),
		ProvinceCode: "19",
		Procedure:    schemas.Procedure{Code: "2.000815", Name: "Cấp giấy chứng nhận đăng ký hộ kinh doanh", Level: 3, FieldCode: "TLDN", FieldName: "Thành lập và hoạt động doanh nghiệp"},
		Agency:       schemas.Agency{Code: "000.00.19.H55", Name: "UBND thành phố Thái Nguyên"},
		Channel:      schemas.ChannelOnline,
		Applicant: schemas.Applicant{Kind: schemas.ApplicantCitizen, Name: "Hoàng Văn Nam", IDType: schemas.IDTypeCCCD, IDNumber: "019088004512",
			BirthDate: "1988-07-14", Phone: "0983456789", Email: "nam@example.vn", AccountID: "tk-42",
			Address: schemas.Address{ProvinceCode: "19", DistrictCode: "164", CommuneCode: "05443", Detail: "Tổ 5, phường Quang Trung"}},
		Summary:     "Đăng ký hộ kinh doanh tạp hoá",
		SubmittedAt: u(21, 0, 40), // 07:40 in Hà Nội
		ReceivedAt:  u(21, 0, 55),
		DueAt:       u(26, 10, 0),
		ReturnedAt:  u(25, 17, 30), // 00:30 on the 26th in Hà Nội: the date changes too
		Status:      schemas.StatusReturned, SourceStatus: "DA_TRAKQ",
		ResultDelivery: schemas.DeliveryPost,
		Fees: []schemas.Fee{
			{Code: "LP02", Name: "Lệ phí đăng ký hộ kinh doanh", Kind: schemas.FeeLevy, Amount: 100000, Paid: true, PaymentMethod: schemas.PayOnline},
			{Code: "P01", Name: "Phí chuyển phát", Kind: schemas.FeeCharge, Amount: 22000, PaymentMethod: schemas.PayCOD},
			{Code: "P02", Name: "Phí bổ sung", Kind: schemas.FeeCharge, Amount: 5000, PaymentMethod: schemas.PayCOD, CollectStage: 2},
		},
		Attachments: []schemas.Attachment{
			{ID: "t-7", Name: "giay-de-nghi.pdf", ComponentCode: "TP1", Size: 90211, URL: "https://files/t-7"},
			{ID: "t-8", Name: "cu.pdf", ComponentCode: "TP2", URL: "https://files/t-8", Deleted: true},
		},
		Steps: []schemas.Step{
			{At: *u(21, 0, 55), Status: 2, Handler: "Trần Thu Hà", Title: "Chuyên viên", Department: "Bộ phận một cửa", Content: "Tiếp nhận"},
			{At: *u(22, 2, 0), Status: 9, Handler: "Lê Văn B", Title: "Trưởng phòng", Department: "Phòng Tài chính", Content: "Phê duyệt",
				StartAt: u(21, 1, 0), DueAt: u(24, 10, 0)},
			{At: *u(23, 2, 0), Status: 9, Handler: "Lê Văn B", Content: "Phê duyệt lại"},
			{At: *u(25, 17, 30), Status: 10, Handler: "Trần Thu Hà", Content: "Trả kết quả"},
		},
	}
}

func TestHoSoAllFields(t *testing.T) {
	got := national.HoSo(dossier())
	want := wire.HoSo{
		MaHoSo: "000.00.19.H55-261121-0007", MaTTHC: "2.000815", TenTTHC: "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
		MaLinhVuc: "TLDN", TenLinhVuc: "Thành lập và hoạt động doanh nghiệp", KenhThucHien: 2,
		ChuHoSo: "Hoàng Văn Nam", LoaiDoiTuong: 1, MaDoiTuong: "tk-42", SoGiayTo: "019088004512",
		SoDienThoai: "0983456789", Email: "nam@example.vn", DiaChi: "Tổ 5, phường Quang Trung", MaTinh: "19", MaXa: "05443",
		TrichYeuHoSo: "Đăng ký hộ kinh doanh tạp hoá",
		NgayNopHoSo:  "20261121074000", NgayTiepNhan: "20261121075500", NgayHenTra: "20261126170000",
		TrangThaiHoSo: 10, NgayTra: "20261126003000", HinhThuc: 1,
		NgayKetThucXuLy: "20261123090000", // the last status-9 step
		DonViXuLy:       "000.00.19.H55",  // no processing unit: the agency
		GhiChu:          "",
		TaiLieuNop: []wire.TaiLieu{
			{TepDinhKemId: "t-7", TenTepDinhKem: "giay-de-nghi.pdf", MaThanhPhanHoSo: "TP1", DuongDanTaiTepTin: "https://files/t-7"},
			{TepDinhKemId: "t-8", TenTepDinhKem: "cu.pdf", MaThanhPhanHoSo: "TP2", DuongDanTaiTepTin: "https://files/t-8", IsDeleted: true},
		},
		DanhSachLePhi: []wire.LePhi{
			{MaPhiLePhi: "LP02", TenPhiLePhi: "Lệ phí đăng ký hộ kinh doanh", LoaiPhiLePhi: 2, HinhThucThu: 1, Gia: 100000, DaThanhToan: "1"},
			{MaPhiLePhi: "P01", TenPhiLePhi: "Phí chuyển phát", LoaiPhiLePhi: 1, HinhThucThu: 4, Gia: 22000, DaThanhToan: "0"},
			{MaPhiLePhi: "P02", TenPhiLePhi: "Phí bổ sung", LoaiPhiLePhi: 1, HinhThucThu: 2, Gia: 5000, DaThanhToan: "0"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HoSo =\n%+v\nwant\n%+v", got, want)
	}
}

func TestHoSoDerivedFields(t *testing.T) {
	d := dossier()
	end := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	d.ProcessingEndedAt = &end
	d.ProcessingUnit = "000.00.19.H55.05"
	d.Note = "Ghi chú"
	d.ResultDelivery = schemas.DeliveryOnline
	h := national.HoSo(d)
	if h.NgayKetThucXuLy != "20261124070000" || h.DonViXuLy != "000.00.19.H55.05" || h.GhiChu != "Ghi chú" || h.HinhThuc != 0 {
		t.Errorf("HoSo = %+v", h)
	}
	d.ProcessingEndedAt, d.Steps = nil, d.Steps[:1]
	d.ResultDelivery = schemas.DeliveryOffice
	d.ReturnedAt = nil
	if h = national.HoSo(d); h.NgayKetThucXuLy != "" || h.NgayTra != "" || h.HinhThuc != 0 {
		t.Errorf("no end: %+v", h)
	}
}

// TestHoSoWire checks the JSON the portal gets: exactly the spec's names,
// numbers as numbers, DaThanhToan a string, IsDeleted a bool, every text
// field present even when empty, lists never null.
func TestHoSoWire(t *testing.T) {
	d := &schemas.Dossier{ID: "X", Status: 1, Channel: 1, Applicant: schemas.Applicant{Kind: 1, Name: "A"},
		Fees: []schemas.Fee{{Kind: 1}}, Attachments: []schemas.Attachment{{}}}
	b, err := json.Marshal(national.HoSo(d))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien", "ChuHoSo", "LoaiDoiTuong",
		"MaDoiTuong", "SoGiayTo", "SoDienThoai", "Email", "DiaChi", "MaTinh", "MaXa", "TrichYeuHoSo", "NgayNopHoSo",
		"NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "NgayTra", "HinhThuc", "NgayKetThucXuLy", "DonViXuLy", "GhiChu",
		"TaiLieuNop", "DanhSachLePhi"}
	checkKeys(t, "HOSO", m, want)
	numbers := map[string]bool{"KenhThucHien": true, "LoaiDoiTuong": true, "TrangThaiHoSo": true, "HinhThuc": true}
	for k, v := range m {
		switch {
		case numbers[k]:
			if _, ok := v.(float64); !ok {
				t.Errorf("%s = %#v, want a number", k, v)
			}
		case k == "TaiLieuNop" || k == "DanhSachLePhi":
			if _, ok := v.([]any); !ok {
				t.Errorf("%s = %#v, want a list", k, v)
			}
		default:
			if _, ok := v.(string); !ok {
				t.Errorf("%s = %#v, want a string", k, v)
			}
		}
	}
	fee := m["DanhSachLePhi"].([]any)[0].(map[string]any)
	checkKeys(t, "LePhi", fee, []string{"MaPhiLePhi", "TenPhiLePhi", "LoaiPhiLePhi", "HinhThucThu", "Gia", "DaThanhToan"})
	if fee["DaThanhToan"] != "0" || fee["Gia"] != 0.0 || fee["HinhThucThu"] != 1.0 || fee["LoaiPhiLePhi"] != 1.0 {
		t.Errorf("fee %v", fee)
	}
	file := m["TaiLieuNop"].([]any)[0].(map[string]any)
	checkKeys(t, "TaiLieu", file, []string{"TepDinhKemId", "TenTepDinhKem", "MaThanhPhanHoSo", "DuongDanTaiTepTin", "IsDeleted"})
	if file["IsDeleted"] != false {
		t.Errorf("IsDeleted %#v", file["IsDeleted"])
	}

	b, _ = json.Marshal(national.HoSo(&schemas.Dossier{ID: "X"}))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if l, ok := m["TaiLieuNop"].([]any); !ok || len(l) != 0 {
		t.Errorf("TaiLieuNop %#v, want []", m["TaiLieuNop"])
	}

	steps := national.Steps(dossier())
	b, _ = json.Marshal(steps[0])
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "STEP", s, []string{"MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy",
		"TrangThai", "NgayBatDau", "NgayKetThucTheoQuyDinh"})
	if _, ok := s["TrangThai"].(float64); !ok {
		t.Errorf("TrangThai %#v, want a number", s["TrangThai"])
	}
}

func checkKeys(t *testing.T, what string, m map[string]any, want []string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	w := append([]string(nil), want...)
	sort.Strings(w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s keys %v, want %v", what, got, w)
	}
}

func TestSteps(t *testing.T) {
	got := national.Steps(dossier())
	want := []wire.Step{
		{MaHoSo: "000.00.19.H55-261121-0007", NguoiXuLy: "Trần Thu Hà", ChucDanh: "Chuyên viên", ThoiDiemXuLy: "20261121075500",
			PhongBanXuLy: "Bộ phận một cửa", NoiDungXuLy: "Tiếp nhận", TrangThai: 2},
		{MaHoSo: "000.00.19.H55-261121-0007", NguoiXuLy: "Lê Văn B", ChucDanh: "Trưởng phòng", ThoiDiemXuLy: "20261122090000",
			PhongBanXuLy: "Phòng Tài chính", NoiDungXuLy: "Phê duyệt", TrangThai: 9, NgayBatDau: "20261121080000", NgayKetThucTheoQuyDinh: "20261124170000"},
		{MaHoSo: "000.00.19.H55-261121-0007", NguoiXuLy: "Lê Văn B", ThoiDiemXuLy: "20261123090000", NoiDungXuLy: "Phê duyệt lại", TrangThai: 9},
		{MaHoSo: "000.00.19.H55-261121-0007", NguoiXuLy: "Trần Thu Hà", ThoiDiemXuLy: "20261126003000", NoiDungXuLy: "Trả kết quả", TrangThai: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Steps =\n%+v\nwant\n%+v", got, want)
	}
	if s := national.Steps(&schemas.Dossier{ID: "X"}); s == nil || len(s) != 0 {
		t.Errorf("no steps: %#v", s)
	}
}

// TestSpecExampleEndToEnd maps the spec's Sơn La DOSSIER to a HOSO.
func TestSpecExampleEndToEnd(t *testing.T) {
	b, err := os.ReadFile("../restjson/testdata/spec_example.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := restjson.Map(sonlaSrc, b)
	if err != nil {
		t.Fatal(err)
	}
	h := national.HoSo(d)
	if h.NgayNopHoSo != "20261121075840" || h.NgayTiepNhan != "20261121080211" || h.NgayHenTra != "20261126170000" ||
		h.NgayTra != "" || h.NgayKetThucXuLy != "" || h.TrangThaiHoSo != 4 || h.HinhThuc != 1 || h.KenhThucHien != 2 ||
		h.SoDienThoai != "0912345678" || h.MaTinh != "14" || h.MaXa != "03646" || h.DonViXuLy != "000.00.14.H52" ||
		len(h.DanhSachLePhi) != 1 || h.DanhSachLePhi[0].HinhThucThu != 1 || h.DanhSachLePhi[0].Gia != 8000 || h.DanhSachLePhi[0].DaThanhToan != "0" {
		t.Errorf("HoSo = %+v", h)
	}
	if s := national.Steps(d); len(s) != 1 || s[0].ThoiDiemXuLy != "20261121080211" || s[0].TrangThai != 2 {
		t.Errorf("Steps = %+v", s)
	}
}

func TestFormatTime(t *testing.T) {
	u := time.Date(2026, 12, 31, 17, 0, 1, 0, time.UTC)
	if got := national.FormatTime(&u); got != "20270101000001" {
		t.Errorf("FormatTime = %s", got)
	}
	if got := national.FormatTime(nil); got != "" {
		t.Errorf("nil = %q", got)
	}
}

func TestDueStepsByContent(t *testing.T) {
	at := time.Date(2026, 11, 21, 8, 2, 11, 0, time.UTC)
	a := schemas.Step{At: at, Status: 2, Handler: "Nguyễn Thị Hoa", Content: "Tiếp nhận"}
	b := schemas.Step{At: at, Status: 4, Handler: "Trần Văn Bình", Content: "Chuyển xử lý"}
	c := schemas.Step{At: at.Add(time.Minute), Status: 4, Handler: "Lê Văn Tâm", Content: "Thẩm định"}
	keys := func(d *schemas.Dossier, idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, national.StepKey(d.Steps[i]))
		}
		return out
	}
	// Listed late-first and shuffled: due in time order, ties in list order.
	d := &schemas.Dossier{Steps: []schemas.Step{c, b, a}}
	if got := national.DueSteps(d, nil); !reflect.DeepEqual(got, []int{1, 2, 0}) {
		t.Fatalf("DueSteps with none acknowledged = %v, want [1 2 0]", got)
	}
	// A acknowledged: B and C are due, whatever position A is at.
	if got := keys(d, national.DueSteps(d, []string{national.StepKey(a)})); !reflect.DeepEqual(got, []string{national.StepKey(b), national.StepKey(c)}) {
		t.Fatalf("due after A = %v", got)
	}
	// Title and department are not part of a step's identity.
	a2 := a
	a2.Title, a2.Department = "Chuyên viên chính", "Văn phòng"
	if national.StepKey(a2) != national.StepKey(a) {
		t.Fatal("a corrected title made a new step")
	}
	// A step that occurs twice is sent twice, and only twice.
	twice := &schemas.Dossier{Steps: []schemas.Step{a, a}}
	if got := national.DueSteps(twice, []string{national.StepKey(a)}); len(got) != 1 {
		t.Fatalf("one of two identical steps acknowledged: due %v, want one", got)
	}
	if got := national.DueSteps(twice, []string{national.StepKey(a), national.StepKey(a)}); len(got) != 0 {
		t.Fatalf("both identical steps acknowledged: due %v, want none", got)
	}
	// A ledger row that counted steps reads as the first in time order.
	if got := national.LegacyStepKeys(d, 2); !reflect.DeepEqual(got, []string{national.StepKey(b), national.StepKey(a)}) {
		t.Fatalf("LegacyStepKeys = %v", got)
	}
	if got := national.LegacyStepKeys(d, 9); len(got) != 3 {
		t.Fatalf("LegacyStepKeys past the end = %v", got)
	}
}
