// Package restjson maps a JSON REST portal's DOSSIER (as at Sơn La, spec §1)
// to the canonical dossier.
package restjson

import (
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/schemas"
)

// IDField is the path of the dossier code in a DOSSIER.
const IDField = "maHoSo"

// Map maps one DOSSIER object. Any failure is a *mapping.FieldError naming
// the field by its JSON path (chuHoSo.ngaySinh, lePhi[0].soTien).
func Map(src fields.Source, payload []byte) (*schemas.Dossier, error) {
	c := &fields.Errs{Source: src.Name, Times: fields.TimesRFC3339}
	o := parseObj(payload, "", c)
	if c.Failed() {
		return nil, c.Err()
	}
	if !o.present() {
		c.Fail("", "empty payload (want a DOSSIER object)")
		return nil, c.Err()
	}
	d := &schemas.Dossier{Source: src.Name, ProvinceCode: src.Province}
	d.ID = c.Required(IDField, o.str("maHoSo"))
	c.DossierID = d.ID

	if v := o.num("phienBan"); v != "" {
		d.SourceVersion = c.Size(o.sub("phienBan"), v)
	}
	d.SourceUpdated = c.Time("ngayCapNhat", o.str("ngayCapNhat"))

	tt := o.obj("thuTuc")
	d.Procedure = schemas.Procedure{
		Code:      c.Required("thuTuc.ma", tt.str("ma")),
		Name:      fields.Text(tt.str("ten")),
		FieldCode: fields.Text(tt.str("maLinhVuc")),
		FieldName: fields.Text(tt.str("tenLinhVuc")),
	}
	d.Procedure.Level, d.Procedure.Scope = c.Level("thuTuc.mucDo", tt.code("mucDo"))

	cq := o.obj("coQuanTiepNhan")
	d.Agency = schemas.Agency{Code: c.Required("coQuanTiepNhan.ma", cq.str("ma")), Name: fields.Text(cq.str("ten"))}
	d.Channel = fields.Enum(c, "kenhNop", o.str("kenhNop"), channels)

	d.Applicant = applicant(c, o.obj("chuHoSo"))
	d.Summary = fields.Text(o.str("trichYeu"))

	d.SubmittedAt = c.Time("ngayNop", o.str("ngayNop"))
	d.ReceivedAt = c.Time("ngayTiepNhan", o.str("ngayTiepNhan"))
	d.DueAt = c.Time("ngayHenTra", o.str("ngayHenTra"))
	d.ReturnedAt = c.Time("ngayTraKetQua", o.str("ngayTraKetQua"))

	d.SourceStatus = fields.Text(o.str("trangThai"))
	d.Status = fields.Enum(c, "trangThai", d.SourceStatus, src.Statuses)

	d.ResultDelivery = fields.OptionalEnum(c, "hinhThucNhanKetQua", o.str("hinhThucNhanKetQua"), deliveries, schemas.DeliveryOffice)
	if r := o.obj("diaChiNhanKetQua"); r.present() {
		d.ResultAddress = &schemas.Recipient{
			Name:    fields.Text(r.str("hoTen")),
			Phone:   c.Phone(r.sub("soDienThoai"), r.str("soDienThoai")),
			Address: address(c, r),
		}
	}

	for _, f := range o.arr("lePhi") {
		d.Fees = append(d.Fees, schemas.Fee{
			Code:          fields.Text(f.str("ma")),
			Name:          fields.Text(f.str("ten")),
			Kind:          fields.Enum(c, f.sub("loai"), f.str("loai"), feeKinds),
			Amount:        c.Money(f.sub("soTien"), f.num("soTien")),
			Paid:          f.boolean("daThanhToan"),
			PaymentMethod: fields.OptionalEnum(c, f.sub("hinhThucThanhToan"), f.str("hinhThucThanhToan"), payments, ""),
		})
	}
	for _, f := range o.arr("tepDinhKem") {
		d.Attachments = append(d.Attachments, schemas.Attachment{
			ID:            fields.Text(f.str("id")),
			Name:          fields.Text(f.str("ten")),
			ComponentCode: fields.Text(f.str("maThanhPhan")),
			Size:          c.Size(f.sub("kichThuoc"), f.num("kichThuoc")),
			SHA256:        fields.Text(f.str("sha256")),
			URL:           fields.Text(f.str("duongDan")),
		})
	}
	for _, s := range o.arr("lichSu") {
		st := fields.Text(s.str("trangThai"))
		d.Steps = append(d.Steps, schemas.Step{
			At:           c.RequiredTime(s.sub("thoiDiem"), s.str("thoiDiem")),
			Status:       fields.Enum(c, s.sub("trangThai"), st, src.Statuses),
			SourceStatus: st,
			Handler:      fields.Text(s.str("nguoiXuLy")),
			Title:        fields.Text(s.str("chucDanh")),
			Department:   fields.Text(s.str("phongBan")),
			Content:      fields.Text(s.str("noiDung")),
		})
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	fields.Tidy(d)
	return d, nil
}

// applicant reads chuHoSo. A citizen is identified by soDinhDanh (12-digit
// CCCD or 9-digit CMND), an organisation by maSoThue.
func applicant(c *fields.Errs, o obj) schemas.Applicant {
	a := schemas.Applicant{
		Kind:  fields.Enum(c, o.sub("loai"), o.str("loai"), applicantKinds),
		Name:  c.Required(o.sub("hoTen"), o.str("hoTen")),
		Email: fields.Text(o.str("email")),
	}
	if a.Kind == schemas.ApplicantOrganisation {
		// The contract says maSoThue; an organisation that still sends its
		// number in soDinhDanh is read from there rather than dropped.
		key := "maSoThue"
		if fields.Text(o.str(key)) == "" && fields.Text(o.str("soDinhDanh")) != "" {
			key = "soDinhDanh"
		}
		a.IDType, a.IDNumber = c.Identity(o.sub(key), a.Kind, schemas.IDTypeTax, o.str(key), "")
	} else {
		a.BirthDate = c.BirthDate(o.sub("ngaySinh"), o.str("ngaySinh"), "YYYY-MM-DD")
		a.IDType, a.IDNumber = c.Identity(o.sub("soDinhDanh"), a.Kind, "", o.str("soDinhDanh"), a.BirthDate)
	}
	a.Phone = c.Phone(o.sub("soDienThoai"), o.str("soDienThoai"))
	a.Address = address(c, o.obj("diaChi"))
	return a
}

// address reads {maTinh, maXa, chiTiet} (and maHuyen on older records).
func address(c *fields.Errs, o obj) schemas.Address {
	return schemas.Address{
		ProvinceCode: c.Province(o.sub("maTinh"), o.code("maTinh")),
		DistrictCode: c.Code(o.sub("maHuyen"), o.code("maHuyen"), 3),
		CommuneCode:  c.Code(o.sub("maXa"), o.code("maXa"), 5),
		Detail:       fields.Text(o.str("chiTiet")),
	}
}
