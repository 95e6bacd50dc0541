package xmlfeed

import (
	"errors"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// format plugs the Hà Tĩnh <HOSO> feed entry into the shared book.
type format struct{}

func (format) Render(d *gen.Dossier, s simctl.Stamp) []byte { return render(d, s) }

// Ingest accepts a <HOSO> element (UTF-8 or windows-1258). THAO_TAC="XOA"
// deletes the dossier. Only the SEQ attribute is set by the portal.
func (format) Ingest(body []byte) (string, func(simctl.Stamp) (simctl.Entry, error), error) {
	doc, err := simctl.ParseXML(body)
	if err != nil {
		return "", nil, err
	}
	root := doc.Root()
	if root.Tag != "HOSO" {
		return "", nil, errors.New("root element must be <HOSO>")
	}
	id, _ := simctl.ChildText(root, "MAHOSO")
	id = strings.TrimSpace(id)
	if id == "" {
		return "", nil, errors.New("<MAHOSO> is required")
	}
	st, _ := simctl.ChildText(root, "TRANGTHAI")
	status, err := strconv.Atoi(strings.TrimSpace(st))
	if err != nil || status < 1 || status > 10 {
		status = 0
	}
	deleted := root.SelectAttrValue("THAO_TAC", "") == "XOA"
	simctl.StripMisc(root)
	return id, func(s simctl.Stamp) (simctl.Entry, error) {
		seq := strconv.FormatInt(s.Seq, 10)
		if a := root.SelectAttr("SEQ"); a != nil {
			a.Value = seq
		} else {
			root.CreateAttr("SEQ", seq)
			n := len(root.Attr) - 1 // SEQ first, as the feed writes it
			root.Attr = append(root.Attr[n:], root.Attr[:n]...)
		}
		return simctl.Entry{Data: simctl.XMLBytes(root, true), Status: status, Deleted: deleted}, nil
	}, nil
}

func (format) Document(data []byte) (string, []byte) {
	return "application/xml; charset=utf-8", append([]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"), data...)
}

// Corrupt corrupts one field of a CAPNHAT entry, keeping MAHOSO and SEQ intact.
func (format) Corrupt(data []byte, choice uint64) ([]byte, string, string, bool) {
	doc, err := simctl.ParseXML(data)
	if err != nil {
		return nil, "", "", false
	}
	h := doc.Root()
	if h.SelectAttrValue("THAO_TAC", "") == "XOA" {
		return nil, "", "", false
	}
	owner := h.SelectElement("CHUHOSO")
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
			e := find(owner, "NGAYSINH")
			if e == nil || len(e.Text()) < 4 {
				continue
			}
			e.SetText(e.Text()[:4] + "1345")
			field = "CHUHOSO/NGAYSINH"
		case simctl.KindUnknownStatus:
			e := h.SelectElement("TRANGTHAI")
			if e == nil {
				continue
			}
			e.SetText("13")
			field = "TRANGTHAI"
		case simctl.KindCCCDCentury, simctl.KindCCCDLength:
			e := find(owner, "CCCD")
			if e == nil || owner.SelectAttrValue("LOAI", "1") != "1" || len(e.Text()) != 12 {
				continue
			}
			if kind == simctl.KindCCCDCentury {
				e.SetText(simctl.WrongCentury(e.Text()))
			} else {
				e.SetText(e.Text()[:11])
			}
			field = "CHUHOSO/CCCD"
		case simctl.KindBadPhone:
			e := find(owner, "SDT")
			if e == nil {
				continue
			}
			e.SetText("09x123")
			field = "CHUHOSO/SDT"
		case simctl.KindFeeNotNumber:
			e := h.SelectElement("LEPHI")
			if e == nil || e.SelectAttr("SOTIEN") == nil {
				continue
			}
			e.CreateAttr("SOTIEN", "abc")
			field = "LEPHI/@SOTIEN"
		case simctl.KindBadSubmitted:
			e := h.SelectElement("NGAYNOP")
			if e == nil {
				continue
			}
			e.SetText([]string{"20261345256100", "khong ro", "2026-11-21 07:45"}[(choice>>8)%3])
			field = "NGAYNOP"
		}
		return simctl.XMLBytes(h, true), field, kind, true
	}
	return nil, "", "", false
}
