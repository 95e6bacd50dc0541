// Package gen generates realistic, deterministic dossiers for the provincial
// portal simulators and moves them through their lifecycle.
//
// Content depends only on the seed and the order of calls; times come from the
// caller (the simulator's clock), so two runs with the same seed produce the
// same people, procedures, fees and lifecycles.
package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
)

// Generator creates dossiers for one province. It is not safe for concurrent
// use; the simulators call it under their store lock.
type Generator struct {
	p     Profile
	draw  []catalog.Procedure // p.Catalog without the shape-only procedures
	seqs  map[string]int      // "<agency>-<yyMMdd>" → last sequence used
	staff map[string]*staff

	// Taken, when set, reports codes already used at the portal (for example by
	// dossiers posted through /_sim/dossiers), which the generator skips.
	Taken func(code string) bool
}

// staff is an agency's small pool of officials, so that the same few names recur
// in processing histories as they would at a real office.
type staff struct {
	intake, specialists, leaders []string
}

// New returns a generator for the province profile p.
func New(p Profile) *Generator {
	if len(p.Catalog) == 0 {
		p.Catalog = catalog.Default()
	}
	if len(p.Families) == 0 {
		p.Families = commonFamilies
	}
	return &Generator{p: p, draw: drawable(p.Catalog), seqs: map[string]int{}, staff: map[string]*staff{}}
}

// Profile returns the generator's province profile.
func (g *Generator) Profile() Profile { return g.p }

// Rand returns the random stream for the i-th dossier of a batch with seed.
// Each dossier gets its own stream so its content does not depend on how a
// batch is interleaved; the province is mixed in so that provinces given the
// same seed still differ.
func (g *Generator) Rand(seed uint64, i int) *rand.Rand {
	return rand.New(g.stream(seed, i))
}

func (g *Generator) stream(seed uint64, i int) *rand.PCG {
	h := fnv.New64a()
	h.Write([]byte(g.p.Province))
	return rand.NewPCG(seed^h.Sum64(), uint64(i)^0x9e3779b97f4a7c15)
}

// Generate creates the i-th dossier of a batch with seed, exactly as
// Dossier(Rand(seed, i), now) does, but keeps the random stream in a form
// that State can save, so the dossier's remaining lifecycle survives a
// snapshot.
func (g *Generator) Generate(seed uint64, i int, now time.Time) *Dossier {
	src := g.stream(seed, i)
	d := g.Dossier(rand.New(src), now)
	d.src = src
	return d
}

// Sequences returns a copy of the last sequence number used for each
// "<agency>-<yyMMdd>" code prefix.
func (g *Generator) Sequences() map[string]int {
	out := make(map[string]int, len(g.seqs))
	for k, v := range g.seqs {
		out[k] = v
	}
	return out
}

// SetSequences replaces the code sequences (as returned by Sequences), so a
// restored simulator continues numbering where it stopped.
func (g *Generator) SetSequences(seqs map[string]int) {
	g.seqs = make(map[string]int, len(seqs))
	for k, v := range seqs {
		g.seqs[k] = v
	}
}

// lifecycles are the planned status sequences after "1 Mới đăng ký", by weight.
var lifecycles = []struct {
	plan []int
	w    int
}{
	{[]int{StatusReceived, StatusProcessing, StatusFeeDue, StatusProcessing, StatusResolved, StatusReturned}, 15},
	{[]int{StatusReceived, StatusSupplement, StatusProcessing, StatusResolved, StatusReturned}, 15},
	{[]int{StatusRefused}, 5},
	{[]int{StatusReceived, StatusProcessing, StatusResolved, StatusReturned}, 50},
	{[]int{StatusReceived, StatusProcessing, StatusPaused, StatusProcessing, StatusResolved, StatusReturned}, 10},
	{[]int{StatusWithdrawn}, 5},
}

// Dossier creates a new dossier (version 1, status 1 Mới đăng ký) submitted
// shortly before now, drawing all content from rng. The dossier keeps rng for
// its later lifecycle changes.
func (g *Generator) Dossier(rng *rand.Rand, now time.Time) *Dossier {
	return g.dossier(rng, now, nil)
}

