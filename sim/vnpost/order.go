package vnpost

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Order is an order as the simulator holds it and GET /_sim/orders lists it.
type Order struct {
	OrderNumber   string          `json:"orderNumber"`
	CustomerCode  string          `json:"customerCode"`
	ClientID      string          `json:"clientId"` // the account that created it
	ItemCode      string          `json:"itemCode"`
	CODAmount     int64           `json:"codAmount"`
	TotalFee      int64           `json:"totalFee"`
	Status        int             `json:"status"` // status code of the last tracking event
	StatusMessage string          `json:"statusMessage"`
	Created       time.Time       `json:"created"`
	Request       json.RawMessage `json:"request"` // the create-order body as received
	Tracking      []Event         `json:"tracking"`
}

// Event is one tracking event, exactly as the tracking feed serves it.
type Event struct {
	ID            int64     `json:"id"`
	OrderNumber   string    `json:"orderNumber"`
	ItemCode      string    `json:"itemCode"`
	StatusCode    int       `json:"statusCode"`
	StatusMessage string    `json:"statusMessage"`
	Time          time.Time `json:"time"` // whole seconds, +07:00
}

func (o *Order) clone() Order {
	c := *o
	c.Request = append(json.RawMessage(nil), o.Request...)
	c.Tracking = append([]Event{}, o.Tracking...)
	return c
}

// MyVNPost status codes the simulator's lifecycle uses.
const (
	StatusCreated    = 1
	StatusPickedUp   = 6
	StatusInTransit  = 10
	StatusDelivering = 12
	StatusDelivered  = 14
	StatusCODPaid    = 21
	maxStatus        = 22
)

// statusTexts are the statusMessage of each MyVNPost code (§6).
var statusTexts = [maxStatus + 1]string{
	0:  "Đơn nháp",
	1:  "Đã tạo đơn hàng",
	2:  "Đã phân công bưu tá",
	3:  "Đang xử lý",
	4:  "Đang lấy hàng",
	5:  "Lấy hàng không thành công",
	6:  "Đã lấy hàng",
	7:  "Đã nhận tại bưu cục",
	8:  "Thu gom không thành công",
	9:  "Hủy lấy hàng",
	10: "Đang vận chuyển",
	11: "Đã đến bưu cục phát",
	12: "Đang phát",
	13: "Chuyển tiếp",
	14: "Phát thành công",
	15: "Phát không thành công",
	16: "Chờ chuyển hoàn",
	17: "Đã duyệt chuyển hoàn",
	18: "Đang chuyển hoàn",
	19: "Đã chuyển hoàn cho người gửi",
	20: "Hoàn một phần",
	21: "Đã thanh toán tiền COD",
	22: "Hủy phát",
}

// StatusText is the statusMessage the simulator sends for code, "" when the
// code is outside the table.
func StatusText(code int) string {
	if code < 0 || code > maxStatus {
		return ""
	}
	return statusTexts[code]
}

// autoNext is the next status of the auto lifecycle 1 → 6 → 10 → 12 → 14
// (→ 21 with COD) from code. Statuses before a step lead to it (2–4 are
// pre-pickup, 7 is before transit, 11 and 13 before delivery); failures,
// returns, cancellations and the end of the path stop the order.
func autoNext(code int, cod int64) (int, bool) {
	switch code {
	case 0, 1, 2, 3, 4:
		return StatusPickedUp, true
	case 6, 7:
		return StatusInTransit, true
	case 10, 11, 13:
		return StatusDelivering, true
	case 12:
		return StatusDelivered, true
	case 14:
		if cod > 0 {
			return StatusCODPaid, true
		}
	}
	return 0, false
}

// orderRequest is the part of a create-order body the simulator acts on.
type orderRequest struct {
	customerCode, orderNumber        string
	senderProvince, receiverProvince string
	codAmount                        int64
}

type fieldError struct{ field, msg string }

// Text fields of a create-order body, in the order they are checked.
var textFields = []string{
	"customerCode", "orderNumber",
	"senderName", "senderTel", "senderAddress", "senderProvince", "senderDistrict", "senderEmail", "senderDesc",
	"receiverName", "receiverTel", "receiverAddress", "receiverProvince", "receiverDistrict", "receiverCommune", "receiverEmail",
	"description",
}

