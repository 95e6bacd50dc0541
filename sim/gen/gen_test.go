package gen

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, VN)

// run generates n dossiers from seed and advances each to the end of its
// lifecycle, one simulated second per change.
func run(p Profile, seed uint64, n int) []*Dossier {
	g := New(p)
	now := t0
	var out []*Dossier
	for i := range n {
		d := g.Dossier(g.Rand(seed, i), now)
		for g.Advance(d, now) {
			now = now.Add(time.Second)
		}
		out = append(out, d.Clone())
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a := run(SonLa(), 42, 50)
	b := run(SonLa(), 42, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed produced different dossiers")
	}
	c := run(SonLa(), 43, 50)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds produced identical dossiers")
	}
	d := run(HaTinh(), 42, 50)
	if a[0].Owner.Name == d[0].Owner.Name && a[0].Owner.CCCD[3:] == d[0].Owner.CCCD[3:] {
		t.Error("provinces given the same seed should differ")
	}
}

var (
	codeRE  = regexp.MustCompile(`^000\.00\.\d{2}\.H\d{2}-\d{6}-\d{4}$`)
	emailRE = regexp.MustCompile(`^[a-z0-9.]+@[a-z0-9.]+$`)
	hexRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func TestRealisticFields(t *testing.T) {
	for _, p := range []Profile{SonLa(), ThaiNguyen(), HaTinh()} {
		orgs, emails := 0, 0
		seen := map[string]bool{}
		for _, d := range run(p, 7, 400) {
			if !codeRE.MatchString(d.MaHoSo) || seen[d.MaHoSo] {
				t.Errorf("bad or duplicate code %q", d.MaHoSo)
			}
			seen[d.MaHoSo] = true
			o := d.Owner
			switch o.Kind {
			case PartyCitizen:
				if err := CheckCCCD(o.CCCD, p.CCCDPrefix, o.Birth, o.Female); err != nil {
					t.Error(err)
				}
				if age := 2026 - o.Birth.Year(); age < 18 || age > 76 {
					t.Errorf("implausible age %d", age)
				}
				if len(strings.Fields(o.Name)) < 3 {
					t.Errorf("name %q lacks a middle name", o.Name)
				}
			case PartyOrganisation:
				orgs++
				if !ValidTaxCode(o.TaxCode) || !strings.HasPrefix(o.TaxCode, p.TaxPrefix) || o.CCCD != "" {
					t.Errorf("organisation ids: tax %q cccd %q", o.TaxCode, o.CCCD)
				}
			default:
				t.Errorf("party kind %d", o.Kind)
			}
			if !MobileRE.MatchString(strings.NewReplacer(" ", "", ".", "").Replace(o.Phone)) {
				t.Errorf("phone %q", o.Phone)
			}
			if o.Email != "" {
				emails++
				if !emailRE.MatchString(o.Email) {
					t.Errorf("email %q", o.Email)
				}
			}
			if len(o.Commune) != 5 || o.Province != p.Province || !hasDiacritics(o.Address) {
				t.Errorf("address %+v", o)
			}
			for _, f := range d.Files {
				if !hexRE.MatchString(f.SHA256) || !strings.HasPrefix(f.ID, p.FilePrefix) || !strings.HasSuffix(f.URL, "/"+f.ID) || !strings.HasPrefix(f.Component, "TP") {
					t.Errorf("file %+v", f)
				}
			}
			if (d.ResultChannel == ResultByPost) != (d.Delivery != nil) {
				t.Errorf("delivery address iff result by post")
			}
			if l := d.Level(); l != 3 && l != 4 {
				t.Errorf("level %d", l)
			}
		}
		if orgs == 0 || emails == 0 || emails == 400 {
			t.Errorf("%s: want some organisations (%d) and some but not all emails (%d)", p.Province, orgs, emails)
		}
	}
}

func hasDiacritics(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return true
		}
	}
	return false
}

func TestSonLaHasTaiNames(t *testing.T) {
	tai := 0
	for _, d := range run(SonLa(), 1, 300) {
		for _, f := range []string{"Lò ", "Quàng ", "Cầm ", "Lường ", "Tòng ", "Điêu "} {
			if strings.HasPrefix(d.Owner.Name, f) {
				tai++
			}
		}
	}
	if tai < 30 {
		t.Errorf("only %d Tai family names among 300 Sơn La applicants", tai)
	}
}

