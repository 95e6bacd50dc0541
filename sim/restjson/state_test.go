package restjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// views is what the HTTP API shows of a simulator, by request. The corruption
// list comes first: reading the API afterwards records more serves.
func views(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	get := func(path string) []byte {
		code, b := do(t, "GET", base+path, "", "")
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
	tok := token(t, base)
	for trang := 1; ; trang++ {
		path := fmt.Sprintf("/api/v1/hoso?tuNgay=2000-01-01T00:00:00%%2B07:00&trang=%d&soLuong=7", trang)
		code, b := do(t, "GET", base+path, tok, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		out[path] = string(b)
		if strings.HasSuffix(string(b), `"duLieu":[]}`) {
			break
		}
	}
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

func snapshot(t *testing.T, s *Server) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// restored starts a fresh simulator whose clock starts where a fresh process
// would (before the saved state's latest time) and restores state into it.
func restored(t *testing.T, state []byte) (*Server, *httptest.Server) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	s := New(Config{Now: clk.Now})
	if err := s.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

func TestSnapshotRestore(t *testing.T) {
	a, srvA, clk := start(t, Config{})
	do(t, "POST", srvA.URL+"/_sim/faults", "", `{"malformed_rate":0.3}`)
	created := generate(t, srvA.URL, `{"count":30,"seed":7,"steps":2}`)["created"].([]any)
	clk.Add(time.Second)
	// Pending in the background (the interval is far longer than the test).
	if res := generate(t, srvA.URL, `{"count":5,"seed":8,"steps":3,"interval_ms":3600000}`); res["pending"].(float64) == 0 {
		t.Fatalf("nothing pending: %v", res)
	}
	clk.Add(time.Second)
	first := created[0].(string)
	do(t, "POST", srvA.URL+"/_sim/dossiers", "", `{"maHoSo":"`+first+`","trangThai":"TAM_DUNG","ghiChu":"a & b <c>"}`)
	do(t, "POST", srvA.URL+"/_sim/dossiers", "", `{"maHoSo":"X-1","trangThai":"MOI"}`)
	tok := token(t, srvA.URL)
	ev := `{"loai":"THANH_TOAN","maThamChieu":"TT-1","thoiDiem":"2026-11-21T09:00:00+07:00","noiDung":"Đã thanh toán & <xong>",  "duLieu":{"soTien":8000}}`
	for _, k := range []string{"k1", "k1"} {
		do(t, "POST", srvA.URL+"/api/v1/hoso/"+first+"/su-kien", tok, ev, "Idempotency-Key", k)
	}
	do(t, "POST", srvA.URL+"/api/v1/hoso/NOPE/su-kien", tok, ev, "Idempotency-Key", "k2")
	views(t, srvA.URL) // serves records, so some are recorded as malformed

	state := snapshot(t, a)
	b, srvB := restored(t, state)
	if again := snapshot(t, b); !bytes.Equal(again, state) {
		t.Errorf("snapshot of the restored simulator differs (%d vs %d bytes)", len(again), len(state))
	}
	do(t, "POST", srvB.URL+"/_sim/faults", "", `{"malformed_rate":0.3}`) // faults are not state
	before, after := views(t, srvA.URL), views(t, srvB.URL)
	sameViews(t, "restored", before, after)
	if st := b.Book().Stats(); st.PendingChanges == 0 || st.Dossiers != 36 {
		t.Errorf("restored stats %+v", st)
	}
	if len(b.Book().MalformedServed()) == 0 || len(b.Book().Writebacks()) != 3 {
		t.Errorf("malformed %d, writebacks %d", len(b.Book().MalformedServed()), len(b.Book().Writebacks()))
	}
	// A writeback key seen before the restart still gets its first answer.
	if code, _ := do(t, "POST", srvB.URL+"/api/v1/hoso/"+first+"/su-kien", token(t, srvB.URL), ev, "Idempotency-Key", "k2"); code != 404 {
		t.Errorf("remembered key answered %d", code)
	}
	do(t, "POST", srvA.URL+"/api/v1/hoso/"+first+"/su-kien", token(t, srvA.URL), ev, "Idempotency-Key", "k2")

	// Both go on the same way: new codes continue the sequences, lifecycles
	// left can still be advanced.
	old := map[string]bool{}
	last := map[string]int{}
	_, items := a.Book().List(0, 0)
	for _, it := range items {
		old[it.MaHoSo] = true
		if i := strings.LastIndexByte(it.MaHoSo, '-'); i > 0 {
			n, _ := strconv.Atoi(it.MaHoSo[i+1:])
			last[it.MaHoSo[:i]] = max(last[it.MaHoSo[:i]], n)
		}
	}
	var newA, newB []any
	for _, srv := range []string{srvA.URL, srvB.URL} {
		res := generate(t, srv, `{"count":20,"seed":7,"steps":1}`)
		if srv == srvA.URL {
			newA = res["created"].([]any)
		} else {
			newB = res["created"].([]any)
		}
		code, body := do(t, "POST", srv+"/_sim/advance", "", `{"steps":10}`)
		if code != 200 || strings.Contains(string(body), `"applied":0`) {
			t.Errorf("advance %d %s", code, body)
		}
	}
	for i, id := range newB {
		code := id.(string)
		j := strings.LastIndexByte(code, '-')
		n, _ := strconv.Atoi(code[j+1:])
		if old[code] || n <= last[code[:j]] {
			t.Errorf("new code %s collides with or precedes old ones (last %d, old %v)", code, last[code[:j]], old[code])
		}
		if code != newA[i].(string) {
			t.Errorf("new code %d: %s on the restored simulator, %s on the original", i, code, newA[i])
		}
	}
	sameViews(t, "continued", views(t, srvA.URL), views(t, srvB.URL))
}

// TestRestoreResumesBackground: changes pending in the background when the
// simulator stopped are applied after the restart, exactly as they would
// have been without it.
func TestRestoreResumesBackground(t *testing.T) {
	a, srvA, _ := start(t, Config{})
	res := generate(t, srvA.URL, `{"count":4,"seed":11,"steps":5,"interval_ms":30}`)
	a.Book().Close() // stop, as on Ctrl-C, with changes still pending
	pending := a.Book().Stats().PendingChanges
	b, srvB := restored(t, snapshot(t, a))
	if got := b.Book().Stats().PendingChanges; got != pending {
		t.Fatalf("pending %d after restore, %d before", got, pending)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Book().Stats().PendingChanges > 0 {
		if time.Now().After(deadline) {
			t.Fatal("pending changes never applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, ref, _ := start(t, Config{})
	generate(t, ref.URL, `{"count":4,"seed":11,"steps":5}`)
	for _, id := range res["created"].([]any) {
		for _, p := range []string{"/_sim/dossiers/" + id.(string), "/_sim/dossiers/" + id.(string) + "/history"} {
			_, got := do(t, "GET", srvB.URL+p, "", "")
			_, want := do(t, "GET", ref.URL+p, "", "")
			if !bytes.Equal(got, want) {
				t.Errorf("%s\nresumed:   %s\nreference: %s", p, got, want)
			}
		}
	}
}

func TestRestoreRefusesOtherFiles(t *testing.T) {
	s, srv, _ := start(t, Config{})
	generate(t, srv.URL, `{"count":3,"seed":1}`)
	state := snapshot(t, s)
	for _, c := range []struct{ file, want string }{
		{"", "not a simulator state file"},
		{"{}\n", "not a simulator state file"},
		{"lienthong-sim-state hatinh 1\n", `holds the state of "hatinh"`},
		{"lienthong-sim-state sonla 99\n", "format version 99, this build reads version 1"},
		{string(state[:len(state)/2]), "unexpected EOF"},
	} {
		err := s.Restore(strings.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.30q: %v, want %q", c.file, err, c.want)
		}
	}
	if st := s.Book().Stats(); st.Dossiers != 3 {
		t.Errorf("a refused file changed the state: %+v", st)
	}
}

// TestSnapshotWhileRunning: snapshots taken at arbitrary points while
// background changes and reads run are each consistent: restored and left to
// finish, every one ends in the world the original ends in.
func TestSnapshotWhileRunning(t *testing.T) {
	a, srvA, _ := start(t, Config{})
	res := generate(t, srvA.URL, `{"count":30,"seed":21,"steps":6,"interval_ms":30}`)
	var states [][]byte
	tok := token(t, srvA.URL)
	for a.Book().Stats().PendingChanges > 0 && len(states) < 20 {
		list(t, srvA.URL, tok, time.Time{}, 1, 500)
		states = append(states, snapshot(t, a))
		time.Sleep(4 * time.Millisecond)
	}
	wait := func(s *Server) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); s.Book().Stats().PendingChanges > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("pending changes never applied")
			}
		}
	}
	wait(a)
	t.Logf("%d snapshots taken while running", len(states))
	for i, st := range states {
		b, srvB := restored(t, st)
		wait(b)
		for _, id := range res["created"].([]any) {
			for _, p := range []string{"/_sim/dossiers/" + id.(string), "/_sim/dossiers/" + id.(string) + "/history"} {
				_, got := do(t, "GET", srvB.URL+p, "", "")
				_, want := do(t, "GET", srvA.URL+p, "", "")
				if !bytes.Equal(got, want) {
					t.Errorf("snapshot %d: %s\nrestored: %s\noriginal: %s", i, p, got, want)
				}
			}
		}
		b.Close()
		srvB.Close()
	}
}
