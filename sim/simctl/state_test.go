package simctl

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type testState struct {
	Name  string
	Items []int
}

func TestStateHeaderAndBody(t *testing.T) {
	var buf bytes.Buffer
	in := testState{Name: "Hà Tĩnh", Items: []int{1, 2, 3}}
	if err := WriteState(&buf, "demo", 3, &in); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	if !bytes.HasPrefix(file, []byte("lienthong-sim-state demo 3\n")) {
		t.Fatalf("header %q", file[:30])
	}
	var out testState
	if err := ReadState(bytes.NewReader(file), "demo", 3, &out); err != nil || out.Name != in.Name || len(out.Items) != 3 {
		t.Fatalf("%v %+v", err, out)
	}
	damaged := append([]byte(nil), file...)
	damaged[len(damaged)-6] ^= 0xff // inside the gzip trailer or the data
	for name, c := range map[string]struct {
		file []byte
		want string
	}{
		"other system":  {file, `holds the state of "demo"`},
		"damaged":       {damaged, "demo state"},
		"truncated":     {file[:len(file)-10], "demo state"},
		"header only":   {[]byte("lienthong-sim-state demo 3\n"), "demo state"},
		"long garbage":  {bytes.Repeat([]byte("x"), 10000), "not a simulator state file"},
		"older version": {[]byte("lienthong-sim-state demo 2\n"), "format version 2, this build reads version 3 only"},
	} {
		system := "demo"
		if name == "other system" {
			system = "national"
		}
		if err := ReadState(bytes.NewReader(c.file), system, 3, &testState{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestStateFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "demo.state")
	found, err := LoadStateFile(path, func(io.Reader) error { t.Fatal("restore called"); return nil })
	if found || err != nil {
		t.Fatalf("missing file: %v %v", found, err)
	}
	write := func(v testState) func(io.Writer) error {
		return func(w io.Writer) error { return WriteState(w, "demo", 1, &v) }
	}
	if err := SaveStateFile(path, write(testState{Name: "one"})); err != nil {
		t.Fatal(err)
	}
	if err := SaveStateFile(path, func(w io.Writer) error { w.Write([]byte("half")); return io.ErrShortWrite }); err == nil {
		t.Fatal("failed snapshot saved")
	}
	var got testState
	found, err = LoadStateFile(path, func(r io.Reader) error { return ReadState(r, "demo", 1, &got) })
	if !found || err != nil || got.Name != "one" {
		t.Fatalf("after a failed save: %v %v %+v", found, err, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
