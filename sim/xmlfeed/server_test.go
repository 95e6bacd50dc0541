package xmlfeed

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)}
	cfg.Now = clk.Now
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

func do(t *testing.T, method, u, key, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func generate(t *testing.T, base, body string) {
	t.Helper()
	if code, _, b := do(t, "POST", base+"/_sim/generate", "", body); code != 200 {
		t.Fatalf("generate %d %s", code, b)
	}
}

type feed struct {
	Last    int64 `xml:"SEQ_CUOI,attr"`
	More    int   `xml:"CON_DU_LIEU,attr"`
	Entries []struct {
		Seq       int64  `xml:"SEQ,attr"`
		Op        string `xml:"THAO_TAC,attr"`
		MaHoSo    string `xml:"MAHOSO"`
		TrangThai string `xml:"TRANGTHAI"`
		HoTen     string `xml:"CHUHOSO>HOTEN"`
		NgaySinh  string `xml:"CHUHOSO>NGAYSINH"`
	} `xml:"HOSO"`
}

func decodeFeed(t *testing.T, b []byte) feed {
	t.Helper()
	var f feed
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		if label != "windows-1258" {
			return nil, fmt.Errorf("charset %s", label)
		}
		return charmap.Windows1258.NewDecoder().Reader(in), nil
	}
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return f
}

