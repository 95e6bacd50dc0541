package xmlfeed

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

const holder = "Phan Thị Lan Nguyễn Ưởng Đặng Ộ"

type hoso struct {
	XMLName xml.Name `xml:"HOSO"`
	SEQ     string   `xml:"SEQ,attr"`
	MaHoSo  string   `xml:"MAHOSO"`
	HoTen   string   `xml:"CHUHOSO>HOTEN"`
	Trich   string   `xml:"TRICHYEU"`
	Nhan    struct {
		HoTen string `xml:"HOTEN,attr"`
	} `xml:"DIACHINHAN"`
}

func parsePayload(t *testing.T, p []byte) hoso {
	t.Helper()
	if !utf8.Valid(p) {
		t.Fatalf("payload is not UTF-8: %q", p)
	}
	if bytes.Contains(p, []byte("encoding=")) {
		t.Fatalf("payload carries an encoding declaration: %s", p)
	}
	var h hoso
	if err := xml.Unmarshal(p, &h); err != nil {
		t.Fatalf("payload does not parse: %v\n%s", err, p)
	}
	return h
}

func TestCharsets(t *testing.T) {
	for _, cs := range []string{"utf8", "1258-both", "1258-prolog", "1258-header", "1258-conflict"} {
		t.Run(cs, func(t *testing.T) {
			f := newFeed(t)
			f.charset = cs
			f.update("000.00.42.H25-261121-0003", holder)
			p, err := f.client(t, nil).Pull(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != 1 {
				t.Fatalf("records %d", len(p.Records))
			}
			r := p.Records[0]
			if r.ID != "000.00.42.H25-261121-0003" || r.Version != 1001 || r.Op != schemas.OpUpsert ||
				r.Source != "hatinh" || r.Format != schemas.FormatXML || r.Updated != nil {
				t.Fatalf("record %+v", r)
			}
			h := parsePayload(t, r.Payload)
			for _, got := range []string{h.HoTen, h.Nhan.HoTen} {
				if norm.NFC.String(got) != holder {
					t.Fatalf("decoded %q, NFC %q, want %q", got, norm.NFC.String(got), holder)
				}
				if cs != "utf8" && got == holder {
					t.Fatal("windows-1258 text came out NFC: the connector must not normalise")
				}
			}
			if h.Trich != "Khai sinh cho con thứ hai & trích lục" && norm.NFC.String(h.Trich) != "Khai sinh cho con thứ hai & trích lục" {
				t.Fatalf("trich %q", h.Trich)
			}
		})
	}
}

func TestPagingDeleteAndResume(t *testing.T) {
	f := newFeed(t)
	f.charset = "1258-both"
	for i := 1; i <= 5; i++ {
		f.update(fmt.Sprintf("000.00.42.H25-261121-%04d", i), holder)
	}
	f.remove("000.00.42.H25-261120-0019")
	c := f.client(t, func(cfg *Config) { cfg.PageSize = 2 })
	ctx := context.Background()
	var cur []byte
	var seqs []int64
	var cursors [][]byte
	for {
		p, err := c.Pull(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, cur)
		for _, r := range p.Records {
			seqs = append(seqs, r.Version)
			if r.Version == 1006 && (r.Op != schemas.OpDelete || r.ID != "000.00.42.H25-261120-0019") {
				t.Fatalf("XOA entry: %+v", r)
			}
		}
		cur = p.Cursor
		if !p.More {
			break
		}
	}
	if fmt.Sprint(seqs) != "[1001 1002 1003 1004 1005 1006]" || len(cursors) != 3 {
		t.Fatalf("seqs %v pulls %d", seqs, len(cursors))
	}
	if string(cur) != `{"seq":1006}` {
		t.Fatalf("cursor %s", cur)
	}
	// Resume from the second cursor: exactly what followed it.
	p, err := c.Pull(ctx, cursors[1])
	if err != nil || len(p.Records) != 2 || p.Records[0].Version != 1003 || !p.More {
		t.Fatalf("resume: %+v %v", p, err)
	}
	// Caught up: nothing, no More.
	p, err = c.Pull(ctx, cur)
	if err != nil || len(p.Records) != 0 || p.More || string(p.Cursor) != string(cur) {
		t.Fatalf("caught up: %+v %v", p, err)
	}
	// The portal repeating old entries does not make us hand them off again.
	f.mu.Lock()
	f.repeat = 2
	f.mu.Unlock()
	f.update("000.00.42.H25-261121-0001", "Lê Văn Tâm")
	p, err = c.Pull(ctx, cur)
	if err != nil || len(p.Records) != 1 || p.Records[0].Version != 1007 {
		t.Fatalf("repeat: %+v %v", p, err)
	}
	// A bare number is accepted as a cursor.
	if p, err := c.Pull(ctx, []byte("1005")); err != nil || len(p.Records) != 2 {
		t.Fatalf("bare cursor: %+v %v", p, err)
	}
	if _, err := c.Pull(ctx, []byte(`{"seq":"x"}`)); !errors.Is(err, httpx.ErrCursor) || !httpx.IsPermanent(err) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestMalformedEntries(t *testing.T) {
	f := newFeed(t)
	f.update("A-1", holder)
	s2 := f.update("A-2", holder)
	s3 := f.update("A-3", holder)
	s4 := f.update("A-4", holder)
	f.update("A-5", holder)
	f.raw[s2] = `<HOSO SEQ="abc" THAO_TAC="CAPNHAT"><MAHOSO>A-2</MAHOSO><NGAYNOP>hôm qua</NGAYNOP></HOSO>`
	f.raw[s3] = `<HOSO SEQ="1003" THAO_TAC="CAPNHAT"><TRICHYEU>không có mã</TRICHYEU><LEPHI SOTIEN="tám nghìn"/></HOSO>`
	f.raw[s4] = `<HOSO SEQ="1004" THAO_TAC="BIEN_MAT"><MAHOSO> A-4 </MAHOSO><XULY/><XULY/></HOSO>`
	p, err := f.client(t, nil).Pull(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Records {
		got = append(got, fmt.Sprintf("%s@%d/%s", r.ID, r.Version, r.Op))
		parsePayload(t, r.Payload)
	}
	if fmt.Sprint(got) != "[A-1@1001/upsert A-2@0/upsert @1003/upsert A-4@1004/upsert A-5@1005/upsert]" {
		t.Fatalf("got %v", got)
	}
	if string(p.Cursor) != `{"seq":1005}` {
		t.Fatalf("cursor %s", p.Cursor)
	}
}

// An entry that breaks the XML itself (an unescaped '&', a mismatched tag)
// must not stop the entries after it.
func TestBrokenXMLEntry(t *testing.T) {
	for _, cs := range []string{"utf8", "1258-both"} {
		f := newFeed(t)
		f.charset = cs
		f.update("B-1", holder)
		s2 := f.update("B-2", holder)
		s3 := f.update("B-3", holder)
		f.update("B-4", holder)
		f.raw[s2] = `<HOSO SEQ="1002" THAO_TAC="CAPNHAT"><MAHOSO>B-2</MAHOSO><TRICHYEU>Nhà & đất</TRICHYEU></HOSO>`
		f.raw[s3] = `<HOSO SEQ="1003" THAO_TAC="XOA"><MAHOSO>B-3</MAHOSO><TRICHYEU>lỗi</TRICH></HOSO>`
		p, err := f.client(t, nil).Pull(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range p.Records {
			got = append(got, fmt.Sprintf("%s@%d/%s", r.ID, r.Version, r.Op))
			if !utf8.Valid(r.Payload) {
				t.Fatalf("payload not UTF-8")
			}
		}
		if fmt.Sprint(got) != "[B-1@1001/upsert B-2@1002/upsert B-3@1003/delete B-4@1004/upsert]" {
			t.Fatalf("%s: got %v", cs, got)
		}
		h := parsePayload(t, p.Records[3].Payload)
		if norm.NFC.String(h.HoTen) != holder {
			t.Fatalf("%s: entry after the broken one: %q", cs, h.HoTen)
		}
		if !bytes.Contains(p.Records[1].Payload, []byte("Nhà & đất")) && !bytes.Contains(p.Records[1].Payload, []byte(norm.NFD.String("Nhà"))) {
			t.Fatalf("raw payload not passed on: %s", p.Records[1].Payload)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFeed(t)
	f.update("A-1", holder)
	ctx := context.Background()
	_, err := f.client(t, func(cfg *Config) { cfg.APIKey = "wrong" }).Pull(ctx, nil)
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("403: %v", err)
	}
	c := f.client(t, func(cfg *Config) { cfg.Timeout = time.Second })
	f.mu.Lock()
	f.faults = []int{503, 500, 400}
	f.mu.Unlock()
	for _, transient := range []bool{true, true, false} {
		if _, err := c.Pull(ctx, nil); err == nil || httpx.IsTransient(err) != transient {
			t.Fatalf("want transient=%v: %v", transient, err)
		}
	}
	f.mu.Lock()
	f.trunc = true
	f.mu.Unlock()
	_, err = c.Pull(ctx, nil)
	if !errors.Is(err, httpx.ErrMalformed) || !httpx.IsTransient(err) {
		t.Fatalf("truncated: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "hatinh: feed after SEQ 0") {
		t.Fatalf("context: %v", err)
	}
}

func TestWriteback(t *testing.T) {
	f := newFeed(t)
	c := f.client(t, nil)
	ctx := context.Background()
	ev := Event{DossierID: "000.00.42.H25-261121-0003", Kind: httpx.KindNational, Reference: "QG-1",
		At: time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC), Content: `Đã đồng bộ "cổng quốc gia" & xong`}
	for i := 0; i < 2; i++ {
		if err := c.Writeback(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	sent, n := f.events["QG-1"], len(f.order)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("events %d", n)
	}
	var s struct {
		MaHoSo, Loai, Ref, At, Text string
	}
	var x struct {
		MaHoSo string `xml:"MAHOSO,attr"`
		Loai   string `xml:"LOAI,attr"`
		Ref    string `xml:"MATHAMCHIEU,attr"`
		At     string `xml:"THOIDIEM,attr"`
		Text   string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte(sent), &x); err != nil {
		t.Fatal(err)
	}
	s.MaHoSo, s.Loai, s.Ref, s.At, s.Text = x.MaHoSo, x.Loai, x.Ref, x.At, x.Text
	if s.MaHoSo != ev.DossierID || s.Loai != "DONG_BO_QUOC_GIA" || s.Ref != "QG-1" || s.At != "20261121080000" || s.Text != ev.Content {
		t.Fatalf("sent %+v", s)
	}
	ev.DossierID = "UNKNOWN"
	err := c.Writeback(ctx, ev)
	var he *httpx.Error
	if !errors.Is(err, httpx.ErrRejected) || !errors.As(err, &he) || he.Code != "MA=1" || !httpx.IsPermanent(err) {
		t.Fatalf("rejected: %v", err)
	}
	if err := f.client(t, func(cfg *Config) { cfg.APIKey = "x" }).Writeback(ctx, ev); !errors.Is(err, httpx.ErrAuth) {
		t.Fatalf("403: %v", err)
	}
}
