// Package xmltree is the XML tree the connectors and the mappers share. A
// document is read with github.com/beevik/etree, which keeps prefixes and
// namespace declarations exactly as written: encoding/xml's Token
// translates prefixes away (so a subtree can't be written back with its
// declarations) and its Encoder rewrites namespaces. Portals answer with
// mc:, tns:, ns1:, x9: or a default namespace; the connectors must match on
// the namespace URI and hand on each record as a standalone element that
// still resolves, and the mappers match on URI and local name, never on
// prefix.
package xmltree

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	"golang.org/x/text/encoding/htmlindex"
)

// Namespace URIs bound without declaration.
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

const maxDepth = 256

// Element is one element of a tree. The zero Element is an absent one:
// lookups on it find nothing and its text is "", so chains need no checks.
type Element struct {
	e *etree.Element
	// resolved: built by ParseElement from encoding/xml's tokens, whose
	// names already carry namespace URIs where the prefixes were.
	resolved bool
}

// Parse reads a document (an optional prolog, one root element) into its
// root element. It is meant to be UTF-8 already, and then any encoding
// label in its prolog is taken as stale; one that is not valid UTF-8 is
// decoded by the charset its prolog declares. Errors never quote the
// document (its text may be personal data).
func Parse(data []byte) (Element, error) {
	valid := utf8.Valid(data)
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader: func(label string, in io.Reader) (io.Reader, error) {
			if valid {
				return in, nil
			}
			enc, err := htmlindex.Get(label)
			if err != nil {
				return nil, fmt.Errorf("unknown charset %q", label)
			}
			return enc.NewDecoder().Reader(in), nil
		},
		PreserveDuplicateAttrs: true,
		MaxDepth:               maxDepth,
	}
	if err := doc.ReadFromBytes(data); err != nil {
		return Element{}, safe(err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return Element{}, errors.New("more than one root element")
			}
			root = t
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return Element{}, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return Element{}, errors.New("no root element")
	}
	return Element{e: root}, nil
}

// ParseElement reads the element that start opened from d, up to its end,
// for a caller that streams a larger document with encoding/xml's Token:
// the namespaces declared around it are in scope. Names in such a tree are
// resolved already (Name and Space work, prefixes are gone), so it cannot
// be written back with Standalone.
func ParseElement(d *xml.Decoder, start xml.StartElement) (Element, error) {
	root := resolvedElement(start, nil)
	cur := root
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Element{}, safe(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxDepth {
				return Element{}, safe(etree.ErrMaxDepth)
			}
			cur = resolvedElement(t, cur)
		case xml.EndElement:
			depth--
			cur = cur.Parent()
		case xml.CharData:
			cur.CreateText(string(t))
		}
	}
	return Element{e: root, resolved: true}, nil
}

func resolvedElement(t xml.StartElement, parent *etree.Element) *etree.Element {
	e := &etree.Element{Space: t.Name.Space, Tag: t.Name.Local}
	for _, a := range t.Attr {
		e.Attr = append(e.Attr, etree.Attr{Space: a.Name.Space, Key: a.Name.Local, Value: a.Value})
	}
	if parent != nil {
		parent.AddChild(e)
	}
	return e
}

// safe keeps an error fit for logs: encoding/xml's syntax errors can quote
// the document (an entity name, a character), which may be personal data,
// so only their line is kept.
func safe(err error) error {
	var se *xml.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error on line %d", se.Line)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("unexpected end of document")
	case errors.Is(err, etree.ErrXML):
		return errors.New("unbalanced or unclosed tags")
	case errors.Is(err, etree.ErrMaxDepth):
		return errors.New("nesting too deep")
	}
	return err // the charset reader's
}

// Present tells whether the element is there at all.
func (e Element) Present() bool { return e.e != nil }

// Prefix is the element's prefix as written ("" for none).
func (e Element) Prefix() string {
	if e.e == nil || e.resolved {
		return ""
	}
	return e.e.Space
}

// Local is the element's local name.
func (e Element) Local() string {
	if e.e == nil {
		return ""
	}
	return e.e.Tag
}

// Lookup resolves a prefix ("" the default namespace) in e's scope.
func (e Element) Lookup(prefix string) (string, bool) {
	switch prefix {
	case "xml":
		return nsXML, true
	case "xmlns":
		return nsXMLNS, true
	}
	for x := e.e; x != nil; x = x.Parent() {
		if uri, ok := declares(x, prefix); ok {
			return uri, true
		}
	}
	return "", false
}

