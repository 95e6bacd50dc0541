package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lienthong/lienthong/sim/devenv"
)

// TestConsole drives the operator console in headless Chromium against
// `hub dev` (the binary, with its embedded broker, store and simulators):
// the overview shows the three provinces syncing, a dossier found by MaHoSo
// shows its timeline, and a record the national portal refused is replayed
// from the quarantine page once the cause is fixed, and reaches the portal.
// Screenshots of the three pages go to $LIENTHONG_SCREENSHOTS (default
// e2e/screenshots). Everything `hub dev` logged is then scanned for
// personal data.
func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	chromium := browser(t)
	shots := os.Getenv("LIENTHONG_SCREENSHOTS")
	if shots == "" {
		_, file, _, _ := runtime.Caller(0)
		shots = filepath.Join(filepath.Dir(file), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	dev := startDev(t)
	defer dev.stop(t)

	// hub dev syncs its five provinces: within a minute the national
	// portal holds dossiers of each one's unit.
	units := map[string]string{}
	for _, p := range devenv.DevPortals() {
		units[p.Unit] = p.Name
	}
	syncBy := time.Now().Add(time.Minute)
	for seen := map[string]bool{}; len(seen) < len(units); {
		var page struct {
			Items []struct {
				DstCode string `json:"dstcode"`
			} `json:"items"`
		}
		getJSON(t, dev.urls["national"]+"/_sim/dossiers?limit=1000", &page)
		for _, it := range page.Items {
			if units[it.DstCode] != "" {
				seen[it.DstCode] = true
			}
		}
		if len(seen) < len(units) && time.Now().After(syncBy) {
			t.Fatalf("after a minute of hub dev the national portal holds dossiers of %d of the %d provinces: %v", len(seen), len(units), seen)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The national catalogue loses a procedure every province uses, so
	// that the portal refuses (21) the dossiers that arrive with it.
	var catalog []map[string]any
	getJSON(t, dev.urls["national"]+"/_sim/catalog", &catalog)
	const missing = "1.000894"
	var without []map[string]any
	for _, p := range catalog {
		if p["MaTTHC"] != missing && p["maTTHC"] != missing {
			without = append(without, p)
		}
	}
	if len(without) == len(catalog) {
		t.Fatalf("procedure %s not in the national catalogue (%d procedures)", missing, len(catalog))
	}
	dev.putJSON(t, dev.urls["national"]+"/_sim/catalog", without)

	// The machine's network is closed: Chromium is kept from calling home.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout (chromedp.Run)
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 8*time.Minute)
	defer cancelTimeout()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string, out any) error {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, out)
	}
	// shot writes the page (the viewport only when it is a long list).
	shot := func(name string, full bool) {
		t.Helper()
		run("settle", chromedp.Sleep(300*time.Millisecond))
		capture := chromedp.CaptureScreenshot()
		if full {
			capture = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, capture)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// waitJS polls a JavaScript expression until it is true.
	waitJS := func(what, expr string, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			var ok bool
			if err := eval(expr, &ok); err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				var page string
				_ = eval(`document.body.innerText`, &page)
				t.Fatalf("%s: not within %s; the page says:\n%.1500s", what, limit, page)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Log in with the operator token hub dev made.
	run("open the console", chromedp.Navigate(dev.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	run("log in", chromedp.SendKeys(chromedp.CSS(`#token`), dev.token), chromedp.Click(chromedp.CSS(`#login`)))
	run("the overview", chromedp.WaitVisible(chromedp.CSS(`#whoami`)), chromedp.Navigate(dev.base+"/console/#/overview"))

	// 1. Overview: every province, each with dossiers acknowledged in the
	// last minute.
	waitJS("all five provinces syncing on the overview", `(() => {
		const rows = ["sonla", "laichau", "thainguyen", "hatinh", "nghean"].map(s => document.querySelector('#sources tr[data-source="' + s + '"] td.per-minute'));
		return rows.every(td => td && parseFloat(td.textContent.replace(',', '.')) > 0) &&
			// a line, not a dot, for each province: the history holds several samples
			[...document.querySelectorAll('#chart-throughput path.line')].filter(p => (p.getAttribute('d') || '').includes('L')).length >= 5;
	})()`, 3*time.Minute)
	var perMinute []string
	if err := eval(`["sonla","laichau","thainguyen","hatinh","nghean"].map(s => s + " " + document.querySelector('#sources tr[data-source="' + s + '"] td.per-minute').textContent)`, &perMinute); err != nil {
		t.Fatal(err)
	}
	t.Logf("overview, dossiers per minute: %s", strings.Join(perMinute, ", "))
	waitJS("the instance on the overview, alive, with its pollers and partitions", `(() => {
		const r = document.querySelector('#instances tr[data-instance]');
		return !!r && r.textContent.includes('alive') && r.textContent.includes('poller:sonla') && r.textContent.includes('canonical:');
	})()`, 30*time.Second)
	shot("overview.png", true)

	// 2. A dossier by MaHoSo: one the national portal holds.
	var held struct {
		Items []struct {
			MaHoSo string `json:"MaHoSo"`
		} `json:"items"`
	}
	getJSON(t, dev.urls["national"]+"/_sim/dossiers?limit=5", &held)
	if len(held.Items) == 0 {
		t.Fatal("the national simulator holds no dossier")
	}
	id := held.Items[0].MaHoSo
	run("search "+id, chromedp.Navigate(dev.base+"/console/#/dossier"), chromedp.WaitVisible(chromedp.CSS(`#search`)),
		chromedp.SendKeys(chromedp.CSS(`#search`), id), chromedp.Click(chromedp.CSS(`#search-go`)))
	waitJS("the timeline of "+id, `(() => {
		const kinds = [...document.querySelectorAll('#timeline tr.event td.kind')].map(td => td.textContent);
		return kinds.includes("normalised") && kinds.some(k => k.startsWith("national.")) &&
			document.querySelector('#dossier-summary').textContent.includes(`+jsString(id)+`);
	})()`, time.Minute)
	var events int
	if err := eval(`document.querySelectorAll('#timeline tr.event').length`, &events); err != nil {
		t.Fatal(err)
	}
	t.Logf("dossier %s: %d timeline events", id, events)
	shot("dossier.png", true)

	// 3. Quarantine: the refused dossiers are listed; once the catalogue is
	// whole again, one is replayed from the console and reaches the portal.
	type entry struct {
		ID        int64  `json:"id"`
		DossierID string `json:"dossier_id"`
		Version   int64  `json:"version"`
		State     string `json:"state"`
	}
	var refused []entry
	deadline := time.Now().Add(3 * time.Minute)
	for len(refused) == 0 {
		var res struct {
			Items []entry `json:"items"`
		}
		dev.api(t, "GET", "/api/dlq?field="+url.QueryEscape("national:21"), &res)
		refused = res.Items
		if time.Now().After(deadline) {
			t.Fatalf("no dossier refused for the missing procedure %s within 3 minutes", missing)
		}
		time.Sleep(time.Second)
	}
	dev.putJSON(t, dev.urls["national"]+"/_sim/catalog", catalog)
	target := refused[0]
	run("open the quarantine", chromedp.Navigate(dev.base+"/console/#/quarantine"), chromedp.WaitVisible(chromedp.CSS(`#q-field`)),
		chromedp.SendKeys(chromedp.CSS(`#q-field`), "national:21"), chromedp.Click(chromedp.CSS(`#q-apply`)))
	row := fmt.Sprintf(`#quarantine tr[data-id="%d"]`, target.ID)
	run("open entry", chromedp.WaitVisible(chromedp.CSS(row)), chromedp.Click(chromedp.CSS(row)))
	waitJS("the entry's reason and payload", `document.querySelector('#q-reason-text').textContent.includes("21") &&
		document.querySelector('#q-payload').textContent.includes(`+jsString(target.DossierID)+`)`, 30*time.Second)
	run("replay", chromedp.Click(chromedp.CSS(`#q-replay`)))
	waitJS("the replay's confirmation", `/replay/i.test(document.querySelector('#q-message').textContent)`, 30*time.Second)
	if err := eval(`(window.scrollTo(0, 0), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	shot("quarantine.png", false)

	// 4. Level 4: payments and deliveries load (a row each, or the empty
	// line, and no error).
	run("open level 4", chromedp.Navigate(dev.base+"/console/#/level4"))
	waitJS("the level-4 tables", `["payments", "stale-payments", "deliveries", "problems"].every(id => {
		const rows = document.querySelectorAll('#' + id + ' tbody tr');
		return rows.length > 0 && !document.querySelector('#' + id + ' td.error');
	}) && /\d/.test(document.querySelector('#level4-updated').textContent)`, time.Minute)
	shot("level4.png", true)

	var after entry
	dev.api(t, "GET", fmt.Sprintf("/api/dlq/%d", target.ID), &after)
	if after.State != "replayed" {
		t.Errorf("entry %d after the console's replay: state %q; want replayed", target.ID, after.State)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		var d struct {
			Targets struct {
				National struct {
					State   string `json:"state"`
					Version int64  `json:"version"`
				} `json:"national"`
			} `json:"targets"`
		}
		dev.api(t, "GET", "/api/dossiers/"+url.PathEscape(target.DossierID), &d)
		if d.Targets.National.State == "held" && d.Targets.National.Version >= target.Version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed dossier %s (version %d) not at the national portal: %+v", target.DossierID, target.Version, d.Targets.National)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var audit struct {
		Items []struct {
			Action, Target, Outcome string
		} `json:"items"`
	}
	dev.api(t, "GET", "/api/audit", &audit)
	found := false
	for _, a := range audit.Items {
		found = found || a.Action == "quarantine.replay" && a.Target == fmt.Sprintf("entry %d", target.ID) && a.Outcome == "ok"
	}
	if !found {
		t.Errorf("the console's replay of entry %d is not in the audit log: %+v", target.ID, audit.Items)
	}

	dev.stop(t)
	checkNoPersonalData(t, filepath.Join(dev.dir, "hub.log"))
}

// browser is the Chromium to drive; without one the test is skipped, unless
// LIENTHONG_REQUIRE_BROWSER is set (as CI sets it).
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LIENTHONG_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found (apt-get install chromium)")
	}
	t.Skip("no Chromium found (apt-get install chromium); set LIENTHONG_REQUIRE_BROWSER to make this a failure")
	return ""
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// devProcess is `hub dev` running as its own process on free ports.
type devProcess struct {
	cmd    *exec.Cmd
	dir    string
	base   string // the hub's HTTP
	urls   map[string]string
	token  string
	out    *bytes.Buffer
	exited chan error
	done   bool
}

func startDev(t *testing.T) *devProcess {
	t.Helper()
	bin := buildHub(t)
	dir := t.TempDir()
	flags := []string{"dev", "--data", dir, "--initial", "60", "--trickle", "8", "--every", "2s", "--malformed", "0.02"}
	urls := map[string]string{}
	for _, name := range []string{"kafka", "sonla", "laichau", "thainguyen", "hatinh", "nghean", "national", "payment", "vnpost", "sms", "mail", "smtp", "http"} {
		addr := freeAddr(t)
		flags = append(flags, "--"+name, addr)
		urls[name] = "http://" + addr
	}
	p := &devProcess{dir: dir, base: urls["http"], urls: urls, out: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, flags...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &lockedWriter{w: p.out}, &lockedWriter{w: p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "operator.token")); err == nil && len(b) > 0 {
			if resp, err := http.Get(p.base + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					p.token = strings.TrimSpace(string(b))
					return p
				}
			}
		}
		select {
		case err := <-p.exited:
			p.done = true
			t.Fatalf("hub dev exited: %v\n%s", err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub dev not ready within a minute:\n%s", p.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop interrupts hub dev as Ctrl-C would, and waits for it.
func (p *devProcess) stop(t *testing.T) {
	if p.done {
		return
	}
	p.done = true
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("hub dev did not stop within 30 s of Ctrl-C")
	}
}

// api calls the hub's operator API with the dev token.
func (p *devProcess) api(t *testing.T, method, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (p *devProcess) putJSON(t *testing.T, u string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT %s: HTTP %d %s", u, resp.StatusCode, body)
	}
}

// lockedWriter lets the process's stdout and stderr share one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := devenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
