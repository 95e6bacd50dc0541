package xmlfeed

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// feedServer is an independent test implementation of spec §3: an
// append-only log served as XML in a chosen charset.
type feedServer struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	log     []logEntry
	charset string // utf8 | 1258-both | 1258-prolog | 1258-header | 1258-conflict
	faults  []int
	raw     map[int64]string // entries served verbatim (hostile)
	trunc   bool             // cut the document short
	events  map[string]string
	order   []string
	repeat  int // also serve this many entries at or below tuSeq
}

type logEntry struct {
	seq  int64
	body string // the <HOSO> element, UTF-8 NFC
}

func newFeed(t *testing.T) *feedServer {
	f := &feedServer{t: t, charset: "utf8", raw: map[int64]string{}, events: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dvc/api/dongbo", f.dongbo)
	mux.HandleFunc("POST /dvc/api/sukien", f.sukien)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *feedServer) client(t *testing.T, mod func(*Config)) *Client {
	cfg := Config{Source: "hatinh", BaseURL: f.srv.URL, APIKey: "k-42", PageSize: 1000}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// update appends a CAPNHAT entry for id with the given holder name.
func (f *feedServer) update(id, name string) int64 {
	return f.append(func(seq int64) string {
		return fmt.Sprintf(`<HOSO SEQ="%d" THAO_TAC="CAPNHAT">
    <MAHOSO>%s</MAHOSO>
    <MATTHC>1.000894</MATTHC><TENTTHC>Đăng ký khai sinh</TENTTHC>
    <MUCDO>TOAN_TRINH</MUCDO>
    <CHUHOSO LOAI="1"><HOTEN>%s</HOTEN><CCCD>042196007781</CCCD><NGAYSINH>19960815</NGAYSINH>
      <MATINH>42</MATINH><MAHUYEN>437</MAHUYEN><MAXA>18412</MAXA><DIACHI>Khối 3, phường Bắc Hồng</DIACHI></CHUHOSO>
    <TRICHYEU>Khai sinh cho con thứ hai &amp; trích lục</TRICHYEU>
    <NGAYNOP>20261121074500</NGAYNOP><NGAYTRA></NGAYTRA><TRANGTHAI>4</TRANGTHAI>
    <DIACHINHAN HOTEN="%s" SDT="0904123456">Khối 3, phường Bắc Hồng</DIACHINHAN>
    <LEPHI MA="LP01" LOAI="2" SOTIEN="8000" DANOP="0" HINHTHUC="2">Lệ phí khai sinh</LEPHI>
    <XULY THOIDIEM="20261121080000" TRANGTHAI="2" NGUOIXULY="Lê Văn Tâm" CHUCDANH="Công chức" PHONGBAN="Một cửa">Tiếp nhận</XULY>
  </HOSO>`, seq, id, name, name)
	})
}

func (f *feedServer) remove(id string) int64 {
	return f.append(func(seq int64) string {
		return fmt.Sprintf(`<HOSO SEQ="%d" THAO_TAC="XOA"><MAHOSO>%s</MAHOSO></HOSO>`, seq, id)
	})
}

func (f *feedServer) append(body func(seq int64) string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := int64(1000 + len(f.log) + 1)
	f.log = append(f.log, logEntry{seq, body(seq)})
	return seq
}

func (f *feedServer) dongbo(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != "k-42" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.faults) > 0 {
		code := f.faults[0]
		f.faults = f.faults[1:]
		w.WriteHeader(code)
		return
	}
	tu, err1 := strconv.ParseInt(r.URL.Query().Get("tuSeq"), 10, 64)
	lim, err2 := strconv.Atoi(r.URL.Query().Get("gioiHan"))
	if err1 != nil || err2 != nil || lim < 1 || lim > 1000 {
		f.t.Errorf("bad query %q", r.URL.RawQuery)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var out []logEntry
	rest := 0
	for _, e := range f.log {
		switch {
		case e.seq <= tu && e.seq > tu-int64(f.repeat):
			out = append(out, e)
		case e.seq > tu && len(out) < lim+f.repeat:
			out = append(out, e)
		case e.seq > tu:
			rest++
		}
	}
	last := tu
	if len(out) > 0 {
		last = out[len(out)-1].seq
	}
	more := 0
	if rest > 0 {
		more = 1
	}
	enc := "UTF-8"
	if strings.HasPrefix(f.charset, "1258") {
		enc = "windows-1258"
	}
	var b strings.Builder
	switch f.charset {
	case "1258-header":
		b.WriteString(`<?xml version="1.0"?>` + "\n")
	case "1258-conflict":
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	default:
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="%s"?>`+"\n", enc)
	}
	fmt.Fprintf(&b, `<DONGBO SEQ_CUOI="%d" CON_DU_LIEU="%d">`+"\n", last, more)
	for _, e := range out {
		if raw, ok := f.raw[e.seq]; ok {
			b.WriteString(raw)
		} else {
			b.WriteString(e.body)
		}
		b.WriteString("\n")
	}
	b.WriteString("</DONGBO>\n")
	doc := b.String()
	if f.trunc {
		doc = doc[:len(doc)*2/3]
	}
	switch f.charset {
	case "utf8":
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		io.WriteString(w, doc)
	case "1258-prolog":
		w.Header().Set("Content-Type", "application/xml")
		w.Write(to1258(f.t, doc))
	default:
		w.Header().Set("Content-Type", "text/xml; charset=windows-1258")
		w.Write(to1258(f.t, doc))
	}
}

func (f *feedServer) sukien(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != "k-42" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	b, _ := io.ReadAll(r.Body)
	s := string(b)
	attr := func(n string) string {
		i := strings.Index(s, n+`="`)
		if i < 0 {
			return ""
		}
		rest := s[i+len(n)+2:]
		return rest[:strings.IndexByte(rest, '"')]
	}
	ref := attr("MATHAMCHIEU")
	w.Header().Set("Content-Type", "application/xml; charset=windows-1258")
	if attr("MAHOSO") == "" || ref == "" {
		w.WriteHeader(http.StatusBadRequest)
		w.Write(to1258(f.t, `<KETQUA MA="2">Thiếu thông tin</KETQUA>`))
		return
	}
	if attr("MAHOSO") == "UNKNOWN" {
		w.Write(to1258(f.t, `<KETQUA MA="1">Không tìm thấy hồ sơ</KETQUA>`))
		return
	}
	f.mu.Lock()
	if _, ok := f.events[ref]; !ok {
		f.events[ref] = s
		f.order = append(f.order, ref)
	}
	f.mu.Unlock()
	w.Write(to1258(f.t, `<KETQUA MA="0">OK</KETQUA>`))
}

// to1258 encodes Vietnamese text the way a windows-1258 system stores it:
// the code page has no room for most tone-marked letters, so text is
// decomposed, the base letters â ê ô ă ơ ư (and capitals) are recomposed,
// and tone marks stay combining (U+0300 U+0301 U+0303 U+0309 U+0323).
func to1258(t *testing.T, s string) []byte {
	t.Helper()
	out, err := charmap.Windows1258.NewEncoder().String(partialNFC(s))
	if err != nil {
		t.Fatalf("encode windows-1258: %v", err)
	}
	return []byte(out)
}

var modifiers = map[rune]map[rune]rune{
	'\u0302': {'a': 'â', 'A': 'Â', 'e': 'ê', 'E': 'Ê', 'o': 'ô', 'O': 'Ô'},
	'\u0306': {'a': 'ă', 'A': 'Ă'},
	'\u031B': {'o': 'ơ', 'O': 'Ơ', 'u': 'ư', 'U': 'Ư'},
}

func partialNFC(s string) string {
	rs := []rune(norm.NFD.String(s))
	var b strings.Builder
	for i := 0; i < len(rs); {
		base := rs[i]
		j := i + 1
		for j < len(rs) && unicode.Is(unicode.Mn, rs[j]) {
			j++
		}
		marks := rs[i+1 : j]
		var keep []rune
		for _, m := range marks {
			if to, ok := modifiers[m][base]; ok {
				base = to
				continue
			}
			keep = append(keep, m)
		}
		b.WriteRune(base)
		b.WriteString(string(keep))
		i = j
	}
	return b.String()
}