func TestLifecycles(t *testing.T) {
	valid := map[string]bool{}
	for _, l := range lifecycles {
		valid[seqKey(append([]int{1}, l.plan...))] = true
	}
	counts := map[string]int{}
	g := New(ThaiNguyen())
	for i := range 1000 {
		now := t0
		d := g.Dossier(g.Rand(9, i), now)
		statuses := []int{d.Status}
		hadFeeDue := false
		for v := 2; ; v++ {
			prevUpdated := d.Updated
			if !g.Advance(d, now) {
				break
			}
			if d.Version != v || d.Updated.Before(prevUpdated) || len(d.History) != v-1 {
				t.Fatalf("version %d updated %v history %d", d.Version, d.Updated, len(d.History))
			}
			step := d.History[len(d.History)-1]
			if step.Status != d.Status || step.Handler == "" || step.Content == "" || !step.Time.Equal(d.Updated) {
				t.Fatalf("step %+v", step)
			}
			switch d.Status {
			case StatusReceived:
				if d.Received.IsZero() || !d.Due.After(d.Received) || d.Due.Hour() != 17 {
					t.Fatalf("received %v due %v", d.Received, d.Due)
				}
			case StatusFeeDue:
				hadFeeDue = true
			case StatusProcessing:
				if hadFeeDue {
					for _, f := range d.Fees {
						if f.PayChannel != PayCashOnDelivery && !f.Paid {
							t.Fatal("fee unpaid after 6→4")
						}
					}
				}
			case StatusReturned:
				if d.Returned.IsZero() || d.Resolved.IsZero() {
					t.Fatal("return/resolution times unset")
				}
			}
			statuses = append(statuses, d.Status)
			now = now.Add(90 * time.Second)
		}
		k := seqKey(statuses)
		if !valid[k] {
			t.Fatalf("unexpected lifecycle %v", statuses)
		}
		counts[k]++
	}
	if len(counts) < len(lifecycles) {
		t.Errorf("only %d of %d lifecycles seen in 1000 dossiers: %v", len(counts), len(lifecycles), counts)
	}
}

func seqKey(s []int) string {
	var b strings.Builder
	for _, v := range s {
		b.WriteString(string(rune('A' + v)))
	}
	return b.String()
}

func TestDeleteRate(t *testing.T) {
	deleted := 0
	for _, d := range run(HaTinh(), 5, 2000) {
		if d.Deleted {
			deleted++
			if d.Version != 2 || d.Status != StatusNew {
				t.Errorf("deleted dossier version %d status %d", d.Version, d.Status)
			}
		}
	}
	if deleted < 15 || deleted > 70 {
		t.Errorf("%d of 2000 deleted, want about 2%%", deleted)
	}
	for _, d := range run(SonLa(), 5, 500) {
		if d.Deleted {
			t.Fatal("Sơn La dossiers are never deleted")
		}
	}
}

func TestClockMonotonic(t *testing.T) {
	times := []time.Time{t0.Add(1500 * time.Millisecond), t0, t0.Add(3 * time.Second)}
	i := 0
	c := NewClock(func() time.Time { i++; return times[i-1] })
	a, b, d := c.Now(), c.Now(), c.Now()
	if !a.Equal(t0.Add(time.Second)) || !b.Equal(a) || !d.Equal(t0.Add(3*time.Second)) {
		t.Errorf("clock %v %v %v", a, b, d)
	}
	if _, off := a.Zone(); off != 7*3600 {
		t.Errorf("zone offset %d", off)
	}
}

func TestCheckCCCD(t *testing.T) {
	birth := time.Date(1995, 3, 2, 0, 0, 0, 0, VN)
	if err := CheckCCCD("014095001234", "014", birth, false); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"014195001234", "019095001234", "01409500123", "014094001234"} {
		if CheckCCCD(bad, "014", birth, false) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := CheckCCCD("042305001234", "042", time.Date(2005, 1, 1, 0, 0, 0, 0, VN), true); err != nil {
		t.Error(err)
	}
}

func TestASCIIAndPhone(t *testing.T) {
	if got := ASCII("Đặng Thị Thuỷ"); got != "Dang Thi Thuy" {
		t.Errorf("ASCII = %q", got)
	}
	if got := NormalizePhone("+84 912 345 678"); got != "0912345678" {
		t.Errorf("NormalizePhone = %q", got)
	}
	if got := formatVND(1200000); got != "1.200.000 đồng" {
		t.Errorf("formatVND = %q", got)
	}
}
