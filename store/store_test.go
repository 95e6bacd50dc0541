package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql":  {Data: []byte("B")},
		"m/0001_first.sql": {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
	}
	ms, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "first", "A"}, {2, "more", "B"}}
	if !reflect.DeepEqual(ms, want) {
		t.Fatalf("got %+v, want %+v", ms, want)
	}
	for name, bad := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no name":   {"m/0001.sql": {}},
		"bad num":   {"m/x_a.sql": {}},
		"zero":      {"m/0000_a.sql": {}},
	} {
		if _, err := LoadMigrations(bad, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDedupeLedger(t *testing.T) {
	in := []LedgerEntry{{DossierID: "b", Version: 1}, {DossierID: "a", Version: 1}, {DossierID: "b", Version: 2}}
	got := DedupeLedger(in)
	want := []LedgerEntry{{DossierID: "a", Version: 1}, {DossierID: "b", Version: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if in[0].Version != 1 || in[0].DossierID != "b" {
		t.Fatal("input modified")
	}
}

func TestIdentityHasher(t *testing.T) {
	if _, err := NewIdentityHasher([]byte("short")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short key: err = %v", err)
	}
	key := bytes.Repeat([]byte{7}, MinIdentityKeyLen)
	h, err := NewIdentityHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	key[0] = 8 // the hasher keeps its own copy
	d1, ok1 := h.Digest("0010 9900 1234")
	d2, ok2 := h.Digest("001099001234\n")
	if !ok1 || !ok2 || !bytes.Equal(d1, d2) || len(d1) != 32 {
		t.Fatalf("digests differ or missing: %x %x", d1, d2)
	}
	h2, _ := NewIdentityHasher(key)
	if d3, _ := h2.Digest("001099001234"); bytes.Equal(d1, d3) {
		t.Fatal("another key gave the same digest")
	}
	if _, ok := h.Digest("  "); ok {
		t.Fatal("blank number digested")
	}
	if bytes.Contains(d1, []byte("001099001234")) {
		t.Fatal("digest holds the number")
	}
}
