package settlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/restjson"
	"github.com/lienthong/lienthong/connectors/soap"
	"github.com/lienthong/lienthong/connectors/xmlfeed"
	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/schemas"
	simrestjson "github.com/lienthong/lienthong/sim/restjson"
	"github.com/lienthong/lienthong/sim/simctl"
	simsoap "github.com/lienthong/lienthong/sim/soap"
	simxmlfeed "github.com/lienthong/lienthong/sim/xmlfeed"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// clock is the runner's clock: Add moves it past any backoff.
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

// portal is one province's simulator over HTTP, with the real connector.
type portal struct {
	source string
	book   *simctl.Book
	client writeback.Portal
	// known is a record of the dossier in the portal's own format, which
	// makes the portal know it.
	known func(id string) []byte
	// answer is what the refusal looks like in the reason.
	answer string
}

func portals(t *testing.T) []portal {
	t.Helper()
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	sl := simrestjson.New(simrestjson.Config{})
	t.Cleanup(sl.Close)
	slc, err := restjson.New(restjson.Config{Source: "sonla", BaseURL: serve(sl), ClientID: "hub", ClientSecret: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	tn := simsoap.New(simsoap.Config{})
	t.Cleanup(tn.Close)
	tnc, err := soap.New(soap.Config{Source: "thainguyen", BaseURL: serve(tn), Username: "hub", Password: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	ht := simxmlfeed.New(simxmlfeed.Config{})
	t.Cleanup(ht.Close)
	htc, err := xmlfeed.New(xmlfeed.Config{Source: "hatinh", BaseURL: serve(ht), APIKey: "hub-key"})
	if err != nil {
		t.Fatal(err)
	}
	return []portal{
		{"sonla", sl.Book(), slc, func(id string) []byte { return []byte(`{"maHoSo":"` + id + `"}`) }, "HTTP 404"},
		{"thainguyen", tn.Book(), tnc, func(id string) []byte { return []byte(`<HoSo><MaHoSo>` + id + `</MaHoSo></HoSo>`) }, "soap:Client"},
		{"hatinh", ht.Book(), htc, func(id string) []byte { return []byte(`<HOSO><MAHOSO>` + id + `</MAHOSO></HOSO>`) }, "MA=1"},
	}
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// effects counts the plan's own effects and can make them wait.
type effects struct {
	mu      sync.Mutex
	runs    int
	settled int
	wait    bool
}

func (e *effects) run(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs++
	if e.wait {
		return errors.Join(errors.New("dossier not in the ledger yet"), settlement.ErrWait)
	}
	return nil
}

func (e *effects) settle(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.settled++
	return nil
}

func newRunner(st *sqlstore.Store, wb settlement.Writeback, clk *clock, eff *effects, attempts int) *settlement.Runner {
	return settlement.New(settlement.Config{
		Store: st, Writeback: wb, MaxAttempts: attempts, Now: clk.Now, Instance: "test", Log: slog.New(slog.DiscardHandler),
		Plan: func(_ context.Context, s store.Settlement) (settlement.Plan, error) {
			return settlement.Plan{
				Writeback: httpx.Event{DossierID: s.DossierID, Kind: httpx.KindPayment, Reference: s.Ref, At: time.Now(), Content: "Đã thanh toán"},
				Effects:   eff.run, Settled: eff.settle,
			}, nil
		},
	})
}

func calls(book *simctl.Book, id string) (all, ok int) {
	for _, wb := range book.Writebacks() {
		if wb.MaHoSo == id {
			all++
			if wb.Status == http.StatusOK {
				ok++
			}
		}
	}
	return all, ok
}

// Each province's permanent refusal of a writeback for a dossier it does
// not know (Sơn La 404, Thái Nguyên soap:Client, Hà Tĩnh KETQUA MA 1) is
// tried MaxAttempts times, counted in the store, then held with one
// quarantine entry naming source, dossier and answer; the hub's own effects
// still happen. A replay writes back under a new reference, which the
// portal, knowing the dossier by then, takes.
func TestRefusedWritebackHeldThenReplayed(t *testing.T) {
	ctx := context.Background()
	for _, p := range portals(t) {
		t.Run(p.source, func(t *testing.T) {
			st := openStore(t)
			clk := &clock{t: time.Now()}
			eff := &effects{}
			wb := writeback.New(map[string]writeback.Portal{p.source: p.client}, st, "test")
			const attempts = 3
			id := "000.00.00.H00-261121-" + p.source
			r := newRunner(st, wb, clk, eff, attempts)
			s, err := r.Open(ctx, store.Settlement{Kind: store.SettlementPayment, Ref: id + "-ref", DossierID: id, Source: p.source})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Run(ctx, s); err == nil || !strings.Contains(err.Error(), p.answer) {
				t.Fatalf("first pass: %v; want the refusal (%s) reported", err, p.answer)
			}
			// A restart: a new runner over the same store goes on counting.
			r = newRunner(st, wb, clk, eff, attempts)
			for range 10 {
				clk.Add(time.Hour)
				_ = r.RunDue(ctx, []string{store.SettlementPayment}, 10)
			}
			if n, _ := calls(p.book, id); n != attempts {
				t.Fatalf("%d writebacks; want %d attempts, then none", n, attempts)
			}
			got, err := st.GetSettlement(ctx, store.SettlementPayment, id+"-ref")
			if err != nil {
				t.Fatal(err)
			}
			if got.Writeback != store.WritebackHeld || got.State != store.SettlementClosed || got.Attempts != attempts {
				t.Fatalf("settlement %+v; want held and closed after %d attempts", got, attempts)
			}
			q, err := st.ListQuarantine(ctx, store.QuarantineFilter{})
			if err != nil || len(q) != 1 {
				t.Fatalf("quarantine %+v, %v; want one entry", q, err)
			}
			if e := q[0]; e.Source != p.source || e.DossierID != id || e.Field != "writeback:THANH_TOAN" || e.Format != schemas.FormatSettlement ||
				!strings.Contains(e.Reason, p.source) || !strings.Contains(e.Reason, id) || !strings.Contains(e.Reason, p.answer) {
				t.Errorf("entry %+v; want source, dossier, field writeback:THANH_TOAN, format settlement, the answer in the reason", e)
			}
			var pl settlement.Payload
			if err := json.Unmarshal(q[0].Payload, &pl); err != nil || pl.Kind != store.SettlementPayment || pl.Ref != id+"-ref" {
				t.Errorf("payload %s: %v; want the settlement named", q[0].Payload, err)
			}
			if eff.runs == 0 || eff.settled != 0 {
				t.Errorf("effects ran %d times, settled %d; want the effects run and not settled", eff.runs, eff.settled)
			}
			tl, _ := st.Timeline(ctx, id)
			var kinds []string
			for _, ev := range tl {
				kinds = append(kinds, ev.Kind)
			}
			if strings.Join(kinds, " ") != "writeback.refused writeback.refused writeback.held" {
				t.Errorf("timeline %v", kinds)
			}

			// The province learns of the dossier; an operator replays.
			if _, err := p.book.Post(p.known(id)); err != nil {
				t.Fatal(err)
			}
			if _, changed, err := st.ReopenSettlement(ctx, store.SettlementPayment, id+"-ref"); err != nil || !changed {
				t.Fatalf("reopen: %v %v", changed, err)
			}
			if err := r.RunDue(ctx, []string{store.SettlementPayment}, 10); err != nil {
				t.Fatal(err)
			}
			if n, ok := calls(p.book, id); n != attempts+1 || ok != 1 {
				t.Errorf("%d writebacks, %d taken; want one more, taken", n, ok)
			}
			last := p.book.Writebacks()[len(p.book.Writebacks())-1]
			if last.Key != id+"-ref/r1" {
				t.Errorf("replayed writeback under %q; want the reference of round 1", last.Key)
			}
			got, _ = st.GetSettlement(ctx, store.SettlementPayment, id+"-ref")
			if got.Writeback != store.WritebackDone || got.State != store.SettlementClosed || eff.settled != 1 {
				t.Errorf("after the replay: %+v, settled %d; want done, closed, settled once", got, eff.settled)
			}
		})
	}
}

// Rejected credentials are the hub's configuration, not the dossier's: they
// are retried, never counted towards the hold.
func TestAuthRejectionNotCounted(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sim := simrestjson.New(simrestjson.Config{})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	bad, err := restjson.New(restjson.Config{Source: "sonla", BaseURL: srv.URL, ClientID: "hub", ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	r := newRunner(st, writeback.New(map[string]writeback.Portal{"sonla": bad}, st, "test"), clk, &effects{}, 2)
	if _, err := r.Open(ctx, store.Settlement{Kind: store.SettlementCOD, Ref: "KQ-1/cod", DossierID: "D-1", Source: "sonla"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		clk.Add(time.Hour)
		_ = r.RunDue(ctx, []string{store.SettlementCOD}, 10)
	}
	got, _ := st.GetSettlement(ctx, store.SettlementCOD, "KQ-1/cod")
	if got.State != store.SettlementOpen || got.Writeback != store.WritebackDue || got.Attempts != 0 || got.Tries != 5 {
		t.Errorf("settlement %+v; want open, due, no refusal counted, five tries", got)
	}
	if q, _ := st.ListQuarantine(ctx, store.QuarantineFilter{}); len(q) != 0 {
		t.Errorf("quarantined %+v", q)
	}
}

// An effect that waits is retried on later passes with a growing delay,
// unreported, and the settlement closes once it happens; other settlements
// are not held up meanwhile.
func TestWaitingEffectRetriedWithBackoff(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sim := simrestjson.New(simrestjson.Config{})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cl, err := restjson.New(restjson.Config{Source: "sonla", BaseURL: srv.URL, ClientID: "hub", ClientSecret: "hub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"D-1", "D-2"} {
		if _, err := sim.Book().Post([]byte(`{"maHoSo":"` + id + `"}`)); err != nil {
			t.Fatal(err)
		}
	}
	wb := writeback.New(map[string]writeback.Portal{"sonla": cl}, st, "test")
	clk := &clock{t: time.Now()}
	waiting := &effects{wait: true}
	r := newRunner(st, wb, clk, waiting, 3)
	r.SetRetry(time.Second)
	s, err := r.Open(ctx, store.Settlement{Kind: store.SettlementDelivered, Ref: "KQ-D-1", DossierID: "D-1", Source: "sonla",
		NextAt: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	for i := range 4 {
		if i > 0 {
			clk.Add(delays[i-1])
		}
		if err := r.RunDue(ctx, []string{store.SettlementDelivered}, 10); err != nil {
			t.Fatalf("a waiting pass reported %v", err)
		}
		got, _ := st.GetSettlement(ctx, s.Kind, s.Ref)
		delays = append(delays, got.NextAt.Sub(clk.Now()).Round(time.Millisecond))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}; !equal(delays, want) {
		t.Errorf("delays %v; want %v", delays, want)
	}
	// Not due yet: the pass leaves it alone, and takes another one that is.
	other := &effects{}
	r2 := newRunner(st, wb, clk, other, 3)
	if _, err := r2.Open(ctx, store.Settlement{Kind: store.SettlementCOD, Ref: "KQ-D-2/cod", DossierID: "D-2", Source: "sonla"}); err != nil {
		t.Fatal(err)
	}
	if err := r2.RunDue(ctx, []string{store.SettlementCOD, store.SettlementDelivered}, 10); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetSettlement(ctx, store.SettlementCOD, "KQ-D-2/cod"); got.State != store.SettlementClosed {
		t.Errorf("the other settlement %+v; want closed", got)
	}
	waiting.mu.Lock()
	runs := waiting.runs
	waiting.wait = false
	waiting.mu.Unlock()
	if runs != 4 {
		t.Errorf("waiting effect ran %d times; want 4", runs)
	}
	clk.Add(time.Hour)
	if err := r.RunDue(ctx, []string{store.SettlementDelivered}, 10); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetSettlement(ctx, s.Kind, s.Ref)
	if got.State != store.SettlementClosed || got.Writeback != store.WritebackDone || waiting.settled != 1 {
		t.Errorf("settlement %+v, settled %d; want closed once the effect happened", got, waiting.settled)
	}
	if n, ok := calls(sim.Book(), "D-1"); n != 1 || ok != 1 {
		t.Errorf("%d writebacks for D-1; want one: done once, not repeated while the effect waited", n)
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