// dossier is Dossier with the overrides of a checked shape (nil: none). A
// shape overrides results, not draws: every random value is drawn in the same
// order as without it, so Shape{} gives exactly the unshaped dossier.
func (g *Generator) dossier(rng *rand.Rand, now time.Time, sh *shape) *Dossier {
	now = now.In(VN).Truncate(time.Second)
	procs := g.draw
	if sh != nil && sh.procs != nil {
		procs = sh.procs
	}
	proc := procs[rng.IntN(len(procs))]
	d := &Dossier{
		Procedure: proc,
		Agency:    g.p.Agencies[rng.IntN(len(g.p.Agencies))],
		rng:       rng,
		Status:    StatusNew,
		Version:   1,
		Updated:   now,
	}
	level := proc.MucDo.Int()

	switch n := rng.IntN(100); {
	case level >= 4 && n < 85, level < 4 && n < 45:
		d.Channel = ChannelOnline
	case n >= 95:
		d.Channel = ChannelPost
	default:
		d.Channel = ChannelInPerson
	}
	if sh != nil && sh.Level4 {
		d.Channel = ChannelOnline
	}
	if d.Channel == ChannelOnline {
		d.Submitted = now.Add(-time.Duration(60+rng.IntN(6*3600)) * time.Second)
	} else {
		d.Submitted = now.Add(-time.Duration(rng.IntN(600)) * time.Second)
	}

	d.Owner = g.party(rng, proc, sh != nil && sh.Level4)
	if len(proc.TrichYeu) > 0 {
		d.Summary = proc.TrichYeu[rng.IntN(len(proc.TrichYeu))]
	} else {
		d.Summary = proc.TenTTHC
	}

	// Level 4 means the result can be sent by post or online, and mostly is.
	switch n := rng.IntN(100); {
	case level >= 4 && n < 55, level < 4 && n < 15:
		d.ResultChannel = ResultByPost
	case level >= 4 && n < 75:
		d.ResultChannel = ResultOnline
	default:
		d.ResultChannel = ResultAtOffice
	}
	if sh != nil && sh.result >= 0 {
		d.ResultChannel = sh.result
	}
	if d.ResultChannel == ResultByPost {
		_, phone := splitPhone(d.Owner.Phone)
		d.Delivery = &Delivery{Name: d.Owner.Name, Phone: phone, Province: d.Owner.Province,
			Commune: d.Owner.Commune, Address: d.Owner.Address}
	}

	for i, f := range proc.PhiLePhi {
		fee := Fee{Code: f.MaPhiLePhi, Name: f.MoTa, Kind: f.Loai, Amount: f.SoTien, Collect: 1}
		if fee.Kind == 0 {
			fee.Kind = catalog.LePhi
		}
		switch n := rng.IntN(100); {
		case d.ResultChannel == ResultByPost && n < 20:
			fee.PayChannel, fee.Collect = PayCashOnDelivery, 4
		case d.Channel == ChannelOnline && n < 75, d.Channel != ChannelOnline && n < 10:
			fee.PayChannel = PayOnline
		default:
			fee.PayChannel = PayAtOffice
		}
		if sh != nil {
			sh.pay(&fee, i)
		}
		d.Fees = append(d.Fees, fee)
	}

	for i, name := range proc.ThanhPhan {
		if i > 0 && rng.IntN(10) == 0 { // optional components are sometimes missing
			continue
		}
		d.Files = append(d.Files, g.file(rng, fmt.Sprintf("TP%d", i+1), name))
	}
	d.LegacyDistrict = rng.IntN(100) < 40

	d.plan = g.pickPlan(rng, len(d.Fees) > 0)
	if sh != nil && len(sh.Plan) > 0 {
		d.plan = append([]int(nil), sh.Plan...)
	}
	d.MaHoSo = g.code(d.Agency.Ma, d.Submitted)
	return d
}

