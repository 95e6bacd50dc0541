package xmlfeed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// readFeed reads the whole feed after seq, page by page, returning each raw
// answer by request and the entries.
func readFeed(t *testing.T, base string, seq int64, out map[string]string) (entries []int64, last int64) {
	t.Helper()
	for calls := 0; calls < 1000; calls++ {
		path := fmt.Sprintf("/dvc/api/dongbo?tuSeq=%d&gioiHan=9", seq)
		code, _, b := do(t, "GET", base+path, "hub-key", "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if out != nil {
			out[path] = string(b)
		}
		f := decodeFeed(t, b)
		for _, e := range f.Entries {
			entries = append(entries, e.Seq)
		}
		seq = f.Last
		if f.More == 0 {
			return entries, seq
		}
	}
	t.Fatal("feed never ends")
	return nil, 0
}

// views is what the HTTP API shows of a simulator, by request. The corruption
// list comes first: reading the API afterwards records more serves.
func views(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	get := func(path string) []byte {
		code, _, b := do(t, "GET", base+path, "", "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		out[path] = string(b)
		return b
	}
	get("/_sim/malformed")
	get("/_sim/stats")
	get("/_sim/writebacks")
	var list struct {
		Items []struct {
			MaHoSo string `json:"maHoSo"`
		} `json:"items"`
	}
	if err := json.Unmarshal(get("/_sim/dossiers"), &list); err != nil {
		t.Fatal(err)
	}
	for _, it := range list.Items {
		get("/_sim/dossiers/" + it.MaHoSo)
		get("/_sim/dossiers/" + it.MaHoSo + "/history")
	}
	readFeed(t, base, 0, out)
	return out
}

func sameViews(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%s: %d views before, %d after", what, len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %s differs\nbefore: %s\nafter:  %s", what, k, v, b[k])
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	for _, charset := range []string{"utf-8", "windows-1258"} {
		t.Run(charset, func(t *testing.T) { testSnapshotRestore(t, charset) })
	}
}

func testSnapshotRestore(t *testing.T, charset string) {
	cfg := Config{DeleteRate: 0.3, Charset: charset}
	a, srvA := start(t, cfg)
	do(t, "POST", srvA.URL+"/_sim/faults", "", `{"malformed_rate":0.3}`)
	generate(t, srvA.URL, `{"count":30,"seed":7,"steps":2}`)
	generate(t, srvA.URL, `{"count":5,"seed":8,"steps":3,"interval_ms":3600000}`)
	posted := `<HOSO THAO_TAC="CAPNHAT"><MAHOSO>HT-1</MAHOSO><TRANGTHAI>4</TRANGTHAI><CHUHOSO LOAI="1"><HOTEN>Phan Thị Lan</HOTEN></CHUHOSO></HOSO>`
	if code, _, b := do(t, "POST", srvA.URL+"/_sim/dossiers", "", posted); code != 200 {
		t.Fatalf("post %d %s", code, b)
	}
	ev := `<SUKIEN MAHOSO="HT-1" LOAI="DONG_BO_QUOC_GIA" MATHAMCHIEU="QG-1" THOIDIEM="20261121090000">Đã đồng bộ</SUKIEN>`
	for _, e := range []string{ev, ev, strings.NewReplacer("HT-1", "HT-9", "QG-1", "QG-2").Replace(ev)} {
		do(t, "POST", srvA.URL+"/dvc/api/sukien", "hub-key", e)
	}
	views(t, srvA.URL)
	if st := a.Book().Stats(); st.Deleted == 0 || st.PendingChanges == 0 {
		t.Fatalf("want deletions and pending changes: %+v", st)
	}

	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	state := buf.Bytes()
	clkB := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	cfgB := cfg
	cfgB.Now = clkB.Now
	b := New(cfgB)
	if err := b.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	srvB := httptest.NewServer(b)
	t.Cleanup(func() { b.Close(); srvB.Close() })
	var again bytes.Buffer
	if err := b.Snapshot(&again); err != nil || !bytes.Equal(again.Bytes(), state) {
		t.Errorf("snapshot of the restored simulator differs: %v", err)
	}
	do(t, "POST", srvB.URL+"/_sim/faults", "", `{"malformed_rate":0.3}`)
	sameViews(t, "restored", views(t, srvA.URL), views(t, srvB.URL))
	if st, sa := b.Book().Stats(), a.Book().Stats(); st != sa {
		t.Errorf("stats %+v, before %+v", st, sa)
	}
	if len(b.Book().MalformedServed()) == 0 || len(b.Book().Writebacks()) != 3 {
		t.Errorf("malformed %d, writebacks %d", len(b.Book().MalformedServed()), len(b.Book().Writebacks()))
	}

	// The feed continues where it stopped: a client resuming from its
	// cursor sees only the new entries, numbered on.
	// (Every read is made on both simulators: reads are counted in
	// /_sim/malformed.)
	_, cursor := readFeed(t, srvB.URL, 0, nil)
	if _, c := readFeed(t, srvA.URL, 0, nil); c != cursor {
		t.Errorf("feed ends at SEQ %d, %d before the restart", cursor, c)
	}
	_, old := a.Book().List(0, 0)
	taken := map[string]bool{}
	for _, it := range old {
		taken[it.MaHoSo] = true
	}
	var created [2][]string
	for i, srv := range []string{srvA.URL, srvB.URL} {
		code, _, body := do(t, "POST", srv+"/_sim/generate", "", `{"count":20,"seed":7,"steps":1}`)
		var res struct{ Created []string }
		if err := json.Unmarshal(body, &res); code != 200 || err != nil {
			t.Fatalf("generate %d %s", code, body)
		}
		created[i] = res.Created
		if code, _, body := do(t, "POST", srv+"/_sim/advance", "", `{"steps":10}`); code != 200 || strings.Contains(string(body), `"applied":0`) {
			t.Errorf("advance %d %s", code, body)
		}
	}
	for i, id := range created[1] {
		if taken[id] || id != created[0][i] {
			t.Errorf("new code %s (original simulator: %s) reuses an old one: %v", id, created[0][i], taken[id])
		}
	}
	seqs, last := readFeed(t, srvB.URL, cursor, nil)
	readFeed(t, srvA.URL, cursor, nil)
	if len(seqs) == 0 || seqs[0] != cursor+1 || last != cursor+int64(len(seqs)) {
		t.Errorf("after SEQ %d the feed goes on with %v (last %d)", cursor, seqs, last)
	}
	sameViews(t, "continued", views(t, srvA.URL), views(t, srvB.URL))
}
