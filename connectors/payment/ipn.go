package payment

import (
	"errors"
	"fmt"
)

// IPN is the platform's payment notification (LoaiBanTin "KETQUA"), POSTed
// to the hub's callback URL. MaLoi is "00" paid, "02" failed, "03"
// cancelled by the payer. JSON names are the spec's.
type IPN struct {
	LoaiBanTin       string `json:"LoaiBanTin"`
	MaLoi            string `json:"MaLoi"`
	MaDoiTac         string `json:"MaDoiTac"`
	MaThamChieu      string `json:"MaThamChieu"`
	SoTien           int64  `json:"SoTien"`
	MaTienTe         string `json:"MaTienTe"`
	MaGiaoDich       string `json:"MaGiaoDich"`
	MaNganHang       string `json:"MaNganHang"`
	ThoiGianGD       string `json:"ThoiGianGD"`
	ThongTinGiaoDich string `json:"ThongTinGiaoDich"`
	MaXacThuc        string `json:"MaXacThuc"`
}

// UnmarshalJSON reads an IPN leniently: SoTien as a number or a numeric
// string, text fields as strings or numbers, MaLoi 0 as "00".
func (n *IPN) UnmarshalJSON(b []byte) error {
	o, err := parseObject(b)
	if err != nil {
		return err
	}
	var v IPN
	err = o.strs(
		field{"LoaiBanTin", &v.LoaiBanTin}, field{"MaDoiTac", &v.MaDoiTac},
		field{"MaThamChieu", &v.MaThamChieu}, field{"MaTienTe", &v.MaTienTe},
		field{"MaGiaoDich", &v.MaGiaoDich}, field{"MaNganHang", &v.MaNganHang},
		field{"ThoiGianGD", &v.ThoiGianGD}, field{"ThongTinGiaoDich", &v.ThongTinGiaoDich},
		field{"MaXacThuc", &v.MaXacThuc})
	code, cerr := o.code("MaLoi")
	amount, present, aerr := o.amount("SoTien")
	if err := errors.Join(err, cerr, aerr); err != nil {
		return err
	}
	if !present {
		return errors.New("SoTien is missing")
	}
	v.MaLoi, v.SoTien = code, amount
	*n = v
	return nil
}

// ParseIPN reads an IPN body and checks that it is one: LoaiBanTin
// "KETQUA", and MaLoi, MaDoiTac, MaThamChieu, SoTien and MaXacThuc present.
// It does not check the signature (VerifyIPN does). Errors name fields, and
// the reference once it is known, never other values.
func ParseIPN(body []byte) (IPN, error) {
	var n IPN
	if err := n.UnmarshalJSON(body); err != nil {
		return IPN{}, fmt.Errorf("payment: IPN: %w", err)
	}
	if n.MaThamChieu == "" {
		return IPN{}, errors.New("payment: IPN: MaThamChieu is missing")
	}
	var missing []error
	for _, f := range []struct{ name, v string }{{"MaLoi", n.MaLoi}, {"MaDoiTac", n.MaDoiTac}, {"MaXacThuc", n.MaXacThuc}} {
		if f.v == "" {
			missing = append(missing, fmt.Errorf("%s is missing", f.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return IPN{}, fmt.Errorf("payment: IPN %s: %w", n.MaThamChieu, err)
	}
	if n.LoaiBanTin != MsgResult {
		return IPN{}, fmt.Errorf("payment: IPN %s: LoaiBanTin is not %s", n.MaThamChieu, MsgResult)
	}
	return n, nil
}

// IPNAnswer is the hub's answer to an IPN: MaLoi "00" accepted, "99" try
// again. MaXacThuc covers MaLoi|MaDoiTac|MaThamChieu|ThoiGianGD.
type IPNAnswer struct {
	MaLoi       string `json:"MaLoi"`
	MoTaLoi     string `json:"MoTaLoi"`
	MaDoiTac    string `json:"MaDoiTac"`
	MaThamChieu string `json:"MaThamChieu"`
	ThoiGianGD  string `json:"ThoiGianGD"`
	MaXacThuc   string `json:"MaXacThuc"`
}

// UnmarshalJSON reads an answer leniently, like IPN.
func (a *IPNAnswer) UnmarshalJSON(b []byte) error {
	o, err := parseObject(b)
	if err != nil {
		return err
	}
	var v IPNAnswer
	err = o.strs(field{"MoTaLoi", &v.MoTaLoi}, field{"MaDoiTac", &v.MaDoiTac},
		field{"MaThamChieu", &v.MaThamChieu}, field{"ThoiGianGD", &v.ThoiGianGD},
		field{"MaXacThuc", &v.MaXacThuc})
	code, cerr := o.code("MaLoi")
	if err := errors.Join(err, cerr); err != nil {
		return err
	}
	v.MaLoi = code
	*a = v
	return nil
}

// ParseAnswer reads the hub's IPN answer (the simulator uses it).
func ParseAnswer(body []byte) (IPNAnswer, error) {
	var a IPNAnswer
	if err := a.UnmarshalJSON(body); err != nil {
		return IPNAnswer{}, fmt.Errorf("payment: IPN answer: %w", err)
	}
	if a.MaLoi == "" {
		return IPNAnswer{}, errors.New("payment: IPN answer: MaLoi is missing")
	}
	return a, nil
}

// Answer builds the signed answer to n: MaLoi "00" to accept it, "99" to
// have the platform send it again later.
func Answer(secret string, n IPN, code, message string) IPNAnswer {
	return SignAnswer(secret, IPNAnswer{MaLoi: code, MoTaLoi: message, MaDoiTac: n.MaDoiTac,
		MaThamChieu: n.MaThamChieu, ThoiGianGD: n.ThoiGianGD})
}