func (g *Generator) pickPlan(rng *rand.Rand, hasFees bool) []int {
	if g.p.DeleteRate > 0 && rng.Float64() < g.p.DeleteRate {
		return []int{stepDelete}
	}
	total := 0
	for _, l := range lifecycles {
		total += l.w
	}
	n := rng.IntN(total)
	for _, l := range lifecycles {
		if n < l.w {
			plan := append([]int(nil), l.plan...)
			if !hasFees && contains(plan, StatusFeeDue) { // nothing to pay: the plain path
				plan = []int{StatusReceived, StatusProcessing, StatusResolved, StatusReturned}
			}
			return plan
		}
		n -= l.w
	}
	panic("unreachable")
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// code allocates the next dossier code <agency>-<yyMMdd>-<4-digit seq>.
func (g *Generator) code(agency string, day time.Time) string {
	key := agency + "-" + day.In(VN).Format("060102")
	for {
		g.seqs[key]++
		c := fmt.Sprintf("%s-%04d", key, g.seqs[key]%10000)
		if g.Taken == nil || !g.Taken(c) {
			return c
		}
	}
}

// party draws the dossier owner; citizen forces a citizen with an email
// (the level-4 shape), drawing the same values as otherwise and then some.
func (g *Generator) party(rng *rand.Rand, proc catalog.Procedure, citizen bool) Party {
	cm := g.p.Communes[rng.IntN(len(g.p.Communes))]
	p := Party{
		Province: g.p.Province,
		District: cm.District,
		Commune:  cm.Code,
		Address:  cm.Places[rng.IntN(len(cm.Places))] + ", " + cm.Name,
	}
	if rng.Float64() < proc.ToChuc && !citizen {
		p.Kind = PartyOrganisation
		mark := orgMarks[rng.IntN(len(orgMarks))]
		p.Name = pickW(rng, orgForms) + " " + orgTrades[rng.IntN(len(orgTrades))] + " " + mark
		p.TaxCode = TaxCode(rng, g.p.TaxPrefix)
		p.Phone, _ = Mobile(rng)
		if rng.IntN(10) < 7 {
			p.Email = []string{"info", "lienhe", "ketoan"}[rng.IntN(3)] + "@" +
				strings.ToLower(strings.ReplaceAll(ASCII(mark), " ", "")) + ".vn"
		}
		return p
	}
	p.Kind = PartyCitizen
	p.Female = rng.IntN(2) == 0
	p.Name = g.personName(rng, p.Female)
	// Adults aged 18–75 on the simulated day; the day is irrelevant to content,
	// so birth dates use a fixed reference year for determinism.
	year := 2026 - 18 - rng.IntN(58)
	p.Birth = time.Date(year, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, VN)
	p.CCCD = CCCD(rng, g.p.CCCDPrefix, p.Birth, p.Female)
	p.Phone, _ = Mobile(rng)
	if rng.IntN(10) < 7 || citizen {
		p.Email = email(rng, p.Name, year)
	}
	return p
}

func (g *Generator) personName(rng *rand.Rand, female bool) string {
	family := pickW(rng, g.p.Families)
	if female {
		return family + " " + pickW(rng, femaleMiddle) + " " + femaleGiven[rng.IntN(len(femaleGiven))]
	}
	return family + " " + pickW(rng, maleMiddle) + " " + maleGiven[rng.IntN(len(maleGiven))]
}

func email(rng *rand.Rand, name string, year int) string {
	parts := strings.Fields(strings.ToLower(ASCII(name)))
	family, given := parts[0], parts[len(parts)-1]
	var local string
	switch rng.IntN(4) {
	case 0:
		local = given + family + fmt.Sprintf("%02d", year%100)
	case 1:
		local = strings.Join(parts, ".")
	case 2:
		initials := ""
		for _, p := range parts[:len(parts)-1] {
			initials += p[:1]
		}
		local = given + "." + initials + fmt.Sprint(year)
	default:
		local = given + fmt.Sprint(100+rng.IntN(900))
	}
	return local + "@" + pickW(rng, emailDomains)
}

func (g *Generator) file(rng *rand.Rand, component, name string) File {
	id := g.p.FilePrefix + hexString(rng, 10)
	content := make([]byte, 32)
	for i := range content {
		content[i] = byte(rng.IntN(256))
	}
	sum := sha256.Sum256(content)
	return File{
		ID: id, Name: name, Component: component,
		Size:   int64(20_000 + rng.IntN(3_000_000)),
		SHA256: hex.EncodeToString(sum[:]),
		URL:    strings.TrimRight(g.p.FileBase, "/") + "/" + id,
	}
}

func pickW(rng *rand.Rand, ws []Weighted) string {
	total := 0
	for _, w := range ws {
		total += w.W
	}
	n := rng.IntN(total)
	for _, w := range ws {
		if n < w.W {
			return w.V
		}
		n -= w.W
	}
	return ws[len(ws)-1].V
}

func splitPhone(written string) (string, string) { return written, NormalizePhone(written) }

// staffOf returns the agency's officials, drawn from a stream seeded by the
// agency code so they do not depend on any batch seed.
func (g *Generator) staffOf(agency string) *staff {
	if s, ok := g.staff[agency]; ok {
		return s
	}
	h := fnv.New64a()
	h.Write([]byte(agency))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x57aff))
	s := &staff{}
	for range 3 {
		s.intake = append(s.intake, g.personName(rng, rng.IntN(3) > 0))
	}
	for range 5 {
		s.specialists = append(s.specialists, g.personName(rng, rng.IntN(2) == 0))
	}
	for range 2 {
		s.leaders = append(s.leaders, g.personName(rng, rng.IntN(3) == 0))
	}
	g.staff[agency] = s
	return s
}
