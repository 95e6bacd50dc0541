package soap

import (
	"errors"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// format plugs the Thái Nguyên <HoSo> element into the shared book.
type format struct{}

func (format) Render(d *gen.Dossier, s simctl.Stamp) []byte { return render(d, s) }

// Ingest accepts a <HoSo> element in the target namespace or none, with any
// prefix. It is stored unprefixed (answers add the configured prefix), without
// comments or processing instructions; everything else is kept as sent.
func (format) Ingest(body []byte) (string, func(simctl.Stamp) (simctl.Entry, error), error) {
	doc, err := simctl.ParseXML(body)
	if err != nil {
		return "", nil, err
	}
	root := doc.Root()
	if root.Tag != "HoSo" {
		return "", nil, errors.New("root element must be <HoSo>")
	}
	if ns := root.NamespaceURI(); ns != "" && ns != Namespace {
		return "", nil, errors.New("<HoSo> must be in namespace " + Namespace + " or none")
	}
	id, _ := simctl.ChildText(root, "MaHoSo")
	id = strings.TrimSpace(id)
	if id == "" {
		return "", nil, errors.New("<MaHoSo> is required")
	}
	st, _ := simctl.ChildText(root, "TrangThai")
	status := statusCodes[strings.TrimSpace(st)]
	unqualify(root)
	simctl.StripMisc(root)
	return id, func(s simctl.Stamp) (simctl.Entry, error) {
		setChild(root, "PhienBan", strconv.Itoa(s.Version), "MaHoSo")
		setChild(root, "ThoiDiemCapNhat", fmtTime(s.Updated), "PhienBan")
		return simctl.Entry{Data: simctl.XMLBytes(root, false), Status: status}, nil
	}, nil
}

// unqualify drops prefixes and declarations of the target namespace so the
// element can be re-rendered under any prefix.
func unqualify(e *etree.Element) {
	for _, c := range e.ChildElements() {
		unqualify(c)
	}
	if ns := e.NamespaceURI(); ns == Namespace || ns == "" {
		e.Space = ""
	}
	kept := e.Attr[:0]
	for _, a := range e.Attr {
		if (a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")) && a.Value == Namespace {
			continue
		}
		kept = append(kept, a)
	}
	e.Attr = kept
}

// setChild sets the text of child tag, inserting it after child `after` if missing.
func setChild(parent *etree.Element, tag, text, after string) {
	if e := parent.SelectElement(tag); e != nil {
		e.SetText(text)
		return
	}
	e := etree.NewElement(tag)
	e.SetText(text)
	if a := parent.SelectElement(after); a != nil {
		parent.InsertChildAt(a.Index()+1, e)
		return
	}
	parent.InsertChildAt(0, e)
}

func (format) Document(data []byte) (string, []byte) {
	// Declare the target namespace as default on the stored, unprefixed root.
	body := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	if i := indexNameEnd(data); i > 0 {
		body = append(body, data[:i]...)
		body = append(body, ` xmlns="`+Namespace+`"`...)
		body = append(body, data[i:]...)
	} else {
		body = append(body, data...)
	}
	return "text/xml; charset=utf-8", body
}

func indexNameEnd(data []byte) int {
	if len(data) == 0 || data[0] != '<' {
		return -1
	}
	for i := 1; i < len(data); i++ {
		if isNameEnd(data[i]) {
			return i
		}
	}
	return -1
}

// Corrupt corrupts one field, keeping MaHoSo and PhienBan intact.
func (format) Corrupt(data []byte, choice uint64) ([]byte, string, string, bool) {
	doc, err := simctl.ParseXML(data)
	if err != nil {
		return nil, "", "", false
	}
	h := doc.Root()
	owner := h.SelectElement("NguoiNop")
	find := func(parent *etree.Element, tag string) *etree.Element {
		if parent == nil {
			return nil
		}
		return parent.SelectElement(tag)
	}
	for _, kind := range simctl.KindsFrom(choice) {
		var field string
		switch kind {
		case simctl.KindBadDOB:
			e := find(owner, "NgaySinh")
			if e == nil || len(e.Text()) < 4 {
				continue
			}
			t := e.Text()
			e.SetText("45/13/" + t[len(t)-4:])
			field = "NguoiNop/NgaySinh"
		case simctl.KindUnknownStatus:
			e := h.SelectElement("TrangThai")
			if e == nil {
				continue
			}
			e.SetText("CHO_DUYET")
			field = "TrangThai"
		case simctl.KindCCCDCentury, simctl.KindCCCDLength:
			e := find(owner, "SoGiayTo")
			if e == nil || e.SelectAttrValue("Loai", "CCCD") != "CCCD" || len(e.Text()) != 12 {
				continue
			}
			if kind == simctl.KindCCCDCentury {
				e.SetText(simctl.WrongCentury(e.Text()))
			} else {
				e.SetText(e.Text()[:11])
			}
			field = "NguoiNop/SoGiayTo"
		case simctl.KindBadPhone:
			e := find(owner, "DienThoai")
			if e == nil {
				continue
			}
			e.SetText("09x123")
			field = "NguoiNop/DienThoai"
		case simctl.KindFeeNotNumber:
			e := find(h.SelectElement("DanhSachLePhi"), "LePhi")
			if e == nil || e.SelectAttr("SoTien") == nil {
				continue
			}
			e.CreateAttr("SoTien", "abc")
			field = "DanhSachLePhi/LePhi/@SoTien"
		case simctl.KindBadSubmitted:
			e := h.SelectElement("NgayNop")
			if e == nil {
				continue
			}
			e.SetText([]string{"31/02/2026 25:61:00", "không rõ", "2026-11-21T07:40:00"}[(choice>>8)%3])
			field = "NgayNop"
		}
		return simctl.XMLBytes(h, false), field, kind, true
	}
	return nil, "", "", false
}
