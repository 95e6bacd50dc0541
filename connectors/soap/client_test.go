package soap

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

func pullAll(t *testing.T, c *Client, cursor []byte, got map[string]int) []byte {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("no end")
		}
		p, err := c.Pull(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			key := httpx.RecordKey(r)
			if got[key]++; got[key] > 1 {
				t.Fatalf("%s handed off twice", key)
			}
		}
		cursor = p.Cursor
		if !p.More {
			return cursor
		}
	}
}

// standalone checks that a payload parses on its own as a {ns}HoSo element
// whose {ns}MaHoSo child holds id.
func standalone(t *testing.T, payload []byte, id string) {
	t.Helper()
	var h struct {
		XMLName xml.Name
		MaHoSo  string `xml:"http://motcua.thainguyen.gov.vn/ MaHoSo"`
		TenTTHC string `xml:"http://motcua.thainguyen.gov.vn/ TenTTHC"`
		Trich   string `xml:"http://motcua.thainguyen.gov.vn/ TrichYeu"`
	}
	if err := xml.Unmarshal(payload, &h); err != nil {
		t.Fatalf("payload does not parse standalone: %v\n%s", err, payload)
	}
	if h.XMLName.Space != ns || h.XMLName.Local != "HoSo" || h.MaHoSo != id ||
		h.TenTTHC != "Cấp giấy chứng nhận đăng ký hộ kinh doanh" || h.Trich != "Đăng ký hộ kinh doanh tạp hoá & dịch vụ" {
		t.Fatalf("payload content: %+v\n%s", h, payload)
	}
	if bytes.HasPrefix(payload, []byte("<?xml")) {
		t.Fatalf("payload carries a prolog: %s", payload)
	}
}

