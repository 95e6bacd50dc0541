package xmltree

import (
	"bytes"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// Standalone writes e as a self-contained UTF-8 element (no prolog): the
// namespace declarations it relies on from its ancestors are copied onto it,
// prefixes are kept as written. CDATA sections are written as escaped text.
// It needs a tree read by Parse (a ParseElement tree has no prefixes left).
func (e Element) Standalone() []byte {
	if e.e == nil {
		return nil
	}
	var b bytes.Buffer
	write(&b, e.e, e.inheritedDecls())
	return b.Bytes()
}

// inheritedDecls lists the declarations e's subtree needs from outside: the
// prefixes its elements and attributes use, and prefixes an attribute value
// starts with (QName values such as xsi:type="xsd:string").
func (e Element) inheritedDecls() []etree.Attr {
	used := map[string]bool{}
	var walk func(*etree.Element)
	walk = func(x *etree.Element) {
		used[x.Space] = true
		for _, a := range x.Attr {
			if a.Space != "" && a.Space != "xmlns" {
				used[a.Space] = true
			}
			if i := strings.IndexByte(a.Value, ':'); i > 0 && isNCName(a.Value[:i]) {
				used[a.Value[:i]] = true
			}
		}
		for _, t := range x.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
	}
	walk(e.e)
	prefixes := make([]string, 0, len(used))
	for p := range used {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	parent := Element{e: e.e.Parent()}
	var out []etree.Attr
	for _, p := range prefixes {
		if p == "xml" || p == "xmlns" {
			continue
		}
		if _, own := declares(e.e, p); own {
			continue
		}
		uri, ok := parent.Lookup(p)
		if !ok || (p == "" && uri == "") {
			continue
		}
		if p == "" {
			out = append(out, etree.Attr{Key: "xmlns", Value: uri})
		} else {
			out = append(out, etree.Attr{Space: "xmlns", Key: p, Value: uri})
		}
	}
	return out
}

func write(b *bytes.Buffer, e *etree.Element, extra []etree.Attr) {
	name := qname(e.Space, e.Tag)
	b.WriteByte('<')
	b.WriteString(name)
	for _, list := range [][]etree.Attr{extra, e.Attr} {
		for _, a := range list {
			b.WriteByte(' ')
			b.WriteString(qname(a.Space, a.Key))
			b.WriteString(`="`)
			escape(b, a.Value, true)
			b.WriteByte('"')
		}
	}
	if len(e.Child) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, t := range e.Child {
		switch v := t.(type) {
		case *etree.Element:
			write(b, v, nil)
		case *etree.CharData:
			escape(b, v.Data, false)
		case *etree.Comment:
			b.WriteString("<!--")
			b.WriteString(strings.ReplaceAll(v.Data, "--", "- -"))
			b.WriteString("-->")
		case *etree.ProcInst:
			if v.Target == "xml" {
				continue
			}
			b.WriteString("<?")
			b.WriteString(v.Target)
			if v.Inst != "" {
				b.WriteByte(' ')
				b.WriteString(v.Inst)
			}
			b.WriteString("?>")
		case *etree.Directive:
			b.WriteString("<!")
			b.WriteString(v.Data)
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

// escape escapes character data: CR is kept as a reference so a re-parse
// does not fold it into LF. In an attribute value (attr) the quote too, and
// whitespace other than space as references so attribute-value
// normalisation keeps it.
func escape(b *bytes.Buffer, s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case attr && r == '"':
			b.WriteString("&quot;")
		case attr && r == '\t':
			b.WriteString("&#x9;")
		case attr && r == '\n':
			b.WriteString("&#xA;")
		default:
			b.WriteRune(r)
		}
	}
}

// EscapeText returns s escaped for use as XML character data.
func EscapeText(s string) string {
	var b bytes.Buffer
	escape(&b, s, false)
	return b.String()
}

// EscapeAttr returns s escaped for use in a double-quoted attribute.
func EscapeAttr(s string) string {
	var b bytes.Buffer
	escape(&b, s, true)
	return b.String()
}
