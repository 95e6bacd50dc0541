package gen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
)

// Shape overrides the generator's random choices, so that tests can create a
// dossier of a chosen kind (a level-4 dossier paid online and delivered by
// post, say) and drive its lifecycle step by step. The zero Shape overrides
// nothing: the dossier is exactly the unshaped one.
//
// A shape overrides results, not draws: the dossier draws the same random
// values in the same order and then replaces the ones the shape fixes (a few
// more are drawn where a shape needs more, such as an email address), so the
// dossier is still deterministic for (seed, index, shape).
type Shape struct {
	// Level4 picks a procedure of level 4 (MucDo 4 / TOAN_TRINH) that has fees
	// and is not for organisations only; the dossier is submitted online and
	// the applicant is a citizen with a valid mobile phone and an email.
	Level4 bool `json:"level4"`
	// Result is how the result is returned: "post", "online", "office", or ""
	// (drawn as usual). A result by post carries the delivery address.
	Result string `json:"result"`
	// Pay is every fee's payment method: "online", "cod" (cash on delivery,
	// collected with the result: HinhThucThu 4), "office", "mixed" (the first
	// fee online, the others cod), or "" (drawn as usual). cod and mixed need
	// the result by post: Result "" then means "post", another Result is an
	// error. When Pay is set the procedure is one with fees, and for "mixed"
	// one with at least two fees when the catalogue has any (the built-in one
	// does); with a single-fee procedure "mixed" means that fee online.
	Pay string `json:"pay"`
	// Plan is the lifecycle to follow after "1 Mới đăng ký", replacing the
	// drawn plan: national status codes 2..10, the first 2, 3 or 7, nothing
	// after a final 3, 7 or 10. Empty means drawn as usual. A plan without 6
	// marks the fees not paid on delivery paid at reception (2); with 6 they
	// stay unpaid until the dossier leaves 6 for 4; 10 marks every fee paid.
	Plan []int `json:"plan"`
}

// Result and Pay values of a Shape.
const (
	ShapePost   = "post"
	ShapeOnline = "online"
	ShapeOffice = "office"
	ShapeCOD    = "cod"
	ShapeMixed  = "mixed"
)

// maxPlan bounds a shape's plan.
const maxPlan = 100

// IsZero reports whether the shape overrides nothing.
func (s Shape) IsZero() bool {
	return !s.Level4 && s.Result == "" && s.Pay == "" && len(s.Plan) == 0
}

// Validate checks the shape on its own (Generator.CheckShape also checks it
// against the generator's catalogue).
func (s Shape) Validate() error {
	switch s.Result {
	case "", ShapePost, ShapeOnline, ShapeOffice:
	default:
		return fmt.Errorf("shape: result %q: want post, online, office or empty", s.Result)
	}
	switch s.Pay {
	case "", ShapeOnline, ShapeCOD, ShapeOffice, ShapeMixed:
	default:
		return fmt.Errorf("shape: pay %q: want online, cod, office, mixed or empty", s.Pay)
	}
	if (s.Pay == ShapeCOD || s.Pay == ShapeMixed) && s.Result != "" && s.Result != ShapePost {
		return fmt.Errorf("shape: pay %q (cash on delivery) needs result post, not %q", s.Pay, s.Result)
	}
	if len(s.Plan) > maxPlan {
		return fmt.Errorf("shape: plan has %d steps, at most %d", len(s.Plan), maxPlan)
	}
	for i, st := range s.Plan {
		if st < StatusReceived || st > StatusReturned {
			return fmt.Errorf("shape: plan[%d] = %d: want a national status code 2..10", i, st)
		}
		if i == 0 && st != StatusReceived && st != StatusRefused && st != StatusWithdrawn {
			return fmt.Errorf("shape: plan starts with %d: a new dossier is received (2), refused (3) or withdrawn (7) first", st)
		}
		if i > 0 && isFinal(s.Plan[i-1]) {
			return fmt.Errorf("shape: plan[%d] = %d follows the final status %d", i, st, s.Plan[i-1])
		}
	}
	return nil
}

