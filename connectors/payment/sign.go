package payment

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSignature: a MaXacThuc does not match the message. It carries no field
// values, so logging it leaks nothing.
var ErrSignature = errors.New("signature does not verify")

// Sign is the platform's MaXacThuc: lowercase hex HMAC-SHA256, keyed with
// the partner's secret, over fields joined by "|".
func Sign(secret string, fields ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.Join(fields, "|")))
	return hex.EncodeToString(m.Sum(nil))
}

// The signing strings of §5, one function each: the simulator and the
// client both use these, so there is one implementation of each.

// CreateSignature is MaXacThuc of a create request, over
// LoaiBanTin|PhienBan|MaDoiTac|MaThamChieu|SoTien|LoaiHinhThanhToan|
// MaKenhThanhToan|MaThietBi|NgonNgu|MaTienTe|MaNganHang|ThongTinGiaoDich|
// ThoiGianGD|Ip.
func CreateSignature(secret string, m CreateMessage) string {
	return Sign(secret, m.LoaiBanTin, m.PhienBan, m.MaDoiTac, m.MaThamChieu, amountText(m.SoTien),
		m.LoaiHinhThanhToan, m.MaKenhThanhToan, m.MaThietBi, m.NgonNgu, m.MaTienTe, m.MaNganHang,
		m.ThongTinGiaoDich, m.ThoiGianGD, m.Ip)
}

// QuerySignature is MaXacThuc of a query, over MaDoiTac|MaThamChieu|ThoiGianGD.
func QuerySignature(secret string, m QueryMessage) string {
	return Sign(secret, m.MaDoiTac, m.MaThamChieu, m.ThoiGianGD)
}

// IPNSignature is MaXacThuc of an IPN, over
// LoaiBanTin|MaDoiTac|MaThamChieu|SoTien|MaTienTe|MaNganHang|ThongTinGiaoDich|ThoiGianGD.
func IPNSignature(secret string, n IPN) string {
	return Sign(secret, n.LoaiBanTin, n.MaDoiTac, n.MaThamChieu, amountText(n.SoTien),
		n.MaTienTe, n.MaNganHang, n.ThongTinGiaoDich, n.ThoiGianGD)
}

// AnswerSignature is MaXacThuc of the hub's IPN answer, over
// MaLoi|MaDoiTac|MaThamChieu|ThoiGianGD.
func AnswerSignature(secret string, a IPNAnswer) string {
	return Sign(secret, a.MaLoi, a.MaDoiTac, a.MaThamChieu, a.ThoiGianGD)
}

// SignIPN returns n with MaXacThuc filled in.
func SignIPN(secret string, n IPN) IPN {
	n.MaXacThuc = IPNSignature(secret, n)
	return n
}

// SignAnswer returns a with MaXacThuc filled in.
func SignAnswer(secret string, a IPNAnswer) IPNAnswer {
	a.MaXacThuc = AnswerSignature(secret, a)
	return a
}

// VerifyIPN checks n.MaXacThuc in constant time. Note that the spec's IPN
// signature covers neither MaLoi nor MaGiaoDich: a verified IPN proves the
// platform sent this reference, amount and time, not the result code, so a
// "00" is worth confirming with Query before money-relevant effects.
func VerifyIPN(secret string, n IPN) error {
	if !equalSig(IPNSignature(secret, n), n.MaXacThuc) {
		return fmt.Errorf("payment: IPN: %w", ErrSignature)
	}
	return nil
}

// VerifyAnswer checks the MaXacThuc of the hub's IPN answer.
func VerifyAnswer(secret string, a IPNAnswer) error {
	if !equalSig(AnswerSignature(secret, a), a.MaXacThuc) {
		return fmt.Errorf("payment: IPN answer: %w", ErrSignature)
	}
	return nil
}

// VerifyCreate checks the MaXacThuc of a create request.
func VerifyCreate(secret string, m CreateMessage) error {
	if !equalSig(CreateSignature(secret, m), m.MaXacThuc) {
		return fmt.Errorf("payment: create: %w", ErrSignature)
	}
	return nil
}

// VerifyQuery checks the MaXacThuc of a query.
func VerifyQuery(secret string, m QueryMessage) error {
	if !equalSig(QuerySignature(secret, m), m.MaXacThuc) {
		return fmt.Errorf("payment: query: %w", ErrSignature)
	}
	return nil
}

// equalSig compares hex signatures in constant time; uppercase hex is
// accepted (same bytes), anything that is not hex never matches.
func equalSig(want, got string) bool {
	w, err1 := hex.DecodeString(want)
	g, err2 := hex.DecodeString(strings.TrimSpace(got))
	return err1 == nil && err2 == nil && hmac.Equal(w, g)
}

// amountText is SoTien as signed: its decimal integer text.
func amountText(n int64) string { return strconv.FormatInt(n, 10) }
