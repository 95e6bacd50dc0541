package soap_test

import (
	"testing"

	"github.com/lienthong/lienthong/mapping/internal/testutil"
	"github.com/lienthong/lienthong/mapping/soap"
	"github.com/lienthong/lienthong/schemas"
)

// BenchmarkMap maps the spec's <HoSo>, as the normaliser does each record
// of a Thái Nguyên page.
func BenchmarkMap(b *testing.B) {
	testutil.BenchMap(b, "testdata/spec_example.xml", func(p []byte) (*schemas.Dossier, error) { return soap.Map(thainguyenSrc, p) })
}
