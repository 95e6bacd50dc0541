package national

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// Item-level answer codes (modelled).
const (
	codeOK            = "00"
	codeUnknownTTHC   = "21"
	codeExists        = "22"
	codeNotExists     = "23"
	codeInvalidField  = "24"
	dateLayout        = "20060102150405"
	callErrorInvalid  = "-1"
	callErrorSession  = "98"
	callErrorInternal = "99"
)

// itemError is an item-level rejection.
type itemError struct {
	code, msg string
}

func invalid(field, why string) *itemError {
	return &itemError{codeInvalidField, "Trường " + field + " không hợp lệ: " + why}
}

// object is a JSON object as received, decoded once with numbers kept as
// written (json.Number).
type object map[string]any

// parseObject decodes one item; ok is false unless it is a JSON object.
func parseObject(raw []byte) (object, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	if _, end := d.Token(); end != io.EOF {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return object(m), ok
}

// str reads a string field: absent or null is "" (ok), a non-string is not ok.
func (o object) str(k string) (string, bool) {
	switch v := o[k].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	default:
		return "", false
	}
}

// integer reads an integer given as a JSON number or a numeric string, as the
// portal's lenient deserializer does. present is false when absent, null or "".
func (o object) integer(k string) (n int64, present, ok bool) {
	var text string
	switch v := o[k].(type) {
	case nil:
		return 0, false, true
	case string:
		if text = strings.TrimSpace(v); text == "" {
			return 0, false, true
		}
	case json.Number:
		text = string(v)
	default:
		return 0, true, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, true, false
	}
	return n, true, true
}

// checkInt validates an optional integer field against allowed values.
func (o object) checkInt(k string, required bool, allowed func(int64) bool, want string) *itemError {
	n, present, ok := o.integer(k)
	switch {
	case !ok:
		return invalid(k, "phải là số nguyên")
	case !present && required:
		return invalid(k, "bắt buộc")
	case present && !allowed(n):
		return invalid(k, "phải là "+want)
	}
	return nil
}

// checkDate validates a yyyyMMddHHmmss field ("" or absent allowed unless required).
func (o object) checkDate(k string, required bool) *itemError {
	s, ok := o.str(k)
	if !ok {
		return invalid(k, "phải là chuỗi yyyyMMddHHmmss")
	}
	if s == "" {
		if required {
			return invalid(k, "bắt buộc")
		}
		return nil
	}
	if len(s) != len(dateLayout) {
		return invalid(k, "phải có dạng yyyyMMddHHmmss")
	}
	if _, err := time.ParseInLocation(dateLayout, s, gen.VN); err != nil {
		return invalid(k, "phải có dạng yyyyMMddHHmmss")
	}
	return nil
}

func (o object) required(k string) (string, *itemError) {
	s, ok := o.str(k)
	if !ok {
		return "", invalid(k, "phải là chuỗi")
	}
	if strings.TrimSpace(s) == "" {
		return "", invalid(k, "bắt buộc")
	}
	return s, nil
}

func between(lo, hi int64) func(int64) bool { return func(n int64) bool { return n >= lo && n <= hi } }
func oneOf(vs ...int64) func(int64) bool {
	return func(n int64) bool {
		for _, v := range vs {
			if n == v {
				return true
			}
		}
		return false
	}
}

// hosoCheck is what validateHoSo found of an item before the catalogue is
// consulted: the checks need no state, so they run outside the server's
// lock, and the catalogue is asked under it (checked).
type hosoCheck struct {
	id, code     string
	before       *itemError // a fault in the fields before MaTTHC's lookup
	after        *itemError // the first fault in the fields after it
	hasProcedure bool       // MaTTHC was read, so the catalogue decides next
}

// checked is the item's verdict given the catalogue: the first fault in
// field order, the unknown procedure in its place.
func (c hosoCheck) checked(known func(string) bool) (string, *itemError) {
	switch {
	case c.before != nil:
		return c.id, c.before
	case c.hasProcedure && !known(c.code):
		return c.id, &itemError{codeUnknownTTHC, "Mã thủ tục hành chính " + c.code + " không tồn tại trong CSDL TTHC"}
	default:
		return c.id, c.after
	}
}

// validateHoSo checks a DongBoHoSoMC item's fields (not its existence nor
// its procedure in the catalogue: see hosoCheck).
func validateHoSo(o object) hosoCheck {
	id, e := o.required("MaHoSo")
	if e != nil {
		return hosoCheck{before: e}
	}
	code, e := o.required("MaTTHC")
	if e != nil {
		return hosoCheck{id: id, before: e}
	}
	return hosoCheck{id: id, code: code, hasProcedure: true, after: validateHoSoRest(o)}
}

