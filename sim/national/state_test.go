package national

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

// views is what the /_sim/ API shows of the portal, by request (none of it
// counts in the stats).
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
	get("/_sim/stats")
	get("/_sim/catalog")
	for off := 0; ; off += 7 {
		var page struct {
			Total int       `json:"total"`
			Items []Dossier `json:"items"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/_sim/dossiers?offset=%d&limit=7", off)), &page); err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Items {
			get("/_sim/dossiers/" + d.MaHoSo)
		}
		if off+7 >= page.Total {
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

func step(id string, over map[string]any) map[string]any {
	st := map[string]any{"MaHoSo": id, "NguoiXuLy": "Trần Thu Hà", "ChucDanh": "Chuyên viên", "ThoiDiemXuLy": "20261121075512",
		"PhongBanXuLy": "Bộ phận một cửa", "NoiDungXuLy": "Tiếp nhận & <chuyển>", "TrangThai": 2, "NgayBatDau": "20261121075512", "NgayKetThucTheoQuyDinh": "20261126170000"}
	for k, v := range over {
		st[k] = v
	}
	return st
}

func TestSnapshotRestore(t *testing.T) {
	a, srvA, clk := start(t, Config{})
	sess := login(t, srvA.URL)
	var creates, updates []any
	for i := range 12 {
		creates = append(creates, hoso(fmt.Sprintf("Q-%d", i), map[string]any{"GhiChu": "ghi chú & <b>"}))
		if i%3 == 0 {
			updates = append(updates, hoso(fmt.Sprintf("Q-%d", i), map[string]any{"TrangThaiHoSo": "9", "GhiChu": "ghi chú & <b>"}))
		}
	}
	creates = append(creates, hoso("Q-bad", map[string]any{"MaTTHC": "9.999999"}), hoso("Q-0", nil))
	if got := strings.Join(itemCodes(push(t, srvA.URL, sess, "DongBoHoSoMC", "False", creates...)), ","); !strings.HasSuffix(got, ",21,22") {
		t.Fatalf("creates %s", got)
	}
	clk.Add(time.Minute)
	push(t, srvA.URL, sess, "DongBoHoSoMC", "True", append(updates, hoso("Q-none", nil))...)
	push(t, srvA.URL, sess, "CapNhatTienDoHoSoMC", "", step("Q-1", nil), step("Q-2", map[string]any{"TrangThai": 4}), step("Q-none", nil))
	if code, b := httpDo(t, "PUT", srvA.URL+"/_sim/catalog", `[{"MaTTHC":"2.000815","TenTTHC":"Cấp giấy chứng nhận đăng ký hộ kinh doanh","MaLinhVuc":"TLDN","TenLinhVuc":"Thành lập và hoạt động doanh nghiệp","MucDo":3,"PhiLePhi":[{"MaPhiLePhi":"LP02","SoTien":100000,"MoTa":"Lệ phí"}]},{"MaTTHC":"1.000894","TenTTHC":"Đăng ký khai sinh","MaLinhVuc":"HT","TenLinhVuc":"Hộ tịch","MucDo":"TOAN_TRINH","PhiLePhi":[]}]`); code != 200 {
		t.Fatalf("PUT catalog %d %s", code, b)
	}
	post(t, srvA.URL+"/api/integration", dst, map[string]any{"session": "expired", "service": "DongBoHoSoMC", "data": []any{}})

	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	clkB := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	b := New(Config{Now: clkB.Now})
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	srvB := httptest.NewServer(b)
	t.Cleanup(func() { b.Close(); srvB.Close() })
	before, after := views(t, srvA.URL), views(t, srvB.URL)
	sameViews(t, "restored", before, after)
	if st := b.Stats(); st.Dossiers != 12 || st.ItemsAccepted["DongBoHoSoMC"] != 16 || st.ItemsAccepted["CapNhatTienDoHoSoMC"] != 2 || st.ItemErrors["22"] != 1 || st.CallErrors["98"] != 1 {
		t.Errorf("restored stats %+v", st)
	}

	// Sessions are not kept: the hub logs in again after "98".
	_, _, m := post(t, srvB.URL+"/api/integration", dst, map[string]any{"session": sess, "service": "DongBoHoSoMC", "isUpdating": "False", "data": []any{}})
	if m["error_code"] != "98" {
		t.Errorf("old session on the restored portal: %v", m)
	}
	post(t, srvA.URL+"/api/integration", dst, map[string]any{"session": "expired", "service": "DongBoHoSoMC", "isUpdating": "False", "data": []any{}})

	// Both go on the same way. Re-creating what was synced before the
	// restart is refused item by item ("22").
	for _, srv := range []string{srvA.URL, srvB.URL} {
		s := login(t, srv)
		if got := strings.Join(itemCodes(push(t, srv, s, "DongBoHoSoMC", "False", creates[:12]...)), ","); got != strings.Repeat("22,", 11)+"22" {
			t.Errorf("re-create after restart: %s", got)
		}
		if got := strings.Join(itemCodes(push(t, srv, s, "DongBoHoSoMC", "False", hoso("Q-new", nil), hoso("K-1", map[string]any{"MaTTHC": "1.000894"}))), ","); got != "00,00" {
			t.Errorf("new dossiers: %s", got)
		}
		if got := strings.Join(itemCodes(push(t, srv, s, "CapNhatTienDoHoSoMC", "", step("Q-3", nil))), ","); got != "00" {
			t.Errorf("step: %s", got)
		}
		_, _, m := post(t, srv+"/api/share", dst, map[string]any{"session": s, "service": "TraCuuHoSo", "MaHoSo": "Q-0"})
		if res, _ := m["result"].([]any); len(res) != 1 || res[0].(map[string]any)["TrangThaiHoSo"] != "9" || res[0].(map[string]any)["GhiChu"] != "ghi chú & <b>" {
			t.Errorf("TraCuuHoSo %v", m)
		}
	}
	sameViews(t, "continued", views(t, srvA.URL), views(t, srvB.URL))
}

func TestRestoreRefusesOtherFiles(t *testing.T) {
	s, srv, _ := start(t, Config{})
	push(t, srv.URL, login(t, srv.URL), "DongBoHoSoMC", "False", hoso("R-1", nil))
	for _, c := range []struct{ file, want string }{
		{"", "not a simulator state file"},
		{"lienthong-sim-state sonla 1\n", `holds the state of "sonla"`},
		{"lienthong-sim-state national 2\n", "format version 2, this build reads version 1"},
		{"lienthong-sim-state national 1\nxx", "national state"},
	} {
		if err := s.Restore(strings.NewReader(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
	if _, ok := s.Dossier("R-1"); !ok {
		t.Error("a refused file changed the state")
	}
}
