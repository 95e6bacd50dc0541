package xmltree

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	n, err := Parse([]byte(`<?xml version="1.0"?><!-- c --><a xmlns="urn:x" k="v">t<b/>u<![CDATA[<w>]]></a>` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name.Space != "urn:x" || n.Name.Local != "a" || n.Text != "tu<w>" || len(n.Kids) != 1 || n.Kids[0].Name.Space != "urn:x" {
		t.Errorf("tree %+v", n)
	}
	for _, bad := range []string{``, `  `, `<a/><b/>`, `<a/>text`, `<a>`, `<a></b>`, `<a>&Nguyễn;</a>`, `<a x=1/>`,
		`<?xml version="1.0" encoding="x-unknown"?><a>` + "\xff" + `</a>`} {
		_, err := Parse([]byte(bad))
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "Nguy") {
			t.Errorf("%q: error quotes the payload: %v", bad, err)
		}
	}
}
