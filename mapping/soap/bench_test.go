package soap_test

import (
	"os"
	"testing"

	"github.com/lienthong/lienthong/mapping/soap"
)

// BenchmarkMap maps the spec's <HoSo>, as the normaliser does each record
// of a Thái Nguyên page.
func BenchmarkMap(b *testing.B) {
	payload, err := os.ReadFile("testdata/spec_example.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := soap.Map(thainguyenSrc, payload); err != nil {
			b.Fatal(err)
		}
	}
}
