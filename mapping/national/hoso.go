// Package national maps a canonical dossier to the national portal's HOSO
// and STEP items (spec §4).
//
// It imports the wire types of connectors/national, so that package must
// not import this one: the sink that pushes to the portal imports both.
package national

import (
	"time"

	wire "github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/mapping/internal/fields"
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
	return t.In(fields.Loc).Format(TimeLayout)
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
