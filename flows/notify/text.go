package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/sms"
	"github.com/lienthong/lienthong/schemas"
)

// Kinds of applicant notification: the changes an applicant cares about.
const (
	Received    = "received"     // status 2: the dossier was accepted at intake
	Supplement  = "supplement"   // status 5: more papers are needed
	FeeDue      = "fee_due"      // status 6: fees to pay (with the payment link when online)
	ResultReady = "result_ready" // status 9: the result is ready
	Delivered   = "delivered"    // VNPost delivered the result
)

// MaxSMS is the length of one brand-name SMS part; every message fits one.
const MaxSMS = 160

// text is one notification in both channels.
type text struct {
	sms     string // ASCII, at most MaxSMS characters
	subject string
	body    string
}

func date(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(schemas.Vietnam).Format("02/01/2006")
}

// vnd formats whole đồng the Vietnamese way: 1.250.000.
func vnd(v int64) string {
	s := fmt.Sprint(v)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// compose writes the notification n. Texts are in Vietnamese; the SMS is the
// same sentence without diacritics. Each SMS variant is tried from the
// fullest to the shortest until one fits a single part.
func compose(n Notice) text {
	d := n.Dossier
	id := d.ID
	var smsVariants []string
	var subject, body string
	switch n.Kind {
	case Received:
		due := date(d.DueAt)
		subject = "Hồ sơ " + id + " đã được tiếp nhận"
		body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") đã được tiếp nhận"
		if due != "" {
			body += ". Ngày hẹn trả kết quả: " + due
			smsVariants = append(smsVariants, "Ho so "+id+" da duoc tiep nhan. Hen tra ket qua: "+due)
		}
		body += "."
		smsVariants = append(smsVariants, "Ho so "+id+" da duoc tiep nhan.")
	case Supplement:
		subject = "Hồ sơ " + id + " cần bổ sung giấy tờ"
		body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") cần bổ sung giấy tờ. Vui lòng xem yêu cầu bổ sung trên Cổng Dịch vụ công."
		smsVariants = append(smsVariants,
			"Ho so "+id+" can bo sung giay to. Vui long xem yeu cau tren Cong Dich vu cong.",
			"Ho so "+id+" can bo sung giay to.")
	case FeeDue:
		amount := vnd(n.Amount) + " đồng"
		subject = "Hồ sơ " + id + ": thông báo nộp phí, lệ phí"
		if n.PayURL != "" {
			body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") cần nộp " + amount + " phí, lệ phí. Thanh toán trực tuyến tại: " + n.PayURL
			smsVariants = append(smsVariants,
				"Ho so "+id+": vui long nop "+vnd(n.Amount)+"d phi, le phi tai "+n.PayURL,
				"Ho so "+id+": nop "+vnd(n.Amount)+"d tai "+n.PayURL,
				"Nop phi ho so "+id+": "+n.PayURL)
		} else {
			body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") cần nộp " + amount + " phí, lệ phí tại Bộ phận một cửa."
			smsVariants = append(smsVariants,
				"Ho so "+id+": vui long nop "+vnd(n.Amount)+"d phi, le phi tai Bo phan mot cua.",
				"Ho so "+id+": vui long nop phi, le phi.")
		}
	case ResultReady:
		subject = "Hồ sơ " + id + " đã có kết quả"
		switch d.ResultDelivery {
		case schemas.DeliveryPost:
			body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") đã có kết quả. Kết quả sẽ được gửi đến địa chỉ của ông/bà qua dịch vụ bưu chính công ích."
			smsVariants = append(smsVariants, "Ho so "+id+" da co ket qua. Ket qua se duoc gui qua buu chinh.")
		case schemas.DeliveryOnline:
			body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") đã có kết quả. Ông/bà nhận kết quả điện tử trên Cổng Dịch vụ công."
			smsVariants = append(smsVariants, "Ho so "+id+" da co ket qua. Nhan ket qua tren Cong Dich vu cong.")
		default:
			body = "Hồ sơ " + id + " (" + d.Procedure.Name + ") đã có kết quả. Mời ông/bà đến Bộ phận một cửa để nhận kết quả."
			smsVariants = append(smsVariants, "Ho so "+id+" da co ket qua. Moi nhan tai Bo phan mot cua.")
		}
		smsVariants = append(smsVariants, "Ho so "+id+" da co ket qua.")
	case Delivered:
		subject = "Kết quả hồ sơ " + id + " đã được phát"
		body = "Kết quả hồ sơ " + id + " (" + d.Procedure.Name + ") đã được phát thành công qua dịch vụ bưu chính công ích"
		if n.ItemCode != "" {
			body += ", số hiệu bưu gửi " + n.ItemCode
			smsVariants = append(smsVariants, "Ket qua ho so "+id+" da duoc phat thanh cong (buu gui "+n.ItemCode+").")
		}
		body += "."
		smsVariants = append(smsVariants, "Ket qua ho so "+id+" da duoc phat thanh cong.")
	}
	t := text{subject: subject, body: "Kính gửi ông/bà " + d.Applicant.Name + ",\r\n\r\n" + body + "\r\n\r\nĐây là thư tự động, vui lòng không trả lời."}
	for _, v := range smsVariants {
		if s := sms.ASCII(v); len(s) <= MaxSMS {
			t.sms = s
			break
		}
	}
	if t.sms == "" && len(smsVariants) > 0 {
		t.sms = sms.ASCII(smsVariants[len(smsVariants)-1])[:MaxSMS]
	}
	return t
}
