package restjson

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
	"github.com/lienthong/lienthong/schemas"
)

var t0 = time.Date(2026, 11, 21, 8, 15, 2, 0, schemas.Vietnam)

// portal is an independent test implementation of spec §1 over a live table.
type portal struct {
	t   *testing.T
	tab *httpxtest.LiveTable
	srv *httptest.Server

	mu        sync.Mutex
	tokens    map[string]bool
	nTok      int
	logins    int
	unauth    int // 401s answered
	expiresIn int
	faults    []int // status codes to answer next, one per API request
	hang      time.Duration
	events    []map[string]any
	idem      map[string]string
	maxSize   int  // cap on soLuong (0 = 500)
	rejectAll bool // every API call answers 401
	noDate    bool // list answers carry no Date header
}

func (p *portal) counts() (logins, unauth int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins, p.unauth
}

func newPortal(t *testing.T) *portal {
	p := &portal{t: t, tab: httpxtest.NewLiveTable(t0), tokens: map[string]bool{}, expiresIn: 300, idem: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", p.token)
	mux.HandleFunc("GET /api/v1/hoso", p.auth(p.list))
	mux.HandleFunc("POST /api/v1/hoso/{ma}/su-kien", p.auth(p.event))
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *portal) client(t *testing.T, mod func(*Config)) *Client {
	cfg := Config{Source: "sonla", BaseURL: p.srv.URL, ClientID: "hub", ClientSecret: "s3cret", PageSize: 3, Start: t0.Add(-24 * time.Hour)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *portal) revokeAll() {
	p.mu.Lock()
	p.tokens = map[string]bool{}
	p.mu.Unlock()
}

func (p *portal) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_id") != "hub" || r.PostForm.Get("client_secret") != "s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	p.mu.Lock()
	p.nTok++
	p.logins++
	tok := fmt.Sprintf("tok-%d", p.nTok)
	p.tokens[tok] = true
	exp := p.expiresIn
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, exp)
}

func (p *portal) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if len(p.faults) > 0 {
			code := p.faults[0]
			p.faults = p.faults[1:]
			p.mu.Unlock()
			if code == 299 { // garbage with 200
				fmt.Fprint(w, `<html>oops`)
				return
			}
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(code)
			return
		}
		hang := p.hang
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ok := p.tokens[tok] && !p.rejectAll
		if !ok {
			p.unauth++
		}
		p.mu.Unlock()
		if hang > 0 {
			select {
			case <-time.After(hang):
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (p *portal) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := time.Parse(time.RFC3339, q.Get("tuNgay"))
	page, err2 := strconv.Atoi(q.Get("trang"))
	size, err3 := strconv.Atoi(q.Get("soLuong"))
	if err != nil || err2 != nil || err3 != nil || page < 1 || size < 1 || size > 500 {
		p.t.Errorf("bad list query %q", r.URL.RawQuery)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if p.maxSize > 0 && size > p.maxSize {
		size = p.maxSize
	}
	rows, total := p.tab.Query(since, page, size)
	items := make([]json.RawMessage, 0, len(rows))
	for _, row := range rows {
		items = append(items, render(row))
	}
	p.mu.Lock()
	noDate := p.noDate
	p.mu.Unlock()
	if noDate {
		w.Header()["Date"] = nil // suppresses net/http's own
	} else {
		// The clock that stamps the dossiers writes Date, as on the portal.
		w.Header().Set("Date", p.tab.Now().UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"tongSo": total, "trang": page, "soLuong": size, "duLieu": items})
}

// render writes a DOSSIER; Broken selects a corruption.
func render(row httpxtest.Row) json.RawMessage {
	d := map[string]any{
		"maHoSo":      row.ID,
		"phienBan":    row.Version,
		"ngayCapNhat": row.Updated.Format(time.RFC3339),
		"thuTuc":      map[string]any{"ma": "1.000894", "ten": "Đăng ký khai sinh", "mucDo": 4},
		"chuHoSo":     map[string]any{"loai": "CONG_DAN", "hoTen": "Lò Văn Minh", "soDinhDanh": "014095001234"},
		"trangThai":   "DANG_XU_LY",
		"lePhi":       []any{map[string]any{"ma": "LP01", "soTien": 8000}},
	}
	switch row.Broken {
	case "wrongtypes":
		d["phienBan"] = strconv.FormatInt(row.Version, 10) // string, not number
		d["thuTuc"] = "1.000894"                           // string, not object
		d["lePhi"] = map[string]any{"soTien": "tám nghìn"}
	case "noid":
		d["maHoSo"] = []int{1, 2}
	case "notime":
		d["ngayCapNhat"] = "hôm qua"
	case "scalar":
		return json.RawMessage(`"không phải hồ sơ"`)
	}
	b, _ := json.Marshal(d)
	return b
}

func (p *portal) event(w http.ResponseWriter, r *http.Request) {
	ma := r.PathValue("ma")
	key := r.Header.Get("Idempotency-Key")
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || key == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if _, ok := p.tab.Latest()[ma]; !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"loi":"không tìm thấy"}`)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ans, ok := p.idem[key]; ok {
		fmt.Fprint(w, ans)
		return
	}
	body["_maHoSo"] = ma
	p.events = append(p.events, body)
	p.idem[key] = `{"ketQua":"OK"}`
	fmt.Fprint(w, p.idem[key])
}
