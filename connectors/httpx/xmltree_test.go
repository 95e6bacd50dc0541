package httpx_test

import (
	"encoding/xml"
	"errors"
	"net/http"
	"testing"

	"github.com/lienthong/lienthong/connectors/httpx"
)

func TestStandaloneKeepsNamespaces(t *testing.T) {
	doc := `<?xml version="1.0" encoding="windows-1258"?>
<a:Root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:default" xmlns:unused="urn:unused">
  <b:Item k="v&#9;x&#10;y &quot;q&quot;" xsi:type="b:T"><Child>t &amp; &lt;u&gt; &#13;</Child><!-- note --><a:Other/><![CDATA[<raw>]]></b:Item>
</a:Root>`
	root, err := httpx.ParseXML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	item := root.Child("Item", "urn:b")
	if item == nil || item.Prefix != "b" {
		t.Fatalf("item %+v", item)
	}
	if c := item.Child("Child", "urn:default"); c == nil || c.Text() != "t & <u> \r" {
		t.Fatalf("child %+v", c)
	}
	out := item.Standalone()
	want := `<b:Item xmlns="urn:default" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" k="v&#x9;x&#xA;y &quot;q&quot;" xsi:type="b:T"><Child>t &amp; &lt;u&gt; &#xD;</Child><!-- note --><a:Other/>&lt;raw&gt;</b:Item>`
	if string(out) != want {
		t.Fatalf("standalone\n got %s\nwant %s", out, want)
	}
	// It re-parses to the same names and values.
	var v struct {
		XMLName xml.Name
		K       string `xml:"k,attr"`
		Child   string `xml:"urn:default Child"`
	}
	if err := xml.Unmarshal(out, &v); err != nil || v.XMLName.Space != "urn:b" || v.K != "v\tx\ny \"q\"" || v.Child != "t & <u> \r" {
		t.Fatalf("reparse %+v %v", v, err)
	}
}

func TestParseXMLRejects(t *testing.T) {
	for _, doc := range []string{
		`<a><b></a></b>`,
		`<a>`,
		`<a/><b/>`,
		`<a>&bogus;</a>`,
		``,
	} {
		if _, err := httpx.ParseXML([]byte(doc)); err == nil {
			t.Errorf("accepted %q", doc)
		}
	}
}

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
		root, err := httpx.ParseXML(out)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if root.Text() != c.want {
			t.Fatalf("%d: %q want %q", i, root.Text(), c.want)
		}
	}
}

func TestClassification(t *testing.T) {
	for status, transient := range map[int]bool{500: true, 502: true, 503: true, 429: true, 408: true, 400: false, 401: false, 403: false, 404: false, 409: false} {
		e := httpx.StatusError("x", &httpx.Response{Status: status, Header: http.Header{"Retry-After": {"3"}}})
		if httpx.IsTransient(e) != transient || httpx.IsPermanent(e) == transient {
			t.Errorf("%d: transient %v", status, httpx.IsTransient(e))
		}
		if (status == 401 || status == 403) != errors.Is(e, httpx.ErrAuth) {
			t.Errorf("%d: auth", status)
		}
	}
	if httpx.IsTransient(nil) || httpx.IsPermanent(nil) {
		t.Error("nil")
	}
}
