package simctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// testFormat renders the few fields the book tests look at, as JSON.
type testFormat struct{}

type testRecord struct {
	MaHoSo   string `json:"maHoSo"`
	Version  int    `json:"version"`
	Status   int    `json:"status"`
	Level    int    `json:"level"`
	Result   int    `json:"result"`
	Delivery bool   `json:"delivery"`
	Fees     []struct {
		Pay  int  `json:"pay"`
		Paid bool `json:"paid"`
	} `json:"fees"`
}

func (testFormat) Render(d *gen.Dossier, s Stamp) []byte {
	r := map[string]any{"maHoSo": d.MaHoSo, "version": s.Version, "status": d.Status, "level": d.Level(),
		"result": d.ResultChannel, "delivery": d.Delivery != nil, "updated": s.Updated}
	var fees []map[string]any
	for _, f := range d.Fees {
		fees = append(fees, map[string]any{"pay": f.PayChannel, "paid": f.Paid})
	}
	r["fees"] = fees
	b, _ := json.Marshal(r)
	return b
}

func (testFormat) Ingest(body []byte) (string, func(Stamp) (Entry, error), error) {
	var r testRecord
	if err := json.Unmarshal(body, &r); err != nil || r.MaHoSo == "" {
		return "", nil, errors.New("bad record")
	}
	return r.MaHoSo, func(Stamp) (Entry, error) { return Entry{Data: body, Status: r.Status}, nil }, nil
}

func (testFormat) Corrupt([]byte, uint64) ([]byte, string, string, bool) { return nil, "", "", false }

func (testFormat) Document(data []byte) (string, []byte) { return "application/json", data }

func newTestBook(t *testing.T) (*Book, *httptest.Server) {
	t.Helper()
	clk := time.Date(2026, 11, 21, 8, 0, 0, 0, gen.VN)
	b := NewBook(BookConfig{Format: testFormat{}, Generator: gen.New(gen.SonLa()),
		Clock: gen.NewClock(func() time.Time { return clk })})
	mux := http.NewServeMux()
	b.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { b.Close(); srv.Close() })
	return b, srv
}

func post(t *testing.T, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	return resp.StatusCode
}