func TestAPIKey(t *testing.T) {
	_, srv := start(t, Config{APIKey: "k"})
	for _, key := range []string{"", "wrong"} {
		if code, _, _ := do(t, "GET", srv.URL+"/dvc/api/dongbo?tuSeq=0&gioiHan=10", key, ""); code != 403 {
			t.Errorf("key %q: %d", key, code)
		}
	}
	if code, _, _ := do(t, "GET", srv.URL+"/dvc/api/dongbo?tuSeq=0&gioiHan=10", "k", ""); code != 200 {
		t.Errorf("right key: %d", code)
	}
	for _, q := range []string{"gioiHan=0", "gioiHan=1001", "tuSeq=-1", "tuSeq=x"} {
		if code, _, _ := do(t, "GET", srv.URL+"/dvc/api/dongbo?"+q, "k", ""); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
}

func TestFeedPaging(t *testing.T) {
	s, srv := start(t, Config{})
	generate(t, srv.URL, `{"count":40,"seed":1,"steps":4}`)
	changes := s.Book().Stats().Changes
	var seq int64
	var got int
	for calls := 0; ; calls++ {
		_, h, b := do(t, "GET", fmt.Sprintf("%s/dvc/api/dongbo?tuSeq=%d&gioiHan=7", srv.URL, seq), "hub-key", "")
		if h.Get("Content-Type") != "application/xml; charset=utf-8" {
			t.Fatalf("content type %q", h.Get("Content-Type"))
		}
		f := decodeFeed(t, b)
		for _, e := range f.Entries {
			got++
			if e.Seq != seq+1 || e.Op != "CAPNHAT" && e.Op != "XOA" || e.MaHoSo == "" {
				t.Fatalf("entry %+v after %d", e, seq)
			}
			seq = e.Seq
		}
		if f.Last != seq {
			t.Fatalf("SEQ_CUOI %d, last entry %d", f.Last, seq)
		}
		if f.More == 0 {
			break
		}
		if len(f.Entries) != 7 || calls > 100 {
			t.Fatalf("short page with more data: %d", len(f.Entries))
		}
	}
	if got != changes {
		t.Errorf("read %d entries, %d changes", got, changes)
	}
	// Reading past the end: nothing, position kept.
	_, _, b := do(t, "GET", fmt.Sprintf("%s/dvc/api/dongbo?tuSeq=%d&gioiHan=7", srv.URL, seq), "hub-key", "")
	if f := decodeFeed(t, b); len(f.Entries) != 0 || f.Last != seq || f.More != 0 {
		t.Errorf("past the end: %+v", f)
	}
}

func TestWindows1258(t *testing.T) {
	_, utf := start(t, Config{})
	_, cp := start(t, Config{Charset: "windows-1258"})
	for _, base := range []string{utf.URL, cp.URL} {
		generate(t, base, `{"count":30,"seed":8,"steps":3}`)
	}
	_, _, u := do(t, "GET", utf.URL+"/dvc/api/dongbo?gioiHan=1000", "hub-key", "")
	_, h, w := do(t, "GET", cp.URL+"/dvc/api/dongbo?gioiHan=1000", "hub-key", "")
	if h.Get("Content-Type") != "application/xml; charset=windows-1258" || !bytes.HasPrefix(w, []byte(`<?xml version="1.0" encoding="windows-1258"?>`)) {
		t.Fatalf("declared charset: %q %.60s", h.Get("Content-Type"), w)
	}
	if bytes.IndexByte(w, 0xEC) < 0 && bytes.IndexByte(w, 0xCC) < 0 { // combining acute / grave in windows-1258
		t.Error("raw feed carries no windows-1258 tone-mark bytes")
	}
	decoded, err := charmap.Windows1258.NewDecoder().Bytes(w)
	if err != nil {
		t.Fatal(err)
	}
	// Decoded text is NFD-ish: tone marks combining.
	if !strings.ContainsRune(string(decoded), '\u0301') && !strings.ContainsRune(string(decoded), '\u0300') {
		t.Error("no combining tone marks in windows-1258 output")
	}
	body := func(b []byte) string { return string(b[bytes.IndexByte(b, '\n')+1:]) }
	if norm.NFC.String(body(decoded)) != body(u) {
		t.Error("windows-1258 feed does not decode back to the UTF-8 feed")
	}
	f := decodeFeed(t, w)
	if len(f.Entries) == 0 || norm.NFC.String(f.Entries[0].HoTen) != decodeFeed(t, u).Entries[0].HoTen {
		t.Error("parsed names differ")
	}
}

func TestToWindows1258(t *testing.T) {
	for _, s := range []string{"Đặng Thị Thuỷ", "Nguyễn Văn Vượng", "Phường Bắc Hồng, Khối 3", "Lường Ặ ợ ự ữ ẫ", "façade ö €"} {
		got, err := charmap.Windows1258.NewDecoder().String(string(ToWindows1258([]byte(s))))
		if err != nil || norm.NFC.String(got) != s {
			t.Errorf("%q round-trips as %q (%v)", s, got, err)
		}
	}
	// Shape marks stay precomposed, tone marks combine: ặ = ă + dot below.
	if got := ToWindows1258([]byte("ặ")); !bytes.Equal(got, []byte{0xE3, 0xF2}) {
		t.Errorf("ặ → % x", got)
	}
	if got := ToWindows1258([]byte("é")); !bytes.Equal(got, []byte{'e', 0xEC}) {
		t.Errorf("é → % x", got)
	}
	if got := string(ToWindows1258([]byte("漢"))); got != "&#28450;" {
		t.Errorf("unencodable → %q", got)
	}
}

func TestDeletion(t *testing.T) {
	s, srv := start(t, Config{DeleteRate: 1})
	generate(t, srv.URL, `{"count":5,"seed":2,"steps":3}`)
	_, _, b := do(t, "GET", srv.URL+"/dvc/api/dongbo?gioiHan=100", "hub-key", "")
	f := decodeFeed(t, b)
	if len(f.Entries) != 10 {
		t.Fatalf("%d entries", len(f.Entries))
	}
	for i, e := range f.Entries {
		if want := []string{"CAPNHAT", "XOA"}[i%2]; e.Op != want {
			t.Errorf("entry %d: %s", i, e.Op)
		}
	}
	if !strings.Contains(string(b), `<HOSO SEQ="2" THAO_TAC="XOA"><MAHOSO>`) {
		t.Errorf("XOA entry shape:\n%s", b)
	}
	if st := s.Book().Stats(); st.Deleted != 5 {
		t.Errorf("stats %+v", st)
	}
	_, _, b = do(t, "GET", srv.URL+"/_sim/dossiers", "", "")
	if !strings.Contains(string(b), `"deleted":true`) {
		t.Errorf("list %s", b)
	}
}

func TestPostedEntryAndWriteback(t *testing.T) {
	s, srv := start(t, Config{})
	posted := `<HOSO SEQ="999" THAO_TAC="CAPNHAT"><MAHOSO>HT-1</MAHOSO><TRANGTHAI>4</TRANGTHAI><NGAYNOP></NGAYNOP><CHUHOSO LOAI="1"><HOTEN>Phan Thị Lan</HOTEN></CHUHOSO></HOSO>`
	if code, _, b := do(t, "POST", srv.URL+"/_sim/dossiers", "", posted); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	_, _, b := do(t, "GET", srv.URL+"/dvc/api/dongbo?tuSeq=0", "hub-key", "")
	want := `<HOSO SEQ="1" THAO_TAC="CAPNHAT"><MAHOSO>HT-1</MAHOSO><TRANGTHAI>4</TRANGTHAI><NGAYNOP></NGAYNOP><CHUHOSO LOAI="1"><HOTEN>Phan Thị Lan</HOTEN></CHUHOSO></HOSO>`
	if !strings.Contains(string(b), want) {
		t.Errorf("feed\n%s\nlacks\n%s", b, want)
	}
	ev := `<SUKIEN MAHOSO="HT-1" LOAI="DONG_BO_QUOC_GIA" MATHAMCHIEU="QG-1" THOIDIEM="20261121090000">Đã đồng bộ</SUKIEN>`
	for range 2 {
		if code, _, b := do(t, "POST", srv.URL+"/dvc/api/sukien", "hub-key", ev); code != 200 || !strings.Contains(string(b), `<KETQUA MA="0">OK</KETQUA>`) {
			t.Fatalf("writeback %d %s", code, b)
		}
	}
	if wbs := s.Book().Writebacks(); len(wbs) != 2 || !wbs[1].Duplicate || wbs[0].Kind != "DONG_BO_QUOC_GIA" {
		t.Errorf("writebacks %+v", wbs)
	}
	for _, bad := range []string{
		strings.Replace(ev, "20261121090000", "21/11/2026", 1),
		strings.Replace(ev, "DONG_BO_QUOC_GIA", "X", 1),
		`<KHAC/>`, `<SUKIEN`,
	} {
		if code, _, _ := do(t, "POST", srv.URL+"/dvc/api/sukien", "hub-key", bad); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
	unknown := strings.NewReplacer("HT-1", "HT-9", "QG-1", "QG-2").Replace(ev)
	if code, _, b := do(t, "POST", srv.URL+"/dvc/api/sukien", "hub-key", unknown); code != 404 || !strings.Contains(string(b), `MA="1"`) {
		t.Errorf("unknown dossier %d %s", code, b)
	}
}

func TestMalformedFeed(t *testing.T) {
	s, srv := start(t, Config{Charset: "windows-1258"})
	generate(t, srv.URL, `{"count":50,"seed":3,"steps":2}`)
	do(t, "POST", srv.URL+"/_sim/faults", "", `{"malformed_rate":0.5}`)
	_, _, a := do(t, "GET", srv.URL+"/dvc/api/dongbo?gioiHan=1000", "hub-key", "")
	_, _, b := do(t, "GET", srv.URL+"/dvc/api/dongbo?gioiHan=1000", "hub-key", "")
	if !bytes.Equal(a, b) {
		t.Error("re-read differs")
	}
	f := decodeFeed(t, a) // still well-formed
	if len(f.Entries) != s.Book().Stats().Changes {
		t.Errorf("%d entries", len(f.Entries))
	}
	mal := s.Book().MalformedServed()
	if len(mal) < 20 {
		t.Errorf("only %d corruptions", len(mal))
	}
	fields := map[string]bool{}
	for _, m := range mal {
		fields[m.Field] = true
	}
	for _, want := range []string{"CHUHOSO/NGAYSINH", "TRANGTHAI", "CHUHOSO/CCCD", "CHUHOSO/SDT", "NGAYNOP"} {
		if !fields[want] {
			t.Errorf("no %s among %v", want, fields)
		}
	}
}

func TestInternalError(t *testing.T) {
	_, srv := start(t, Config{})
	do(t, "POST", srv.URL+"/_sim/faults", "", `{"error_rate":1}`)
	if code, _, b := do(t, "GET", srv.URL+"/dvc/api/dongbo", "hub-key", ""); code != 500 || !strings.Contains(string(b), `MA="99"`) {
		t.Errorf("%d %s", code, b)
	}
}
