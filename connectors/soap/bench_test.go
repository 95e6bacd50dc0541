package soap

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// listAnswer is a LayDanhSachHoSo answer of n copies of the spec's <HoSo>
// (mapping's fixture), each with its own MaHoSo, under the tns: prefix.
func listAnswer(b *testing.B, n int) []byte {
	b.Helper()
	doc, err := os.ReadFile("../../mapping/soap/testdata/spec_response.xml")
	if err != nil {
		b.Fatal(err)
	}
	from, to := bytes.Index(doc, []byte("<HoSo>")), bytes.Index(doc, []byte("</HoSo>"))+len("</HoSo>")
	hoso := bytes.ReplaceAll(doc[from:to], []byte("<"), []byte("<tns:"))
	hoso = bytes.ReplaceAll(hoso, []byte("<tns:/"), []byte("</tns:"))
	var out bytes.Buffer
	out.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + soap11 + `" xmlns:tns="` + DefaultNamespace + `"><soap:Body>` +
		`<tns:LayDanhSachHoSoResponse><tns:LayDanhSachHoSoResult><tns:TongSoBanGhi>100</tns:TongSoBanGhi><tns:DanhSachHoSo>`)
	for i := range n {
		out.Write(bytes.Replace(hoso, []byte("261121-0007"), fmt.Appendf(nil, "261121-%04d", i), 1))
	}
	out.WriteString(`</tns:DanhSachHoSo></tns:LayDanhSachHoSoResult></tns:LayDanhSachHoSoResponse></soap:Body></soap:Envelope>`)
	return out.Bytes()
}

// BenchmarkListAnswer reads a 100-dossier page as list does: the envelope
// parsed, each <HoSo> found and turned into a record (standalone payload).
func BenchmarkListAnswer(b *testing.B) {
	c, err := New(Config{Source: "thainguyen", BaseURL: "http://127.0.0.1", Username: "hub"})
	if err != nil {
		b.Fatal(err)
	}
	resp := &httpx.Response{Status: 200, Header: http.Header{"Content-Type": {"text/xml; charset=utf-8"}}, Body: listAnswer(b, 100)}
	b.SetBytes(int64(len(resp.Body)))
	b.ReportAllocs()
	for b.Loop() {
		body, err := parseEnvelope(resp)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, h := range body.Find("LayDanhSachHoSoResponse", c.spaces...).FindAll("HoSo", c.spaces...) {
			if r := c.record(h, t0); r.ID == "" || r.Updated == nil {
				b.Fatalf("record %+v", r)
			}
			n++
		}
		if n != 100 {
			b.Fatalf("%d records", n)
		}
	}
}