func current(t *testing.T, b *Book, id string) testRecord {
	t.Helper()
	it, ok := b.Current(id)
	if !ok {
		t.Fatalf("no record %s", id)
	}
	var r testRecord
	if err := json.Unmarshal(it.Data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

const shapeBody = `{"count":3,"seed":5,"shape":{"level4":true,"result":"post","pay":"mixed","plan":[2,4,6,4,9,10]}}`

func TestGenerateShapeHTTP(t *testing.T) {
	b, srv := newTestBook(t)
	for _, bad := range []string{
		`{"count":2,"shape":{"pay":"cod","result":"office"}}`,
		`{"count":2,"shape":{"plan":[4,9]}}`,
		`{"count":2,"shape":{"result":"fax"}}`,
		`{"count":2,"shape":{"level4":"yes"}}`,
	} {
		if code := post(t, srv.URL+"/_sim/generate", bad, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	if st := b.Stats(); st.Dossiers != 0 {
		t.Fatalf("a refused shape created dossiers: %+v", st)
	}
	var res GenerateResult
	if code := post(t, srv.URL+"/_sim/generate", shapeBody, &res); code != 200 || len(res.Created) != 3 || res.Seed != 5 {
		t.Fatalf("%d %+v", code, res)
	}
	for _, id := range res.Created {
		r := current(t, b, id)
		if r.Status != gen.StatusNew || r.Level != 4 || r.Result != gen.ResultByPost || !r.Delivery || len(r.Fees) < 2 ||
			r.Fees[0].Pay != gen.PayOnline || r.Fees[1].Pay != gen.PayCashOnDelivery {
			t.Errorf("%s: %+v", id, r)
		}
	}
	// Deterministic: a second book with the same request makes the same records.
	b2, srv2 := newTestBook(t)
	post(t, srv2.URL+"/_sim/generate", shapeBody, nil)
	for _, id := range res.Created {
		x, _ := b.Current(id)
		y, _ := b2.Current(id)
		if !bytes.Equal(x.Data, y.Data) {
			t.Errorf("%s differs:\n%s\n%s", id, x.Data, y.Data)
		}
	}
}

func TestAdvanceIDsHTTP(t *testing.T) {
	b, srv := newTestBook(t)
	var gres GenerateResult
	post(t, srv.URL+"/_sim/generate", shapeBody, &gres)
	a, other := gres.Created[0], gres.Created[1]
	plan := []int{2, 4, 6, 4, 9, 10}
	for k, want := range plan {
		var res AdvanceResult
		body := `{"steps":1,"ids":["` + a + `","NOPE","` + a + `"]}`
		if code := post(t, srv.URL+"/_sim/advance", body, &res); code != 200 {
			t.Fatalf("advance %d", code)
		}
		if res.Applied != 1 || !slices.Equal(res.Missing, []string{"NOPE"}) || len(res.Dossiers) != 1 {
			t.Fatalf("step %d: %+v", k, res)
		}
		p := res.Dossiers[0]
		if p.MaHoSo != a || p.Status != want || p.Version != k+2 || !slices.Equal(p.Plan, plan[k+1:]) {
			t.Fatalf("step %d: %+v", k, p)
		}
		r := current(t, b, a)
		if r.Status != want {
			t.Fatalf("record status %d, want %d", r.Status, want)
		}
		if want == gen.StatusFeeDue {
			for _, f := range r.Fees {
				if f.Paid {
					t.Fatalf("fee paid while due: %+v", r)
				}
			}
		}
		if o := current(t, b, other); o.Version != 1 {
			t.Fatalf("other dossier advanced to version %d", o.Version)
		}
	}
	// Finished: reported missing, still described; the others advance.
	var res AdvanceResult
	post(t, srv.URL+"/_sim/advance", `{"steps":2,"ids":["`+a+`","`+other+`"]}`, &res)
	if res.Applied != 2 || !slices.Equal(res.Missing, []string{a}) || len(res.Dossiers) != 2 ||
		res.Dossiers[0].Status != gen.StatusReturned || len(res.Dossiers[0].Plan) != 0 || res.Dossiers[0].Plan == nil ||
		res.Dossiers[1].Status != gen.StatusProcessing || res.Dossiers[1].Version != 3 {
		t.Fatalf("%+v", res)
	}
	// Empty ids: nothing moves; the answer still has both lists.
	var raw map[string]any
	post(t, srv.URL+"/_sim/advance", `{"steps":5,"ids":[]}`, &raw)
	if raw["applied"].(float64) != 0 || raw["missing"] == nil || raw["dossiers"] == nil {
		t.Fatalf("%v", raw)
	}
	// No ids: every live dossier, and the answer as before.
	raw = nil
	post(t, srv.URL+"/_sim/advance", `{"steps":1}`, &raw)
	if raw["applied"].(float64) != 2 || raw["missing"] != nil || raw["dossiers"] != nil {
		t.Fatalf("%v", raw)
	}
	// In the background.
	post(t, srv.URL+"/_sim/advance", `{"steps":10,"interval_ms":3600000,"ids":["`+other+`"]}`, &res)
	if res.Applied != 0 || res.Pending != 3 || len(res.Missing) != 0 {
		t.Fatalf("%+v", res)
	}
	if code := post(t, srv.URL+"/_sim/advance", `{"steps":-1,"ids":["x"]}`, nil); code != http.StatusBadRequest {
		t.Errorf("negative steps: %d", code)
	}
}

// TestShapedSnapshotRestore: shaped dossiers saved mid-plan keep their
// remaining plan and finish exactly as they would have.
func TestShapedSnapshotRestore(t *testing.T) {
	a, srvA := newTestBook(t)
	var gres GenerateResult
	post(t, srvA.URL+"/_sim/generate", shapeBody, &gres)
	ids := `["` + strings.Join(gres.Created, `","`) + `"]`
	post(t, srvA.URL+"/_sim/advance", `{"steps":3,"ids":`+ids+`}`, nil) // at 6, fee due
	var buf bytes.Buffer
	if err := a.Snapshot(&buf, "test"); err != nil {
		t.Fatal(err)
	}
	b, srvB := newTestBook(t)
	if err := b.Restore(bytes.NewReader(buf.Bytes()), "test"); err != nil {
		t.Fatal(err)
	}
	var ra, rb AdvanceResult
	post(t, srvA.URL+"/_sim/advance", `{"steps":0,"ids":`+ids+`}`, &ra)
	post(t, srvB.URL+"/_sim/advance", `{"steps":0,"ids":`+ids+`}`, &rb)
	if !reflect.DeepEqual(ra, rb) || len(rb.Dossiers) != 3 {
		t.Fatalf("restored progress differs:\n%+v\n%+v", ra, rb)
	}
	for _, p := range rb.Dossiers {
		if p.Status != gen.StatusFeeDue || !slices.Equal(p.Plan, []int{4, 9, 10}) {
			t.Fatalf("restored %+v", p)
		}
	}
	for step := range 3 {
		post(t, srvA.URL+"/_sim/advance", `{"steps":1,"ids":`+ids+`}`, &ra)
		post(t, srvB.URL+"/_sim/advance", `{"steps":1,"ids":`+ids+`}`, &rb)
		if !reflect.DeepEqual(ra, rb) || rb.Applied != 3 {
			t.Fatalf("step %d:\n%+v\n%+v", step, ra, rb)
		}
	}
	for _, id := range gres.Created {
		x, _ := a.Current(id)
		y, _ := b.Current(id)
		if !bytes.Equal(x.Data, y.Data) {
			t.Errorf("%s ended differently:\n%s\n%s", id, x.Data, y.Data)
		}
		if r := current(t, b, id); r.Status != gen.StatusReturned || !r.Fees[0].Paid || !r.Fees[1].Paid {
			t.Errorf("%s: %+v", id, r)
		}
	}
}
