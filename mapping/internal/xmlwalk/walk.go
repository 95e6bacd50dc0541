// Package xmlwalk walks one parsed XML element with paths in the source's
// own vocabulary (NguoiNop/SoGiayTo, DanhSachLePhi/LePhi[0]/@SoTien), so
// that a mapper can name the field that failed. Elements are matched on
// namespace URI and local name, never on prefix.
package xmlwalk

import (
	"encoding/xml"
	"strconv"

	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/mapping/internal/fields"
)

// Elem is a node (possibly absent) at a path, read on behalf of a mapper
// whose first failure c keeps. An absent element reads as empty: an empty
// or missing element is no value.
type Elem struct {
	N    xmltree.Element
	Path string // "" for the root
	c    *fields.Errs
	inNS func(space string) bool
}

// Root starts a walk at n. inNS says which namespace URIs children (and
// prefixed attributes) may have to count as the source's own.
func Root(n xmltree.Element, c *fields.Errs, inNS func(space string) bool) Elem {
	return Elem{N: n, c: c, inNS: inNS}
}

// Sub is the path of a child or attribute ("@Name") of e.
func (e Elem) Sub(name string) string {
	if e.Path == "" {
		return name
	}
	return e.Path + "/" + name
}

func (e Elem) kids(local string) []xmltree.Element {
	var out []xmltree.Element
	for k := range e.N.Elements() {
		if k.Local() == local && e.inNS(k.Name().Space) {
			out = append(out, k)
		}
	}
	return out
}

// One is the single child named local; a repeated one is a failure.
func (e Elem) One(local string) Elem {
	ks := e.kids(local)
	out := Elem{Path: e.Sub(local), c: e.c, inNS: e.inNS}
	if len(ks) > 1 {
		e.c.Fail(out.Path, "element repeated")
	}
	if len(ks) > 0 {
		out.N = ks[0]
	}
	return out
}

// All are the children named local, in order, with indexed paths.
func (e Elem) All(local string) []Elem {
	ks := e.kids(local)
	out := make([]Elem, len(ks))
	for i, k := range ks {
		out[i] = Elem{N: k, Path: e.Sub(local) + "[" + strconv.Itoa(i) + "]", c: e.c, inNS: e.inNS}
	}
	return out
}

// Text is the character data of the element ("" when absent).
func (e Elem) Text() string { return e.N.OwnText() }

// Get is the text of the single child named local.
func (e Elem) Get(local string) string { return e.One(local).Text() }

// Attr is the value of the attribute named local ("" when absent).
func (e Elem) Attr(local string) string {
	for n, v := range e.N.Attrs() {
		if n.Local == local && (n.Space == "" || n.Space != "xmlns" && e.inNS(n.Space)) {
			return v
		}
	}
	return ""
}

// AttrPath is the path of the attribute named local.
func (e Elem) AttrPath(local string) string { return e.Sub("@" + local) }

// Present tells whether the element is there at all.
func (e Elem) Present() bool { return e.N.Present() }

// Empty tells whether the element is absent or carries nothing: no
// attributes, no children, only blank text.
func (e Elem) Empty() bool {
	for n := range e.N.Attrs() {
		if n.Space != "xmlns" && n.Local != "xmlns" {
			return false
		}
	}
	for range e.N.Elements() {
		return false
	}
	return fields.Text(e.N.OwnText()) == ""
}

// Name is the element's resolved name.
func (e Elem) Name() xml.Name { return e.N.Name() }
