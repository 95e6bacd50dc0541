package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/store/trail"
)

// export builds an export as the hub writes one: four audit entries; the
// events of D (three) and E (one); a head signed with old over the first
// three events, then one signed with cur over the audit log and a fourth
// event of D; and a fifth event of D after it, not yet under a head. Lines
// are keyed by a name, in order.
func export(t *testing.T, cur, old ed25519.PrivateKey) (names []string, lines map[string]string) {
	lines = map[string]string{}
	add := func(name string, r trail.Record) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		names, lines[name] = append(names, name), string(b)
	}
	const t0 = 1_700_000_000_000_000
	add("export", trail.Record{Type: "export", At: t0 + 1000})
	add("key", trail.Record{Type: "key", PublicKey: cur.Public().(ed25519.PublicKey)})
	var prev []byte
	for i := int64(1); i <= 4; i++ {
		a := trail.Audit{At: t0 + i, Action: "token.create", Target: "t", Outcome: "ok"}
		h := a.Hash(prev)
		add(fmt.Sprint("audit", i), trail.AuditRecord(i, a, prev, h))
		prev = h
	}
	auditHead := prev
	chains := map[string]trail.ChainHead{}
	prevOf := map[string][]byte{}
	event := func(id int64, d string) {
		e := trail.Event{DossierID: d, Source: "sonla", Version: id, Kind: "pulled", At: t0 + id}
		h := e.Hash(prevOf[d])
		add(fmt.Sprint("event", id), trail.EventRecord(id, e, prevOf[d], h))
		prevOf[d] = h
		chains[d] = trail.ChainHead{DossierID: d, EventID: id, Hash: h, At: e.At}
	}
	head := func(id, through int64, key ed25519.PrivateKey, auditID int64, auditHash []byte) {
		root, n := trail.RootOf(trail.SumBuckets(slices.Collect(maps.Values(chains))))
		add(fmt.Sprint("head", id), trail.HeadRecord(trail.Head{ID: id, At: t0 + 100*id, AuditID: auditID, AuditHash: auditHash,
			EventsThrough: through, Chains: n, EventsRoot: root, Retention: 3600_000_000}.Sign(key)))
	}
	event(1, "D")
	event(2, "D")
	event(3, "E")
	head(1, 3, old, 0, nil)
	event(4, "D")
	head(2, 4, cur, 4, auditHead)
	for _, d := range slices.Sorted(maps.Keys(chains)) {
		add("chain"+d, trail.ChainRecord(chains[d]))
	}
	for _, b := range trail.SumBuckets(slices.Collect(maps.Values(chains))) {
		add(fmt.Sprint("bucket", b.Bucket), trail.BucketRecord(b))
	}
	event(5, "D") // after the last head
	return names, lines
}

// TestRun verifies an export, then copies of it with a line edited,
// removed or swapped, and with keys not trusted.
func TestRun(t *testing.T) {
	curPub, cur, _ := ed25519.GenerateKey(nil)
	oldPub, old, _ := ed25519.GenerateKey(nil)
	names, lines := export(t, cur, old)
	b64 := base64.StdEncoding.EncodeToString
	both := []string{"--key", b64(curPub), "--key", b64(oldPub)}
	dir := t.TempDir()
	check := func(name string, edit func(ls map[string]string), want int, args ...string) string {
		t.Helper()
		ls := map[string]string{}
		for k, v := range lines {
			ls[k] = v
		}
		if edit != nil {
			edit(ls)
		}
		var out []string
		for _, n := range names {
			if l, ok := ls[n]; ok {
				out = append(out, l)
			}
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if got := run(append(args, path), &stdout, &stderr); got != want {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, got, want, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	wantOut := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("no %q in\n%s", w, out)
			}
		}
	}
	wantOut(check("clean", nil, 0, both...), "the trail verifies", "head 2 covers events up to 4: 4 events in 2 chains",
		"1 events not yet under a signed head")
	wantOut(check("clean, keys comma-separated", nil, 0, "--key", b64(curPub)+","+b64(oldPub)), "the trail verifies")

	// Key rotation: the first head is the earlier key's.
	wantOut(check("earlier key not trusted", nil, 1, "--key", b64(curPub)),
		"heads: entry 1: untrusted: signed by key "+trail.Fingerprint(oldPub))
	wantOut(check("export's own key only", nil, 1), "heads: entry 1: untrusted: signed by key "+trail.Fingerprint(oldPub))
	other, _, _ := ed25519.GenerateKey(nil)
	wantOut(check("other key", nil, 1, "--key", b64(other)),
		"heads: entry 1: untrusted", "heads: entry 2: untrusted: signed by key "+trail.Fingerprint(curPub))

	wantOut(check("edited", func(ls map[string]string) {
		ls["audit2"] = strings.Replace(ls["audit2"], `"outcome":"ok"`, `"outcome":"denied"`, 1)
	}, 1, both...), "audit: entry 2: altered")
	wantOut(check("removed", func(ls map[string]string) { delete(ls, "audit3") }, 1, both...), "audit: entry 4: removed")
	wantOut(check("removed last audit entry", func(ls map[string]string) { delete(ls, "audit4") }, 1, both...),
		"heads: entry 2: removed")
	wantOut(check("swapped", func(ls map[string]string) {
		ls["event1"] = strings.Replace(ls["event1"], `"id":1,`, `"id":2,`, 1)
		ls["event2"] = strings.Replace(ls["event2"], `"id":2,`, `"id":1,`, 1)
	}, 1, both...), "events of D: entry 2: reordered: it starts the chain, but comes after entry 1")

	// The event chains under the heads.
	wantOut(check("last signed event removed", func(ls map[string]string) { delete(ls, "event4") }, 1, both...),
		"events of D: entry 4: removed: the chain's last event under head 2")
	wantOut(check("whole chain removed", func(ls map[string]string) { delete(ls, "event3") }, 1, both...),
		"events of E: entry 3: removed: the whole chain")
	wantOut(check("whole chain removed with its chain head", func(ls map[string]string) {
		delete(ls, "event3")
		delete(ls, "chainE")
	}, 1, both...), "chain heads: entry ", "removed or altered")
	// A forged later head (any key but a trusted one), with a short
	// retention, excuses nothing.
	_, rogue, _ := ed25519.GenerateKey(nil)
	forged, _ := json.Marshal(trail.HeadRecord(trail.Head{ID: 3, At: 1, EventsThrough: 5, Retention: 1}.Sign(rogue)))
	wantOut(check("whole chain removed, a forged head", func(ls map[string]string) {
		delete(ls, "event3")
		ls["head2"] += "\n" + string(forged)
	}, 1, both...), "heads: entry 3: untrusted", "events of E: entry 3: removed: the whole chain, which head 2 signed")
	wantOut(check("unsigned event removed", func(ls map[string]string) { delete(ls, "event5") }, 0, both...),
		"0 events not yet under a signed head")
	// Old enough for retention: pruned, not removed.
	wantOut(check("whole chain pruned", func(ls map[string]string) { delete(ls, "event3") }, 0,
		append(both, "--now", "2023-11-15T00:00:00Z")...), "1 pruned whole since")
}
