// Package payment is the hub's connector to the national portal's payment
// platform (spec §5): creating a payment (khoitao), querying its state
// (truyvan), and reading, verifying and answering the platform's payment
// notifications (IPN). It also holds the §5 signing strings, shared with the
// simulator so that there is one implementation of each.
package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// Paths of the platform (the contract; the base URL is configuration).
const (
	createPath = "/api/thanhtoan/khoitao"
	queryPath  = "/api/thanhtoan/truyvan"
)

// Defaults for the CreateRequest fields left empty. The spec names these
// fields but publishes no value table, so the defaults are the platform's
// common "online payment from a web browser" values.
const (
	DefaultPaymentType = "PAY"       // LoaiHinhThanhToan: a payment (not a refund)
	DefaultChannel     = "1"         // MaKenhThanhToan: web
	DefaultDevice      = "1"         // MaThietBi: computer / browser
	DefaultIP          = "127.0.0.1" // Ip: the payer's address is unknown when the link goes by SMS
	// BankCode (MaNganHang) defaults to "": the payer picks the bank.
)

// maxMessage bounds platform text (MoTaLoi) copied into errors.
const maxMessage = 200

// Config is where and as whom to reach the platform; every value comes from
// the hub's configuration.
type Config struct {
	BaseURL     string // payment platform base URL
	PartnerCode string // MaDoiTac: one per province
	Secret      string // the partner's HMAC key
	HTTPClient  *http.Client
	Timeout     time.Duration // per request; default httpx.DefaultTimeout
}

// Client talks to the payment platform as one partner (province). It is safe
// for concurrent use.
type Client struct {
	cfg  Config
	http httpx.Transport
	now  func() time.Time
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if err := httpx.CheckBaseURL("payment", cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.PartnerCode == "" || cfg.Secret == "" {
		return nil, errors.New("payment: PartnerCode and Secret are required")
	}
	return &Client{cfg: cfg, http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, 0), now: time.Now}, nil
}

// PartnerCode is the MaDoiTac the client signs as.
func (c *Client) PartnerCode() string { return c.cfg.PartnerCode }

// Fee is one fee on the receipt.
type Fee struct {
	Kind   int // LoaiPhiLePhi: 1 phí, 2 lệ phí
	Code   string
	Name   string
	Amount int64
}

// Receipt is ThongTinBienLai (MaDichVu "2"). Text is sent NFC.
type Receipt struct {
	UnitCode, UnitName           string // MaDonVi, TenDonVi
	DossierID                    string // MaHoSo
	ProcedureCode, ProcedureName string // MaTTHC, TenTTHC
	Fees                         []Fee
	PayerName                    string // HoTenNguoiNop
	PayerID                      string // SoCMNDNguoiNop
	PayerAddress                 string // DiaChiNguoiNop
}

// CreateRequest is one payment to create. Empty PaymentType, Channel,
// Device and IP take the Default* values; BankCode stays empty.
type CreateRequest struct {
	Ref         string    // MaThamChieu, unique per fee request
	Amount      int64     // SoTien, whole VND
	Description string    // ThongTinGiaoDich; sent folded to ASCII (see ASCII)
	At          time.Time // ThoiGianGD; zero means now
	PaymentType string    // LoaiHinhThanhToan
	Channel     string    // MaKenhThanhToan
	Device      string    // MaThietBi
	IP          string    // Ip
	BankCode    string    // MaNganHang
	Receipt     Receipt   // ThongTinBienLai
}

// CreateResult is the platform's answer to a create.
type CreateResult struct {
	TxnID  string // MaGiaoDich
	PayURL string // DuongDanThanhToan
	// Existing: the platform answered "15", the reference was already used;
	// TxnID (and PayURL if the platform sent it) are the first
	// transaction's. The platform does not say whether the first request
	// had the same amount: Query does.
	Existing bool
}

