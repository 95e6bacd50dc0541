package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/sim/catalog"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// TestQuarantineReplay: the national catalogue lacks a procedure and the
// portals serve some records broken. Both kinds are quarantined and listed
// with their reasons over the hub's API; once the catalogue is fixed, a
// replay delivers the refused dossiers through the normal path.
func TestQuarantineReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	e := newEnv(t, devenv.Options{})
	full := catalog.Default()  // what the national simulator starts with
	const missing = "1.000894" // Đăng ký khai sinh: every province has it
	var without []catalog.Procedure
	for _, p := range full {
		if p.MaTTHC != missing {
			without = append(without, p)
		}
	}
	if len(without) == len(full) {
		t.Fatalf("procedure %s not in the catalogue", missing)
	}
	e.sims.National.SetCatalog(without)
	for i, src := range devenv.Sources {
		if err := e.sims.PatchFaults(src, map[string]any{"malformed_rate": 0.05}); err != nil {
			t.Fatal(err)
		}
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": perProvince(t) / 10, "seed": 9900 + i, "steps": 3})
	}
	stop := e.runHub()
	defer stop()
	e.waitSynced(t, 5*time.Minute)

	api := "http://" + e.sims.HubAddr + "/api/dlq"
	// The quarantine API wants a national operator's token; without one,
	// or with a province's, it refuses.
	secret, tok, err := auth.NewToken(store.RoleNational, "", "e2e operator")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	provincial, ptok, _ := auth.NewToken(store.RoleProvincial, "14", "e2e Sơn La")
	if err := e.store.CreateToken(context.Background(), ptok); err != nil {
		t.Fatal(err)
	}
	call := func(method, u, token string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	base := "http://" + e.sims.HubAddr
	if code, b := call("GET", base+"/readyz", "", nil); code != http.StatusOK {
		t.Errorf("/readyz: HTTP %d %s", code, b)
	}
	_, scrape := call("GET", base+"/metrics", "", nil)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(scrape))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"lienthong_records_pulled_total", "lienthong_records_quarantined_total", "lienthong_dossiers_synced_total", "lienthong_breaker_state", "lienthong_handler_duration_seconds"} {
		if families[name] == nil || len(families[name].GetMetric()) == 0 {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if code, _ := call("GET", api, "", nil); code != http.StatusUnauthorized {
		t.Errorf("quarantine list without a token: HTTP %d; want 401", code)
	}
	// A provincial token lists its own province's entries only.
	if code, b := call("GET", api+"?limit=1000&state=all", provincial, nil); code != http.StatusOK {
		t.Errorf("quarantine list with a provincial token: HTTP %d %s", code, b)
	} else {
		var res struct {
			Items []struct {
				Source string `json:"source"`
			} `json:"items"`
		}
		if err := json.Unmarshal(b, &res); err != nil || len(res.Items) == 0 {
			t.Errorf("quarantine list with the Sơn La token: %v, %d items; want Sơn La's", err, len(res.Items))
		}
		for _, it := range res.Items {
			if it.Source != "sonla" {
				t.Errorf("the Sơn La token is shown a %s entry", it.Source)
				break
			}
		}
	}
	type item struct {
		ID        int64  `json:"id"`
		Source    string `json:"source"`
		DossierID string `json:"dossier_id"`
		Version   int64  `json:"version"`
		Field     string `json:"field"`
		Reason    string `json:"reason"`
		State     string `json:"state"`
	}
	list := func(q string) []item {
		var res struct {
			Items []item `json:"items"`
		}
		code, b := call("GET", api+"?limit=1000&"+q, secret, nil)
		if err := json.Unmarshal(b, &res); code != http.StatusOK || err != nil {
			t.Fatalf("list: HTTP %d %s", code, b)
		}
		return res.Items
	}
	refused := list("field=" + url.QueryEscape("national:21"))
	malformed := list("reason=" + url.QueryEscape("field "))
	t.Logf("quarantined: %d refused for the unknown procedure, %d malformed", len(refused), len(malformed))
	if len(refused) == 0 || len(malformed) == 0 {
		t.Fatalf("want both kinds in quarantine: %d refused for %s, %d malformed", len(refused), missing, len(malformed))
	}
	for _, it := range refused {
		if !strings.Contains(it.Reason, it.DossierID) || !strings.Contains(it.Reason, "21") {
			t.Errorf("entry %d: reason %q does not name the dossier and the code", it.ID, it.Reason)
		}
	}

	// Fix the catalogue; the operator lists and replays the refused ones
	// with the hub's own command.
	e.sims.National.SetCatalog(full)
	bin := buildHub(t)
	cfgPath := writeServeConfig(t, e.cfg)
	hubCmd := func(args ...string) string {
		out, err := exec.Command(bin, append(args, "--config", cfgPath)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	listed := hubCmd("dlq", "list", "--field", "national:21", "--limit", "1000")
	for _, it := range refused {
		if !strings.Contains(listed, it.DossierID) {
			t.Errorf("hub dlq list does not show entry %d (%s):\n%.500s", it.ID, it.DossierID, listed)
			break
		}
	}
	if out := hubCmd("dlq", "replay", "--all", "--field", "national:21"); !strings.Contains(out, fmt.Sprint(len(refused))) {
		t.Errorf("hub dlq replay --all: %q does not report %d replayed", out, len(refused))
	}
	want := map[string]int64{}
	for _, it := range refused {
		want[it.DossierID] = max(want[it.DossierID], it.Version)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ids := make([]string, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		l, err := e.store.GetLedger(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		behind := 0
		for id, v := range want {
			if l[id].NationalState != store.NationalHeld || l[id].NationalVersion < v {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replayed dossiers not at the national portal", behind, len(want))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for id := range want {
		if _, ok := e.sims.National.Dossier(id); !ok {
			t.Errorf("replayed dossier %s not held by the national simulator", id)
		}
	}
	if left := list("field=" + url.QueryEscape("national:21")); len(left) != 0 {
		t.Errorf("%d entries for the unknown procedure still open after the replay (first: %+v)", len(left), left[0])
	}
	// A discarded entry leaves the open list, with the reason on the timeline.
	d := malformed[0]
	b, _ := json.Marshal(map[string]string{"reason": "corrupted at the source, re-sent by the province"})
	if d.Source != "sonla" {
		if code, _ := call("POST", api+"/"+jsonID(d.ID)+"/discard", provincial, b); code != http.StatusNotFound {
			t.Errorf("discard of a %s entry with the Sơn La token: HTTP %d; want 404", d.Source, code)
		}
	}
	if code, body := call("POST", api+"/"+jsonID(d.ID)+"/discard", secret, b); code != http.StatusOK {
		t.Errorf("discard: HTTP %d %s", code, body)
	}
	audit, err := e.store.ListAudit(context.Background(), store.AuditFilter{TokenID: tok.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Action != auth.ActionDiscard || audit[0].Outcome != auth.OutcomeOK || !strings.Contains(audit[0].Target, jsonID(d.ID)) {
		t.Errorf("audit log %+v; want the discard of entry %d by the operator", audit, d.ID)
	}
	for _, it := range list("") {
		if it.ID == d.ID {
			t.Errorf("discarded entry %d still listed as open", d.ID)
		}
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }
