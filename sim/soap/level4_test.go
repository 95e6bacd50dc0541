package soap

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
)

// level4Req creates level-4 dossiers delivered by post whose first fee is
// paid online and the others cash on delivery, with a fee-due step.
const level4Req = `{"count":4,"seed":9,"shape":{"level4":true,"result":"post","pay":"mixed","plan":[2,4,6,4,9,10]}}`

var level4Plan = []int{2, 4, 6, 4, 9, 10}

type advanceAnswer struct {
	Applied  int      `json:"applied"`
	Missing  []string `json:"missing"`
	Dossiers []struct {
		MaHoSo string `json:"maHoSo"`
		Status int    `json:"status"`
		Plan   []int  `json:"plan"`
	} `json:"dossiers"`
}

func advanceIDs(t *testing.T, base string, ids []string, steps int) advanceAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"steps": steps, "ids": ids})
	code, b := httpDo(t, "POST", base+"/_sim/advance", string(body))
	if code != 200 {
		t.Fatalf("advance %d %s", code, b)
	}
	var a advanceAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

var phienBanRE = regexp.MustCompile(`<PhienBan>(\d+)</PhienBan>`)

// normalized reads the dossier's current <HoSo> and maps it the hub's way.
func normalized(t *testing.T, base, id string) ([]byte, *schemas.Dossier) {
	t.Helper()
	code, raw := httpDo(t, "GET", base+"/_sim/dossiers/"+id, "")
	if code != 200 {
		t.Fatalf("GET %s: %d", id, code)
	}
	var version int64
	if m := phienBanRE.FindSubmatch(raw); m != nil {
		version, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	mapper, err := mapping.New(mapping.Source{Name: "thainguyen", Kind: schemas.KindSOAP, Province: "19"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mapper.Normalize(schemas.RawRecord{Source: "thainguyen", ID: id, Version: version,
		Op: schemas.OpUpsert, Format: schemas.FormatXML, Payload: raw})
	if err != nil {
		t.Fatalf("%s: %v\n%s", id, err, raw)
	}
	return raw, c
}

// checkLevel4 checks a mapped level-4 dossier at status, where paidOnline
// says whether the online fee has been paid (the fee-due step is over).
func checkLevel4(t *testing.T, c *schemas.Dossier, status, steps int, paidOnline bool) {
	t.Helper()
	if c.Status != status || len(c.Steps) != steps {
		t.Fatalf("%s: status %d with %d steps, want %d with %d", c.ID, c.Status, len(c.Steps), status, steps)
	}
	if c.Procedure.Level != 4 && c.Procedure.Scope != schemas.ScopeFull {
		t.Errorf("%s: procedure %+v is not level 4", c.ID, c.Procedure)
	}
	if c.Channel != schemas.ChannelOnline || c.Applicant.Kind != schemas.ApplicantCitizen ||
		c.Applicant.Phone == "" || c.Applicant.Email == "" {
		t.Errorf("%s: channel %d applicant %+v", c.ID, c.Channel, c.Applicant)
	}
	if a := c.ResultAddress; c.ResultDelivery != schemas.DeliveryPost || a == nil || a.Name == "" || a.Phone == "" ||
		a.Address.CommuneCode == "" || a.Address.Detail == "" {
		t.Errorf("%s: delivery %q to %+v", c.ID, c.ResultDelivery, c.ResultAddress)
	}
	if len(c.Fees) < 2 {
		t.Fatalf("%s: %d fees", c.ID, len(c.Fees))
	}
	for i, f := range c.Fees {
		method, paid := schemas.PayCOD, status == 10
		if i == 0 {
			method, paid = schemas.PayOnline, paidOnline || status == 10
		}
		if f.PaymentMethod != method || f.Paid != paid || f.Amount <= 0 {
			t.Errorf("%s at %d: fee %d %+v, want %s paid %v", c.ID, status, i, f, method, paid)
		}
	}
	if (status == 10) != (c.ReturnedAt != nil) {
		t.Errorf("%s at %d: returned at %v", c.ID, status, c.ReturnedAt)
	}
}

func TestLevel4ShapeRoundTrip(t *testing.T) {
	_, srv, clk := start(t, Config{})
	code, b := httpDo(t, "POST", srv.URL+"/_sim/generate", level4Req)
	var res struct {
		Created []string `json:"created"`
	}
	if code != 200 || json.Unmarshal(b, &res) != nil || len(res.Created) != 4 {
		t.Fatalf("generate %d %s", code, b)
	}
	ids := res.Created
	for _, id := range ids {
		_, c := normalized(t, srv.URL, id)
		checkLevel4(t, c, 1, 0, false)
	}
	paid := false
	for k, want := range level4Plan {
		clk.Add(time.Minute)
		ans := advanceIDs(t, srv.URL, append([]string{"NOPE"}, ids...), 1)
		if ans.Applied != len(ids) || !slices.Equal(ans.Missing, []string{"NOPE"}) || len(ans.Dossiers) != len(ids) {
			t.Fatalf("step %d: %+v", k, ans)
		}
		paid = paid || k > 0 && level4Plan[k-1] == 6
		for _, id := range ids {
			raw, c := normalized(t, srv.URL, id)
			checkLevel4(t, c, want, k+1, paid)
			for _, s := range []string{"<MucDo>4</MucDo>", "<KenhNop>2</KenhNop>", "<NhanKetQuaQuaBuuChinh>true</NhanKetQuaQuaBuuChinh>",
				"<DiaChiNhanKetQua ", `HinhThucNop="2"`, `HinhThucNop="3"`} {
				if !strings.Contains(string(raw), s) {
					t.Errorf("%s lacks %s", raw, s)
				}
			}
		}
	}
	if got := advanceIDs(t, srv.URL, ids[:1], 1); got.Applied != 0 || !slices.Equal(got.Missing, ids[:1]) {
		t.Errorf("finished dossier: %+v", got)
	}
}