func declares(x *etree.Element, prefix string) (string, bool) {
	for _, a := range x.Attr {
		if (prefix == "" && a.Space == "" && a.Key == "xmlns") || (prefix != "" && a.Space == "xmlns" && a.Key == prefix) {
			return a.Value, true
		}
	}
	return "", false
}

// Space is the element's namespace URI: "" for none, and for a prefix
// declared nowhere.
func (e Element) Space() string {
	if e.e == nil || e.resolved {
		return e.Name().Space
	}
	uri, _ := e.Lookup(e.e.Space)
	return uri
}

// Name is the element's name as encoding/xml's Token resolves it: a prefix
// declared nowhere is kept as the space.
func (e Element) Name() xml.Name {
	if e.e == nil {
		return xml.Name{}
	}
	n := xml.Name{Space: e.e.Space, Local: e.e.Tag}
	if !e.resolved {
		if uri, ok := e.Lookup(n.Space); ok || n.Space == "" {
			n.Space = uri
		}
	}
	return n
}

// Attrs are the attributes (namespace declarations included), named as
// encoding/xml's Token names them: a declaration xmlns:p is {xmlns, p}, the
// default one {"", xmlns}, a prefixed attribute carries its namespace URI
// (its prefix when declared nowhere), an unprefixed one no space.
func (e Element) Attrs() iter.Seq2[xml.Name, string] {
	return func(yield func(xml.Name, string) bool) {
		if e.e == nil {
			return
		}
		for _, a := range e.e.Attr {
			n := xml.Name{Space: a.Space, Local: a.Key}
			if !e.resolved && a.Space != "" && a.Space != "xmlns" {
				if uri, ok := e.Lookup(a.Space); ok {
					n.Space = uri
				}
			}
			if !yield(n, a.Value) {
				return
			}
		}
	}
}

// Attr returns the value of the unprefixed attribute local and whether it
// is present.
func (e Element) Attr(local string) (string, bool) {
	if e.e == nil {
		return "", false
	}
	for _, a := range e.e.Attr {
		if a.Space == "" && a.Key == local {
			return a.Value, true
		}
	}
	return "", false
}

// Is reports whether e is named local in one of the namespaces spaces (in
// any namespace when spaces is empty).
func (e Element) Is(local string, spaces ...string) bool {
	if e.e == nil || e.e.Tag != local {
		return false
	}
	return len(spaces) == 0 || slices.Contains(spaces, e.Space())
}

// Elements are the child elements, in order.
func (e Element) Elements() iter.Seq[Element] {
	return func(yield func(Element) bool) {
		if e.e == nil {
			return
		}
		for _, t := range e.e.Child {
			if c, ok := t.(*etree.Element); ok && !yield(Element{e: c, resolved: e.resolved}) {
				return
			}
		}
	}
}

// Child returns the first child element named local in one of spaces
// (any namespace when spaces is empty), or the absent Element.
func (e Element) Child(local string, spaces ...string) Element {
	for c := range e.Elements() {
		if c.Is(local, spaces...) {
			return c
		}
	}
	return Element{}
}

// Find returns the first descendant (depth first, e excluded) named local
// in one of spaces, or the absent Element.
func (e Element) Find(local string, spaces ...string) Element {
	for c := range e.Elements() {
		if c.Is(local, spaces...) {
			return c
		}
		if f := c.Find(local, spaces...); f.e != nil {
			return f
		}
	}
	return Element{}
}

// FindAll returns the outermost descendants named local in one of spaces:
// it does not look inside a match.
func (e Element) FindAll(local string, spaces ...string) []Element {
	var out []Element
	var walk func(Element)
	walk = func(x Element) {
		for c := range x.Elements() {
			if c.Is(local, spaces...) {
				out = append(out, c)
				continue
			}
			walk(c)
		}
	}
	walk(e)
	return out
}

// Text returns the concatenated character data of e and its descendants.
func (e Element) Text() string { return e.text(true) }

// OwnText returns the character data directly inside e, its children's
// left out.
func (e Element) OwnText() string { return e.text(false) }

func (e Element) text(deep bool) string {
	if e.e == nil {
		return ""
	}
	if len(e.e.Child) == 1 { // the usual leaf
		if cd, ok := e.e.Child[0].(*etree.CharData); ok {
			return cd.Data
		}
	}
	var b strings.Builder
	var walk func(*etree.Element)
	walk = func(x *etree.Element) {
		for _, t := range x.Child {
			switch v := t.(type) {
			case *etree.CharData:
				b.WriteString(v.Data)
			case *etree.Element:
				if deep {
					walk(v)
				}
			}
		}
	}
	walk(e.e)
	return b.String()
}
