package mapping_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
)

// specSources are the spec's three example portals, one of each kind.
var specSources = []mapping.Source{
	{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14"},
	{Name: "thainguyen", Kind: schemas.KindSOAP, Province: "19"},
	{Name: "hatinh", Kind: schemas.KindXMLFeed, Province: "42"},
}

var specMapper = func() *mapping.Mapper {
	m, err := mapping.New(specSources...)
	if err != nil {
		panic(err)
	}
	return m
}()

// Two portals of one kind are two sources: each dossier carries its own
// source's name and province, and a status_map changes only its source.
func TestSourcesOfOneKind(t *testing.T) {
	m, err := mapping.New(
		mapping.Source{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14"},
		mapping.Source{Name: "laichau", Kind: schemas.KindRESTJSON, Province: "12",
			StatusMap: map[string]int{"DANG_XU_LY": schemas.StatusPaused, "DANG_THAM_DINH": schemas.StatusProcessing}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rec := records(t)["sonla"]
	d, err := m.Normalize(rec)
	if err != nil || d.Source != "sonla" || d.ProvinceCode != "14" || d.Status != schemas.StatusProcessing {
		t.Fatalf("sonla: %v %+v", err, d)
	}
	rec.Source = "laichau"
	d, err = m.Normalize(rec)
	if err != nil || d.Source != "laichau" || d.ProvinceCode != "12" || d.Status != schemas.StatusPaused {
		t.Fatalf("laichau (status_map DANG_XU_LY -> 8): %v %+v", err, d)
	}
	rec.Payload = []byte(strings.Replace(string(rec.Payload), `"trangThai": "DANG_XU_LY"`, `"trangThai": "DANG_THAM_DINH"`, 1))
	if d, err = m.Normalize(rec); err != nil || d.Status != schemas.StatusProcessing {
		t.Fatalf("laichau, a status only its map names: %v %+v", err, d)
	}
	rec.Source = "sonla"
	if _, err := m.Normalize(rec); err == nil || !strings.Contains(err.Error(), "trangThai") {
		t.Fatalf("sonla does not know DANG_THAM_DINH: %v", err)
	}
	rec.Source = "nghean"
	if _, err := m.Normalize(rec); err == nil || !strings.Contains(err.Error(), "nghean") {
		t.Fatalf("a source not configured: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	ok := mapping.Source{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14"}
	for name, tc := range map[string]struct {
		src  []mapping.Source
		want string
	}{
		"unknown kind": {[]mapping.Source{{Name: "x", Kind: "grpc", Province: "14"}}, "unknown kind"},
		"bad name":     {[]mapping.Source{{Name: "Sơn La", Kind: schemas.KindSOAP, Province: "14"}}, "name: must be"},
		"twice":        {[]mapping.Source{ok, ok}, "configured twice"},
		"bad province": {[]mapping.Source{{Name: "x", Kind: schemas.KindXMLFeed, Province: "H52"}}, "province"},
		"status 11":    {[]mapping.Source{{Name: "x", Kind: schemas.KindXMLFeed, Province: "42", StatusMap: map[string]int{"11": 11}}}, "not 1-10"},
	} {
		if _, err := mapping.New(tc.src...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}

// TestCheckSourceAll: every refused setting of a source, not only the first.
func TestCheckSourceAll(t *testing.T) {
	errs := mapping.CheckSource(mapping.Source{Name: "Sơn La", Kind: "grpc", Province: "H52", StatusMap: map[string]int{"A": 0, "B": 4, "C": 11}})
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	if want := []string{"name", "kind", "province", "status_map", "status_map"}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v (%v)", got, want, errs)
	}
	if errs[4].Reason != `"C": national status 11 is not 1-10` {
		t.Errorf("reason %q", errs[4].Reason)
	}
}