// Create asks the platform for a payment link. "00" and "15" succeed. Other
// codes are permanent *httpx.Error with Code set ("01" wraps httpx.ErrAuth,
// others httpx.ErrRejected); "99", HTTP 5xx and 429, garbled answers and
// transport failures are transient. Retrying a create with the same Ref is
// safe: the platform answers "15" with the first transaction.
func (c *Client) Create(ctx context.Context, r CreateRequest) (CreateResult, error) {
	op := "payment: create " + r.Ref
	if r.Ref == "" {
		return CreateResult{}, &httpx.Error{Op: "payment: create", Err: errors.New("MaThamChieu (Ref) is empty")}
	}
	if r.Amount <= 0 {
		return CreateResult{}, &httpx.Error{Op: op, Err: errors.New("SoTien (Amount) must be positive")}
	}
	desc := ASCII(r.Description)
	if desc == "" {
		return CreateResult{}, &httpx.Error{Op: op, Err: errors.New("ThongTinGiaoDich (Description) is empty once folded to ASCII")}
	}
	at := r.At
	if at.IsZero() {
		at = c.now()
	}
	m := CreateMessage{
		LoaiBanTin:        MsgCreate,
		PhienBan:          Version,
		MaDoiTac:          c.cfg.PartnerCode,
		MaThamChieu:       r.Ref,
		SoTien:            r.Amount,
		LoaiHinhThanhToan: or(r.PaymentType, DefaultPaymentType),
		MaKenhThanhToan:   or(r.Channel, DefaultChannel),
		MaThietBi:         or(r.Device, DefaultDevice),
		NgonNgu:           Language,
		MaTienTe:          Currency,
		MaNganHang:        r.BankCode,
		ThongTinGiaoDich:  desc,
		ThoiGianGD:        FormatTime(at),
		Ip:                or(r.IP, DefaultIP),
		ThongTinBienLai:   receipt(r.Receipt),
	}
	m.MaXacThuc = CreateSignature(c.cfg.Secret, m)
	o, code, err := c.post(ctx, op, createPath, m)
	if err != nil {
		return CreateResult{}, err
	}
	if code != CodeOK && code != CodeRefUsed {
		return CreateResult{}, codeError(op, o, code, httpx.ErrRejected)
	}
	var res CreateResult
	var ref string
	if err := o.strs(field{"MaGiaoDich", &res.TxnID}, field{"DuongDanThanhToan", &res.PayURL}, field{"MaThamChieu", &ref}); err != nil {
		return CreateResult{}, httpx.MalformedError(op, err)
	}
	if ref != "" && ref != r.Ref {
		return CreateResult{}, httpx.MalformedError(op, errors.New("the answer names another MaThamChieu"))
	}
	if code == CodeRefUsed {
		res.Existing = true
		return res, nil
	}
	if res.TxnID == "" || res.PayURL == "" {
		return CreateResult{}, httpx.MalformedError(op, errors.New(`"00" without MaGiaoDich or DuongDanThanhToan`))
	}
	return res, nil
}

func receipt(r Receipt) BienLai {
	fees := make([]PhiLePhi, 0, len(r.Fees)) // [] rather than null
	for _, f := range r.Fees {
		fees = append(fees, PhiLePhi{LoaiPhiLePhi: f.Kind, MaPhiLePhi: f.Code, TenPhiLePhi: nfc(f.Name), SoTien: f.Amount})
	}
	return BienLai{
		MaDichVu: ServiceCode, MaDonVi: r.UnitCode, TenDonVi: nfc(r.UnitName), MaHoSo: r.DossierID,
		MaTTHC: r.ProcedureCode, TenTTHC: nfc(r.ProcedureName), PhiLePhi: fees,
		HoTenNguoiNop: nfc(r.PayerName), SoCMNDNguoiNop: r.PayerID, DiaChiNguoiNop: nfc(r.PayerAddress),
	}
}

// QueryResult is a transaction's state at the platform.
type QueryResult struct {
	State  string    // TrangThai: StatePaid "00", StatePending "01", StateFailed "02", StateCancelled "03"
	Amount int64     // SoTien
	TxnID  string    // MaGiaoDich
	PaidAt time.Time // ThoiGianThanhToan; zero unless paid
}

