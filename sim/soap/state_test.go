package soap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

func httpDo(t *testing.T, method, u, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// views is what the HTTP API shows of a simulator, by request. The corruption
// list comes first: reading the API afterwards records more serves.
func views(t *testing.T, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	get := func(path string) []byte {
		code, b := httpDo(t, "GET", base+path, "")
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
	for page := 1; ; page++ {
		inner := fmt.Sprintf("<TuThoiDiem>01/01/2000 00:00:00</TuThoiDiem><TrangSo>%d</TrangSo><SoBanGhi>7</SoBanGhi>", page)
		code, b := call(t, base, "LayDanhSachHoSo", envelope("mc", "hub", "hub-secret", "LayDanhSachHoSo", inner))
		if code != 200 {
			t.Fatalf("list page %d: %d %s", page, code, b)
		}
		out[fmt.Sprint("LayDanhSachHoSo page ", page)] = string(b)
		if !strings.Contains(string(b), "<HoSo") {
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

func TestSnapshotRestore(t *testing.T) {
	a, srvA, clk := start(t, Config{})
	httpDo(t, "POST", srvA.URL+"/_sim/faults", `{"malformed_rate":0.3}`)
	generate(t, srvA.URL, `{"count":30,"seed":7,"steps":2}`)
	clk.Add(time.Second)
	generate(t, srvA.URL, `{"count":5,"seed":8,"steps":3,"interval_ms":3600000}`)
	clk.Add(time.Second)
	posted := `<x:HoSo xmlns:x="` + ns + `"><x:MaHoSo>TN-1</x:MaHoSo><x:TrangThai>CBS</x:TrangThai><x:NguoiNop LoaiDoiTuong="1"><x:HoTen>Hoàng Văn Nam</x:HoTen></x:NguoiNop></x:HoSo>`
	if code, b := httpDo(t, "POST", srvA.URL+"/_sim/dossiers", posted); code != 200 {
		t.Fatalf("post %d %s", code, b)
	}
	inner := "<MaHoSo>TN-1</MaHoSo><LoaiSuKien>BUU_CHINH</LoaiSuKien><MaThamChieu>VN-1</MaThamChieu><ThoiDiem>21/11/2026 09:00:00</ThoiDiem><NoiDung>Đã giao</NoiDung>"
	for _, in := range []string{inner, inner, strings.NewReplacer("TN-1", "KHONG-CO", "VN-1", "VN-2").Replace(inner)} {
		call(t, srvA.URL, "CapNhatSuKienHoSo", envelope("", "hub", "hub-secret", "CapNhatSuKienHoSo", in))
	}
	views(t, srvA.URL)

	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	state := buf.Bytes()
	clkB := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	b := New(Config{Now: clkB.Now})
	if err := b.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	srvB := httptest.NewServer(b)
	t.Cleanup(func() { b.Close(); srvB.Close() })
	var again bytes.Buffer
	if err := b.Snapshot(&again); err != nil || !bytes.Equal(again.Bytes(), state) {
		t.Errorf("snapshot of the restored simulator differs: %v", err)
	}
	httpDo(t, "POST", srvB.URL+"/_sim/faults", `{"malformed_rate":0.3}`)
	sameViews(t, "restored", views(t, srvA.URL), views(t, srvB.URL))
	if st := b.Book().Stats(); st.PendingChanges == 0 || st.Dossiers != 36 {
		t.Errorf("restored stats %+v", st)
	}
	if len(b.Book().MalformedServed()) == 0 || len(b.Book().Writebacks()) != 3 {
		t.Errorf("malformed %d, writebacks %d", len(b.Book().MalformedServed()), len(b.Book().Writebacks()))
	}

	_, old := a.Book().List(0, 0)
	taken := map[string]bool{}
	for _, it := range old {
		taken[it.MaHoSo] = true
	}
	var created [2][]string
	for i, srv := range []string{srvA.URL, srvB.URL} {
		code, body := httpDo(t, "POST", srv+"/_sim/generate", `{"count":20,"seed":7,"steps":1}`)
		var res struct{ Created []string }
		if err := json.Unmarshal(body, &res); code != 200 || err != nil {
			t.Fatalf("generate %d %s", code, body)
		}
		created[i] = res.Created
		if code, body := httpDo(t, "POST", srv+"/_sim/advance", `{"steps":10}`); code != 200 || strings.Contains(string(body), `"applied":0`) {
			t.Errorf("advance %d %s", code, body)
		}
	}
	for i, id := range created[1] {
		if taken[id] || id != created[0][i] {
			t.Errorf("new code %s (original simulator: %s) reuses an old one: %v", id, created[0][i], taken[id])
		}
	}
	sameViews(t, "continued", views(t, srvA.URL), views(t, srvB.URL))
}
