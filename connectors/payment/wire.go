package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lienthong/lienthong/schemas"
)

// Constant values of §5 messages.
const (
	MsgCreate   = "KHOITAO" // LoaiBanTin of a create request
	MsgResult   = "KETQUA"  // LoaiBanTin of an IPN
	Version     = "1.0.0"   // PhienBan
	Language    = "vi"      // NgonNgu
	Currency    = "VND"     // MaTienTe
	ServiceCode = "2"       // ThongTinBienLai.MaDichVu
	TimeLayout  = "20060102150405"
)

// Answer codes (MaLoi). Beyond "00" they are modelled by the spec.
const (
	CodeOK           = "00"
	CodeBadSignature = "01"
	CodeInvalidField = "02" // also a query for an unknown MaThamChieu
	CodeRefUsed      = "15"
	CodeInternal     = "99"
)

// Transaction states: query TrangThai, and the MaLoi of an IPN (which never
// carries StatePending).
const (
	StatePaid      = "00"
	StatePending   = "01"
	StateFailed    = "02"
	StateCancelled = "03"
)

// CreateMessage is the create request (POST /api/thanhtoan/khoitao) on the
// wire, field names as the spec spells them.
type CreateMessage struct {
	LoaiBanTin        string  `json:"LoaiBanTin"`
	PhienBan          string  `json:"PhienBan"`
	MaDoiTac          string  `json:"MaDoiTac"`
	MaThamChieu       string  `json:"MaThamChieu"`
	SoTien            int64   `json:"SoTien"`
	LoaiHinhThanhToan string  `json:"LoaiHinhThanhToan"`
	MaKenhThanhToan   string  `json:"MaKenhThanhToan"`
	MaThietBi         string  `json:"MaThietBi"`
	NgonNgu           string  `json:"NgonNgu"`
	MaTienTe          string  `json:"MaTienTe"`
	MaNganHang        string  `json:"MaNganHang"`
	ThongTinGiaoDich  string  `json:"ThongTinGiaoDich"`
	ThoiGianGD        string  `json:"ThoiGianGD"`
	Ip                string  `json:"Ip"`
	ThongTinBienLai   BienLai `json:"ThongTinBienLai"`
	MaXacThuc         string  `json:"MaXacThuc"`
}

// BienLai is ThongTinBienLai, the receipt the platform issues.
type BienLai struct {
	MaDichVu       string     `json:"MaDichVu"`
	MaDonVi        string     `json:"MaDonVi"`
	TenDonVi       string     `json:"TenDonVi"`
	MaHoSo         string     `json:"MaHoSo"`
	MaTTHC         string     `json:"MaTTHC"`
	TenTTHC        string     `json:"TenTTHC"`
	PhiLePhi       []PhiLePhi `json:"PhiLePhi"`
	HoTenNguoiNop  string     `json:"HoTenNguoiNop"`
	SoCMNDNguoiNop string     `json:"SoCMNDNguoiNop"`
	DiaChiNguoiNop string     `json:"DiaChiNguoiNop"`
}

// PhiLePhi is one fee on the receipt.
type PhiLePhi struct {
	LoaiPhiLePhi int    `json:"LoaiPhiLePhi"` // 1 phí, 2 lệ phí
	MaPhiLePhi   string `json:"MaPhiLePhi"`
	TenPhiLePhi  string `json:"TenPhiLePhi"`
	SoTien       int64  `json:"SoTien"`
}

// QueryMessage is the query (POST /api/thanhtoan/truyvan) on the wire.
type QueryMessage struct {
	MaDoiTac    string `json:"MaDoiTac"`
	MaThamChieu string `json:"MaThamChieu"`
	ThoiGianGD  string `json:"ThoiGianGD"`
	MaXacThuc   string `json:"MaXacThuc"`
}

// object reads a JSON object leniently: text fields may come as strings or
// numbers, amounts as numbers or numeric strings. Errors name the field,
// never its value.
type object map[string]json.RawMessage

func parseObject(body []byte) (object, error) {
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if o == nil {
		return nil, errors.New("not a JSON object")
	}
	return o, nil
}

// str returns a text field; absent and null read as "".
func (o object) str(name string) (string, error) {
	raw := bytes.TrimSpace(o[name])
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%s is not text", name)
}

// code returns a result code; a number or one digit reads as two digits
// (0 → "00"), since some implementations send codes as numbers.
func (o object) code(name string) (string, error) {
	s, err := o.str(name)
	if len(s) == 1 && s[0] >= '0' && s[0] <= '9' {
		s = "0" + s
	}
	return s, err
}

// amount returns a whole-VND field and whether it was present.
func (o object) amount(name string) (int64, bool, error) {
	raw := bytes.TrimSpace(o[name])
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, ok := schemas.ParseInt(s)
	if !ok {
		return 0, true, fmt.Errorf("%s is not a whole number", name)
	}
	return n, true, nil
}

// field pairs a field name with where its text goes.
type field struct {
	name string
	dst  *string
}

// strs reads text fields in order, joining errors.
func (o object) strs(fields ...field) error {
	var errs []error
	for _, f := range fields {
		v, err := o.str(f.name)
		errs = append(errs, err)
		*f.dst = v
	}
	return errors.Join(errs...)
}