func TestNamespaceStyles(t *testing.T) {
	for _, style := range []string{"default", "tns", "x9", "mixed"} {
		t.Run(style, func(t *testing.T) {
			s := newService(t)
			s.style = style
			s.tab.Fill("000.00.19.H55-261121", 4)
			c := s.client(t, func(cfg *Config) { cfg.PageSize = 10 })
			p, err := c.Pull(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != 4 {
				t.Fatalf("got %d records", len(p.Records))
			}
			for i, r := range p.Records {
				id := fmt.Sprintf("000.00.19.H55-261121-%04d", i+1)
				if r.ID != id || r.Version != 1 || r.Updated == nil || !r.Updated.Equal(t0) ||
					r.Source != "thainguyen" || r.Format != schemas.FormatXML || r.Op != schemas.OpUpsert {
					t.Fatalf("record %d: %+v", i, r)
				}
				standalone(t, r.Payload, id)
				if style == "tns" && !bytes.Contains(r.Payload, []byte(`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`)) {
					t.Fatalf("inherited xsi declaration missing: %s", r.Payload)
				}
			}
		})
	}
}

func TestSameSecondPagingAndMoves(t *testing.T) {
	s := newService(t)
	s.tab.Fill("A", 7)
	s.tab.Tick(time.Second)
	s.tab.Fill("B", 5)
	moved := 0
	s.tab.BeforeQuery = func(page int) {
		if page == 2 && moved < 3 {
			moved++
			s.tab.Tick(time.Second)
			s.tab.Put(fmt.Sprintf("A-%04d", moved))
		}
	}
	c := s.client(t, nil)
	got := map[string]int{}
	cur := pullAll(t, c, nil, got)
	s.tab.BeforeQuery = nil
	pullAll(t, c, cur, got)
	for id, v := range s.tab.Latest() {
		if got[fmt.Sprintf("%s@%d", id, v)] != 1 {
			t.Errorf("%s@%d not handed off", id, v)
		}
	}
	if moved == 0 {
		t.Fatal("scenario did not trigger")
	}
}

func TestCrashResume(t *testing.T) {
	s := newService(t)
	s.style = "x9"
	s.tab.Fill("A", 7)
	s.tab.Tick(time.Second)
	s.tab.Fill("B", 4)
	c := s.client(t, nil)
	var cursors [][]byte
	var batches [][]string
	var cur []byte
	for {
		pg, err := c.Pull(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, cur)
		var keys []string
		for _, r := range pg.Records {
			keys = append(keys, httpx.RecordKey(r))
		}
		batches = append(batches, keys)
		cur = pg.Cursor
		if !pg.More {
			break
		}
	}
	for i := range cursors {
		var want, got []string
		for _, b := range batches[i:] {
			want = append(want, b...)
		}
		cc := cursors[i]
		for {
			pg, err := s.client(t, nil).Pull(context.Background(), cc)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range pg.Records {
				got = append(got, httpx.RecordKey(r))
			}
			cc = pg.Cursor
			if !pg.More {
				break
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("resume %d: got %v want %v", i, got, want)
		}
	}
}

func TestFaults(t *testing.T) {
	s := newService(t)
	s.tab.Fill("A", 1)
	ctx := context.Background()

	bad := s.client(t, func(cfg *Config) { cfg.Password = "sai" })
	_, err := bad.Pull(ctx, nil)
	var he *httpx.Error
	if !errors.As(err, &he) || he.Code != "soap:Client" || he.Message != "Sai thông tin xác thực" ||
		!errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || he.Status != 500 {
		t.Fatalf("bad credentials: %#v", err)
	}
	if !strings.HasPrefix(err.Error(), "thainguyen: list page 1: fault soap:Client") {
		t.Fatalf("message: %v", err)
	}

	c := s.client(t, nil)
	s.mu.Lock()
	s.faults = []string{"server"}
	s.mu.Unlock()
	_, err = c.Pull(ctx, nil)
	if !errors.As(err, &he) || he.Code != "soap:Server" || !httpx.IsTransient(err) || errors.Is(err, httpx.ErrAuth) {
		t.Fatalf("server fault: %v", err)
	}

	s.mu.Lock()
	s.faults = []string{"html503"}
	s.mu.Unlock()
	if _, err = c.Pull(ctx, nil); !httpx.IsTransient(err) {
		t.Fatalf("503: %v", err)
	}

	if p, err := c.Pull(ctx, nil); err != nil || len(p.Records) != 1 {
		t.Fatalf("recovery: %v %v", p, err)
	}
}

func TestFaultCodeVariants(t *testing.T) {
	cases := []struct {
		env       string
		status    int
		transient bool
		auth      bool
	}{
		{`<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client.Authentication</faultcode><faultstring>Sai thông tin xác thực</faultstring></e:Fault></e:Body></e:Envelope>`, 500, false, true},
		{`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><Fault><faultcode xmlns="">Server</faultcode><faultstring xmlns="">timeout</faultstring></Fault></Body></Envelope>`, 500, true, false},
		{`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text>busy</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`, 500, true, false},
		// NFD "xác thực" still recognised.
		{"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Sai tho\u0302ng tin xa\u0301c thu\u031b\u0323c</faultstring></s:Fault></s:Body></s:Envelope>", 200, false, true},
	}
	for i, tc := range cases {
		resp := &httpx.Response{Status: tc.status, Header: map[string][]string{}, Body: []byte(tc.env)}
		body, err := parseEnvelope(resp)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		f := body.Child("Fault", soap11, soap12)
		e := faultError("op", tc.status, f)
		if e.Transient != tc.transient || errors.Is(e, httpx.ErrAuth) != tc.auth {
			t.Fatalf("%d: %+v", i, e)
		}
	}
}

func TestMalformedRecords(t *testing.T) {
	s := newService(t)
	s.style = "tns"
	s.tab.Put("OK-1")
	s.tab.PutBroken("BV-1", "badversion")
	s.tab.PutBroken("NT-1", "notime")
	s.tab.PutBroken("NI-1", "noid")
	s.tab.Put("OK-2")
	c := s.client(t, func(cfg *Config) { cfg.PageSize = 50 })
	p, err := c.Pull(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 5 {
		t.Fatalf("got %d", len(p.Records))
	}
	var ids []string
	for _, r := range p.Records {
		ids = append(ids, fmt.Sprintf("%s@%d/%v", r.ID, r.Version, r.Updated != nil))
	}
	want := "[BV-1@0/true @1/true NT-1@1/false OK-1@1/true OK-2@1/true]" // table order: by id
	if fmt.Sprint(ids) != want {
		t.Fatalf("got %v want %s", ids, want)
	}
	if p2, err := c.Pull(context.Background(), p.Cursor); err != nil || len(p2.Records) != 0 {
		t.Fatalf("repeat: %v %v", p2.Records, err)
	}
}

func TestWriteback(t *testing.T) {
	s := newService(t)
	s.tab.Put("000.00.19.H55-261121-0007")
	c := s.client(t, nil)
	ctx := context.Background()
	ev := Event{DossierID: "000.00.19.H55-261121-0007", Kind: httpx.KindPost, Reference: "BP-1",
		At: time.Date(2026, 11, 25, 3, 12, 0, 0, time.UTC), Content: "Đã phát <thành công>"}
	for i := 0; i < 2; i++ {
		if err := c.Writeback(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	order := s.order
	s.mu.Unlock()
	if fmt.Sprint(order) != "[000.00.19.H55-261121-0007|BUU_CHINH|BP-1|25/11/2026 10:12:00|Đã phát <thành công>]" {
		t.Fatalf("events %v", order)
	}
	ev.DossierID = "000.00.19.H55-261121-9999"
	if err := c.Writeback(ctx, ev); !httpx.IsPermanent(err) {
		t.Fatalf("unknown dossier: %v", err)
	}
}

// TestClosesBurstSecond: more dossiers share one second than fit a page and
// nothing newer follows. Once the service's Date is past that second by the
// margin, idle polls read one page instead of walking the whole second
// again; an answer without Date keeps the re-walk.
func TestClosesBurstSecond(t *testing.T) {
	for _, noDate := range []bool{false, true} {
		t.Run(fmt.Sprintf("noDate=%v", noDate), func(t *testing.T) {
			s := newService(t)
			s.mu.Lock()
			s.noDate = noDate
			s.mu.Unlock()
			s.tab.Fill("A", 7) // SoBanGhi=3
			s.tab.Tick(10 * time.Second)
			c := s.client(t, nil)
			got := map[string]int{}
			cur := pullAll(t, c, nil, got)
			if len(got) != 7 {
				t.Fatalf("got %d records, want 7", len(got))
			}
			want := 1
			if noDate {
				want = 3
			}
			for i := 0; i < 3; i++ {
				q := s.tab.Queries()
				cur = pullAll(t, c, cur, got)
				if n := s.tab.Queries() - q; n != want {
					t.Fatalf("idle poll %d read %d pages, want %d", i, n, want)
				}
			}
			s.tab.Tick(time.Second)
			s.tab.Put("A-0002")
			pullAll(t, c, cur, got)
			if got["A-0002@2"] != 1 || len(got) != 8 {
				t.Fatalf("update not picked up once: %v", got)
			}
		})
	}
}
