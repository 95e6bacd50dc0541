package httpx_test

import (
	"testing"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
)

func TestToUTF8(t *testing.T) {
	// "Tiếp nhận" as windows-1258: Ti + ê + U+0301 + p nh + â + U+0323 + n
	w1258 := []byte("Ti\xEA\xECp nh\xE2\xF2n")
	want := "Tiê\u0301p nhâ\u0323n"
	cases := []struct {
		body, ct string
		want     string
	}{
		{`<?xml version="1.0" encoding="windows-1258"?><a>` + string(w1258) + `</a>`, "", want},
		{`<a>` + string(w1258) + `</a>`, "text/xml; charset=windows-1258", want},
		{`<?xml version="1.0" encoding="UTF-8"?><a>` + string(w1258) + `</a>`, "text/xml; charset=windows-1258", want},
		{`<?xml version="1.0" encoding="windows-1258"?><a>Tiếp nhận</a>`, "text/xml; charset=utf-8", "Tiếp nhận"},
		{"\xEF\xBB\xBF<a>Tiếp nhận</a>", "", "Tiếp nhận"},
		{"<a>bad \xFF byte</a>", "", "bad \uFFFD byte"},
	}
	for i, c := range cases {
		out, _, err := httpx.ToUTF8([]byte(c.body), c.ct)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		root, err := xmltree.Parse(out)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if root.Text() != c.want {
			t.Fatalf("%d: %q want %q", i, root.Text(), c.want)
		}
	}
}