var (
	mobile   = regexp.MustCompile(`^(0|\+84)[35789]\d{8}$`)
	province = regexp.MustCompile(`^\d{2}$`)
	district = regexp.MustCompile(`^\d{3}$`)
	commune  = regexp.MustCompile(`^\d{5}$`)
)

// parseOrder validates a create-order body and reports the first invalid
// field: types, the required fields, the mobile pattern of receiverTel, the
// shape of administrative codes (§ common rules) and codAmount. E-mails and
// sender phones (often landlines) are not checked. Messages name the field,
// never its value (it is personal data). Unknown keys are ignored.
func parseOrder(body []byte) (orderRequest, *fieldError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return orderRequest{}, &fieldError{"", "Nội dung yêu cầu phải là một đối tượng JSON"}
	}
	txt := make(map[string]string, len(textFields))
	for _, f := range textFields {
		raw, ok := m[f]
		if !ok || string(raw) == "null" {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return orderRequest{}, &fieldError{f, f + " phải là chuỗi ký tự"}
		}
		txt[f] = strings.TrimSpace(v)
	}
	for _, f := range []string{"orderNumber", "receiverName", "receiverTel", "receiverAddress", "receiverProvince", "receiverCommune"} {
		if txt[f] == "" {
			return orderRequest{}, &fieldError{f, "Thiếu " + f}
		}
	}
	if len([]rune(txt["orderNumber"])) > 50 {
		return orderRequest{}, &fieldError{"orderNumber", "orderNumber dài quá 50 ký tự"}
	}
	if !mobile.MatchString(compactPhone(txt["receiverTel"])) {
		return orderRequest{}, &fieldError{"receiverTel", "receiverTel không phải số điện thoại di động hợp lệ"}
	}
	codes := []struct {
		field string
		re    *regexp.Regexp
		what  string
	}{
		{"receiverProvince", province, "mã tỉnh 2 chữ số"},
		{"receiverDistrict", district, "mã huyện 3 chữ số"},
		{"receiverCommune", commune, "mã xã 5 chữ số"},
		{"senderProvince", province, "mã tỉnh 2 chữ số"},
		{"senderDistrict", district, "mã huyện 3 chữ số"},
	}
	for _, c := range codes {
		if v := txt[c.field]; v != "" && !c.re.MatchString(v) {
			return orderRequest{}, &fieldError{c.field, c.field + " phải là " + c.what}
		}
	}
	raw, ok := m["codAmount"]
	if !ok || string(raw) == "null" {
		return orderRequest{}, &fieldError{"codAmount", "Thiếu codAmount (0 khi không thu hộ)"}
	}
	cod, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || cod < 0 {
		return orderRequest{}, &fieldError{"codAmount", "codAmount phải là số nguyên VND ≥ 0"}
	}
	return orderRequest{
		customerCode: txt["customerCode"], orderNumber: txt["orderNumber"],
		senderProvince: txt["senderProvince"], receiverProvince: txt["receiverProvince"],
		codAmount: cod,
	}, nil
}

// compactPhone drops the spaces and dots some sources write numbers with.
func compactPhone(s string) string {
	return strings.NewReplacer(" ", "", ".", "").Replace(s)
}

// totalFee is a simple tariff: 22,000 VND within a province, 30,000
// between provinces, plus a collection fee of 1 % of the COD amount
// (at least 5,000, rounded up to 100 VND).
func totalFee(r orderRequest) int64 {
	fee := int64(22000)
	if r.senderProvince != "" && r.senderProvince != r.receiverProvince {
		fee = 30000
	}
	if r.codAmount > 0 {
		fee += max(5000, (r.codAmount+9999)/10000*100)
	}
	return fee
}

// itemCode renders serial as a UPU S10 code "EB" + 8 digits + check digit +
// "VN", the form of VNPost's item codes. Serials start high enough to have
// eight digits.
func itemCode(serial int64) string {
	n := 10_000_000 + serial%90_000_000
	d := fmt.Sprintf("%08d", n)
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	check := 11 - sum%11
	switch check {
	case 10:
		check = 0
	case 11:
		check = 5
	}
	return "EB" + d + strconv.Itoa(check) + "VN"
}
