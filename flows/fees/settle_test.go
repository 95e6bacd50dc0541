package fees_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/restjson"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/router"
	simrestjson "github.com/lienthong/lienthong/sim/restjson"
	"github.com/lienthong/lienthong/store"
)

// clock is the flow's clock in a test: Add moves it on, so every pass of
// the reconciliation finds whatever waits for a later time due.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// province wires the flow's writebacks to Sơn La's portal simulated over
// HTTP, through the real writeback writer and connector, and the flow's
// clock to clk.
func province(t *testing.T, clk *clock) (*simrestjson.Server, func(w *world, cfg *fees.Config)) {
	t.Helper()
	sim := simrestjson.New(simrestjson.Config{})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	portal, err := restjson.New(restjson.Config{Source: "sonla", BaseURL: srv.URL, ClientID: "hub", ClientSecret: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return sim, func(w *world, cfg *fees.Config) {
		cfg.Writeback = writeback.New(map[string]writeback.Portal{"sonla": portal}, w.store, "test")
		cfg.Now = clk.Now
	}
}

func writebacksOf(sim *simrestjson.Server, id string) int {
	n := 0
	for _, wb := range sim.Book().Writebacks() {
		if wb.MaHoSo == id && wb.Kind == "THANH_TOAN" {
			n++
		}
	}
	return n
}

// A paid payment whose THANH_TOAN writeback the province refuses for good
// (Sơn La answers 404: it does not know the dossier) is tried a bounded
// number of times, then quarantined once with the reason, and never tried
// again by the reconciliation.
func TestSettlementWritebackRefusedIsQuarantined(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	sim, opt := province(t, clk)
	w := newWorld(t, opt)
	d := dossier("000.00.14.H52-261121-0201") // never at the province
	p := w.request(t, d)
	w.pay(t, p.Ref, map[string]any{"MaLoi": "00"})

	pass := func(n int) {
		for range n {
			clk.Add(time.Hour)
			_ = w.flow.Reconcile(ctx) // the refusals are reported; the test looks at their effects
		}
	}
	pass(30)
	const attempts = 5 // the flow's default bound
	if n := writebacksOf(sim, d.ID); n != attempts {
		t.Fatalf("%d THANH_TOAN writebacks answered 404; want %d attempts, then none", n, attempts)
	}
	q, err := w.store.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 {
		t.Fatalf("%d quarantine entries %+v; want one for the refused writeback", len(q), q)
	}
	e := q[0]
	if e.Source != "sonla" || e.DossierID != d.ID || e.Field != "writeback:THANH_TOAN" || e.Format != "settlement" || e.State != store.QuarantineOpen {
		t.Errorf("entry %+v; want an open sonla entry for the dossier, field writeback:THANH_TOAN, format settlement", e)
	}
	for _, part := range []string{"sonla", d.ID, p.Ref, "404"} {
		if !strings.Contains(e.Reason, part) {
			t.Errorf("reason %q does not name %q", e.Reason, part)
		}
	}
	got, err := w.store.GetPayment(ctx, p.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.PaymentPaid || !got.SettledAt.IsZero() {
		t.Errorf("payment %+v; want paid and not settled: the province never learnt it", got)
	}

	pass(10)
	if n := writebacksOf(sim, d.ID); n != attempts {
		t.Errorf("%d writebacks after the quarantine; want still %d", n, attempts)
	}
	if q, _ := w.store.ListQuarantine(ctx, store.QuarantineFilter{}); len(q) != 1 {
		t.Errorf("%d quarantine entries after more passes; want one", len(q))
	}
}

// Once the province knows the dossier, an operator's replay of the entry
// has the next pass write back under a new reference (the portal answers
// the old one with its first answer, the 404), and the payment is settled.
func TestSettlementReplayed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	sim, opt := province(t, clk)
	w := newWorld(t, opt)
	d := dossier("000.00.14.H52-261121-0202")
	p := w.request(t, d)
	w.pay(t, p.Ref, map[string]any{"MaLoi": "00"})
	for range 10 {
		clk.Add(time.Hour)
		_ = w.flow.Reconcile(ctx)
	}
	q, err := w.store.ListQuarantine(ctx, store.QuarantineFilter{DossierID: d.ID})
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine %+v, %v; want one entry", q, err)
	}
	if _, err := sim.Book().Post([]byte(`{"maHoSo":"` + d.ID + `"}`)); err != nil {
		t.Fatal(err)
	}
	if err := dlq.New(w.store, nil, router.Topics{}, "test").Replay(ctx, q[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := w.flow.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := w.store.GetPayment(ctx, p.Ref)
	if err != nil || got.SettledAt.IsZero() {
		t.Fatalf("payment %+v, %v; want settled after the replay", got, err)
	}
	var taken []string
	for _, wb := range sim.Book().Writebacks() {
		if wb.Status == http.StatusOK {
			taken = append(taken, wb.Key)
		}
	}
	if len(taken) != 1 || taken[0] != p.Ref+"/r1" {
		t.Errorf("writebacks taken %v; want one under %s/r1", taken, p.Ref)
	}
	if e, _ := w.store.GetQuarantine(ctx, q[0].ID); e.State != store.QuarantineReplayed {
		t.Errorf("entry %s; want replayed", e.State)
	}
	if q, _ := w.store.ListQuarantine(ctx, store.QuarantineFilter{DossierID: d.ID, State: store.QuarantineOpen}); len(q) != 0 {
		t.Errorf("open entries after a replay that succeeded: %+v", q)
	}
}
