package httpx

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// A small XML tree that keeps prefixes and namespace declarations exactly as
// written. encoding/xml's Token translates prefixes away (so a subtree can't
// be written back with its declarations) and its Encoder rewrites namespaces;
// portals answer with mc:, tns:, ns1:, x9: or a default namespace, and we
// must both match on the namespace URI and hand on each record as a
// standalone element that still resolves.

// Namespace URIs bound without declaration.
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

const maxXMLDepth = 256

// Element is one XML element. Nodes holds children in order: *Element,
// xml.CharData, xml.Comment, xml.ProcInst or xml.Directive.
type Element struct {
	Prefix string // as written ("" for none)
	Local  string
	Space  string // resolved namespace URI ("" for none)
	Attrs  []Attr
	Nodes  []any
	Parent *Element
}

// Attr is one attribute, including xmlns declarations.
type Attr struct {
	Prefix string // "xmlns" for xmlns:p declarations
	Local  string
	Space  string // resolved namespace URI for prefixed attributes
	Value  string
}

// ParseXML parses a UTF-8 document (already transcoded; any encoding label
// in its prolog is accepted as-is) into its root element.
func ParseXML(data []byte) (*Element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var root, cur *Element
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if cur == nil && root != nil {
				return nil, errors.New("xml: more than one root element")
			}
			if depth++; depth > maxXMLDepth {
				return nil, errors.New("xml: nesting too deep")
			}
			e := &Element{Prefix: t.Name.Space, Local: t.Name.Local, Parent: cur}
			for _, a := range t.Attr {
				e.Attrs = append(e.Attrs, Attr{Prefix: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			e.Space, _ = e.Lookup(e.Prefix)
			for i := range e.Attrs {
				if p := e.Attrs[i].Prefix; p != "" && p != "xmlns" {
					e.Attrs[i].Space, _ = e.Lookup(p)
				}
			}
			if cur == nil {
				root = e
			} else {
				cur.Nodes = append(cur.Nodes, e)
			}
			cur = e
		case xml.EndElement:
			// RawToken does not match end tags; we do.
			if cur == nil || t.Name.Space != cur.Prefix || t.Name.Local != cur.Local {
				return nil, fmt.Errorf("xml: unexpected end element </%s> at offset %d", qname(t.Name.Space, t.Name.Local), d.InputOffset())
			}
			cur = cur.Parent
			depth--
		case xml.CharData:
			if cur != nil {
				cur.Nodes = append(cur.Nodes, t.Copy())
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("xml: text outside the root element")
			}
		case xml.Comment:
			if cur != nil {
				cur.Nodes = append(cur.Nodes, t.Copy())
			}
		case xml.ProcInst:
			if cur != nil {
				cur.Nodes = append(cur.Nodes, t.Copy())
			}
		case xml.Directive:
			if cur != nil {
				cur.Nodes = append(cur.Nodes, t.Copy())
			}
		}
	}
	if root == nil {
		return nil, errors.New("xml: no root element")
	}
	if cur != nil {
		return nil, fmt.Errorf("xml: unexpected end of document inside <%s>", qname(cur.Prefix, cur.Local))
	}
	return root, nil
}

// Lookup resolves a prefix ("" = default namespace) in e's scope.
func (e *Element) Lookup(prefix string) (string, bool) {
	switch prefix {
	case "xml":
		return nsXML, true
	case "xmlns":
		return nsXMLNS, true
	}
	for x := e; x != nil; x = x.Parent {
		if uri, ok := x.declares(prefix); ok {
			return uri, true
		}
	}
	return "", false
}

func (e *Element) declares(prefix string) (string, bool) {
	for _, a := range e.Attrs {
		if (prefix == "" && a.Prefix == "" && a.Local == "xmlns") ||
			(prefix != "" && a.Prefix == "xmlns" && a.Local == prefix) {
			return a.Value, true
		}
	}
	return "", false
}

// Is reports whether e is named local in one of the namespaces spaces.
func (e *Element) Is(local string, spaces ...string) bool {
	if e == nil || e.Local != local {
		return false
	}
	for _, s := range spaces {
		if e.Space == s {
			return true
		}
	}
	return len(spaces) == 0
}

// Elements returns the child elements.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// Child returns the first child element named local in one of spaces
// (any namespace when spaces is empty), or nil.
func (e *Element) Child(local string, spaces ...string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Elements() {
		if c.Is(local, spaces...) {
			return c
		}
	}
	return nil
}

// Find returns the first descendant (depth first, e excluded) named local in
// one of spaces, or nil.
func (e *Element) Find(local string, spaces ...string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Elements() {
		if c.Is(local, spaces...) {
			return c
		}
		if f := c.Find(local, spaces...); f != nil {
			return f
		}
	}
	return nil
}

// FindAll returns the outermost descendants named local in one of spaces:
// it does not look inside a match.
func (e *Element) FindAll(local string, spaces ...string) []*Element {
	var out []*Element
	var walk func(*Element)
	walk = func(x *Element) {
		for _, c := range x.Elements() {
			if c.Is(local, spaces...) {
				out = append(out, c)
				continue
			}
			walk(c)
		}
	}
	if e != nil {
		walk(e)
	}
	return out
}

// Text returns the concatenated character data of e and its descendants.
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*Element)
	walk = func(x *Element) {
		for _, n := range x.Nodes {
			switch v := n.(type) {
			case xml.CharData:
				b.Write(v)
			case *Element:
				walk(v)
			}
		}
	}
	walk(e)
	return b.String()
}

