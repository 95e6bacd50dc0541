package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// testStep is one processing step as a test writes it into a source record.
type testStep struct {
	at       time.Time
	status   int // national code
	handler  string
	content  string
	received bool // intake (status 2) rather than processing (4)
}

// TestStepsShuffledBetweenVersions: the spec does not fix the order of
// repeated elements, and many steps share one second. Each portal lists
// its steps in a different order in every version; the national portal
// must receive each step exactly once, in time order.
func TestStepsShuffledBetweenVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	e := newEnv(t, devenv.Options{})
	ids := map[string]string{}
	for i, src := range devenv.Sources {
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": 1, "seed": 7700 + i, "steps": 0})
		list := listSource(t, e.sims.URLs[src])
		if len(list) != 1 {
			t.Fatalf("%s: %d dossiers generated, want 1", src, len(list))
		}
		ids[src] = list[0].ID
	}
	stop := e.runHub()
	defer stop()

	loc := time.FixedZone("+07", 7*3600)
	t0 := time.Date(2026, 11, 21, 8, 2, 11, 0, loc)
	a := testStep{at: t0, status: 2, handler: "Nguyễn Thị Hoa", content: "Tiếp nhận hồ sơ", received: true}
	b := testStep{at: t0, status: 4, handler: "Trần Văn Bình", content: "Chuyển phòng chuyên môn"}
	c := testStep{at: t0.Add(time.Minute), status: 4, handler: "Lê Văn Tâm", content: "Thẩm định hồ sơ"}
	d := testStep{at: t0.Add(time.Minute), status: 4, handler: "Lê Văn Tâm", content: "Trình lãnh đạo ký"}
	// Each version lists the steps so far in another order; steps of one
	// second are ambiguous to any position-based reading.
	versions := [][]testStep{{a}, {b, a}, {c, a, b}, {b, d, c, a}, {a, b, c, d}, {d, c, b, a}}

	for _, steps := range versions {
		for _, src := range devenv.Sources {
			v := e.postSteps(t, src, ids[src], steps)
			e.waitLedgerVersion(t, src, ids[src], v, time.Minute)
		}
	}

	national := e.sims.URLs[devenv.NameNational]
	for _, src := range devenv.Sources {
		var sent []string
		// The last version's steps follow its update in the same batch.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var got nationalDossier
			getJSON(t, national+"/_sim/dossiers/"+url.PathEscape(ids[src]), &got)
			sent = sent[:0]
			for _, r := range got.History {
				if r.Service == "CapNhatTienDoHoSoMC" {
					sent = append(sent, fmt.Sprintf("%v %v", r.Item["ThoiDiemXuLy"], r.Item["NoiDungXuLy"]))
				}
			}
			if len(sent) >= 4 || time.Now().After(deadline) {
				break
			}
		}
		want := map[string]int{}
		for _, s := range []testStep{a, b, c, d} {
			want[s.at.Format("20060102150405")+" "+s.content] = 1
		}
		count := map[string]int{}
		for _, s := range sent {
			count[s]++
		}
		for k := range want {
			if count[k] != 1 {
				t.Errorf("%s: step %q sent %d times; want once (sent %q)", src, k, count[k], sent)
			}
		}
		if len(sent) != len(want) {
			t.Errorf("%s: %d steps sent, want %d: %q", src, len(sent), len(want), sent)
		}
		for i := 1; i < len(sent); i++ {
			if sent[i][:14] < sent[i-1][:14] {
				t.Errorf("%s: steps not sent in time order: %q", src, sent)
				break
			}
		}
	}
}

// postSteps makes the source's current record of id list steps, in that
// order, as its next version; it returns the version the hub orders by.
func (e *env) postSteps(t *testing.T, src, id string, steps []testStep) int64 {
	t.Helper()
	base := e.sims.URLs[src]
	raw := getRaw(t, base+"/_sim/dossiers/"+url.PathEscape(id))
	var body []byte
	switch kindOf(src) {
	case schemas.KindRESTJSON:
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		var hist []map[string]any
		for _, s := range steps {
			st := "DANG_XU_LY"
			if s.received {
				st = "DA_TIEP_NHAN"
			}
			hist = append(hist, map[string]any{"thoiDiem": s.at.Format(time.RFC3339), "trangThai": st, "nguoiXuLy": s.handler,
				"chucDanh": "Chuyên viên", "phongBan": "Bộ phận một cửa", "noiDung": s.content})
		}
		rec["lichSu"] = hist
		body, _ = json.Marshal(rec)
	case schemas.KindSOAP:
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		root := doc.Root()
		q := root.SelectElement("QuaTrinhXuLy")
		if q == nil {
			q = root.CreateElement("QuaTrinhXuLy")
		}
		for _, c := range q.ChildElements() {
			q.RemoveChild(c)
		}
		for _, s := range steps {
			st := "DANG_XL"
			if s.received {
				st = "DA_TN"
			}
			b := q.CreateElement("Buoc")
			b.CreateAttr("ThoiDiem", s.at.Format("02/01/2006 15:04:05"))
			b.CreateAttr("TrangThai", st)
			b.CreateAttr("NguoiXuLy", s.handler)
			b.CreateAttr("ChucDanh", "Chuyên viên")
			b.CreateAttr("PhongBan", "Bộ phận một cửa")
			b.SetText(s.content)
		}
		body, _ = doc.WriteToBytes()
	case schemas.KindXMLFeed:
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		root := doc.Root()
		for _, x := range root.SelectElements("XULY") {
			root.RemoveChild(x)
		}
		for _, s := range steps {
			x := root.CreateElement("XULY")
			x.CreateAttr("THOIDIEM", s.at.Format("20060102150405"))
			x.CreateAttr("TRANGTHAI", fmt.Sprint(s.status))
			x.CreateAttr("NGUOIXULY", s.handler)
			x.CreateAttr("CHUCDANH", "Công chức")
			x.CreateAttr("PHONGBAN", "Một cửa")
			x.SetText(s.content)
		}
		body, _ = doc.WriteToBytes()
	default:
		t.Fatalf("no step writer for %s", src)
	}
	resp, err := http.Post(base+"/_sim/dossiers", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s: post %s: %s: %s", src, id, resp.Status, out)
	}
	var res struct {
		Version int64 `json:"version"`
		Seq     int64 `json:"seq"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: post %s: %v: %s", src, id, err, out)
	}
	if kindOf(src) == schemas.KindXMLFeed {
		return res.Seq
	}
	return res.Version
}

// waitLedgerVersion waits until the ledger says the national portal holds
// version v of id, steps included.
func (e *env) waitLedgerVersion(t *testing.T, src, id string, v int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		l, err := e.store.GetLedger(context.Background(), []string{id})
		if err != nil {
			t.Fatal(err)
		}
		if en := l[id]; en.NationalState == store.NationalHeld && en.NationalVersion >= v {
			return
		}
		if q := e.quarantinedVersions(t); len(q) > 0 {
			for _, entry := range q {
				t.Fatalf("%s: quarantined: %s", src, entry.Reason)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: dossier %s v%d not at the national portal after %s (ledger %+v)", src, id, v, limit, l[id].NationalVersion)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
