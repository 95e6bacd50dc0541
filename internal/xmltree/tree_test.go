package xmltree_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/internal/xmltree"
)

func TestStandaloneKeepsNamespaces(t *testing.T) {
	doc := `<?xml version="1.0" encoding="windows-1258"?>
<a:Root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:default" xmlns:unused="urn:unused">
  <b:Item k="v&#9;x&#10;y &quot;q&quot; &gt;" xsi:type="b:T"><Child>t &amp; &lt;u&gt; &#13;</Child><!-- note --><a:Other/><![CDATA[<raw>]]></b:Item>
</a:Root>`
	root, err := xmltree.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	item := root.Child("Item", "urn:b")
	if !item.Present() || item.Prefix() != "b" || item.Local() != "Item" || item.Space() != "urn:b" {
		t.Fatalf("item %+v", item)
	}
	if c := item.Child("Child", "urn:default"); c.Text() != "t & <u> \r" {
		t.Fatalf("child %q", c.Text())
	}
	out := item.Standalone()
	want := `<b:Item xmlns="urn:default" xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" k="v&#x9;x&#xA;y &quot;q&quot; &gt;" xsi:type="b:T"><Child>t &amp; &lt;u&gt; &#xD;</Child><!-- note --><a:Other/>&lt;raw&gt;</b:Item>`
	if string(out) != want {
		t.Fatalf("standalone\n got %s\nwant %s", out, want)
	}
	// It re-parses to the same names and values.
	var v struct {
		XMLName xml.Name
		K       string `xml:"k,attr"`
		Child   string `xml:"urn:default Child"`
	}
	if err := xml.Unmarshal(out, &v); err != nil || v.XMLName.Space != "urn:b" || v.K != "v\tx\ny \"q\" >" || v.Child != "t & <u> \r" {
		t.Fatalf("reparse %+v %v", v, err)
	}
}

func TestLookups(t *testing.T) {
	root, err := xmltree.Parse([]byte(`<r xmlns:p="urn:p"><x>1</x><p:y><p:x>2</p:x></p:y><z><p:x>3</p:x></z>mixed<x>4</x></r>`))
	if err != nil {
		t.Fatal(err)
	}
	if got := root.Child("x", "urn:p"); got.Present() {
		t.Errorf("Child found a grandchild: %q", got.Text())
	}
	if got := root.Find("x", "urn:p").Text(); got != "2" {
		t.Errorf("Find = %q", got)
	}
	var all []string
	for _, e := range root.FindAll("x") {
		all = append(all, e.Text())
	}
	if strings.Join(all, ",") != "1,2,3,4" {
		t.Errorf("FindAll = %v", all)
	}
	if root.Text() != "123mixed4" || root.OwnText() != "mixed" {
		t.Errorf("Text %q, OwnText %q", root.Text(), root.OwnText())
	}
	var absent xmltree.Element
	if absent.Child("a").Child("b").Text() != "" || absent.Present() || absent.Standalone() != nil {
		t.Error("the absent element is not empty")
	}
}

// Names and attributes resolve as encoding/xml's Token resolves them, and
// a tree from ParseElement reads as one from Parse.
func TestNamesAsTokenResolves(t *testing.T) {
	doc := `<r xmlns="urn:d" xmlns:p="urn:p"><p:a p:k="1" k="2" q:k="3" xml:lang="vi" xmlns:q="urn:q"><b xmlns="">t</b><u:c/></p:a></r>`
	root, err := xmltree.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(xmltree.Element)
	walk = func(e xmltree.Element) {
		got = append(got, e.Name().Space+" "+e.Name().Local+" "+e.OwnText())
		for n, v := range e.Attrs() {
			got = append(got, "@"+n.Space+" "+n.Local+"="+v)
		}
		for c := range e.Elements() {
			walk(c)
		}
	}
	walk(root)

	want := tokenView(t, doc)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse names\n got %q\nwant %q", got, want)
	}

	d := xml.NewDecoder(strings.NewReader(doc))
	tok, _ := d.Token()
	el, err := xmltree.ParseElement(d, tok.(xml.StartElement))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	walk(el)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseElement names\n got %q\nwant %q", got, want)
	}
}

// tokenView lists elements (with their own text) and attributes in document
// order as encoding/xml's Token names them.
func tokenView(t *testing.T, doc string) []string {
	t.Helper()
	var out []string
	var open []int
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			open = append(open, len(out))
			out = append(out, tok.Name.Space+" "+tok.Name.Local+" ")
			for _, a := range tok.Attr {
				out = append(out, "@"+a.Name.Space+" "+a.Name.Local+"="+a.Value)
			}
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			out[open[len(open)-1]] += string(tok)
		}
	}
}

func TestParse(t *testing.T) {
	n, err := xmltree.Parse([]byte(`<?xml version="1.0"?><!-- c --><a xmlns="urn:x" k="v">t<b/>u<![CDATA[<w>]]></a>` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	kids := slices.Collect(n.Elements())
	if n.Name() != (xml.Name{Space: "urn:x", Local: "a"}) || n.OwnText() != "tu<w>" || len(kids) != 1 || kids[0].Space() != "urn:x" {
		t.Errorf("tree %v %q %d", n.Name(), n.OwnText(), len(kids))
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{``, `  `, `<a/><b/>`, `<a/>text`, `<a>`, `<a></b>`, `<a><b></a></b>`, `<a>&Nguyễn;</a>`, `<a x=1/>`,
		`<?xml version="1.0" encoding="x-unknown"?><a>` + "\xff" + `</a>`, strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300)} {
		_, err := xmltree.Parse([]byte(bad))
		if err == nil {
			t.Errorf("%.40q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "Nguy") {
			t.Errorf("%q: error quotes the document: %v", bad, err)
		}
	}
}

func TestParseDecodesDeclaredCharset(t *testing.T) {
	// "Tiếp nhận" as windows-1258, not yet decoded.
	doc := []byte(`<?xml version="1.0" encoding="windows-1258"?><a>Ti` + "\xEA\xECp nh\xE2\xF2n" + `</a>`)
	root, err := xmltree.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := root.Text(); got != "Tiê\u0301p nhâ\u0323n" {
		t.Errorf("text %q", got)
	}
	// Already UTF-8: the label is stale and ignored.
	root, err = xmltree.Parse([]byte(`<?xml version="1.0" encoding="windows-1258"?><a>Tiếp nhận</a>`))
	if err != nil || root.Text() != "Tiếp nhận" {
		t.Errorf("%q %v", root.Text(), err)
	}
}

func TestEscape(t *testing.T) {
	if got := xmltree.EscapeText("a&b<c>d\re\"f"); got != "a&amp;b&lt;c&gt;d&#xD;e\"f" {
		t.Errorf("EscapeText %q", got)
	}
	if got := xmltree.EscapeAttr("a&b<c>d\"e\tf\ng"); got != "a&amp;b&lt;c&gt;d&quot;e&#x9;f&#xA;g" {
		t.Errorf("EscapeAttr %q", got)
	}
	if !bytes.Equal([]byte(xmltree.EscapeText("Nguyễn")), []byte("Nguyễn")) {
		t.Error("text changed")
	}
}