// Attr returns the value of the unprefixed attribute local and whether it
// is present.
func (e *Element) Attr(local string) (string, bool) {
	if e == nil {
		return "", false
	}
	for _, a := range e.Attrs {
		if a.Prefix == "" && a.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// Standalone writes e as a self-contained UTF-8 element (no prolog): the
// namespace declarations it relies on from its ancestors are copied onto it,
// prefixes are kept as written.
func (e *Element) Standalone() []byte {
	var b bytes.Buffer
	extra := e.inheritedDecls()
	e.write(&b, extra)
	return b.Bytes()
}

// inheritedDecls lists the declarations e's subtree needs from outside: the
// prefixes its elements and attributes use, and prefixes an attribute value
// starts with (QName values such as xsi:type="xsd:string").
func (e *Element) inheritedDecls() []Attr {
	used := map[string]bool{}
	var walk func(*Element)
	walk = func(x *Element) {
		used[x.Prefix] = true
		for _, a := range x.Attrs {
			if a.Prefix != "" && a.Prefix != "xmlns" {
				used[a.Prefix] = true
			}
			if i := strings.IndexByte(a.Value, ':'); i > 0 && isNCName(a.Value[:i]) {
				used[a.Value[:i]] = true
			}
		}
		for _, c := range x.Elements() {
			walk(c)
		}
	}
	walk(e)
	prefixes := make([]string, 0, len(used))
	for p := range used {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	var out []Attr
	for _, p := range prefixes {
		if p == "xml" || p == "xmlns" {
			continue
		}
		if _, own := e.declares(p); own {
			continue
		}
		uri, ok := e.Parent.lookupFrom(p)
		if !ok || (p == "" && uri == "") {
			continue
		}
		if p == "" {
			out = append(out, Attr{Local: "xmlns", Value: uri})
		} else {
			out = append(out, Attr{Prefix: "xmlns", Local: p, Value: uri})
		}
	}
	return out
}

func (e *Element) lookupFrom(prefix string) (string, bool) {
	if e == nil {
		return "", false
	}
	return e.Lookup(prefix)
}

func (e *Element) write(b *bytes.Buffer, extra []Attr) {
	name := qname(e.Prefix, e.Local)
	b.WriteByte('<')
	b.WriteString(name)
	for _, list := range [][]Attr{extra, e.Attrs} {
		for _, a := range list {
			b.WriteByte(' ')
			b.WriteString(qname(a.Prefix, a.Local))
			b.WriteString(`="`)
			escapeAttr(b, a.Value)
			b.WriteByte('"')
		}
	}
	if len(e.Nodes) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Nodes {
		switch v := n.(type) {
		case *Element:
			v.write(b, nil)
		case xml.CharData:
			escapeText(b, string(v))
		case xml.Comment:
			b.WriteString("<!--")
			b.Write(bytes.ReplaceAll(v, []byte("--"), []byte("- -")))
			b.WriteString("-->")
		case xml.ProcInst:
			if v.Target == "xml" {
				continue
			}
			b.WriteString("<?")
			b.WriteString(v.Target)
			if len(v.Inst) > 0 {
				b.WriteByte(' ')
				b.Write(v.Inst)
			}
			b.WriteString("?>")
		case xml.Directive:
			b.WriteString("<!")
			b.Write(v)
			b.WriteByte('>')
		}
	}
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

func isNCName(s string) bool {
	for i, r := range s {
		ok := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r > 0x7F ||
			(i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'))
		if !ok {
			return false
		}
	}
	return s != ""
}

// escapeText escapes character data; CR is kept as a reference so a
// re-parse does not fold it into LF.
func escapeText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

// escapeAttr escapes an attribute value; whitespace other than space is
// written as references so attribute-value normalisation keeps it.
func escapeAttr(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

// EscapeText returns s escaped for use as XML character data.
func EscapeText(s string) string {
	var b bytes.Buffer
	escapeText(&b, s)
	return b.String()
}

// EscapeAttr returns s escaped for use in a double-quoted attribute.
func EscapeAttr(s string) string {
	var b bytes.Buffer
	escapeAttr(&b, s)
	return b.String()
}
