package payment_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/payment"
)

// The signing strings below are written out from the spec text (§5), and
// the expected signatures were computed outside Go (Python hmac), so these
// tests check the package against the spec, not against itself.
const specKey = "spec-key"

func TestSignaturesFromSpec(t *testing.T) {
	create := payment.CreateMessage{
		LoaiBanTin: "KHOITAO", PhienBan: "1.0.0", MaDoiTac: "H52", MaThamChieu: "REF-1", SoTien: 8000,
		LoaiHinhThanhToan: "PAY", MaKenhThanhToan: "1", MaThietBi: "1", NgonNgu: "vi", MaTienTe: "VND",
		MaNganHang: "", ThongTinGiaoDich: "Le phi dang ky khai sinh", ThoiGianGD: "20261121081502", Ip: "127.0.0.1",
	}
	// LoaiBanTin|PhienBan|MaDoiTac|MaThamChieu|SoTien|LoaiHinhThanhToan|MaKenhThanhToan|MaThietBi|NgonNgu|MaTienTe|MaNganHang|ThongTinGiaoDich|ThoiGianGD|Ip
	if got, want := payment.CreateSignature(specKey, create), "1ab33a97434cac8416d938ab25240d2dcc742daa33c01fce340ce4cb1f1edd57"; got != want {
		t.Errorf("create: %s, want %s", got, want)
	}
	ipn := payment.IPN{LoaiBanTin: "KETQUA", MaLoi: "00", MaDoiTac: "H52", MaThamChieu: "REF-1", SoTien: 8000,
		MaTienTe: "VND", MaGiaoDich: "GD1", MaNganHang: "NCB", ThoiGianGD: "20261121090000", ThongTinGiaoDich: "Le phi dang ky khai sinh"}
	// LoaiBanTin|MaDoiTac|MaThamChieu|SoTien|MaTienTe|MaNganHang|ThongTinGiaoDich|ThoiGianGD
	const ipnSig = "47887b761b24e6ce40c06a1d7b3deca6f387322d2a3bdca6c4896410290b1052"
	if got := payment.SignIPN(specKey, ipn).MaXacThuc; got != ipnSig {
		t.Errorf("IPN: %s, want %s", got, ipnSig)
	}
	ipn.MaXacThuc = strings.ToUpper(ipnSig) // same bytes
	if err := payment.VerifyIPN(specKey, ipn); err != nil {
		t.Errorf("uppercase hex: %v", err)
	}
	// MaLoi|MaDoiTac|MaThamChieu|ThoiGianGD
	a := payment.SignAnswer(specKey, payment.IPNAnswer{MaLoi: "00", MoTaLoi: "Thành công", MaDoiTac: "H52", MaThamChieu: "REF-1", ThoiGianGD: "20261121090000"})
	if want := "ef4e270e47076c9176903870ced920405cea5319a57006cb839e5e1b36f07063"; a.MaXacThuc != want {
		t.Errorf("answer: %s, want %s", a.MaXacThuc, want)
	}
	// MaDoiTac|MaThamChieu|ThoiGianGD
	q := payment.QueryMessage{MaDoiTac: "H52", MaThamChieu: "REF-1", ThoiGianGD: "20261121091500"}
	if got, want := payment.QuerySignature(specKey, q), "f96bdcc8582595faa12b7a53d8c965a02f25db3fa029248b787001e94e2c68c9"; got != want {
		t.Errorf("query: %s, want %s", got, want)
	}
	if got, want := payment.Sign(specKey, "H52", "REF-1", "20261121091500"), "f96bdcc8582595faa12b7a53d8c965a02f25db3fa029248b787001e94e2c68c9"; got != want {
		t.Errorf("Sign: %s", got)
	}
}

