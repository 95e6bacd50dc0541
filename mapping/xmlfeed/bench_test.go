package xmlfeed_test

import (
	"os"
	"testing"

	"github.com/lienthong/lienthong/mapping/xmlfeed"
)

// BenchmarkMap maps the spec's <HOSO> entry.
func BenchmarkMap(b *testing.B) {
	payload, err := os.ReadFile("testdata/spec_example.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xmlfeed.Map(hatinhSrc, payload); err != nil {
			b.Fatal(err)
		}
	}
}
