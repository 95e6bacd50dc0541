package gen

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var level4Post = Shape{Level4: true, Result: ShapePost, Pay: ShapeMixed,
	Plan: []int{StatusReceived, StatusProcessing, StatusFeeDue, StatusProcessing, StatusResolved, StatusReturned}}

func shaped(t *testing.T, g *Generator, seed uint64, i int, s Shape) *Dossier {
	t.Helper()
	d, err := g.GenerateShaped(seed, i, t0, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestZeroShape: the zero shape is no shape at all.
func TestZeroShape(t *testing.T) {
	for _, p := range []Profile{SonLa(), ThaiNguyen(), HaTinh()} {
		g, gRef := New(p), New(p)
		for i := range 200 {
			a, b := shaped(t, g, 3, i, Shape{}), gRef.Generate(3, i, t0)
			if !reflect.DeepEqual(a.Clone(), b.Clone()) {
				t.Fatalf("%s %d: Shape{} differs from no shape", p.Province, i)
			}
		}
	}
}

func TestShapeDeterministic(t *testing.T) {
	gen := func(seed uint64) []*Dossier {
		g := New(ThaiNguyen())
		var out []*Dossier
		now := t0
		for i := range 40 {
			d := shaped(t, g, seed, i, level4Post)
			for g.Advance(d, now) {
				now = now.Add(time.Minute)
			}
			out = append(out, d.Clone())
		}
		return out
	}
	a, b, c := gen(11), gen(11), gen(12)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and shape produced different dossiers")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds produced identical dossiers")
	}
}

// TestShapeLevel4 checks the kind of dossier the level-4 shapes make, in
// every province.
func TestShapeLevel4(t *testing.T) {
	for _, p := range []Profile{SonLa(), ThaiNguyen(), HaTinh()} {
		for _, pay := range []string{ShapeMixed, ShapeOnline, ShapeCOD, ShapeOffice, ""} {
			s := level4Post
			s.Pay = pay
			g := New(p)
			procs := map[string]bool{}
			for i := range 60 {
				d := shaped(t, g, 1, i, s)
				procs[d.Procedure.MaTTHC] = true
				if d.Level() != 4 || d.Level42() != "TOAN_TRINH" || len(d.Fees) == 0 {
					t.Fatalf("%s: level %d fees %d", d.Procedure.MaTTHC, d.Level(), len(d.Fees))
				}
				if d.Channel != ChannelOnline || d.Owner.Kind != PartyCitizen || d.Owner.Email == "" ||
					!MobileRE.MatchString(NormalizePhone(d.Owner.Phone)) || CheckCCCD(d.Owner.CCCD, p.CCCDPrefix, d.Owner.Birth, d.Owner.Female) != nil {
					t.Fatalf("channel %d owner %+v", d.Channel, d.Owner)
				}
				if d.ResultChannel != ResultByPost || d.Delivery == nil || d.Delivery.Address == "" ||
					!MobileRE.MatchString(d.Delivery.Phone) || d.Delivery.Commune != d.Owner.Commune {
					t.Fatalf("result %d delivery %+v", d.ResultChannel, d.Delivery)
				}
				if !slices.Equal(d.Plan(), s.Plan) {
					t.Fatalf("plan %v, want %v", d.Plan(), s.Plan)
				}
				for k, f := range d.Fees {
					want := map[string]int{ShapeOnline: PayOnline, ShapeCOD: PayCashOnDelivery, ShapeOffice: PayAtOffice}[pay]
					if pay == ShapeMixed {
						want = PayCashOnDelivery
						if k == 0 {
							want = PayOnline
						}
					}
					if want != 0 && f.PayChannel != want || f.Paid || f.Amount <= 0 {
						t.Fatalf("pay %q fee %d: %+v", pay, k, f)
					}
					if (f.PayChannel == PayCashOnDelivery) != (f.Collect == 4) {
						t.Fatalf("fee %+v: cash on delivery is collected with the result", f)
					}
				}
				if pay == ShapeMixed && len(d.Fees) < 2 {
					t.Fatalf("mixed on %s with %d fee(s)", d.Procedure.MaTTHC, len(d.Fees))
				}
			}
			if len(procs) < 2 {
				t.Errorf("%s pay %q: only %v drawn", p.Province, pay, procs)
			}
		}
	}
}

