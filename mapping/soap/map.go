// Package soap maps a SOAP portal's <HoSo> element (as at Thái Nguyên, spec
// §2, SOAP 1.1) to the canonical dossier.
package soap

import (
	"encoding/xml"
	"strings"

	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/internal/xmlwalk"
	"github.com/lienthong/lienthong/schemas"
)

// DefaultNamespace is the target namespace of the spec's service; a source
// may configure its own. Elements are matched on the namespace and their
// local name; the prefix (mc:, tns:, ns1:, default) is free.
const DefaultNamespace = "http://motcua.thainguyen.gov.vn/"

// IDField is the path of the dossier code in a <HoSo>.
const IDField = "MaHoSo"

// Map maps one standalone <HoSo> element with its namespace declared. Any
// failure is a *mapping.FieldError naming the field by its path
// (NguoiNop/SoGiayTo, DanhSachLePhi/LePhi[0]/@SoTien).
func Map(src fields.Source, payload []byte) (*schemas.Dossier, error) {
	n, err := xmltree.Parse(payload)
	if err != nil {
		return nil, &fields.FieldError{Source: src.Name, Reason: "malformed XML: " + err.Error()}
	}
	return mapNode(src, n)
}

// MapElement maps the <HoSo> that start opens, reading it from d. A
// connector streaming a SOAP answer can hand each dossier over this way:
// the namespaces declared on the envelope are already in scope.
func MapElement(src fields.Source, d *xml.Decoder, start xml.StartElement) (*schemas.Dossier, error) {
	n, err := xmltree.ParseElement(d, start)
	if err != nil {
		return nil, &fields.FieldError{Source: src.Name, Reason: "malformed XML: " + err.Error()}
	}
	return mapNode(src, n)
}

// serviceNS reports whether space is the service's namespace (src.Namespace,
// default DefaultNamespace), written with or without the trailing slash as
// the connector accepts it.
func serviceNS(src fields.Source, space string) bool {
	ns := src.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return strings.TrimSuffix(space, "/") == strings.TrimSuffix(ns, "/")
}

