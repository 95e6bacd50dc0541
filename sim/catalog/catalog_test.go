package catalog

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDefaultShape(t *testing.T) {
	procs := Default()
	if len(procs) < 10 {
		t.Fatalf("catalogue has %d procedures", len(procs))
	}
	var got []map[string]any
	if err := json.Unmarshal(JSON(procs), &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		for _, k := range []string{"MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "MucDo", "PhiLePhi"} {
			if _, ok := p[k]; !ok {
				t.Errorf("%v lacks %s", p["MaTTHC"], k)
			}
		}
		if len(p) != 6 {
			t.Errorf("%v has extra keys: %v", p["MaTTHC"], p)
		}
		if _, ok := p["MucDo"].(float64); !ok {
			t.Errorf("numeric MucDo should be a JSON number: %v", p["MucDo"])
		}
		for _, f := range p["PhiLePhi"].([]any) {
			if len(f.(map[string]any)) != 3 {
				t.Errorf("fee keys: %v", f)
			}
		}
	}
	procs[0].PhiLePhi = nil
	if Default()[0].PhiLePhi == nil {
		t.Error("Default must return a copy")
	}
}

func TestLookupBase(t *testing.T) {
	ix := NewIndex(Default())
	for _, c := range []string{"2.000815", "2.000815.000.00.00.H55", " 1.000894 "} {
		if _, ok := ix.Lookup(c); !ok {
			t.Errorf("%q not found", c)
		}
	}
	for _, c := range []string{"2.000816", "2", "", "9.999999.000.00.00.H55"} {
		if _, ok := ix.Lookup(c); ok {
			t.Errorf("%q found", c)
		}
	}
}

func TestParse(t *testing.T) {
	procs, err := Parse([]byte(`[{"MaTTHC":"1.1","TenTTHC":"Thủ tục A","MucDo":"TOAN_TRINH","PhiLePhi":[{"MaPhiLePhi":"X","SoTien":5,"MoTa":"m"}]},{"MaTTHC":"1.2","TenTTHC":"B","MucDo":3}]`))
	if err != nil {
		t.Fatal(err)
	}
	if procs[0].MucDo.Int() != 4 || procs[1].MucDo.Int() != 3 || procs[1].PhiLePhi == nil {
		t.Errorf("parsed %+v", procs)
	}
	if s := string(JSON(procs)); !strings.Contains(s, `"MucDo":"TOAN_TRINH"`) || !strings.Contains(s, `"MucDo":3`) {
		t.Errorf("round trip %s", s)
	}
	for _, bad := range []string{`{}`, `[{"TenTTHC":"x"}]`, `[{"MaTTHC":"1","TenTTHC":"x","MucDo":true}]`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
