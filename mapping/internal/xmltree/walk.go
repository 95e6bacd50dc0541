package xmltree

import (
	"encoding/xml"
	"strconv"

	"github.com/lienthong/lienthong/mapping/internal/fields"
)

// Elem is a node (possibly absent) at a path, read on behalf of a mapper
// whose first failure c keeps. An absent element reads as empty: an empty
// or missing element is no value.
type Elem struct {
	N    *Node
	Path string // "" for the root
	c    *fields.Errs
	inNS func(space string) bool
}

// Root starts a walk at n. inNS says which namespace URIs children (and
// prefixed attributes) may have to count as the source's own.
func Root(n *Node, c *fields.Errs, inNS func(space string) bool) Elem {
	return Elem{N: n, c: c, inNS: inNS}
}

// Sub is the path of a child or attribute ("@Name") of e.
func (e Elem) Sub(name string) string {
	if e.Path == "" {
		return name
	}
	return e.Path + "/" + name
}

func (e Elem) kids(local string) []*Node {
	if e.N == nil {
		return nil
	}
	var out []*Node
	for _, k := range e.N.Kids {
		if k.Name.Local == local && e.inNS(k.Name.Space) {
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
func (e Elem) Text() string {
	if e.N == nil {
		return ""
	}
	return e.N.Text
}

// Get is the text of the single child named local.
func (e Elem) Get(local string) string { return e.One(local).Text() }

// Attr is the value of the attribute named local ("" when absent).
func (e Elem) Attr(local string) string {
	if e.N == nil {
		return ""
	}
	for _, a := range e.N.Attr {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space != "xmlns" && e.inNS(a.Name.Space)) {
			return a.Value
		}
	}
	return ""
}

// AttrPath is the path of the attribute named local.
func (e Elem) AttrPath(local string) string { return e.Sub("@" + local) }

// Present tells whether the element is there at all.
func (e Elem) Present() bool { return e.N != nil }

// Empty tells whether the element is absent or carries nothing: no
// attributes, no children, only blank text.
func (e Elem) Empty() bool {
	if e.N == nil {
		return true
	}
	for _, a := range e.N.Attr {
		if a.Name.Space != "xmlns" && a.Name.Local != "xmlns" {
			return false
		}
	}
	return len(e.N.Kids) == 0 && fields.Text(e.N.Text) == ""
}

// Name is the element's resolved name.
func (e Elem) Name() xml.Name {
	if e.N == nil {
		return xml.Name{}
	}
	return e.N.Name
}