// handSign is HMAC-SHA256 over the named fields of a raw JSON message, in
// the order the spec lists them, numbers as their decimal text.
func handSign(t *testing.T, key string, raw []byte, names string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, name := range strings.Split(names, "|") {
		v, ok := m[name]
		if !ok {
			t.Fatalf("field %s not sent", name)
		}
		switch x := v.(type) {
		case string:
			parts = append(parts, x)
		case float64:
			parts = append(parts, fmt.Sprintf("%d", int64(x)))
		default:
			t.Fatalf("field %s is %T", name, v)
		}
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(mac.Sum(nil))
}

// What the client puts on the wire is signed as the spec says.
func TestClientWireSignatures(t *testing.T) {
	bodies := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies[r.URL.Path] = b
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.Method != http.MethodPost {
			t.Errorf("%s %s %s", r.Method, r.URL.Path, ct)
		}
		if r.URL.Path == "/base/api/thanhtoan/khoitao" {
			io.WriteString(w, `{"MaLoi":"00","MoTaLoi":"Thành công","MaThamChieu":"REF-1","MaGiaoDich":"GD1","DuongDanThanhToan":"https://p/x"}`)
			return
		}
		io.WriteString(w, `{"MaLoi":"00","TrangThai":"01","SoTien":8000,"MaGiaoDich":"GD1","ThoiGianThanhToan":""}`)
	}))
	defer srv.Close()
	c, _ := payment.New(payment.Config{BaseURL: srv.URL + "/base", PartnerCode: "H52", Secret: specKey})
	r := request("REF-1")
	r.BankCode = "NCB"
	if _, err := c.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	raw := bodies["/base/api/thanhtoan/khoitao"]
	var sent map[string]any
	_ = json.Unmarshal(raw, &sent)
	want := handSign(t, specKey, raw, "LoaiBanTin|PhienBan|MaDoiTac|MaThamChieu|SoTien|LoaiHinhThanhToan|MaKenhThanhToan|MaThietBi|NgonNgu|MaTienTe|MaNganHang|ThongTinGiaoDich|ThoiGianGD|Ip")
	if sent["MaXacThuc"] != want {
		t.Errorf("create MaXacThuc %v, want %s", sent["MaXacThuc"], want)
	}
	if _, ok := sent["SoTien"].(float64); !ok || sent["ThoiGianGD"] != "20261121081502" || sent["MaNganHang"] != "NCB" {
		t.Errorf("create fields %v", sent)
	}

	if _, err := c.Query(context.Background(), "REF-1"); err != nil {
		t.Fatal(err)
	}
	raw = bodies["/base/api/thanhtoan/truyvan"]
	_ = json.Unmarshal(raw, &sent)
	if want := handSign(t, specKey, raw, "MaDoiTac|MaThamChieu|ThoiGianGD"); sent["MaXacThuc"] != want {
		t.Errorf("query MaXacThuc %v, want %s", sent["MaXacThuc"], want)
	}
	if ts, _ := sent["ThoiGianGD"].(string); len(ts) != 14 {
		t.Errorf("query ThoiGianGD %q", ts)
	}
}

