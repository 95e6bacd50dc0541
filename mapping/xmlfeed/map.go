// Package xmlfeed maps an XML change feed's <HOSO> entry (as at Hà Tĩnh, spec
// §3) to the canonical dossier.
package xmlfeed

import (
	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/mapping/internal/xmlwalk"
	"github.com/lienthong/lienthong/schemas"
)

// IDField is the path of the dossier code in a <HOSO>.
const IDField = "MAHOSO"

// anyNS: the feed has no namespace; elements are matched on local name.
func anyNS(string) bool { return true }

// Map maps one standalone <HOSO> entry, UTF-8 (text possibly NFD, as
// windows-1258 decodes). A THAO_TAC="XOA" entry maps to a deleted dossier
// carrying only its identity. Any failure is a *mapping.FieldError naming
// the field by its path (CHUHOSO/CCCD, LEPHI[0]/@SOTIEN).
func Map(src fields.Source, payload []byte) (*schemas.Dossier, error) {
	c := &fields.Errs{Source: src.Name, Times: fields.TimesCompact}
	n, err := xmltree.Parse(payload)
	if err != nil {
		c.Fail("", "malformed XML: "+err.Error())
		return nil, c.Err()
	}
	if n.Local() != "HOSO" {
		c.Fail("", "not a <HOSO> element")
		return nil, c.Err()
	}
	e := xmlwalk.Root(n, c, anyNS)
	d := &schemas.Dossier{Source: src.Name, ProvinceCode: src.Province}
	d.ID = c.Required(IDField, e.Get("MAHOSO"))
	c.DossierID = d.ID
	// SEQ is the feed position: every change gets a higher one, so it
	// orders versions like Sơn La's phienBan. The feed has no update time.
	d.SourceVersion = c.Size(e.AttrPath("SEQ"), e.Attr("SEQ"))

	// THAO_TAC is absent when a connector re-serialises just the dossier.
	if fields.OptionalEnum(c, e.AttrPath("THAO_TAC"), e.Attr("THAO_TAC"), operations, false) {
		if err := c.Err(); err != nil {
			return nil, err
		}
		d.Deleted = true
		fields.Tidy(d)
		return d, nil
	}

	d.Procedure = schemas.Procedure{
		Code:      c.Required("MATTHC", e.Get("MATTHC")),
		Name:      fields.Text(e.Get("TENTTHC")),
		FieldCode: fields.Text(e.Get("MALINHVUC")),
		FieldName: fields.Text(e.Get("TENLINHVUC")),
	}
	d.Procedure.Level, d.Procedure.Scope = c.Level("MUCDO", e.Get("MUCDO"))
	d.Agency = schemas.Agency{Code: c.Required("MADONVI", e.Get("MADONVI")), Name: fields.Text(e.Get("TENDONVI"))}
	d.Channel = fields.Enum(c, "KENH", e.Get("KENH"), channels)

	d.Applicant = applicant(c, e.One("CHUHOSO"))
	d.Summary = fields.Text(e.Get("TRICHYEU"))

	d.SubmittedAt = c.Time("NGAYNOP", e.Get("NGAYNOP"))
	d.ReceivedAt = c.Time("NGAYTIEPNHAN", e.Get("NGAYTIEPNHAN"))
	d.DueAt = c.Time("NGAYHENTRA", e.Get("NGAYHENTRA"))
	d.ReturnedAt = c.Time("NGAYTRA", e.Get("NGAYTRA"))

	d.SourceStatus = fields.Text(e.Get("TRANGTHAI"))
	d.Status = fields.Enum(c, "TRANGTHAI", d.SourceStatus, src.Statuses)

	d.ResultDelivery = fields.OptionalEnum(c, "HINHTHUCTRA", e.Get("HINHTHUCTRA"), deliveries, schemas.DeliveryOffice)
	if r := e.One("DIACHINHAN"); !r.Empty() {
		d.ResultAddress = &schemas.Recipient{
			Name:  fields.Text(r.Attr("HOTEN")),
			Phone: c.Phone(r.AttrPath("SDT"), r.Attr("SDT")),
			Address: schemas.Address{
				ProvinceCode: c.Province(r.AttrPath("MATINH"), r.Attr("MATINH")),
				DistrictCode: c.Code(r.AttrPath("MAHUYEN"), r.Attr("MAHUYEN"), 3),
				CommuneCode:  c.Code(r.AttrPath("MAXA"), r.Attr("MAXA"), 5),
				Detail:       fields.Text(r.Text()),
			},
		}
	}

	for _, f := range e.All("LEPHI") {
		d.Fees = append(d.Fees, schemas.Fee{
			Code:          fields.Text(f.Attr("MA")),
			Name:          fields.Text(f.Text()),
			Kind:          fields.Enum(c, f.AttrPath("LOAI"), f.Attr("LOAI"), feeKinds),
			Amount:        c.Money(f.AttrPath("SOTIEN"), f.Attr("SOTIEN")),
			Paid:          c.Bool(f.AttrPath("DANOP"), f.Attr("DANOP")),
			PaymentMethod: fields.OptionalEnum(c, f.AttrPath("HINHTHUC"), f.Attr("HINHTHUC"), payments, ""),
		})
	}
	for _, f := range e.All("TEPTIN") {
		d.Attachments = append(d.Attachments, schemas.Attachment{
			ID:            fields.Text(f.Attr("ID")),
			Name:          fields.Text(f.Text()),
			ComponentCode: fields.Text(f.Attr("MATP")),
			Size:          c.Size(f.AttrPath("SIZE"), f.Attr("SIZE")),
			SHA256:        fields.Text(f.Attr("SHA256")),
			URL:           fields.Text(f.Attr("URL")),
		})
	}
	for _, s := range e.All("XULY") {
		st := fields.Text(s.Attr("TRANGTHAI"))
		d.Steps = append(d.Steps, schemas.Step{
			At:           c.RequiredTime(s.AttrPath("THOIDIEM"), s.Attr("THOIDIEM")),
			Status:       fields.Enum(c, s.AttrPath("TRANGTHAI"), st, src.Statuses),
			SourceStatus: st,
			Handler:      fields.Text(s.Attr("NGUOIXULY")),
			Title:        fields.Text(s.Attr("CHUCDANH")),
			Department:   fields.Text(s.Attr("PHONGBAN")),
			Content:      fields.Text(s.Text()),
		})
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	fields.Tidy(d)
	return d, nil
}

// applicant reads <CHUHOSO LOAI>. A citizen's number is in <CCCD> (12-digit
// CCCD or 9-digit CMND); an organisation's tax code is in <MST> or, failing
// that, in <CCCD> (the feed's only ID element in older records).
func applicant(c *fields.Errs, e xmlwalk.Elem) schemas.Applicant {
	if !e.Present() {
		c.Fail(e.Path, "missing")
	}
	a := schemas.Applicant{
		Kind:  fields.Enum(c, e.AttrPath("LOAI"), e.Attr("LOAI"), applicantKinds),
		Name:  c.Required(e.Sub("HOTEN"), e.Get("HOTEN")),
		Email: fields.Text(e.Get("EMAIL")),
	}
	if a.Kind == schemas.ApplicantOrganisation {
		el := "MST"
		if fields.Text(e.Get(el)) == "" {
			el = "CCCD"
		}
		a.IDType, a.IDNumber = c.Identity(e.Sub(el), a.Kind, schemas.IDTypeTax, e.Get(el), "")
	} else {
		a.BirthDate = c.BirthDate(e.Sub("NGAYSINH"), e.Get("NGAYSINH"), "yyyyMMdd")
		a.IDType, a.IDNumber = c.Identity(e.Sub("CCCD"), a.Kind, "", e.Get("CCCD"), a.BirthDate)
	}
	a.Phone = c.Phone(e.Sub("SDT"), e.Get("SDT"))
	a.Address = schemas.Address{
		ProvinceCode: c.Province(e.Sub("MATINH"), e.Get("MATINH")),
		DistrictCode: c.Code(e.Sub("MAHUYEN"), e.Get("MAHUYEN"), 3),
		CommuneCode:  c.Code(e.Sub("MAXA"), e.Get("MAXA"), 5),
		Detail:       fields.Text(e.Get("DIACHI")),
	}
	return a
}
