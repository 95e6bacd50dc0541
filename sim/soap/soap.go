package soap

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/beevik/etree"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Namespaces.
const (
	Namespace = "http://motcua.thainguyen.gov.vn/"
	SoapNS    = "http://schemas.xmlsoap.org/soap/envelope/"
)

const envelopeStart = `<?xml version="1.0" encoding="utf-8"?>` +
	`<soap:Envelope xmlns:soap="` + SoapNS + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
	`<soap:Body>`

const envelopeEnd = `</soap:Body></soap:Envelope>`

const contentType = "text/xml; charset=utf-8"

// faultBody renders a SOAP 1.1 fault; code is "soap:Client" or "soap:Server".
func faultBody(code, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(envelopeStart)
	b.WriteString(`<soap:Fault><faultcode>` + code + `</faultcode><faultstring>`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</faultstring><detail/></soap:Fault>`)
	b.WriteString(envelopeEnd)
	return b.Bytes()
}

func writeFault(w http.ResponseWriter, code, msg string) {
	simctl.WriteRaw(w, http.StatusInternalServerError, contentType, faultBody(code, msg))
}

// clientFault is a request error answered as soap:Client.
type clientFault string

func (f clientFault) Error() string { return string(f) }

// request is a parsed SOAP request.
type request struct {
	op       *etree.Element // the operation element in the body
	user     string
	password string
	hasAuth  bool
}

// parseRequest parses a SOAP 1.1 envelope, matching elements by namespace URI
// and local name whatever prefixes the client chose.
func parseRequest(body []byte) (*request, error) {
	doc, err := simctl.ParseXML(body)
	if err != nil {
		return nil, clientFault("Yêu cầu SOAP không hợp lệ: " + err.Error())
	}
	env := doc.Root()
	if env.Tag != "Envelope" || env.NamespaceURI() != SoapNS {
		return nil, clientFault("Phần tử gốc phải là soap:Envelope (SOAP 1.1)")
	}
	req := &request{}
	if hdr := child(env, SoapNS, "Header"); hdr != nil {
		if auth := child(hdr, Namespace, "XacThuc"); auth != nil {
			req.hasAuth = true
			req.user = childText(auth, "TenDangNhap")
			req.password = childText(auth, "MatKhau")
		}
	}
	bodyEl := child(env, SoapNS, "Body")
	if bodyEl == nil || len(bodyEl.ChildElements()) == 0 {
		return nil, clientFault("Thiếu soap:Body")
	}
	req.op = bodyEl.ChildElements()[0]
	return req, nil
}

// child returns e's first child element with namespace ns and local name tag.
func child(e *etree.Element, ns, tag string) *etree.Element {
	for _, c := range e.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

// childText returns the text of the target-namespace child tag, or "".
func childText(e *etree.Element, tag string) string {
	if c := child(e, Namespace, tag); c != nil {
		return c.Text()
	}
	return ""
}

// hasChild reports whether the target-namespace child tag is present.
func hasChild(e *etree.Element, tag string) bool { return child(e, Namespace, tag) != nil }

// response wraps result content in <Op>Response under prefix p.
func response(op, p string, content []byte) []byte {
	name := op + "Response"
	var b bytes.Buffer
	b.WriteString(envelopeStart)
	if p == "" {
		b.WriteString(`<` + name + ` xmlns="` + Namespace + `">`)
	} else {
		b.WriteString(`<` + p + `:` + name + ` xmlns:` + p + `="` + Namespace + `">`)
	}
	b.Write(prefixed(content, p))
	b.WriteString(`</` + qname(p, name) + `>`)
	b.WriteString(envelopeEnd)
	return b.Bytes()
}

func qname(p, local string) string {
	if p == "" {
		return local
	}
	return p + ":" + local
}

func itoa(n int) string { return strconv.Itoa(n) }