func mapNode(src fields.Source, n xmltree.Element) (*schemas.Dossier, error) {
	c := &fields.Errs{Source: src.Name, Times: fields.TimesDMY}
	if name := n.Name(); !serviceNS(src, name.Space) || name.Local != "HoSo" {
		c.Fail("", "not a <HoSo> element of the service's namespace")
		return nil, c.Err()
	}
	// Children may also be unqualified; any other namespace is someone
	// else's element.
	e := xmlwalk.Root(n, c, func(space string) bool { return space == "" || serviceNS(src, space) })
	d := &schemas.Dossier{Source: src.Name, ProvinceCode: src.Province}
	d.ID = c.Required(IDField, e.Get("MaHoSo"))
	c.DossierID = d.ID

	d.SourceVersion = c.Size("PhienBan", e.Get("PhienBan"))
	d.SourceUpdated = c.Time("ThoiDiemCapNhat", e.Get("ThoiDiemCapNhat"))

	d.Procedure = schemas.Procedure{
		Code:      c.Required("MaTTHC", e.Get("MaTTHC")),
		Name:      fields.Text(e.Get("TenTTHC")),
		FieldCode: fields.Text(e.Get("MaLinhVuc")),
		FieldName: fields.Text(e.Get("TenLinhVuc")),
	}
	d.Procedure.Level, d.Procedure.Scope = c.Level("MucDo", e.Get("MucDo"))
	d.Agency = schemas.Agency{Code: c.Required("MaDonVi", e.Get("MaDonVi")), Name: fields.Text(e.Get("TenDonVi"))}
	d.Channel = fields.Enum(c, "KenhNop", e.Get("KenhNop"), channels)

	d.Applicant = applicant(c, e.One("NguoiNop"))
	d.Summary = fields.Text(e.Get("TrichYeu"))

	d.SubmittedAt = c.Time("NgayNop", e.Get("NgayNop"))
	d.ReceivedAt = c.Time("NgayTiepNhan", e.Get("NgayTiepNhan"))
	d.DueAt = c.Time("NgayHenTra", e.Get("NgayHenTra"))
	d.ReturnedAt = c.Time("NgayTra", e.Get("NgayTra"))

	d.SourceStatus = fields.Text(e.Get("TrangThai"))
	d.Status = fields.Enum(c, "TrangThai", d.SourceStatus, src.Statuses)

	// The service only says whether the result goes by post.
	d.ResultDelivery = schemas.DeliveryOffice
	if c.Bool("NhanKetQuaQuaBuuChinh", e.Get("NhanKetQuaQuaBuuChinh")) {
		d.ResultDelivery = schemas.DeliveryPost
	}
	if r := e.One("DiaChiNhanKetQua"); !r.Empty() {
		d.ResultAddress = &schemas.Recipient{
			Name:    fields.Text(r.Attr("NguoiNhan")),
			Phone:   c.Phone(r.AttrPath("DienThoai"), r.Attr("DienThoai")),
			Address: address(c, r),
		}
	}

	for _, f := range e.One("DanhSachLePhi").All("LePhi") {
		d.Fees = append(d.Fees, schemas.Fee{
			Code:          fields.Text(f.Attr("Ma")),
			Name:          fields.Text(f.Text()),
			Kind:          fields.Enum(c, f.AttrPath("Loai"), f.Attr("Loai"), feeKinds),
			Amount:        c.Money(f.AttrPath("SoTien"), f.Attr("SoTien")),
			Paid:          c.Bool(f.AttrPath("DaNop"), f.Attr("DaNop")),
			PaymentMethod: fields.OptionalEnum(c, f.AttrPath("HinhThucNop"), f.Attr("HinhThucNop"), payments, ""),
		})
	}
	for _, f := range e.One("DanhSachTepTin").All("TepTin") {
		d.Attachments = append(d.Attachments, schemas.Attachment{
			ID:            fields.Text(f.Attr("Id")),
			Name:          fields.Text(f.Text()),
			ComponentCode: fields.Text(f.Attr("MaThanhPhan")),
			Size:          c.Size(f.AttrPath("KichThuoc"), f.Attr("KichThuoc")),
			SHA256:        fields.Text(f.Attr("Sha256")),
			URL:           fields.Text(f.Attr("DuongDan")),
		})
	}
	for _, s := range e.One("QuaTrinhXuLy").All("Buoc") {
		st := fields.Text(s.Attr("TrangThai"))
		d.Steps = append(d.Steps, schemas.Step{
			At:           c.RequiredTime(s.AttrPath("ThoiDiem"), s.Attr("ThoiDiem")),
			Status:       fields.Enum(c, s.AttrPath("TrangThai"), st, src.Statuses),
			SourceStatus: st,
			Handler:      fields.Text(s.Attr("NguoiXuLy")),
			Title:        fields.Text(s.Attr("ChucDanh")),
			Department:   fields.Text(s.Attr("PhongBan")),
			Content:      fields.Text(s.Text()),
		})
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	fields.Tidy(d)
	return d, nil
}

// applicant reads <NguoiNop LoaiDoiTuong>; <SoGiayTo Loai> states the
// document type (CCCD, CMND, or MST for an organisation).
func applicant(c *fields.Errs, e xmlwalk.Elem) schemas.Applicant {
	if !e.Present() {
		c.Fail(e.Path, "missing")
	}
	a := schemas.Applicant{
		Kind:  fields.Enum(c, e.AttrPath("LoaiDoiTuong"), e.Attr("LoaiDoiTuong"), applicantKinds),
		Name:  c.Required(e.Sub("HoTen"), e.Get("HoTen")),
		Email: fields.Text(e.Get("Email")),
	}
	if a.Kind != schemas.ApplicantOrganisation {
		a.BirthDate = c.BirthDate(e.Sub("NgaySinh"), e.Get("NgaySinh"), "dd/MM/yyyy")
	}
	id := e.One("SoGiayTo")
	if fields.Text(id.Text()) != "" {
		declared := fields.Enum(c, id.AttrPath("Loai"), id.Attr("Loai"), idTypes)
		if !c.Failed() {
			a.IDType, a.IDNumber = c.Identity(id.Path, a.Kind, declared, id.Text(), a.BirthDate)
		}
	}
	a.Phone = c.Phone(e.Sub("DienThoai"), e.Get("DienThoai"))
	a.Address = address(c, e.One("DiaChi"))
	return a
}

// address reads an element with MaTinh/MaXa (and MaHuyen on older
// records) attributes and the detail as its text.
func address(c *fields.Errs, e xmlwalk.Elem) schemas.Address {
	return schemas.Address{
		ProvinceCode: c.Province(e.AttrPath("MaTinh"), e.Attr("MaTinh")),
		DistrictCode: c.Code(e.AttrPath("MaHuyen"), e.Attr("MaHuyen"), 3),
		CommuneCode:  c.Code(e.AttrPath("MaXa"), e.Attr("MaXa"), 5),
		Detail:       fields.Text(e.Text()),
	}
}
