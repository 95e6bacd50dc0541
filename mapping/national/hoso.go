// Package national maps a canonical dossier to the national portal's HOSO
// and STEP items (spec §4).
//
// It imports the wire types of connectors/national, so that package must
// not import this one: the sink that pushes to the portal imports both.
package national

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	wire "github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/schemas"
)

// TimeLayout is the portal's yyyyMMddHHmmss, written in +07:00.
const TimeLayout = "20060102150405"

// FormatTime writes t in the portal's layout in Asia/Ho_Chi_Minh, whatever
// zone t is in; nil is "".
func FormatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(schemas.Vietnam).Format(TimeLayout)
}

// HoSo is d as a DongBoHoSoMC item.
func HoSo(d *schemas.Dossier) wire.HoSo {
	a := d.Applicant
	h := wire.HoSo{
		MaHoSo:          d.ID,
		MaTTHC:          d.Procedure.Code,
		TenTTHC:         d.Procedure.Name,
		MaLinhVuc:       d.Procedure.FieldCode,
		TenLinhVuc:      d.Procedure.FieldName,
		KenhThucHien:    d.Channel,
		ChuHoSo:         a.Name,
		LoaiDoiTuong:    a.Kind,
		MaDoiTuong:      a.AccountID,
		SoGiayTo:        a.IDNumber,
		SoDienThoai:     a.Phone,
		Email:           a.Email,
		DiaChi:          a.Address.Detail,
		MaTinh:          a.Address.ProvinceCode,
		MaXa:            a.Address.CommuneCode,
		TrichYeuHoSo:    d.Summary,
		NgayNopHoSo:     FormatTime(d.SubmittedAt),
		NgayTiepNhan:    FormatTime(d.ReceivedAt),
		NgayHenTra:      FormatTime(d.DueAt),
		TrangThaiHoSo:   d.Status,
		NgayTra:         FormatTime(d.ReturnedAt),
		NgayKetThucXuLy: FormatTime(processingEnded(d)),
		DonViXuLy:       d.ProcessingUnit,
		GhiChu:          d.Note,
		TaiLieuNop:      make([]wire.TaiLieu, 0, len(d.Attachments)),
		DanhSachLePhi:   make([]wire.LePhi, 0, len(d.Fees)),
	}
	// The portal knows office (0) and post (1) only; online delivery is
	// nearest to "not by post".
	if d.ResultDelivery == schemas.DeliveryPost {
		h.HinhThuc = 1
	}
	if h.DonViXuLy == "" {
		h.DonViXuLy = d.Agency.Code
	}
	for _, at := range d.Attachments {
		h.TaiLieuNop = append(h.TaiLieuNop, wire.TaiLieu{
			TepDinhKemId:      at.ID,
			TenTepDinhKem:     at.Name,
			MaThanhPhanHoSo:   at.ComponentCode,
			DuongDanTaiTepTin: at.URL,
			IsDeleted:         at.Deleted,
		})
	}
	for _, f := range d.Fees {
		paid := "0"
		if f.Paid {
			paid = "1"
		}
		h.DanhSachLePhi = append(h.DanhSachLePhi, wire.LePhi{
			MaPhiLePhi:   f.Code,
			TenPhiLePhi:  f.Name,
			LoaiPhiLePhi: f.Kind,
			HinhThucThu:  collectStage(f),
			Gia:          f.Amount,
			DaThanhToan:  paid,
		})
	}
	return h
}

// collectStage is the national HinhThucThu: as set, else at result (4) for
// cash on delivery, which the postman collects with the result, and at
// intake (1) for everything else.
func collectStage(f schemas.Fee) int {
	switch {
	case f.CollectStage != 0:
		return f.CollectStage
	case f.PaymentMethod == schemas.PayCOD:
		return 4
	default:
		return 1
	}
}

// processingEnded is NgayKetThucXuLy: as set, else when the last step that
// resolved the dossier (status 9) happened.
func processingEnded(d *schemas.Dossier) *time.Time {
	if d.ProcessingEndedAt != nil {
		return d.ProcessingEndedAt
	}
	for i := len(d.Steps) - 1; i >= 0; i-- {
		if d.Steps[i].Status == schemas.StatusResolved {
			return &d.Steps[i].At
		}
	}
	return nil
}

// Steps are all of d's processing steps as CapNhatTienDoHoSoMC items, oldest
// first; the sink picks those the portal has not had. Start and regulated
// end are "" unless the dossier carries them: no source sends them and
// inventing deadlines would mislead the portal.
func Steps(d *schemas.Dossier) []wire.Step {
	out := make([]wire.Step, 0, len(d.Steps))
	for _, s := range d.Steps {
		out = append(out, wire.Step{
			MaHoSo:                 d.ID,
			NguoiXuLy:              s.Handler,
			ChucDanh:               s.Title,
			ThoiDiemXuLy:           FormatTime(&s.At),
			PhongBanXuLy:           s.Department,
			NoiDungXuLy:            s.Content,
			TrangThai:              s.Status,
			NgayBatDau:             FormatTime(s.StartAt),
			NgayKetThucTheoQuyDinh: FormatTime(s.DueAt),
		})
	}
	return out
}

// StepKey identifies a processing step by its content: when it happened (to
// the second), the status it led to, who handled it and what was done.
// Sources list repeated steps in no fixed order and many share one second,
// so a step's position in the list says nothing about which step it is.
// Title and department are left out: a later version that only corrects a
// handler's title is the same step, not a new one.
func StepKey(s schemas.Step) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s", s.At.Unix(), s.Status, s.Handler, s.Content)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// DueSteps returns the indices of d's steps that acked (the keys of the
// steps the portal has acknowledged, a step that occurs twice counted
// twice) does not cover, in time order (ties in list order), so each step
// is sent exactly once whatever order the versions list them in.
func DueSteps(d *schemas.Dossier, acked []string) []int {
	seen := make(map[string]int, len(acked))
	for _, k := range acked {
		seen[k]++
	}
	order := make([]int, len(d.Steps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return d.Steps[order[a]].At.Before(d.Steps[order[b]].At) })
	var due []int
	for _, i := range order {
		k := StepKey(d.Steps[i])
		if seen[k] > 0 {
			seen[k]--
			continue
		}
		due = append(due, i)
	}
	return due
}

// LegacyStepKeys are the keys of the first n of d's steps in time order:
// what a ledger row that counted acknowledged steps (before keys were
// kept) says the portal has.
func LegacyStepKeys(d *schemas.Dossier, n int) []string {
	order := DueSteps(d, nil)
	n = min(n, len(order))
	keys := make([]string, n)
	for j, i := range order[:n] {
		keys[j] = StepKey(d.Steps[i])
	}
	return keys
}