// Query asks the platform for the state of the payment ref (how a lost IPN
// is found). A "02" answer is read as "the platform does not know ref" and
// wraps httpx.ErrNotFound: the spec's table has no code of its own for an
// unknown reference, and every other field of a query is the client's own.
// Other codes classify as for Create.
func (c *Client) Query(ctx context.Context, ref string) (QueryResult, error) {
	op := "payment: query " + ref
	if ref == "" {
		return QueryResult{}, &httpx.Error{Op: "payment: query", Err: errors.New("MaThamChieu (ref) is empty")}
	}
	m := QueryMessage{MaDoiTac: c.cfg.PartnerCode, MaThamChieu: ref, ThoiGianGD: FormatTime(c.now())}
	m.MaXacThuc = QuerySignature(c.cfg.Secret, m)
	o, code, err := c.post(ctx, op, queryPath, m)
	if err != nil {
		return QueryResult{}, err
	}
	switch code {
	case CodeOK:
	case CodeInvalidField:
		return QueryResult{}, codeError(op, o, code, httpx.ErrNotFound)
	default:
		return QueryResult{}, codeError(op, o, code, httpx.ErrRejected)
	}
	var res QueryResult
	var paid, echo string
	state, err1 := o.code("TrangThai")
	amount, _, err2 := o.amount("SoTien")
	err3 := o.strs(field{"MaGiaoDich", &res.TxnID}, field{"ThoiGianThanhToan", &paid}, field{"MaThamChieu", &echo})
	if err := errors.Join(err1, err2, err3); err != nil {
		return QueryResult{}, httpx.MalformedError(op, err)
	}
	switch state {
	case StatePaid, StatePending, StateFailed, StateCancelled:
	default:
		return QueryResult{}, httpx.MalformedError(op, errors.New("TrangThai is not 00, 01, 02 or 03"))
	}
	if echo != "" && echo != ref {
		return QueryResult{}, httpx.MalformedError(op, errors.New("the answer names another MaThamChieu"))
	}
	res.State, res.Amount = state, amount
	if t, ok := schemas.ParseTime(paid, TimeLayout); ok && state == StatePaid {
		res.PaidAt = t
	}
	return res, nil
}

// FormatTime formats t as the platform's yyyyMMddHHmmss in Asia/Ho_Chi_Minh.
func FormatTime(t time.Time) string { return t.In(schemas.Vietnam).Format(TimeLayout) }

// ParseTime reads a yyyyMMddHHmmss time in Asia/Ho_Chi_Minh, and nothing
// else: the platform's own check of a message (see schemas.ParseExact). A
// reader that only wants the time, whatever its form, uses schemas.ParseTime.
func ParseTime(s string) (time.Time, error) {
	t, ok := schemas.ParseExact(s, TimeLayout)
	if !ok {
		return time.Time{}, errors.New("not a yyyyMMddHHmmss time")
	}
	return t, nil
}

// post sends one JSON call and returns the answer object and its MaLoi. A
// non-2xx answer, an answer that is not a JSON object and one without MaLoi
// are errors here; MaLoi values are the caller's to judge.
func (c *Client) post(ctx context.Context, op, path string, body any) (object, string, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, "", &httpx.Error{Op: op, Err: fmt.Errorf("encode: %w", err)}
	}
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, path), bytes.NewReader(buf))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return nil, "", err
	}
	o, perr := parseObject(resp.Body)
	var code string
	if perr == nil {
		code, _ = o.code("MaLoi")
	}
	if !resp.Success() {
		e := httpx.StatusError(op, resp)
		if code != "" { // the platform's own error form, e.g. HTTP 500 {"MaLoi":"99"}
			msg, _ := o.str("MoTaLoi")
			e.Code, e.Message = code, httpx.Clip(msg, maxMessage)
			e.Transient = e.Transient || code == CodeInternal
		}
		return nil, "", e
	}
	if perr != nil {
		return nil, "", httpx.MalformedError(op, perr)
	}
	if code == "" {
		return nil, "", httpx.MalformedError(op, errors.New("no MaLoi in the answer"))
	}
	return o, code, nil
}

// codeError classifies a MaLoi other than success: "99" is transient, "01"
// (bad signature: wrong partner code or secret) wraps httpx.ErrAuth, the
// rest wrap other and are permanent.
func codeError(op string, o object, code string, other error) *httpx.Error {
	msg, _ := o.str("MoTaLoi")
	e := &httpx.Error{Op: op, Code: code, Message: httpx.Clip(msg, maxMessage)}
	switch code {
	case CodeInternal:
		e.Transient = true
	case CodeBadSignature:
		e.Err = httpx.ErrAuth
	default:
		e.Err = other
	}
	return e
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