func isFinal(st int) bool {
	return st == StatusRefused || st == StatusWithdrawn || st == StatusReturned
}

// shape is a checked Shape resolved against a generator's catalogue.
type shape struct {
	Shape
	procs  []catalog.Procedure // to draw the procedure from; nil: as usual
	result int                 // forced ResultChannel, or -1
}

// CheckShape validates s and resolves it against the generator's catalogue:
// it fails when the catalogue has no procedure the shape can use.
func (g *Generator) CheckShape(s Shape) error {
	_, err := g.resolve(s)
	return err
}

func (g *Generator) resolve(s Shape) (*shape, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	sh := &shape{Shape: s, result: -1}
	switch s.Result {
	case ShapePost:
		sh.result = ResultByPost
	case ShapeOnline:
		sh.result = ResultOnline
	case ShapeOffice:
		sh.result = ResultAtOffice
	}
	if s.Pay == ShapeCOD || s.Pay == ShapeMixed {
		sh.result = ResultByPost
	}
	if !s.Level4 && s.Pay == "" {
		return sh, nil // the procedure is drawn as usual
	}
	// Candidates: the whole catalogue (shape-only procedures included), with
	// fees; for level 4 also of level 4 and open to citizens.
	var withFees, twoFees []catalog.Procedure
	for _, p := range g.p.Catalog {
		if len(p.PhiLePhi) == 0 {
			continue
		}
		if s.Level4 && (p.MucDo.Int() < 4 || p.ToChuc >= 1) {
			continue
		}
		withFees = append(withFees, p)
		if len(p.PhiLePhi) >= 2 {
			twoFees = append(twoFees, p)
		}
	}
	sh.procs = withFees
	if s.Pay == ShapeMixed && len(twoFees) > 0 {
		sh.procs = twoFees
	}
	if len(sh.procs) == 0 {
		if s.Level4 {
			return nil, errors.New("shape: the catalogue has no level-4 procedure with fees open to citizens")
		}
		return nil, errors.New("shape: the catalogue has no procedure with fees")
	}
	return sh, nil
}

// pay sets the i-th fee's payment method as the shape asks.
func (sh *shape) pay(f *Fee, i int) {
	method := sh.Pay
	if method == ShapeMixed {
		method = ShapeCOD
		if i == 0 {
			method = ShapeOnline
		}
	}
	switch method {
	case ShapeOnline:
		f.PayChannel, f.Collect = PayOnline, 1
	case ShapeOffice:
		f.PayChannel, f.Collect = PayAtOffice, 1
	case ShapeCOD:
		f.PayChannel, f.Collect = PayCashOnDelivery, 4
	}
}

// DossierShaped is Dossier with the shape's overrides.
func (g *Generator) DossierShaped(rng *rand.Rand, now time.Time, s Shape) (*Dossier, error) {
	sh, err := g.resolve(s)
	if err != nil {
		return nil, err
	}
	return g.dossier(rng, now, sh), nil
}

// GenerateShaped is Generate with the shape's overrides: the i-th dossier of
// a batch with seed, of shape s, deterministic for (seed, i, s) and saveable
// by State. The zero shape gives exactly Generate's dossier.
func (g *Generator) GenerateShaped(seed uint64, i int, now time.Time, s Shape) (*Dossier, error) {
	sh, err := g.resolve(s)
	if err != nil {
		return nil, err
	}
	src := g.stream(seed, i)
	d := g.dossier(rand.New(src), now, sh)
	d.src = src
	return d, nil
}

// drawable returns the procedures the generator draws from at random: every
// one but the shape-only ones (all of them if that leaves none).
func drawable(procs []catalog.Procedure) []catalog.Procedure {
	var out []catalog.Procedure
	for _, p := range procs {
		if !p.ShapeOnly {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return procs
	}
	return out
}