// TestShapePlanFollowed: the dossier goes through exactly the given plan,
// with the fee, resolution and return fields a portal would set.
func TestShapePlanFollowed(t *testing.T) {
	g := New(SonLa())
	for i := range 30 {
		d := shaped(t, g, 2, i, level4Post)
		now := t0
		var statuses []int
		leftFeeDue := false
		for g.Advance(d, now) {
			now = now.Add(time.Minute)
			statuses = append(statuses, d.Status)
			online, cod := d.Fees[0], d.Fees[1:]
			switch d.Status {
			case StatusReceived, StatusFeeDue:
				for _, f := range d.Fees {
					if f.Paid {
						t.Fatalf("status %d: fee %s paid before the fee-due step is over", d.Status, f.Code)
					}
				}
			case StatusProcessing, StatusResolved:
				if leftFeeDue != online.Paid {
					t.Fatalf("status %d (after 6: %v): online fee paid %v", d.Status, leftFeeDue, online.Paid)
				}
				for _, f := range cod {
					if f.Paid {
						t.Fatalf("cash-on-delivery fee %s paid before delivery", f.Code)
					}
				}
			case StatusReturned:
				for _, f := range d.Fees {
					if !f.Paid {
						t.Fatalf("fee %s unpaid after the result was returned", f.Code)
					}
				}
			}
			if d.Status == StatusFeeDue {
				leftFeeDue = true
			}
			if (d.Status >= StatusResolved) != !d.Resolved.IsZero() || (d.Status == StatusReturned) != !d.Returned.IsZero() {
				t.Fatalf("status %d resolved %v returned %v", d.Status, d.Resolved, d.Returned)
			}
		}
		if !slices.Equal(statuses, level4Post.Plan) || d.Remaining() != 0 {
			t.Fatalf("statuses %v, want %v", statuses, level4Post.Plan)
		}
		if !strings.HasPrefix(d.History[2].Content, "Thông báo thực hiện nghĩa vụ tài chính") {
			t.Errorf("fee-due step %q", d.History[2].Content)
		}
	}

	// Without a fee-due step, fees not paid on delivery are paid at reception.
	s := Shape{Level4: true, Pay: ShapeOnline, Plan: []int{StatusReceived, StatusProcessing, StatusResolved}}
	d := shaped(t, g, 2, 99, s)
	g.Advance(d, t0)
	for _, f := range d.Fees {
		if !f.Paid {
			t.Errorf("fee %s unpaid at reception without a fee-due step", f.Code)
		}
	}
	g.Advance(d, t0)
	g.Advance(d, t0)
	if d.Status != StatusResolved || d.Resolved.IsZero() || !d.Returned.IsZero() || g.Advance(d, t0) {
		t.Errorf("plan ending at 9: status %d resolved %v returned %v", d.Status, d.Resolved, d.Returned)
	}
}

func TestShapeOtherOverrides(t *testing.T) {
	g := New(HaTinh())
	for i := range 100 {
		d := shaped(t, g, 4, i, Shape{Result: ShapeOnline, Plan: []int{StatusWithdrawn}})
		if d.ResultChannel != ResultOnline || d.Delivery != nil || !slices.Equal(d.Plan(), []int{StatusWithdrawn}) {
			t.Fatalf("result %d delivery %v plan %v", d.ResultChannel, d.Delivery, d.Plan())
		}
		if d.Procedure.ShapeOnly {
			t.Fatalf("shape-only procedure %s drawn without a fee shape", d.Procedure.MaTTHC)
		}
		// cod implies the result by post; a fee shape means a procedure with fees.
		d = shaped(t, g, 4, i, Shape{Pay: ShapeCOD})
		if d.ResultChannel != ResultByPost || d.Delivery == nil || len(d.Fees) == 0 {
			t.Fatalf("cod: result %d fees %d", d.ResultChannel, len(d.Fees))
		}
		for _, f := range d.Fees {
			if f.PayChannel != PayCashOnDelivery || f.Collect != 4 {
				t.Fatalf("cod fee %+v", f)
			}
		}
		d = shaped(t, g, 4, i, Shape{Pay: ShapeMixed, Result: ShapePost})
		if len(d.Fees) < 2 || d.Fees[0].PayChannel != PayOnline || d.Fees[1].PayChannel != PayCashOnDelivery {
			t.Fatalf("mixed fees %+v", d.Fees)
		}
	}
	// Shape-only procedures are never drawn at random.
	for _, d := range run(SonLa(), 8, 2000) {
		if d.Procedure.ShapeOnly {
			t.Fatalf("shape-only procedure %s drawn at random", d.Procedure.MaTTHC)
		}
	}
}

