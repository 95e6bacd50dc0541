// Package testutil holds what the mapping tests share: fixtures in NFD,
// checks that a dossier is all NFC, and FieldError assertions.
package testutil

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/mapping/internal/fields"
	"github.com/lienthong/lienthong/schemas"
)

// WantFieldError fails t unless err is a *FieldError for field, and returns
// it. It also checks that the message leaks none of the secrets (personal
// values the malformed input carried).
func WantFieldError(t *testing.T, err error, source, field string, secrets ...string) *fields.FieldError {
	t.Helper()
	var fe *fields.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want *FieldError for %s, got %T %v", field, err, err)
	}
	if fe.Field != field {
		t.Fatalf("FieldError field %q, want %q (%v)", fe.Field, field, fe)
	}
	if fe.Source != source {
		t.Errorf("FieldError source %q, want %q", fe.Source, source)
	}
	if fe.Reason == "" {
		t.Errorf("FieldError without a reason: %v", fe)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(fe.Error(), s) {
			t.Errorf("error message %q leaks %q", fe.Error(), s)
		}
	}
	return fe
}

// AllNFC fails t if any text of d (as JSON) is not NFC.
func AllNFC(t *testing.T, d *schemas.Dossier) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	walk(v, "", func(path, s string) {
		if !norm.NFC.IsNormalString(s) {
			t.Errorf("%s is not NFC: %+q", path, s)
		}
	})
}

func walk(v any, path string, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case map[string]any:
		for k, e := range x {
			walk(e, path+"."+k, f)
		}
	case []any:
		for _, e := range x {
			walk(e, path+"[]", f)
		}
	}
}

// NFDJSON rewrites every string of a JSON document in NFD.
func NFDJSON(t *testing.T, payload []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(nfd(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nfd(v any) any {
	switch x := v.(type) {
	case string:
		return norm.NFD.String(x)
	case map[string]any:
		for k, e := range x {
			x[k] = nfd(e)
		}
	case []any:
		for i, e := range x {
			x[i] = nfd(e)
		}
	}
	return v
}

// At is a wall-clock time in Asia/Ho_Chi_Minh.
func At(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, schemas.Vietnam)
}

// SameInstant fails t unless got is set, equals want as an instant and is
// expressed in Asia/Ho_Chi_Minh.
func SameInstant(t *testing.T, name string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil, want %v", name, want)
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s: %v, want %v", name, got, want)
	}
	if got.Location() != schemas.Vietnam {
		t.Errorf("%s: zone %v, want Asia/Ho_Chi_Minh", name, got.Location())
	}
}

// BenchMap runs mapFn on the fixture at path, as the normaliser maps each
// record of a page.
func BenchMap(b *testing.B, path string, mapFn func(payload []byte) (*schemas.Dossier, error)) {
	payload, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapFn(payload); err != nil {
			b.Fatal(err)
		}
	}
}
