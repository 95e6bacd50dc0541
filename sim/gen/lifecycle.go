package gen

import (
	"fmt"
	"strings"
	"time"
)

// Advance applies the dossier's next planned lifecycle change at now: it bumps
// the version, sets Updated, appends a processing step and sets the fields a
// real portal would. It reports false when the lifecycle is complete.
func (g *Generator) Advance(d *Dossier, now time.Time) bool {
	if len(d.plan) == 0 || d.rng == nil {
		return false
	}
	now = now.In(VN).Truncate(time.Second)
	if now.Before(d.Updated) { // keep each dossier's own history monotonic
		now = d.Updated
	}
	next := d.plan[0]
	d.plan = d.plan[1:]
	prev := d.Status
	rng := d.rng
	st := g.staffOf(d.Agency.Ma)
	intake := st.intake[rng.IntN(len(st.intake))]
	specialist := st.specialists[rng.IntN(len(st.specialists))]
	const oneStop, clerk = "Bộ phận một cửa", "Công chức một cửa"
	dept := d.Procedure.PhongBan
	if dept == "" {
		dept = "Phòng chuyên môn"
	}
	step := Step{Time: now, Status: next, Handler: specialist, Title: "Chuyên viên", Department: dept}

	switch next {
	case stepDelete:
		d.Deleted = true
		step.Status = prev
		step.Handler, step.Title, step.Department = intake, clerk, oneStop
		step.Content = "Xóa hồ sơ do tạo nhầm"
	case StatusReceived:
		d.Received = now
		d.Due = addWorkdays(now, max(d.Procedure.SoNgayXuLy, 1))
		step.Handler, step.Title, step.Department = intake, clerk, oneStop
		step.Content = "Tiếp nhận hồ sơ"
		if d.Channel == ChannelOnline {
			step.Content = "Tiếp nhận hồ sơ trực tuyến"
		}
		if !contains(d.plan, StatusFeeDue) { // fees are paid when the dossier is received
			for i := range d.Fees {
				if d.Fees[i].PayChannel != PayCashOnDelivery {
					d.Fees[i].Paid = true
				}
			}
		}
	case StatusRefused:
		step.Handler, step.Title, step.Department = intake, clerk, oneStop
		step.Content = "Từ chối tiếp nhận: " + refusalReasons[rng.IntN(len(refusalReasons))]
	case StatusProcessing:
		switch prev {
		case StatusReceived:
			step.Handler, step.Title, step.Department = intake, clerk, oneStop
			step.Content = "Chuyển hồ sơ đến " + dept + " xử lý"
		case StatusSupplement:
			step.Content = "Đã nhận hồ sơ bổ sung, tiếp tục xử lý"
			n := len(d.Procedure.ThanhPhan) + 1
			d.Files = append(d.Files, g.file(rng, fmt.Sprintf("TP%d", n), "ho-so-bo-sung.pdf"))
		case StatusFeeDue:
			step.Content = "Đã hoàn thành nghĩa vụ tài chính, tiếp tục xử lý"
			for i := range d.Fees {
				if d.Fees[i].PayChannel != PayCashOnDelivery {
					d.Fees[i].Paid = true
				}
			}
		default:
			step.Content = "Tiếp tục xử lý hồ sơ"
		}
	case StatusSupplement:
		step.Content = "Yêu cầu bổ sung hồ sơ: " + supplementReasons[rng.IntN(len(supplementReasons))]
	case StatusFeeDue:
		var total int64
		for _, f := range d.Fees {
			total += f.Amount
		}
		step.Content = "Thông báo thực hiện nghĩa vụ tài chính: " + formatVND(total)
	case StatusWithdrawn:
		step.Handler, step.Title, step.Department = intake, clerk, oneStop
		step.Content = "Công dân yêu cầu rút hồ sơ"
	case StatusPaused:
		step.Content = "Tạm dừng xử lý: " + pauseReasons[rng.IntN(len(pauseReasons))]
	case StatusResolved:
		d.Resolved = now
		step.Handler = st.leaders[rng.IntN(len(st.leaders))]
		step.Title, step.Department = "Phó Chủ tịch UBND", "Lãnh đạo UBND"
		result := d.Procedure.KetQua
		if result == "" {
			result = "kết quả giải quyết"
		}
		step.Content = "Phê duyệt, ký " + lowerFirst(result)
	case StatusReturned:
		d.Returned = now
		for i := range d.Fees {
			d.Fees[i].Paid = true // cash on delivery is collected with the result
		}
		step.Handler, step.Title, step.Department = intake, clerk, oneStop
		switch d.ResultChannel {
		case ResultByPost:
			step.Content = "Đã chuyển kết quả qua dịch vụ bưu chính công ích"
		case ResultOnline:
			step.Content = "Trả kết quả trực tuyến"
		default:
			step.Content = "Trả kết quả trực tiếp tại Bộ phận một cửa"
		}
	}
	if next != stepDelete {
		d.Status = next
	}
	d.History = append(d.History, step)
	d.Version++
	d.Updated = now
	if len(d.plan) == 0 {
		d.rng, d.src = nil, nil // nothing left to draw; free the stream
	}
	return true
}

// addWorkdays returns 17:00 on the n-th working day after t (Saturdays and
// Sundays skipped).
func addWorkdays(t time.Time, n int) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 17, 0, 0, 0, VN)
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return day
}

// formatVND writes an amount the Vietnamese way: "100.000 đồng".
func formatVND(v int64) string {
	s := fmt.Sprint(v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return b.String() + " đồng"
}

func lowerFirst(s string) string {
	for i, r := range s {
		if i == 0 {
			return strings.ToLower(string(r)) + s[len(string(r)):]
		}
	}
	return s
}