func TestShapeValidate(t *testing.T) {
	for _, s := range []Shape{
		{Result: "mail"},
		{Pay: "card"},
		{Pay: ShapeCOD, Result: ShapeOffice},
		{Pay: ShapeMixed, Result: ShapeOnline},
		{Plan: []int{1}},
		{Plan: []int{StatusReceived, 11}},
		{Plan: []int{StatusProcessing}},
		{Plan: []int{StatusReceived, StatusProcessing, StatusResolved, StatusReturned, StatusProcessing}},
		{Plan: []int{StatusRefused, StatusReceived}},
		{Plan: make([]int, maxPlan+1)},
	} {
		if err := New(SonLa()).CheckShape(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
		if _, err := New(SonLa()).GenerateShaped(1, 0, t0, s); err == nil {
			t.Errorf("%+v generated", s)
		}
	}
	// A catalogue without what the shape needs.
	p := SonLa()
	p.Catalog = p.Catalog[1:2] // 1.001193: level 3, no fees
	if err := New(p).CheckShape(Shape{Level4: true}); err == nil || !strings.Contains(err.Error(), "level-4") {
		t.Errorf("level 4 without a level-4 procedure: %v", err)
	}
	if err := New(p).CheckShape(Shape{Pay: ShapeOnline}); err == nil {
		t.Error("pay without a procedure with fees accepted")
	}
	if err := New(p).CheckShape(Shape{Result: ShapePost, Plan: []int{StatusReceived}}); err != nil {
		t.Error(err)
	}
}

// TestShapeCatalogue: every province's catalogue has level-4 procedures with
// fees for citizens, and one with two fees for "mixed".
func TestShapeCatalogue(t *testing.T) {
	for _, p := range []Profile{SonLa(), ThaiNguyen(), HaTinh()} {
		sh, err := New(p).resolve(Shape{Level4: true, Pay: ShapeMixed})
		if err != nil {
			t.Fatal(err)
		}
		for _, proc := range sh.procs {
			if proc.MucDo.Int() != 4 || len(proc.PhiLePhi) < 2 || proc.ToChuc >= 1 {
				t.Errorf("%s: %+v", p.Province, proc)
			}
		}
		if sh, _ := New(p).resolve(Shape{Level4: true}); len(sh.procs) < 3 {
			t.Errorf("%s: %d level-4 procedures with fees", p.Province, len(sh.procs))
		}
	}
}

// TestShapeStateMidPlan: a shaped dossier saved half-way through its plan
// (through gob, as the simulators save it) finishes exactly as the original.
func TestShapeStateMidPlan(t *testing.T) {
	g := New(ThaiNguyen())
	for i := range 20 {
		orig := shaped(t, g, 6, i, level4Post)
		now := t0
		for range 3 { // 2, 4, 6: saved while the fee is due
			g.Advance(orig, now)
			now = now.Add(time.Minute)
		}
		st, err := orig.State()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			t.Fatal(err)
		}
		var back DossierState
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatal(err)
		}
		d, err := back.Restore()
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != StatusFeeDue || !slices.Equal(d.Plan(), level4Post.Plan[3:]) || d.Fees[0].Paid {
			t.Fatalf("restored status %d plan %v fees %+v", d.Status, d.Plan(), d.Fees)
		}
		for {
			a, b := g.Advance(orig, now), g.Advance(d, now)
			if a != b {
				t.Fatalf("advance %v vs %v", a, b)
			}
			if !a {
				break
			}
			now = now.Add(time.Minute)
		}
		if !reflect.DeepEqual(orig.Clone(), d.Clone()) {
			t.Errorf("%d: restored dossier ended differently", i)
		}
		if d.Status != StatusReturned {
			t.Errorf("restored dossier ended at %d", d.Status)
		}
	}
}
