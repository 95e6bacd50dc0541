package xmlfeed_test

import (
	"testing"

	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/mapping/xmlfeed"
	"github.com/lienthong/lienthong/schemas"
)

// BenchmarkMap maps the spec's <HOSO> entry.
func BenchmarkMap(b *testing.B) {
	testutil.BenchMap(b, "testdata/spec_example.xml", func(p []byte) (*schemas.Dossier, error) { return xmlfeed.Map(hatinhSrc, p) })
}
