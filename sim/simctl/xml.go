package simctl

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
	"golang.org/x/text/encoding/charmap"
)

// ParseXML parses an XML document, decoding UTF-8 and windows-1258 input.
func ParseXML(body []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "":
			return in, nil
		case "windows-1258", "cp1258":
			return charmap.Windows1258.NewDecoder().Reader(in), nil
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, fmt.Errorf("invalid XML: %w", err)
	}
	if doc.Root() == nil {
		return nil, errors.New("invalid XML: no root element")
	}
	return doc, nil
}

// XMLBytes serialises e (without a prolog). emptyPairs writes empty elements
// as <X></X> instead of <X/>.
func XMLBytes(e *etree.Element, emptyPairs bool) []byte {
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.WriteSettings.CanonicalEndTags = emptyPairs
	doc.SetRoot(e)
	b, err := doc.WriteToBytes()
	if err != nil { // writing to memory cannot fail
		panic(err)
	}
	return b
}

// StripMisc removes comments, processing instructions and directives below e,
// so stored fragments hold only elements, attributes and text.
func StripMisc(e *etree.Element) {
	for i := len(e.Child) - 1; i >= 0; i-- {
		switch c := e.Child[i].(type) {
		case *etree.Element:
			StripMisc(c)
		case *etree.Comment, *etree.ProcInst, *etree.Directive:
			e.RemoveChildAt(i)
		}
	}
}

// ChildText returns the text of e's first child element with local name tag
// (any prefix) and whether it exists.
func ChildText(e *etree.Element, tag string) (string, bool) {
	for _, c := range e.ChildElements() {
		if c.Tag == tag {
			return c.Text(), true
		}
	}
	return "", false
}
