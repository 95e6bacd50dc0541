package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store"
)

// TestReconcile plants every kind of drift at the national simulator (a
// dossier lost, one with an older status, one with a field changed, one
// held though the ledger records it as never sent), and checks that `hub
// reconcile` and the background job find each with its kind, that a resync
// through the API repairs them through the normal path, and that the next
// pass finds no drift at all.
func TestReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	bin := buildHub(t)
	e := newEnv(t, devenv.Options{ThaiNguyenPrefix: "*"})
	e.cfg.Reconcile = hub.ReconcileConfig{Rate: 100, Grace: time.Second, Sample: -1}
	for _, src := range devenv.Sources {
		postJSON(t, e.sims.URLs[src]+"/_sim/generate", map[string]any{"count": 12, "seed": 20261206, "steps": 3, "interval_ms": 50})
	}
	// The national catalogue lacks a procedure every province uses: the
	// portal refuses (21) the dossiers created with it, which the ledger
	// then records as not held.
	nat := e.sims.URLs[devenv.NameNational]
	var catalog []map[string]any
	getJSON(t, nat+"/_sim/catalog", &catalog)
	const refused = "1.000894"
	var without []map[string]any
	for _, p := range catalog {
		if p["MaTTHC"] != refused {
			without = append(without, p)
		}
	}
	send(t, "PUT", nat+"/_sim/catalog", without)
	stop := e.runHub()
	defer stop()
	e.waitSynced(t, 5*time.Minute)
	cfgPath := writeServeConfig(t, e.cfg)
	ctx := context.Background()

	// Four dossiers the portal holds, of different sources.
	var picked []store.LedgerEntry
	seen := map[string]bool{}
	rows, err := e.store.ReconcileBatch(ctx, store.ReconcileFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var unknown *store.LedgerEntry
	for _, r := range rows {
		if r.NationalState == store.NationalHeld && r.NationalVersion == r.Version && !seen[r.Source] && len(picked) < 3 {
			seen[r.Source] = true
			picked = append(picked, r)
		}
		if r.NationalState == store.NationalNone && unknown == nil {
			unknown = &r
		}
	}
	if len(picked) < 3 || unknown == nil {
		t.Fatalf("%d sources with a held dossier, a refused one: %v", len(picked), unknown != nil)
	}
	lost, older, changed := picked[0], picked[1], picked[2]
	send(t, "DELETE", nat+"/_sim/dossiers/"+lost.DossierID, nil)
	status := 1
	if older.Status == 1 {
		status = 2
	}
	send(t, "PATCH", nat+"/_sim/dossiers/"+older.DossierID, map[string]any{"TrangThaiHoSo": status})
	send(t, "PATCH", nat+"/_sim/dossiers/"+changed.DossierID, map[string]any{"TrichYeuHoSo": "Trích yếu đã bị sửa ở cổng quốc gia"})
	// One the portal refused turns up at the portal after all (entered by
	// hand there, say): the ledger records it as never acknowledged.
	src, _ := e.cfg.Source(unknown.Source)
	send(t, "PATCH", nat+"/_sim/dossiers/"+unknown.DossierID, map[string]any{"dstcode": src.DstCode, "madonvi": src.MaDonVi,
		"MaTTHC": refused, "TrangThaiHoSo": unknown.Status})
	// The operators put the procedure back, so that a resync can repair.
	send(t, "PUT", nat+"/_sim/catalog", catalog)
	want := map[string]string{lost.DossierID: store.DriftMissing, older.DossierID: store.DriftOlderStatus,
		changed.DossierID: store.DriftFieldDiffers, unknown.DossierID: store.DriftUnknown}
	// The last ledger writes must be older than the grace (1 s) to be judged.
	time.Sleep(1500 * time.Millisecond)

	// `hub reconcile` finds all four, and exits 1.
	out, err := exec.Command(bin, "reconcile", "--config", cfgPath, "--rate", "200").CombinedOutput()
	if err == nil {
		t.Fatalf("hub reconcile with drift planted exited 0:\n%s", out)
	}
	for id, kind := range want {
		if !regexpLine(string(out), id, kind) {
			t.Errorf("hub reconcile did not report %s as %s:\n%s", id, kind, out)
		}
	}
	if !strings.Contains(string(out), "TrichYeuHoSo") {
		t.Errorf("hub reconcile did not name the changed field TrichYeuHoSo:\n%s", out)
	}

	// The background job finds them too (the API lists what is recorded).
	secret, tok, err := auth.NewToken(store.RoleNational, "", "e2e reconcile")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	api := "http://" + e.sims.HubAddr
	var list driftList
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		list = getDrift(t, api, secret)
		if list.Total == len(want) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if list.Total != len(want) {
		t.Fatalf("/api/drift: %d open, want %d: %+v", list.Total, len(want), list.Items)
	}
	for _, d := range list.Items {
		if want[d.DossierID] != d.Kind {
			t.Errorf("/api/drift: %s as %s, want %s", d.DossierID, d.Kind, want[d.DossierID])
		}
	}

	// A resync through the API repairs every one through the pipeline.
	var res struct {
		Resynced int `json:"resynced"`
	}
	code, body := call(t, "POST", api+"/api/drift/resync", secret)
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil || res.Resynced != len(want) {
		t.Fatalf("POST /api/drift/resync: HTTP %d %s; want %d resynced", code, body, len(want))
	}
	deadline = time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if list = getDrift(t, api, secret); list.Total == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if list.Total != 0 {
		t.Fatalf("after the resync, /api/drift still lists %+v", list.Items)
	}
	if code, _ := call(t, "GET", nat+"/_sim/dossiers/"+lost.DossierID, ""); code != http.StatusOK {
		t.Errorf("the lost dossier %s is not at the national portal again: HTTP %d", lost.DossierID, code)
	}
	out, err = exec.Command(bin, "reconcile", "--config", cfgPath, "--rate", "200").CombinedOutput()
	if err != nil {
		t.Fatalf("hub reconcile after the resync: %v\n%s", err, out)
	}
	t.Logf("hub reconcile after the resync:\n%s", out)
}

type driftList struct {
	Total int           `json:"total"`
	Items []store.Drift `json:"items"`
}

func getDrift(t *testing.T, api, secret string) driftList {
	t.Helper()
	code, body := call(t, "GET", api+"/api/drift", secret)
	var l driftList
	if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
		t.Fatalf("GET /api/drift: HTTP %d %s", code, body)
	}
	return l
}

// regexpLine reports whether out has a line with both id and kind.
func regexpLine(out, id, kind string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, id) && strings.Contains(line, "\t"+kind+"\t") {
			return true
		}
	}
	return false
}

// call makes an API call with a bearer token (none when secret is "").
func call(t *testing.T, method, u, secret string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
