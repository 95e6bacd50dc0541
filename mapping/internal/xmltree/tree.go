// Package xmltree reads one XML element into a small tree and walks it with
// paths in the source's own vocabulary (NguoiNop/SoGiayTo,
// DanhSachLePhi/LePhi[0]/@SoTien), so that a mapper can name the field that
// failed. Elements are matched on namespace URI and local name, never on
// prefix: encoding/xml resolves prefixes to URIs as it reads.
package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// Node is one element: its resolved name, attributes, the character data
// directly inside it and its child elements in document order.
type Node struct {
	Name xml.Name
	Attr []xml.Attr
	Text string
	Kids []*Node
}

// Parse reads a standalone element, optionally preceded by a prolog.
// Payloads are meant to be UTF-8 already; if one still declares another
// charset and is not valid UTF-8, it is decoded by that charset. Errors
// carry no text of the payload (see safe).
func Parse(payload []byte) (*Node, error) {
	n, err := parse(payload)
	return n, safe(err)
}

func parse(payload []byte) (*Node, error) {
	d := xml.NewDecoder(bytes.NewReader(payload))
	valid := utf8.Valid(payload)
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		if valid { // already decoded by the connector; the prolog is stale
			return in, nil
		}
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, fmt.Errorf("unknown charset %q", label)
		}
		return enc.NewDecoder().Reader(in), nil
	}
	var root *Node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil {
				return nil, errors.New("more than one element")
			}
			if root, err = parseElement(d, t); err != nil {
				return nil, err
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no element")
	}
	return root, nil
}

// ParseElement reads the element that start opened from d, up to its end.
// It lets a caller that streams a larger document (a SOAP answer) hand over
// one element with the namespaces declared around it already in scope.
func ParseElement(d *xml.Decoder, start xml.StartElement) (*Node, error) {
	n, err := parseElement(d, start)
	return n, safe(err)
}

func parseElement(d *xml.Decoder, start xml.StartElement) (*Node, error) {
	n := &Node{Name: start.Name, Attr: start.Attr}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := parseElement(d, t)
			if err != nil {
				return nil, err
			}
			n.Kids = append(n.Kids, k)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			n.Text = text.String()
			return n, nil
		}
	}
}

// safe keeps an error fit for logs: encoding/xml's syntax errors can quote
// the payload (an entity name, a character), which may be personal data, so
// only their line is kept.
func safe(err error) error {
	var se *xml.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return fmt.Errorf("syntax error on line %d", se.Line)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("unexpected end of payload")
	}
	return err // our own messages, and the charset reader's
}