// validateHoSoRest checks the fields after MaTTHC.
func validateHoSoRest(o object) *itemError {
	if _, e := o.required("ChuHoSo"); e != nil {
		return e
	}
	if e := o.checkInt("TrangThaiHoSo", true, between(1, 10), "1..10"); e != nil {
		return e
	}
	for _, k := range []string{"TenTTHC", "MaLinhVuc", "TenLinhVuc", "MaDoiTuong", "SoGiayTo", "SoDienThoai",
		"Email", "DiaChi", "MaTinh", "MaXa", "TrichYeuHoSo", "DonViXuLy", "GhiChu"} {
		if _, ok := o.str(k); !ok {
			return invalid(k, "phải là chuỗi")
		}
	}
	for _, k := range []string{"NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy"} {
		if e := o.checkDate(k, false); e != nil {
			return e
		}
	}
	checks := []struct {
		k     string
		ok    func(int64) bool
		human string
	}{
		{"HinhThuc", oneOf(0, 1), "0 hoặc 1"},
		{"KenhThucHien", between(1, 3), "1..3"},
		{"LoaiDoiTuong", oneOf(1, 2), "1 hoặc 2"},
	}
	for _, c := range checks {
		if e := o.checkInt(c.k, false, c.ok, c.human); e != nil {
			return e
		}
	}
	if e := checkList(o, "TaiLieuNop", func(i int, f object) *itemError {
		for _, k := range []string{"TepDinhKemId", "TenTepDinhKem", "MaThanhPhanHoSo", "DuongDanTaiTepTin"} {
			if _, ok := f.str(k); !ok {
				return invalid(fmt.Sprintf("TaiLieuNop[%d].%s", i, k), "phải là chuỗi")
			}
		}
		return nil
	}); e != nil {
		return e
	}
	if e := checkList(o, "DanhSachLePhi", func(i int, f object) *itemError {
		name := func(k string) string { return fmt.Sprintf("DanhSachLePhi[%d].%s", i, k) }
		if n, present, ok := f.integer("LoaiPhiLePhi"); !ok || (present && n != 1 && n != 2) {
			return invalid(name("LoaiPhiLePhi"), "phải là 1 hoặc 2")
		}
		if n, present, ok := f.integer("HinhThucThu"); !ok || (present && n != 1 && n != 2 && n != 4) {
			return invalid(name("HinhThucThu"), "phải là 1, 2 hoặc 4")
		}
		if n, present, ok := f.integer("Gia"); !ok || !present || n < 0 {
			return invalid(name("Gia"), "phải là số nguyên không âm")
		}
		switch v := f["DaThanhToan"].(type) {
		case nil:
		case string, json.Number:
			if s := fmt.Sprint(v); s != "0" && s != "1" {
				return invalid(name("DaThanhToan"), `phải là "0" hoặc "1"`)
			}
		default:
			return invalid(name("DaThanhToan"), `phải là "0" hoặc "1"`)
		}
		return nil
	}); e != nil {
		return e
	}
	return nil
}

// checkList validates an optional array of objects.
func checkList(o object, k string, each func(int, object) *itemError) *itemError {
	v := o[k]
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		return invalid(k, "phải là mảng")
	}
	for i, it := range items {
		f, ok := it.(map[string]any)
		if !ok {
			return invalid(fmt.Sprintf("%s[%d]", k, i), "phải là đối tượng")
		}
		if e := each(i, object(f)); e != nil {
			return e
		}
	}
	return nil
}

// validateStep checks a CapNhatTienDoHoSoMC item's fields.
func validateStep(o object) (string, *itemError) {
	id, e := o.required("MaHoSo")
	if e != nil {
		return "", e
	}
	if e := o.checkInt("TrangThai", true, between(1, 10), "1..10"); e != nil {
		return id, e
	}
	if e := o.checkDate("ThoiDiemXuLy", true); e != nil {
		return id, e
	}
	for _, k := range []string{"NgayBatDau", "NgayKetThucTheoQuyDinh"} {
		if e := o.checkDate(k, false); e != nil {
			return id, e
		}
	}
	for _, k := range []string{"NguoiXuLy", "ChucDanh", "PhongBanXuLy", "NoiDungXuLy"} {
		if _, ok := o.str(k); !ok {
			return id, invalid(k, "phải là chuỗi")
		}
	}
	return id, nil
}
