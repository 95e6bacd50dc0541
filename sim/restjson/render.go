package restjson

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// statusNames maps national codes to Sơn La trangThai values.
var statusNames = map[int]string{
	1: "MOI", 2: "DA_TIEP_NHAN", 3: "TU_CHOI", 4: "DANG_XU_LY", 5: "CHO_BO_SUNG",
	6: "CHO_THANH_TOAN", 7: "RUT_HO_SO", 8: "TAM_DUNG", 9: "DA_XU_LY_XONG", 10: "DA_TRA_KET_QUA",
}

var statusCodes = func() map[string]int {
	m := map[string]int{}
	for k, v := range statusNames {
		m[v] = k
	}
	return m
}()

var channelNames = map[int]string{gen.ChannelInPerson: "TRUC_TIEP", gen.ChannelOnline: "TRUC_TUYEN", gen.ChannelPost: "BUU_CHINH"}
var resultNames = map[int]string{gen.ResultAtOffice: "TRUC_TIEP", gen.ResultByPost: "BUU_CHINH", gen.ResultOnline: "TRUC_TUYEN"}
var payNames = map[int]string{gen.PayAtOffice: "TRUC_TIEP", gen.PayOnline: "TRUC_TUYEN", gen.PayCashOnDelivery: "BUU_CHINH"}

type dossierJSON struct {
	MaHoSo             string      `json:"maHoSo"`
	PhienBan           int         `json:"phienBan"`
	NgayCapNhat        string      `json:"ngayCapNhat"`
	ThuTuc             thuTuc      `json:"thuTuc"`
	CoQuanTiepNhan     coQuan      `json:"coQuanTiepNhan"`
	KenhNop            string      `json:"kenhNop"`
	ChuHoSo            chuHoSo     `json:"chuHoSo"`
	TrichYeu           string      `json:"trichYeu"`
	NgayNop            *string     `json:"ngayNop"`
	NgayTiepNhan       *string     `json:"ngayTiepNhan"`
	NgayHenTra         *string     `json:"ngayHenTra"`
	NgayTraKetQua      *string     `json:"ngayTraKetQua"`
	TrangThai          string      `json:"trangThai"`
	HinhThucNhanKetQua string      `json:"hinhThucNhanKetQua"`
	DiaChiNhanKetQua   *diaChiNhan `json:"diaChiNhanKetQua"`
	LePhi              []lePhi     `json:"lePhi"`
	TepDinhKem         []tep       `json:"tepDinhKem"`
	LichSu             []buoc      `json:"lichSu"`
}

type thuTuc struct {
	Ma         string `json:"ma"`
	Ten        string `json:"ten"`
	MucDo      int    `json:"mucDo"`
	MaLinhVuc  string `json:"maLinhVuc"`
	TenLinhVuc string `json:"tenLinhVuc"`
}

type coQuan struct {
	Ma  string `json:"ma"`
	Ten string `json:"ten"`
}

type chuHoSo struct {
	Loai        string `json:"loai"`
	HoTen       string `json:"hoTen"`
	SoDinhDanh  string `json:"soDinhDanh,omitempty"`
	MaSoThue    string `json:"maSoThue,omitempty"`
	NgaySinh    string `json:"ngaySinh,omitempty"`
	SoDienThoai string `json:"soDienThoai"`
	Email       string `json:"email"`
	DiaChi      diaChi `json:"diaChi"`
}

type diaChi struct {
	MaTinh  string `json:"maTinh"`
	MaXa    string `json:"maXa"`
	ChiTiet string `json:"chiTiet"`
}

type diaChiNhan struct {
	HoTen       string `json:"hoTen"`
	SoDienThoai string `json:"soDienThoai"`
	MaTinh      string `json:"maTinh"`
	MaXa        string `json:"maXa"`
	ChiTiet     string `json:"chiTiet"`
}

type lePhi struct {
	Ma                string `json:"ma"`
	Ten               string `json:"ten"`
	Loai              string `json:"loai"`
	SoTien            int64  `json:"soTien"`
	DaThanhToan       bool   `json:"daThanhToan"`
	HinhThucThanhToan string `json:"hinhThucThanhToan"`
}

