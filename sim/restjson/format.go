package restjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// format plugs the Sơn La JSON DOSSIER into the shared book.
type format struct{}

func (format) Render(d *gen.Dossier, s simctl.Stamp) []byte { return render(d, s) }

// Ingest accepts any JSON object with a string maHoSo; everything else is kept
// as sent, odd values included.
func (format) Ingest(body []byte) (string, func(simctl.Stamp) (simctl.Entry, error), error) {
	body = bytes.TrimSpace(body)
	ms, err := parseObject(body)
	if err != nil {
		return "", nil, err
	}
	id, _ := getString(body, "maHoSo")
	if strings.TrimSpace(id) == "" {
		return "", nil, errors.New("maHoSo (string) is required")
	}
	status := 0
	if s, ok := getString(body, "trangThai"); ok {
		status = statusCodes[s]
	}
	return id, func(st simctl.Stamp) (simctl.Entry, error) {
		out := setTop(ms, "phienBan", jsonInt(st.Version), "maHoSo")
		out = setTop(out, "ngayCapNhat", jsonString(rfc3339(st.Updated)), "phienBan")
		return simctl.Entry{Data: encodeObject(out), Status: status}, nil
	}, nil
}

func (format) Document(data []byte) (string, []byte) {
	return "application/json; charset=utf-8", data
}

// Corrupt corrupts one field, keeping maHoSo and phienBan intact.
func (format) Corrupt(data []byte, choice uint64) ([]byte, string, string, bool) {
	for _, kind := range simctl.KindsFrom(choice) {
		var path []any
		var val json.RawMessage
		switch kind {
		case simctl.KindBadDOB:
			dob, ok := getString(data, "chuHoSo", "ngaySinh")
			if !ok || len(dob) < 4 {
				continue
			}
			path, val = []any{"chuHoSo", "ngaySinh"}, jsonString(dob[:4]+"-13-45")
		case simctl.KindUnknownStatus:
			if _, ok := getPath(data, "trangThai"); !ok {
				continue
			}
			path, val = []any{"trangThai"}, jsonString("DANG_CHO_PHE_DUYET")
		case simctl.KindCCCDCentury:
			id, ok := getString(data, "chuHoSo", "soDinhDanh")
			if !ok || simctl.WrongCentury(id) == "" {
				continue
			}
			path, val = []any{"chuHoSo", "soDinhDanh"}, jsonString(simctl.WrongCentury(id))
		case simctl.KindCCCDLength:
			id, ok := getString(data, "chuHoSo", "soDinhDanh")
			if !ok || len(id) < 12 {
				continue
			}
			path, val = []any{"chuHoSo", "soDinhDanh"}, jsonString(id[:11])
		case simctl.KindBadPhone:
			if _, ok := getPath(data, "chuHoSo", "soDienThoai"); !ok {
				continue
			}
			path, val = []any{"chuHoSo", "soDienThoai"}, jsonString("09x123")
		case simctl.KindFeeNotNumber:
			if _, ok := getPath(data, "lePhi", 0, "soTien"); !ok {
				continue
			}
			path, val = []any{"lePhi", 0, "soTien"}, jsonString("abc")
		case simctl.KindBadSubmitted:
			if _, ok := getPath(data, "ngayNop"); !ok {
				continue
			}
			garbage := []string{"2026-02-30T25:61:00+07:00", "không rõ", "21/11/2026"}[(choice>>8)%3]
			path, val = []any{"ngayNop"}, jsonString(garbage)
		}
		if out, ok := replacePath(data, val, path...); ok {
			return out, fieldName(path), kind, true
		}
	}
	return nil, "", "", false
}

// fieldName names a path in the portal's vocabulary: chuHoSo.ngaySinh, lePhi[0].soTien.
func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		}
	}
	return b.String()
}