func TestParseIPN(t *testing.T) {
	n := payment.SignIPN(specKey, payment.IPN{LoaiBanTin: "KETQUA", MaLoi: "00", MaDoiTac: "H52", MaThamChieu: "REF-1",
		SoTien: 8000, MaTienTe: "VND", MaGiaoDich: "GD1", MaNganHang: "NCB", ThoiGianGD: "20261121090000", ThongTinGiaoDich: "Le phi"})
	body, _ := json.Marshal(n)
	got, err := payment.ParseIPN(body)
	if err != nil || got != n {
		t.Fatalf("%+v %v", got, err)
	}
	if err := payment.VerifyIPN(specKey, got); err != nil {
		t.Fatal(err)
	}
	// SoTien as a numeric string, MaLoi as a number.
	lenient := strings.Replace(strings.Replace(string(body), `"SoTien":8000`, `"SoTien":"8000"`, 1), `"MaLoi":"00"`, `"MaLoi":0`, 1)
	if got, err := payment.ParseIPN([]byte(lenient)); err != nil || got != n {
		t.Errorf("lenient: %+v %v", got, err)
	}
	// A tampered amount fails verification, and the error shows no value.
	tampered := n
	tampered.SoTien = 80
	err = payment.VerifyIPN(specKey, tampered)
	if !errors.Is(err, payment.ErrSignature) || !strings.Contains(err.Error(), "signature") ||
		strings.Contains(err.Error(), "80") || strings.Contains(err.Error(), n.MaXacThuc) || strings.Contains(err.Error(), specKey) {
		t.Errorf("tampered: %v", err)
	}
	if payment.VerifyIPN("other", n) == nil {
		t.Error("wrong key verified")
	}
	for name, c := range map[string]struct{ body, want string }{
		"not JSON":       {`MaLoi=00`, "not a JSON object"},
		"array":          {`[]`, "not a JSON object"},
		"no SoTien":      {strings.Replace(string(body), `"SoTien":8000,`, ``, 1), "SoTien is missing"},
		"bad SoTien":     {strings.Replace(string(body), `"SoTien":8000`, `"SoTien":"8.000đ"`, 1), "SoTien is not a whole number"},
		"no reference":   {strings.Replace(string(body), `"MaThamChieu":"REF-1"`, `"MaThamChieu":""`, 1), "MaThamChieu is missing"},
		"no signature":   {strings.Replace(string(body), `"MaXacThuc":"`+n.MaXacThuc+`"`, `"MaXacThuc":""`, 1), "REF-1: MaXacThuc is missing"},
		"not KETQUA":     {strings.Replace(string(body), `"KETQUA"`, `"KHOITAO"`, 1), "LoaiBanTin is not KETQUA"},
		"object as text": {strings.Replace(string(body), `"MaNganHang":"NCB"`, `"MaNganHang":{}`, 1), "MaNganHang is not text"},
	} {
		_, err := payment.ParseIPN([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestAnswer(t *testing.T) {
	n := payment.IPN{MaDoiTac: "H52", MaThamChieu: "REF-1", ThoiGianGD: "20261121090000"}
	a := payment.Answer(specKey, n, payment.CodeOK, "Thành công")
	body, _ := json.Marshal(a)
	var names map[string]any
	_ = json.Unmarshal(body, &names)
	for _, k := range []string{"MaLoi", "MoTaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD", "MaXacThuc"} {
		if _, ok := names[k]; !ok {
			t.Errorf("answer lacks %s", k)
		}
	}
	got, err := payment.ParseAnswer(body)
	if err != nil || got != a || payment.VerifyAnswer(specKey, got) != nil {
		t.Fatalf("%+v %v", got, err)
	}
	got.MaLoi = "99"
	if !errors.Is(payment.VerifyAnswer(specKey, got), payment.ErrSignature) {
		t.Error("changed MaLoi verified")
	}
	if _, err := payment.ParseAnswer([]byte(`{"MoTaLoi":"x"}`)); err == nil {
		t.Error("answer without MaLoi accepted")
	}
}

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		"Lệ phí đăng ký khai sinh":       "Le phi dang ky khai sinh",
		"ĐẶNG THỊ HỒNG Đào":              "DANG THI HONG Dao",
		"Phí\tthẩm định  –  hồ sơ\n0001": "Phi tham dinh ho so 0001",
		"  Nguyễn  ":                     "Nguyen",
		"Hà Tĩnh € 100%":                 "Ha Tinh 100%",
	} {
		if got := payment.ASCII(in); got != want {
			t.Errorf("ASCII(%q) = %q, want %q", in, got, want)
		}
	}
	// NFD input (decomposed marks) folds the same way.
	if got := payment.ASCII("Le\u0323 phi\u0301"); got != "Le phi" {
		t.Errorf("NFD: %q", got)
	}
}

func TestFormatTime(t *testing.T) {
	utc := time.Date(2026, 11, 21, 1, 15, 2, 0, time.UTC)
	if got := payment.FormatTime(utc); got != "20261121081502" {
		t.Errorf("FormatTime %s", got)
	}
	if got, err := payment.ParseTime("20261121081502"); err != nil || !got.Equal(utc) {
		t.Errorf("ParseTime %v %v", got, err)
	}
}