type tep struct {
	ID          string `json:"id"`
	Ten         string `json:"ten"`
	MaThanhPhan string `json:"maThanhPhan"`
	KichThuoc   int64  `json:"kichThuoc"`
	SHA256      string `json:"sha256"`
	DuongDan    string `json:"duongDan"`
}

type buoc struct {
	ThoiDiem  string `json:"thoiDiem"`
	TrangThai string `json:"trangThai"`
	NguoiXuLy string `json:"nguoiXuLy"`
	ChucDanh  string `json:"chucDanh"`
	PhongBan  string `json:"phongBan"`
	NoiDung   string `json:"noiDung"`
}

func rfc3339(t time.Time) string { return t.In(gen.VN).Format(time.RFC3339) }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

// render renders a generated dossier as a Sơn La DOSSIER object.
func render(d *gen.Dossier, s simctl.Stamp) []byte {
	o := d.Owner
	c := chuHoSo{
		Loai: "CONG_DAN", HoTen: o.Name, SoDienThoai: o.Phone, Email: o.Email,
		DiaChi: diaChi{MaTinh: o.Province, MaXa: o.Commune, ChiTiet: o.Address},
	}
	if o.Kind == gen.PartyOrganisation {
		c.Loai, c.MaSoThue = "TO_CHUC", o.TaxCode
	} else {
		c.SoDinhDanh, c.NgaySinh = o.CCCD, o.Birth.Format(time.DateOnly)
	}
	j := dossierJSON{
		MaHoSo: d.MaHoSo, PhienBan: s.Version, NgayCapNhat: rfc3339(s.Updated),
		ThuTuc: thuTuc{Ma: d.Procedure.MaTTHC, Ten: d.Procedure.TenTTHC, MucDo: d.Level(),
			MaLinhVuc: d.Procedure.MaLinhVuc, TenLinhVuc: d.Procedure.TenLinhVuc},
		CoQuanTiepNhan:     coQuan{Ma: d.Agency.Ma, Ten: d.Agency.Ten},
		KenhNop:            channelNames[d.Channel],
		ChuHoSo:            c,
		TrichYeu:           d.Summary,
		NgayNop:            optTime(d.Submitted),
		NgayTiepNhan:       optTime(d.Received),
		NgayHenTra:         optTime(d.Due),
		NgayTraKetQua:      optTime(d.Returned),
		TrangThai:          statusNames[d.Status],
		HinhThucNhanKetQua: resultNames[d.ResultChannel],
		LePhi:              []lePhi{},
		TepDinhKem:         []tep{},
		LichSu:             []buoc{},
	}
	if dv := d.Delivery; dv != nil {
		j.DiaChiNhanKetQua = &diaChiNhan{HoTen: dv.Name, SoDienThoai: dv.Phone, MaTinh: dv.Province, MaXa: dv.Commune, ChiTiet: dv.Address}
	}
	for _, f := range d.Fees {
		kind := "LE_PHI"
		if f.Kind == catalog.Phi {
			kind = "PHI"
		}
		j.LePhi = append(j.LePhi, lePhi{Ma: f.Code, Ten: f.Name, Loai: kind, SoTien: f.Amount,
			DaThanhToan: f.Paid, HinhThucThanhToan: payNames[f.PayChannel]})
	}
	for _, f := range d.Files {
		j.TepDinhKem = append(j.TepDinhKem, tep{ID: f.ID, Ten: f.Name, MaThanhPhan: f.Component,
			KichThuoc: f.Size, SHA256: f.SHA256, DuongDan: f.URL})
	}
	for _, h := range d.History {
		j.LichSu = append(j.LichSu, buoc{ThoiDiem: rfc3339(h.Time), TrangThai: statusNames[h.Status],
			NguoiXuLy: h.Handler, ChucDanh: h.Title, PhongBan: h.Department, NoiDung: h.Content})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Vietnamese text as is, like the portal's own serializer
	if err := enc.Encode(j); err != nil {
		panic(err) // only strings and numbers: cannot fail
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
