package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/sim/simctl"
)

// TestCheckSources tries portals as an operator would before they go live:
// one whose records are partly broken, one with a wrong secret, one fine.
func TestCheckSources(t *testing.T) {
	sims, err := devenv.Start(devenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	for _, src := range []string{devenv.NameLaiChau, devenv.NameNgheAn} {
		if _, err := sims.Book(src).Generate(simctl.GenerateRequest{Count: 30, Steps: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sims.PatchFaults(devenv.NameLaiChau, map[string]any{"malformed_rate": 0.5}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys, err := hub.DevKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Kafka and the store are never reached: a check publishes nothing.
	cfg := sims.HubConfig([]string{"127.0.0.1:1"}, hub.StoreConfig{SQLitePath: dir + "/unused.db"}.WithKeys(keys))
	for i := range cfg.Sources {
		if cfg.Sources[i].Name == devenv.NameThaiNguyen {
			cfg.Sources[i].Password = "wrong"
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks, err := hub.CheckSources(context.Background(), cfg, devenv.NameLaiChau, devenv.NameThaiNguyen, devenv.NameNgheAn)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 3 {
		t.Fatalf("%d checks, want 3: %+v", len(checks), checks)
	}
	by := map[string]hub.SourceCheck{}
	for _, c := range checks {
		by[c.Source] = c
	}
	lc := by[devenv.NameLaiChau]
	if lc.Err != nil || lc.Records == 0 || len(lc.Failed) == 0 || lc.Mapped+len(lc.Failed) != lc.Records {
		t.Errorf("laichau: %+v, want records, some of them unmappable", lc)
	}
	for _, e := range lc.Failed {
		var fe *mapping.FieldError
		if !errors.As(e, &fe) || fe.Source != devenv.NameLaiChau {
			t.Errorf("laichau failure %v is not a field error of laichau", e)
		}
	}
	if tn := by[devenv.NameThaiNguyen]; tn.Err == nil || tn.Records != 0 {
		t.Errorf("thainguyen with a wrong password: %+v, want a login error", tn)
	}
	if na := by[devenv.NameNgheAn]; na.Err != nil || len(na.Failed) != 0 || na.Records < 30 || na.Mapped != na.Records {
		t.Errorf("nghean: %+v, want its 30 dossiers' entries, all mapped", na)
	}
	var out bytes.Buffer
	if bad := printChecks(&out, cfg, checks); bad != 2 {
		t.Errorf("%d sources reported bad, want 2:\n%s", bad, out.String())
	}
	for _, want := range []string{"laichau (rest-json, province 12, ", "could not be mapped:\n  laichau: dossier ", "thainguyen (soap, province 19, ", "FAILED: ", "nghean (xml-feed, province 40, ", "mapped: OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report does not say %q:\n%s", want, out.String())
		}
	}
	t.Logf("report:\n%s", out.String())
}
