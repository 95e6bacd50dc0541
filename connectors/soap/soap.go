package soap

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
)

// SOAP envelope namespaces; 1.2 is accepted in answers in case a gateway
// upgrades the service.
const (
	soap11 = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12 = "http://www.w3.org/2003/05/soap-envelope"
)

// call sends one SOAP 1.1 request with the XacThuc header and returns the
// answer's Body element and HTTP header (for its Date). inner is the Body
// content, written with the mc: prefix. Faults become *httpx.Error with
// Code/Message set.
func (c *Client) call(ctx context.Context, op, operation, inner string) (xmltree.Element, http.Header, error) {
	env := `<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + soap11 + `" xmlns:mc="` + xmltree.EscapeAttr(c.cfg.Namespace) + `">` +
		`<soap:Header><mc:XacThuc>` +
		`<mc:TenDangNhap>` + xmltree.EscapeText(c.cfg.Username) + `</mc:TenDangNhap>` +
		`<mc:MatKhau>` + xmltree.EscapeText(c.cfg.Password) + `</mc:MatKhau>` +
		`</mc:XacThuc></soap:Header>` +
		`<soap:Body>` + inner + `</soap:Body></soap:Envelope>`
	action := `"` + c.cfg.Namespace + operation + `"`
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, servicePath), strings.NewReader(env))
		if err == nil {
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", action)
		}
		return req, err
	})
	if err != nil {
		return xmltree.Element{}, nil, err
	}
	body, perr := parseEnvelope(resp)
	if perr != nil {
		if !resp.Success() {
			return xmltree.Element{}, nil, httpx.StatusError(op, resp)
		}
		return xmltree.Element{}, nil, httpx.MalformedError(op, perr)
	}
	if f := body.Child("Fault", soap11, soap12); f.Present() {
		return xmltree.Element{}, nil, faultError(op, resp.Status, f)
	}
	if !resp.Success() {
		return xmltree.Element{}, nil, httpx.StatusError(op, resp)
	}
	return body, resp.Header, nil
}

func parseEnvelope(resp *httpx.Response) (xmltree.Element, error) {
	utf, _, err := httpx.ToUTF8(resp.Body, resp.Header.Get("Content-Type"))
	if err != nil {
		return xmltree.Element{}, err
	}
	root, err := xmltree.Parse(utf)
	if err != nil {
		return xmltree.Element{}, err
	}
	if !root.Is("Envelope", soap11, soap12) {
		return xmltree.Element{}, errors.New("answer is not a SOAP envelope")
	}
	body := root.Child("Body", soap11, soap12)
	if !body.Present() {
		return xmltree.Element{}, errors.New("SOAP envelope without Body")
	}
	return body, nil
}

// faultError classifies a SOAP fault: Client/Sender faults (bad request,
// bad credentials) are permanent, Server/Receiver faults transient.
func faultError(op string, status int, f xmltree.Element) *httpx.Error {
	code := strings.TrimSpace(f.Child("faultcode").Text())
	msg := strings.TrimSpace(f.Child("faultstring").Text())
	if code == "" { // SOAP 1.2: Code/Value, Reason/Text
		code = strings.TrimSpace(f.Child("Code").Child("Value").Text())
		msg = strings.TrimSpace(f.Child("Reason").Child("Text").Text())
	}
	local := code
	if i := strings.LastIndexByte(local, ':'); i >= 0 {
		local = local[i+1:]
	}
	local = strings.ToLower(local)
	e := &httpx.Error{Op: op, Status: status, Code: httpx.Clip(code, 80), Message: httpx.Clip(msg, 200)}
	switch {
	case strings.HasPrefix(local, "server"), strings.HasPrefix(local, "receiver"):
		e.Transient = true
	case strings.HasPrefix(local, "client"), strings.HasPrefix(local, "sender"),
		strings.HasPrefix(local, "versionmismatch"), strings.HasPrefix(local, "mustunderstand"):
		e.Transient = false
	default:
		e.Transient = status >= 500
	}
	if !e.Transient && isAuthFault(msg) {
		e.Err = httpx.ErrAuth
	}
	return e
}

// isAuthFault recognises the credentials fault ("Sai thông tin xác thực"),
// whatever the Unicode normalisation of the answer.
func isAuthFault(msg string) bool {
	m := strings.ToLower(norm.NFC.String(msg))
	return strings.Contains(m, "xác thực") || strings.Contains(m, "xac thuc") ||
		strings.Contains(m, "authentic") || strings.Contains(m, "đăng nhập")
}
