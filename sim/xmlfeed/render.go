package xmlfeed

import (
	"strconv"
	"time"

	"github.com/beevik/etree"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Date layouts of the Hà Tĩnh feed.
const (
	dateTime = "20060102150405"
	dateOnly = "20060102"
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(gen.VN).Format(dateTime)
}

// el adds a child element; empty text is written <X></X> ("no value").
func el(parent *etree.Element, tag, text string) *etree.Element {
	e := parent.CreateElement(tag)
	if text != "" {
		e.SetText(text)
	}
	return e
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// render renders a generated dossier as a feed entry <HOSO SEQ THAO_TAC>.
func render(d *gen.Dossier, s simctl.Stamp) []byte {
	h := etree.NewElement("HOSO")
	h.CreateAttr("SEQ", strconv.FormatInt(s.Seq, 10))
	if d.Deleted {
		h.CreateAttr("THAO_TAC", "XOA")
		el(h, "MAHOSO", d.MaHoSo)
		return simctl.XMLBytes(h, true)
	}
	h.CreateAttr("THAO_TAC", "CAPNHAT")
	el(h, "MAHOSO", d.MaHoSo)
	el(h, "MATTHC", d.Procedure.MaTTHC)
	el(h, "TENTTHC", d.Procedure.TenTTHC)
	el(h, "MUCDO", d.Level42())
	el(h, "MALINHVUC", d.Procedure.MaLinhVuc)
	el(h, "TENLINHVUC", d.Procedure.TenLinhVuc)
	el(h, "MADONVI", d.Agency.Ma)
	el(h, "TENDONVI", d.Agency.Ten)
	el(h, "KENH", strconv.Itoa(d.Channel))

	o := d.Owner
	c := h.CreateElement("CHUHOSO")
	c.CreateAttr("LOAI", strconv.Itoa(o.Kind))
	el(c, "HOTEN", o.Name)
	if o.Kind == gen.PartyOrganisation {
		// The feed has one identifier element; organisations carry their tax code in it.
		el(c, "CCCD", o.TaxCode)
		el(c, "NGAYSINH", "")
	} else {
		el(c, "CCCD", o.CCCD)
		el(c, "NGAYSINH", o.Birth.Format(dateOnly))
	}
	el(c, "SDT", o.Phone)
	el(c, "EMAIL", o.Email)
	el(c, "MATINH", o.Province)
	if d.LegacyDistrict {
		el(c, "MAHUYEN", o.District)
	}
	el(c, "MAXA", o.Commune)
	el(c, "DIACHI", o.Address)

	el(h, "TRICHYEU", d.Summary)
	el(h, "NGAYNOP", fmtTime(d.Submitted))
	el(h, "NGAYTIEPNHAN", fmtTime(d.Received))
	el(h, "NGAYHENTRA", fmtTime(d.Due))
	el(h, "NGAYTRA", fmtTime(d.Returned))
	el(h, "TRANGTHAI", strconv.Itoa(d.Status))
	el(h, "HINHTHUCTRA", strconv.Itoa(d.ResultChannel))
	if dv := d.Delivery; dv != nil {
		e := el(h, "DIACHINHAN", dv.Address)
		e.CreateAttr("HOTEN", dv.Name)
		e.CreateAttr("SDT", dv.Phone)
		e.CreateAttr("MATINH", dv.Province)
		e.CreateAttr("MAXA", dv.Commune)
	}
	for _, f := range d.Fees {
		e := el(h, "LEPHI", f.Name)
		e.CreateAttr("MA", f.Code)
		e.CreateAttr("LOAI", strconv.Itoa(f.Kind))
		e.CreateAttr("SOTIEN", strconv.FormatInt(f.Amount, 10))
		e.CreateAttr("DANOP", b01(f.Paid))
		e.CreateAttr("HINHTHUC", strconv.Itoa(f.PayChannel))
	}
	for _, f := range d.Files {
		e := el(h, "TEPTIN", f.Name)
		e.CreateAttr("ID", f.ID)
		e.CreateAttr("MATP", f.Component)
		e.CreateAttr("SIZE", strconv.FormatInt(f.Size, 10))
		e.CreateAttr("SHA256", f.SHA256)
		e.CreateAttr("URL", f.URL)
	}
	for _, st := range d.History {
		e := el(h, "XULY", st.Content)
		e.CreateAttr("THOIDIEM", fmtTime(st.Time))
		e.CreateAttr("TRANGTHAI", strconv.Itoa(st.Status))
		e.CreateAttr("NGUOIXULY", st.Handler)
		e.CreateAttr("CHUCDANH", st.Title)
		e.CreateAttr("PHONGBAN", st.Department)
	}
	return simctl.XMLBytes(h, true)
}
