package restjson

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, cfg Config) (*Server, *httptest.Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv, clk
}

func do(t *testing.T, method, u, token, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func login(t *testing.T, base, id, secret string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func token(t *testing.T, base string) string {
	t.Helper()
	code, m := login(t, base, "hub", "hub-secret")
	if code != 200 {
		t.Fatalf("login %d %v", code, m)
	}
	return m["access_token"].(string)
}

func generate(t *testing.T, base, body string) map[string]any {
	t.Helper()
	code, b := do(t, "POST", base+"/_sim/generate", "", body)
	if code != 200 {
		t.Fatalf("generate %d %s", code, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

type page struct {
	TongSo  int               `json:"tongSo"`
	Trang   int               `json:"trang"`
	SoLuong int               `json:"soLuong"`
	DuLieu  []json.RawMessage `json:"duLieu"`
}

func list(t *testing.T, base, tok string, from time.Time, trang, soLuong int) page {
	t.Helper()
	q := url.Values{"tuNgay": {from.Format(time.RFC3339)}, "trang": {fmt.Sprint(trang)}, "soLuong": {fmt.Sprint(soLuong)}}
	code, b := do(t, "GET", base+"/api/v1/hoso?"+q.Encode(), tok, "")
	if code != 200 {
		t.Fatalf("list %d %s", code, b)
	}
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return p
}

func TestAuth(t *testing.T) {
	_, srv, clk := start(t, Config{ClientID: "c", ClientSecret: "s", TokenTTL: 60 * time.Second})
	if code, _ := login(t, srv.URL, "c", "wrong"); code != 401 {
		t.Errorf("bad secret: %d", code)
	}
	code, m := login(t, srv.URL, "c", "s")
	if code != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(60) {
		t.Fatalf("login %d %v", code, m)
	}
	tok := m["access_token"].(string)
	u := srv.URL + "/api/v1/hoso?soLuong=10"
	if code, _ := do(t, "GET", u, "", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := do(t, "GET", u, "nonsense", ""); code != 401 {
		t.Errorf("unknown token: %d", code)
	}
	if code, _ := do(t, "GET", u, tok, ""); code != 200 {
		t.Errorf("fresh token: %d", code)
	}
	clk.Add(61 * time.Second)
	if code, _ := do(t, "GET", u, tok, ""); code != 401 {
		t.Errorf("expired token: %d", code)
	}
	// session_ttl_s shortens the lifetime of new and existing tokens.
	_, m = login(t, srv.URL, "c", "s")
	tok = m["access_token"].(string)
	do(t, "POST", srv.URL+"/_sim/faults", "", `{"session_ttl_s":5}`)
	clk.Add(6 * time.Second)
	if code, _ := do(t, "GET", u, tok, ""); code != 401 {
		t.Errorf("token past session_ttl_s: %d", code)
	}
	if _, m = login(t, srv.URL, "c", "s"); m["expires_in"] != float64(5) {
		t.Errorf("expires_in %v", m["expires_in"])
	}
}

func TestPagingOrderAndBounds(t *testing.T) {
	_, srv, clk := start(t, Config{})
	tok := token(t, srv.URL)
	t0 := clk.Now()
	generate(t, srv.URL, `{"count":70,"seed":1,"steps":0}`)
	clk.Add(2 * time.Second)
	generate(t, srv.URL, `{"count":50,"seed":2,"steps":2}`)

	var all []json.RawMessage
	p := list(t, srv.URL, tok, t0, 1, 50)
	if p.TongSo != 120 || p.Trang != 1 || p.SoLuong != 50 || len(p.DuLieu) != 50 {
		t.Fatalf("page 1: %d %d %d %d", p.TongSo, p.Trang, p.SoLuong, len(p.DuLieu))
	}
	all = append(all, p.DuLieu...)
	all = append(all, list(t, srv.URL, tok, t0, 2, 50).DuLieu...)
	last := list(t, srv.URL, tok, t0, 3, 50)
	if len(last.DuLieu) != 20 {
		t.Fatalf("page 3 has %d", len(last.DuLieu))
	}
	all = append(all, last.DuLieu...)
	if len(list(t, srv.URL, tok, t0, 4, 50).DuLieu) != 0 {
		t.Error("page 4 not empty")
	}
	type key struct{ at, id string }
	var keys []key
	seen := map[string]bool{}
	for _, raw := range all {
		var d struct {
			MaHoSo      string `json:"maHoSo"`
			NgayCapNhat string `json:"ngayCapNhat"`
		}
		_ = json.Unmarshal(raw, &d)
		keys = append(keys, key{d.NgayCapNhat, d.MaHoSo})
		seen[d.MaHoSo] = true
	}
	if len(seen) != 120 || !sort.SliceIsSorted(keys, func(i, j int) bool {
		if keys[i].at != keys[j].at {
			return keys[i].at < keys[j].at
		}
		return keys[i].id < keys[j].id
	}) {
		t.Errorf("%d distinct, order wrong", len(seen))
	}
	// Inclusive: tuNgay equal to the latest ngayCapNhat returns those dossiers.
	if p := list(t, srv.URL, tok, t0.Add(2*time.Second), 1, 500); p.TongSo != 50 {
		t.Errorf("inclusive tuNgay: %d", p.TongSo)
	}
	if p := list(t, srv.URL, tok, t0.Add(3*time.Second), 1, 500); p.TongSo != 0 {
		t.Errorf("later tuNgay: %d", p.TongSo)
	}
	for _, q := range []string{"soLuong=0", "soLuong=501", "trang=0", "tuNgay=yesterday", "tuNgay=2026-11-21T08:00:00 07:00"} {
		if code, _ := do(t, "GET", srv.URL+"/api/v1/hoso?"+q, tok, ""); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
}

func TestWritebackIdempotency(t *testing.T) {
	s, srv, _ := start(t, Config{})
	tok := token(t, srv.URL)
	id := generate(t, srv.URL, `{"count":1,"seed":3}`)["created"].([]any)[0].(string)
	ev := `{"loai":"THANH_TOAN","maThamChieu":"TT-1","thoiDiem":"2026-11-21T09:00:00+07:00","noiDung":"Đã thanh toán","duLieu":{"soTien":8000}}`
	u := srv.URL + "/api/v1/hoso/" + id + "/su-kien"
	if code, b := do(t, "POST", u, tok, ev, "Idempotency-Key", "k1"); code != 200 || string(b) != `{"ketQua":"OK"}` {
		t.Fatalf("writeback %d %s", code, b)
	}
	if code, _ := do(t, "POST", u, tok, ev, "Idempotency-Key", "k1"); code != 200 {
		t.Errorf("repeat %d", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/v1/hoso/NOPE/su-kien", tok, ev, "Idempotency-Key", "k2"); code != 404 {
		t.Errorf("unknown dossier %d", code)
	}
	// Same key: the first answer (404), even for another dossier.
	if code, _ := do(t, "POST", u, tok, ev, "Idempotency-Key", "k2"); code != 404 {
		t.Errorf("same key, first answer: %d", code)
	}
	if code, _ := do(t, "POST", u, tok, ev); code != 400 {
		t.Errorf("missing key %d", code)
	}
	if code, _ := do(t, "POST", u, tok, `{"loai":"KHAC","thoiDiem":"2026-11-21T09:00:00+07:00"}`, "Idempotency-Key", "k3"); code != 400 {
		t.Errorf("bad loai %d", code)
	}
	if code, _ := do(t, "POST", u, "", ev, "Idempotency-Key", "k4"); code != 401 {
		t.Errorf("no token %d", code)
	}
	wbs := s.Book().Writebacks()
	if len(wbs) != 4 || wbs[0].Duplicate || !wbs[1].Duplicate || wbs[2].Status != 404 || !wbs[3].Duplicate || wbs[0].Kind != "THANH_TOAN" {
		t.Errorf("writebacks %+v", wbs)
	}
	code, b := do(t, "GET", srv.URL+"/_sim/writebacks", "", "")
	if code != 200 || !strings.Contains(string(b), `"maThamChieu":"TT-1"`) {
		t.Errorf("/_sim/writebacks %d %s", code, b)
	}
}

func TestPostDossierKeepsBody(t *testing.T) {
	_, srv, clk := start(t, Config{})
	body := `{"maHoSo":"X-1","trangThai":"DANG_XU_LY","chuHoSo":{"hoTen":"Lò Văn Minh","ngaySinh":"1995-02-30"},"phienBan":99,"extra":[1,2.50]}`
	code, b := do(t, "POST", srv.URL+"/_sim/dossiers", "", body)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	code, b = do(t, "GET", srv.URL+"/_sim/dossiers/X-1", "", "")
	want := `{"maHoSo":"X-1","trangThai":"DANG_XU_LY","chuHoSo":{"hoTen":"Lò Văn Minh","ngaySinh":"1995-02-30"},"phienBan":1,"ngayCapNhat":"2026-11-21T08:00:00+07:00","extra":[1,2.50]}`
	if code != 200 || string(b) != want {
		t.Errorf("stored\n%s\nwant\n%s", b, want)
	}
	clk.Add(time.Second)
	do(t, "POST", srv.URL+"/_sim/dossiers", "", `{"maHoSo":"X-1","trangThai":"LA"}`)
	_, b = do(t, "GET", srv.URL+"/_sim/dossiers/X-1/history", "", "")
	var h []struct {
		Version int       `json:"version"`
		Status  int       `json:"status"`
		Updated time.Time `json:"updated"`
	}
	_ = json.Unmarshal(b, &h)
	if len(h) != 2 || h[0].Status != 4 || h[1].Version != 2 || h[1].Status != 0 || !h[1].Updated.After(h[0].Updated) {
		t.Errorf("history %s", b)
	}
	if code, _ := do(t, "POST", srv.URL+"/_sim/dossiers", "", `{"trangThai":"MOI"}`); code != 400 {
		t.Errorf("missing maHoSo: %d", code)
	}
	_, b = do(t, "GET", srv.URL+"/_sim/dossiers", "", "")
	if !strings.Contains(string(b), `"total":1`) || !strings.Contains(string(b), `"version":2`) {
		t.Errorf("list %s", b)
	}
}

func TestMalformedIsStableAndLocal(t *testing.T) {
	s, srv, clk := start(t, Config{})
	tok := token(t, srv.URL)
	generate(t, srv.URL, `{"count":200,"seed":4,"steps":3}`)
	do(t, "POST", srv.URL+"/_sim/faults", "", `{"malformed_rate":0.3}`)
	from := clk.Now().Add(-time.Hour)
	first := list(t, srv.URL, tok, from, 1, 500)
	again := list(t, srv.URL, tok, from, 1, 500)
	bad := 0
	for i, raw := range first.DuLieu {
		if string(raw) != string(again.DuLieu[i]) {
			t.Fatal("a re-read of the same version differs")
		}
		var d struct {
			MaHoSo   string `json:"maHoSo"`
			PhienBan int    `json:"phienBan"`
		}
		if err := json.Unmarshal(raw, &d); err != nil || d.MaHoSo == "" || d.PhienBan < 1 {
			t.Fatalf("record not intact: %v %s", err, raw)
		}
		it, _ := s.Book().Current(d.MaHoSo)
		if string(it.Data) != string(raw) {
			bad++
		}
	}
	mal := s.Book().MalformedServed()
	if bad != len(mal) || bad < 30 || bad > 90 {
		t.Errorf("%d corrupted records, %d recorded", bad, len(mal))
	}
	fields := map[string]bool{}
	for _, m := range mal {
		fields[m.Field] = true
		if m.Served != 2 {
			t.Errorf("served %d", m.Served)
		}
	}
	for _, f := range []string{"chuHoSo.ngaySinh", "trangThai", "chuHoSo.soDinhDanh", "chuHoSo.soDienThoai", "ngayNop"} {
		if !fields[f] {
			t.Errorf("no corruption of %s among %v", f, fields)
		}
	}
	code, b := do(t, "GET", srv.URL+"/_sim/malformed", "", "")
	if code != 200 || !strings.Contains(string(b), `"field":"`) {
		t.Errorf("/_sim/malformed %d", code)
	}
}

func TestFeeCorruption(t *testing.T) {
	out, field, kind, ok := format{}.Corrupt([]byte(`{"maHoSo":"A","lePhi":[{"ma":"LP","soTien":8000}]}`), 5)
	if !ok || field != "lePhi[0].soTien" || kind != "fee_not_number" || string(out) != `{"maHoSo":"A","lePhi":[{"ma":"LP","soTien":"abc"}]}` {
		t.Errorf("%s %s %s %v", out, field, kind, ok)
	}
	if _, _, _, ok := (format{}).Corrupt([]byte(`{"maHoSo":"A"}`), 0); ok {
		t.Error("nothing to corrupt, yet corrupted")
	}
}

func TestBackgroundGeneration(t *testing.T) {
	s, srv, _ := start(t, Config{Now: time.Now})
	res := generate(t, srv.URL, `{"count":20,"seed":5,"steps":3,"interval_ms":20}`)
	if res["pending"].(float64) == 0 || res["applied"].(float64) != 0 {
		t.Fatalf("result %v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Book().Stats().PendingChanges > 0 {
		if time.Now().After(deadline) {
			t.Fatal("background changes never finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := s.Book().Stats()
	if st.Dossiers != 20 || st.Changes != 20+int(res["pending"].(float64)) {
		t.Errorf("stats %+v", st)
	}
	for _, id := range res["created"].([]any) {
		h, _ := s.Book().History(id.(string))
		if len(h) < 2 || len(h) > 4 {
			t.Errorf("%s has %d versions", id, len(h))
		}
	}
}

func TestInternalErrorForm(t *testing.T) {
	_, srv, _ := start(t, Config{})
	tok := token(t, srv.URL)
	do(t, "POST", srv.URL+"/_sim/faults", "", `{"error_rate":1}`)
	code, b := do(t, "GET", srv.URL+"/api/v1/hoso", tok, "")
	if code != 500 || !strings.Contains(string(b), `"maLoi":"LOI_HE_THONG"`) {
		t.Errorf("%d %s", code, b)
	}
}

func TestAdvanceAndTakeover(t *testing.T) {
	s, srv, _ := start(t, Config{})
	ids := generate(t, srv.URL, `{"count":10,"seed":1,"steps":0}`)["created"].([]any)
	first := ids[0].(string)
	do(t, "POST", srv.URL+"/_sim/dossiers", "", `{"maHoSo":"`+first+`","trangThai":"TAM_DUNG"}`)
	code, b := do(t, "POST", srv.URL+"/_sim/advance", "", `{"steps":1}`)
	var res struct{ Applied int }
	_ = json.Unmarshal(b, &res)
	if code != 200 || res.Applied != 9 {
		t.Fatalf("advance %d %s", code, b)
	}
	for i, id := range ids {
		h, _ := s.Book().History(id.(string))
		if len(h) != 2 {
			t.Errorf("%s: %d versions", id, len(h))
		}
		if i == 0 && h[1].Status != 8 {
			t.Errorf("posted dossier was advanced by the generator: %+v", h)
		}
	}
	if st := s.Book().Stats(); st.Changes != 20 || st.Dossiers != 10 {
		t.Errorf("stats %+v", st)
	}
}
