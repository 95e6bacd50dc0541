package national_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/national"
	simnational "github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/sim/simctl"
)

// The portal answers its internal error ("99") with HTTP 200: those calls
// must count against its breaker as a 5xx would, and open it; item codes
// and expired sessions must not.
func TestInternalErrorOpensBreaker(t *testing.T) {
	sim := simnational.New(simnational.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	set := breaker.New(breaker.Settings{Failures: 3, Timeout: time.Minute}, slog.New(slog.DiscardHandler))
	hc := &http.Client{Transport: set.CheckedTransport("national", nil, national.InternalError)}
	c, err := national.New(national.Config{BaseURL: srv.URL, Username: "hub", Password: "hub-secret", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	u := national.Unit{DstCode: "000.00.00.H52", MaDonVi: "000.00.00.H52"}
	ctx := context.Background()

	// Item-level refusals (23: unknown dossier) are answers, not failures.
	for range 5 {
		res, err := c.Steps(ctx, u, []national.Step{{MaHoSo: "unknown-1", TrangThai: 2, ThoiDiemXuLy: "20261121080000"}})
		if err != nil || len(res) != 1 || res[0].ErrorCode != national.CodeNotExists {
			t.Fatalf("step for an unknown dossier: %+v, %v", res, err)
		}
	}
	if set.Open("national") {
		t.Fatal("item codes opened the breaker")
	}

	errRate := 1.0
	if err := sim.Controller().SetFaults(simctl.Faults{ErrorRate: errRate}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := c.Sync(ctx, u, false, []national.HoSo{{MaHoSo: "D-1"}})
		if !national.IsTransient(err) || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("call %d: %v; want a transient 99", i+1, err)
		}
	}
	if !set.Open("national") {
		t.Fatalf("three 99 answers in a row did not open the breaker: %+v", set.Stats()["national"])
	}
	if _, err := c.Sync(ctx, u, false, []national.HoSo{{MaHoSo: "D-1"}}); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("call with the breaker open: %v; want ErrOpen", err)
	}
}
