package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/store/trail"
)

// TestRun verifies an export built as the hub builds it, then the same
// with one line edited, one removed, two swapped, and a wrong key.
func TestRun(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	var lines []string
	add := func(r trail.Record) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	add(trail.Record{Type: "key", PublicKey: pub})
	var prev []byte
	for i := int64(1); i <= 4; i++ {
		a := trail.Audit{At: 1_700_000_000_000_000 + i, Action: "token.create", Target: "t", Outcome: "ok"}
		h := a.Hash(prev)
		add(trail.AuditRecord(i, a, prev, h))
		prev = h
	}
	add(trail.HeadRecord(trail.Head{ID: 1, At: 1_700_000_000_000_100, AuditID: 4, AuditHash: prev}.Sign(key)))
	prev = nil
	for i := int64(1); i <= 3; i++ {
		e := trail.Event{DossierID: "D", Source: "sonla", Version: i, Kind: "pulled", At: 1_700_000_000_000_000 + i}
		h := e.Hash(prev)
		add(trail.EventRecord(i, e, prev, h))
		prev = h
	}
	dir := t.TempDir()
	check := func(name string, ls []string, want int, args ...string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if got := run(append(args, path), &out, &errOut); got != want {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, got, want, out.String(), errOut.String())
		}
		return out.String()
	}
	if out := check("clean", lines, 0, "--key", base64.StdEncoding.EncodeToString(pub)); !strings.Contains(out, "the trail verifies") {
		t.Error(out)
	}
	edit := func(f func(ls []string) []string) []string { return f(append([]string(nil), lines...)) }
	out := check("edited", edit(func(ls []string) []string {
		ls[2] = strings.Replace(ls[2], `"outcome":"ok"`, `"outcome":"denied"`, 1)
		return ls
	}), 1)
	if !strings.Contains(out, "audit: entry 2: altered") {
		t.Error(out)
	}
	out = check("removed", edit(func(ls []string) []string { return append(ls[:3], ls[4:]...) }), 1)
	if !strings.Contains(out, "audit: entry 4: removed") {
		t.Error(out)
	}
	out = check("removed-last", edit(func(ls []string) []string { return append(ls[:4], ls[5:]...) }), 1)
	if !strings.Contains(out, "heads: entry 1: removed") {
		t.Error(out)
	}
	out = check("swapped", edit(func(ls []string) []string {
		// Swap the IDs of events 2 and 3.
		ls[7] = strings.Replace(ls[7], `"id":2,`, `"id":3,`, 1)
		ls[8] = strings.Replace(ls[8], `"id":3,`, `"id":2,`, 1)
		return ls
	}), 1)
	if !strings.Contains(out, "events of D: entry 2: reordered") {
		t.Error(out)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	out = check("other-key", lines, 1, "--key", base64.StdEncoding.EncodeToString(other))
	if !strings.Contains(out, "heads: entry 1: altered: its signature") {
		t.Error(out)
	}
}
