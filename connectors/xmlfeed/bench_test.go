package xmlfeed

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// BenchmarkParseFeed reads a 100-entry answer (the spec's <HOSO>, mapping's
// fixture, each with its own MAHOSO) into entries with standalone payloads.
func BenchmarkParseFeed(b *testing.B) {
	hoso, err := os.ReadFile("../../mapping/xmlfeed/testdata/spec_example.xml")
	if err != nil {
		b.Fatal(err)
	}
	var doc bytes.Buffer
	doc.WriteString(`<?xml version="1.0" encoding="utf-8"?><DONGBO CON_DU_LIEU="1" SEQ_CUOI="1100">`)
	for i := range 100 {
		doc.Write(bytes.Replace(hoso, []byte("261121-0003"), fmt.Appendf(nil, "261121-%04d", i), 1))
	}
	doc.WriteString(`</DONGBO>`)
	b.SetBytes(int64(doc.Len()))
	b.ReportAllocs()
	for b.Loop() {
		f, err := parseFeed(doc.Bytes(), "text/xml; charset=utf-8", "")
		if err != nil || len(f.entries) != 100 || f.lenient {
			b.Fatalf("%v", err)
		}
	}
}
