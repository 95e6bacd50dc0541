package national

// Wire types of the national adapter API, field names as the spec (public)
// spells them. Conventions: numeric codes are JSON numbers; DaThanhToan is
// the string "0"/"1"; IsDeleted is a JSON bool; dates are yyyyMMddHHmmss in
// +07:00, "" for no value; text fields are always present, "" when empty.

// HoSo is a DongBoHoSoMC item (and a TraCuuHoSo result).
type HoSo struct {
	MaHoSo          string    `json:"MaHoSo"`
	MaTTHC          string    `json:"MaTTHC"`
	TenTTHC         string    `json:"TenTTHC"`
	MaLinhVuc       string    `json:"MaLinhVuc"`
	TenLinhVuc      string    `json:"TenLinhVuc"`
	KenhThucHien    int       `json:"KenhThucHien"` // KENH: 1 in person, 2 online, 3 post
	ChuHoSo         string    `json:"ChuHoSo"`      // applicant's name
	LoaiDoiTuong    int       `json:"LoaiDoiTuong"` // 1 citizen, 2 organisation
	MaDoiTuong      string    `json:"MaDoiTuong"`   // portal account id; may be ""
	SoGiayTo        string    `json:"SoGiayTo"`     // CCCD, CMND or tax code
	SoDienThoai     string    `json:"SoDienThoai"`
	Email           string    `json:"Email"`
	DiaChi          string    `json:"DiaChi"`
	MaTinh          string    `json:"MaTinh"`
	MaXa            string    `json:"MaXa"`
	TrichYeuHoSo    string    `json:"TrichYeuHoSo"`
	NgayNopHoSo     string    `json:"NgayNopHoSo"`
	NgayTiepNhan    string    `json:"NgayTiepNhan"`
	NgayHenTra      string    `json:"NgayHenTra"`
	TrangThaiHoSo   int       `json:"TrangThaiHoSo"` // 1–10
	NgayTra         string    `json:"NgayTra"`
	HinhThuc        int       `json:"HinhThuc"` // 0 office, 1 post
	NgayKetThucXuLy string    `json:"NgayKetThucXuLy"`
	DonViXuLy       string    `json:"DonViXuLy"`
	GhiChu          string    `json:"GhiChu"`
	TaiLieuNop      []TaiLieu `json:"TaiLieuNop"`
	DanhSachLePhi   []LePhi   `json:"DanhSachLePhi"`
}

// TaiLieu is a file submitted with the dossier (HOSO.TaiLieuNop[]).
type TaiLieu struct {
	TepDinhKemId      string `json:"TepDinhKemId"`
	TenTepDinhKem     string `json:"TenTepDinhKem"`
	MaThanhPhanHoSo   string `json:"MaThanhPhanHoSo"`
	DuongDanTaiTepTin string `json:"DuongDanTaiTepTin"`
	IsDeleted         bool   `json:"IsDeleted"`
}

// LePhi is a fee of the dossier (HOSO.DanhSachLePhi[]).
type LePhi struct {
	MaPhiLePhi   string `json:"MaPhiLePhi"`
	TenPhiLePhi  string `json:"TenPhiLePhi"`
	LoaiPhiLePhi int    `json:"LoaiPhiLePhi"` // 1 phí, 2 lệ phí
	HinhThucThu  int    `json:"HinhThucThu"`  // 1 at intake, 2 at supplement, 4 at result
	Gia          int64  `json:"Gia"`          // whole VND
	DaThanhToan  string `json:"DaThanhToan"`  // "0" | "1"
}

// Step is a CapNhatTienDoHoSoMC item: one processing step.
type Step struct {
	MaHoSo                 string `json:"MaHoSo"`
	NguoiXuLy              string `json:"NguoiXuLy"`
	ChucDanh               string `json:"ChucDanh"`
	ThoiDiemXuLy           string `json:"ThoiDiemXuLy"`
	PhongBanXuLy           string `json:"PhongBanXuLy"`
	NoiDungXuLy            string `json:"NoiDungXuLy"`
	TrangThai              int    `json:"TrangThai"` // 1–10
	NgayBatDau             string `json:"NgayBatDau"`
	NgayKetThucTheoQuyDinh string `json:"NgayKetThucTheoQuyDinh"`
}
