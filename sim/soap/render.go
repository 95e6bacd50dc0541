package soap

import (
	"strconv"
	"time"

	"github.com/beevik/etree"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Date layouts of the Thái Nguyên service (local time).
const (
	dateTime = "02/01/2006 15:04:05"
	dateOnly = "02/01/2006"
)

// statusNames maps national codes to the service's legacy TrangThai codes.
var statusNames = map[int]string{
	1: "TN_OL", 2: "DA_TN", 3: "KHONG_TN", 4: "DANG_XL", 5: "CBS",
	6: "CNVTC", 7: "RUT", 8: "TAM_DUNG", 9: "DA_XL", 10: "DA_TRAKQ",
}

var statusCodes = func() map[string]int {
	m := map[string]int{}
	for k, v := range statusNames {
		m[v] = k
	}
	return m
}()

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(gen.VN).Format(dateTime)
}

// el adds a child element with optional text; empty text gives <X/>.
func el(parent *etree.Element, tag, text string) *etree.Element {
	e := parent.CreateElement(tag)
	if text != "" {
		e.SetText(text)
	}
	return e
}

// render renders a generated dossier as a <HoSo> element. Records are stored
// unprefixed; answers add the namespace prefix (see prefixed).
func render(d *gen.Dossier, s simctl.Stamp) []byte {
	h := etree.NewElement("HoSo")
	el(h, "MaHoSo", d.MaHoSo)
	el(h, "PhienBan", strconv.Itoa(s.Version))
	el(h, "ThoiDiemCapNhat", fmtTime(s.Updated))
	el(h, "MaTTHC", d.Procedure.MaTTHC)
	el(h, "TenTTHC", d.Procedure.TenTTHC)
	el(h, "MucDo", strconv.Itoa(d.Level()))
	el(h, "MaLinhVuc", d.Procedure.MaLinhVuc)
	el(h, "TenLinhVuc", d.Procedure.TenLinhVuc)
	el(h, "MaDonVi", d.Agency.Ma)
	el(h, "TenDonVi", d.Agency.Ten)
	el(h, "KenhNop", strconv.Itoa(d.Channel))

	o := d.Owner
	nn := h.CreateElement("NguoiNop")
	el(nn, "HoTen", o.Name)
	if o.Kind == gen.PartyOrganisation {
		nn.CreateAttr("LoaiDoiTuong", "2")
		el(nn, "SoGiayTo", o.TaxCode).CreateAttr("Loai", "MST")
		el(nn, "NgaySinh", "")
	} else {
		nn.CreateAttr("LoaiDoiTuong", "1")
		el(nn, "SoGiayTo", o.CCCD).CreateAttr("Loai", "CCCD")
		el(nn, "NgaySinh", o.Birth.Format(dateOnly))
	}
	el(nn, "DienThoai", o.Phone)
	el(nn, "Email", o.Email)
	addr := el(nn, "DiaChi", o.Address)
	addr.CreateAttr("MaTinh", o.Province)
	addr.CreateAttr("MaXa", o.Commune)

	el(h, "TrichYeu", d.Summary)
	el(h, "NgayNop", fmtTime(d.Submitted))
	el(h, "NgayTiepNhan", fmtTime(d.Received))
	el(h, "NgayHenTra", fmtTime(d.Due))
	el(h, "NgayTra", fmtTime(d.Returned))
	el(h, "TrangThai", statusNames[d.Status])
	el(h, "NhanKetQuaQuaBuuChinh", strconv.FormatBool(d.ResultChannel == gen.ResultByPost))
	if dv := d.Delivery; dv != nil {
		e := el(h, "DiaChiNhanKetQua", dv.Address)
		e.CreateAttr("MaTinh", dv.Province)
		e.CreateAttr("MaXa", dv.Commune)
		e.CreateAttr("NguoiNhan", dv.Name)
		e.CreateAttr("DienThoai", dv.Phone)
	}
	fees := h.CreateElement("DanhSachLePhi")
	for _, f := range d.Fees {
		e := el(fees, "LePhi", f.Name)
		e.CreateAttr("Ma", f.Code)
		e.CreateAttr("Loai", strconv.Itoa(f.Kind))
		e.CreateAttr("SoTien", strconv.FormatInt(f.Amount, 10))
		e.CreateAttr("DaNop", strconv.FormatBool(f.Paid))
		e.CreateAttr("HinhThucNop", strconv.Itoa(f.PayChannel))
	}
	files := h.CreateElement("DanhSachTepTin")
	for _, f := range d.Files {
		e := el(files, "TepTin", f.Name)
		e.CreateAttr("Id", f.ID)
		e.CreateAttr("MaThanhPhan", f.Component)
		e.CreateAttr("KichThuoc", strconv.FormatInt(f.Size, 10))
		e.CreateAttr("Sha256", f.SHA256)
		e.CreateAttr("DuongDan", f.URL)
	}
	steps := h.CreateElement("QuaTrinhXuLy")
	for _, st := range d.History {
		e := el(steps, "Buoc", st.Content)
		e.CreateAttr("ThoiDiem", fmtTime(st.Time))
		e.CreateAttr("TrangThai", statusNames[st.Status])
		e.CreateAttr("NguoiXuLy", st.Handler)
		e.CreateAttr("ChucDanh", st.Title)
		e.CreateAttr("PhongBan", st.Department)
	}
	return simctl.XMLBytes(h, false)
}

// prefixed rewrites an unprefixed stored fragment so every element name that
// has no prefix carries p (p == "": unchanged, for a default namespace). Stored
// fragments hold only elements, escaped text and attributes, so every '<'
// starts a tag.
func prefixed(data []byte, p string) []byte {
	if p == "" {
		return data
	}
	out := make([]byte, 0, len(data)+len(data)/8)
	for i := 0; i < len(data); i++ {
		c := data[i]
		out = append(out, c)
		if c != '<' || i+1 >= len(data) {
			continue
		}
		j := i + 1
		if data[j] == '/' {
			out = append(out, '/')
			j++
		}
		if j >= len(data) || data[j] == '?' || data[j] == '!' {
			i = j - 1
			continue
		}
		k := j
		for k < len(data) && !isNameEnd(data[k]) {
			k++
		}
		if !containsColon(data[j:k]) {
			out = append(out, p...)
			out = append(out, ':')
		}
		out = append(out, data[j:k]...)
		i = k - 1
	}
	return out
}

func isNameEnd(c byte) bool {
	return c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\n' || c == '\r'
}

func containsColon(b []byte) bool {
	for _, c := range b {
		if c == ':' {
			return true
		}
	}
	return false
}
