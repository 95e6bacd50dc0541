package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/lienthong/lienthong/sim/devenv"
)

// TestConsole drives the operator console in headless Chromium against
// `hub dev` (the binary, with its embedded broker, store and simulators):
// the overview shows the three provinces syncing, a dossier found by MaHoSo
// shows its timeline, the quarantine list is paged and sorted by the hub,
// the on-time report shows this month, the CSV buttons of the quarantine,
// the audit log and the on-time report save files as the API exports them,
// and a record the national portal refused is replayed from the quarantine
// page once the cause is fixed, and reaches the portal. The console starts
// in Vietnamese (no English label left on the overview, quarantine and
// on-time pages), then is switched to English, which it remembers across a
// reload.
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

	// Drift at the national portal, for the reconciliation page: planted
	// now, so that the background sweep has found it when the page opens.
	planted := plantDrift(t, dev, missing)

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
	// Downloads are saved under the names the console gives them.
	downloads := t.TempDir()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	})); err != nil {
		t.Fatalf("allow downloads: %v", err)
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
				_ = eval(`(window.__missing ? 'missing: ' + JSON.stringify(window.__missing) + ', left: ' + JSON.stringify(window.__left) + '\n' : '') + document.body.innerText`, &page)
				t.Fatalf("%s: not within %s; the page says:\n%.1500s", what, limit, page)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// download clicks the button sel and returns the CSV it saved as name
	// (removed then, so that the next one takes the name again), after
	// checking it starts with the UTF-8 BOM and the header row.
	download := func(sel, name string, header string) [][]string {
		t.Helper()
		if err := eval(`(document.querySelector(`+jsString(sel)+`).click(), true)`, new(bool)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(downloads, name)
		deadline := time.Now().Add(30 * time.Second)
		var b []byte
		for {
			var err error
			if b, err = os.ReadFile(path); err == nil && len(b) > 0 {
				break
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(downloads)
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				var page string
				_ = eval(`document.body.innerText`, &page)
				t.Fatalf("%s saved no %s within 30 s (the download directory holds %q); the page says:\n%.1500s", sel, name, names, page)
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // written whole: the browser renames the file once it has all of it
		b, _ = os.ReadFile(path)
		_ = os.Remove(path)
		rest, ok := bytes.CutPrefix(b, []byte("\xEF\xBB\xBF"))
		if !ok || !bytes.HasPrefix(rest, []byte(header+"\r\n")) {
			t.Fatalf("%s saved %s: %.200q; want the UTF-8 BOM, then %q", sel, name, b, header)
		}
		rows, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
		if err != nil {
			t.Fatalf("%s saved %s: %v", sel, name, err)
		}
		return rows
	}

	// labels waits until the visible text of the elements sel selects holds
	// every string of present and none of absent (as a word when it is
	// ASCII): the page is in one language.
	labels := func(what, sel string, present, absent []string) {
		t.Helper()
		b1, _ := json.Marshal(present)
		b2, _ := json.Marshal(absent)
		waitJS(what, `(() => {
			const text = [...document.querySelectorAll(`+jsString(sel)+`)].map(e => e.innerText).join('\n');
			const has = (s) => /^[\x20-\x7e]+$/.test(s)
				? new RegExp('(^|[^A-Za-z])' + s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '($|[^A-Za-z])').test(text)
				: text.includes(s);
			window.__missing = `+string(b1)+`.filter(s => !has(s));
			window.__left = `+string(b2)+`.filter(has);
			return window.__missing.length === 0 && window.__left.length === 0;
		})()`, 30*time.Second)
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
		return !!r && !!r.querySelector('.badge[data-state="alive"]') && r.textContent.includes('poller:sonla') && r.textContent.includes('canonical:');
	})()`, 30*time.Second)
	// In Vietnamese by default: no English label is left.
	var htmlLang string
	if err := eval(`document.documentElement.lang`, &htmlLang); err != nil || htmlLang != "vi" {
		t.Errorf("<html lang> %q (%v), want vi by default", htmlLang, err)
	}
	labels("the overview in Vietnamese", "body",
		[]string{"Tổng quan", "Hồ sơ", "Cách ly", "Nguồn dữ liệu (các tỉnh)", "Độ trễ", "Lần thành công gần nhất", "Hồ sơ/phút", "Đăng xuất", "Thông lượng"},
		overviewEnglish)
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
	// More entries than a page (25) holds, so that the list has pages.
	var refused []entry
	deadline := time.Now().Add(3 * time.Minute)
	for total := 0; len(refused) == 0 || total <= 25; {
		var res, all struct {
			Items []entry `json:"items"`
		}
		dev.api(t, "GET", "/api/dlq?field="+url.QueryEscape("national:21"), &res)
		dev.api(t, "GET", "/api/dlq?state=all&limit=1000", &all)
		refused, total = res.Items, len(all.Items)
		if time.Now().After(deadline) {
			t.Fatalf("within 3 minutes, %d dossiers refused for the missing procedure %s and %d quarantined entries in all; want some and over 25", len(refused), missing, total)
		}
		time.Sleep(time.Second)
	}
	dev.putJSON(t, dev.urls["national"]+"/_sim/catalog", catalog)

	// The whole list, in pages of at most 25, sortable by its headers.
	run("open the quarantine, every state", chromedp.Navigate(dev.base+"/console/#/quarantine"), chromedp.WaitVisible(chromedp.CSS(`#q-state`)))
	if err := eval(`(() => { const s = document.querySelector('#q-state'); s.value = 'all'; document.querySelector('#q-apply').click(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the quarantine's first page", `(() => {
		const nav = document.querySelector('#q-page').parentElement;
		return !nav.hidden && +nav.getAttribute('data-pages') >= 2 && nav.getAttribute('data-page') === '1' &&
			/^Trang 1\/\d+ · mục 1–25 trên \d+$/.test(document.querySelector('#q-page').textContent) &&
			document.querySelectorAll('#quarantine tbody tr[data-id]').length === 25;
	})()`, 30*time.Second)
	labels("the quarantine in Vietnamese", "header, #view-quarantine h2, #q-filters, #quarantine thead, #view-quarantine .pager",
		[]string{"Hàng chờ xử lý lỗi (cách ly)", "Nguồn", "Lý do", "Trạng thái", "Lọc", "Trang sau ›", "‹ Trang trước"},
		quarantineEnglish)
	ids := func() []int64 {
		t.Helper()
		var out []int64
		if err := eval(`[...document.querySelectorAll('#quarantine tbody tr[data-id]')].map(tr => +tr.getAttribute('data-id'))`, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := ids()
	if err := eval(`(document.querySelector('#q-next').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the quarantine's second page", `document.querySelector('#q-page').parentElement.getAttribute('data-page') === '2'`, 10*time.Second)
	second := ids()
	if len(second) == 0 || len(second) > 25 || second[0] <= first[len(first)-1] {
		t.Errorf("quarantine pages by ID: page 1 %v, page 2 %v; want page 2 (1–25 rows) after page 1", first, second)
	}
	var pageLabel string
	_ = eval(`document.querySelector('#q-page').textContent`, &pageLabel)
	t.Logf("quarantine: page 1 ids %d–%d, page 2 ids %d–%d (%s)", first[0], first[len(first)-1], second[0], second[len(second)-1], pageLabel)
	// Sorting by ID again, descending: the first page starts with the newest.
	if err := eval(`(document.querySelector('#quarantine th button.sort[data-col="0"]').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the quarantine sorted by ID, descending", `document.querySelector('#quarantine th[aria-sort="descending"] button[data-col="0"]') !== null &&
		document.querySelector('#q-page').parentElement.getAttribute('data-page') === '1'`, 10*time.Second)
	desc := ids()
	for i := 1; i < len(desc); i++ {
		if desc[i] >= desc[i-1] {
			t.Errorf("sorted by ID descending, the rows are %v", desc)
			break
		}
	}
	if len(desc) > 0 && desc[0] <= second[len(second)-1] {
		t.Errorf("sorted by ID descending, page 1 starts with %d, not after %d", desc[0], second[len(second)-1])
	}
	// By source: the source column reads in order.
	if err := eval(`(document.querySelector('#quarantine th button.sort[data-col="2"]').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the quarantine sorted by source", `(() => {
		if (!document.querySelector('#quarantine th[aria-sort="ascending"] button[data-col="2"]')) return false;
		const s = [...document.querySelectorAll('#quarantine tbody tr[data-id] td:nth-child(3)')].map(td => td.textContent);
		return s.length > 0 && s.every((x, i) => i === 0 || s[i-1].localeCompare(x, 'vi') <= 0);
	})()`, 10*time.Second)
	shot("quarantine-vi.png", true)
	// Its CSV: every page of the list as shown, every state, by source.
	var pageLabel1 string
	_ = eval(`document.querySelector('#q-page').textContent`, &pageLabel1)
	var listed int // the total, its thousands grouped with dots in Vietnamese
	_, _ = fmt.Sscanf(strings.ReplaceAll(pageLabel1[strings.LastIndex(pageLabel1, " ")+1:], ".", ""), "%d", &listed)
	rows := download("#q-csv", "quarantine.csv", "id,source,province,dossier_id,version,field,reason,format,state,at")
	for i := 2; i < len(rows); i++ {
		if rows[i-1][1] > rows[i][1] {
			t.Errorf("the quarantine's CSV is not sorted by source, as the list is: %q before %q", rows[i-1], rows[i])
			break
		}
	}
	if len(rows)-1 < listed || listed <= 25 {
		t.Errorf("the quarantine's CSV has %d entries; the list (%q) %d", len(rows)-1, pageLabel1, listed)
	}
	// Replaying all that match asks first, counting the open entries the
	// hub has for the filters (not the page's).
	if err := eval(`(document.querySelector('#q-replay-all').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the bulk replay's question with the count", `!document.querySelector('#q-confirm').hidden &&
		/Có \d+ mục đang cách ly khớp bộ lọc\.$/.test(document.querySelector('#q-confirm-text').textContent)`, 10*time.Second)
	if err := eval(`(document.querySelector('#q-replay-all-cancel').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	// The audit log's, for this national token.
	labels("the audit log's export in Vietnamese", "#audit-export", []string{"Nhật ký thao tác", "Từ ngày", "Đến ngày", "Tải CSV"},
		[]string{"Audit log", "From", "To", "Download CSV"})
	download("#au-csv", "audit.csv", "id,at,token_id,role,province,action,target,detail,outcome")

	// The on-time report: this month's, as the API answers it, in
	// Vietnamese, and its CSV.
	var report struct {
		Period string `json:"period"`
	}
	dev.api(t, "GET", "/api/ontime", &report)
	run("open the on-time report", chromedp.Navigate(dev.base+"/console/#/ontime"), chromedp.WaitVisible(chromedp.CSS(`#ot-period`)))
	waitJS("the on-time report of this month", `document.querySelector('#ot-period').value === `+jsString(report.Period)+` &&
		(document.querySelectorAll('#ontime tbody tr[data-source]').length > 0 || !!document.querySelector('#ontime tbody tr.empty')) &&
		/^.+: \d+ hồ sơ đến hạn · \d+ đúng hạn · \d+ trễ hạn · \d+ quá hạn · \d+ chưa đến hạn$/.test(document.querySelector('#ot-totals').textContent)`, 30*time.Second)
	labels("the on-time report in Vietnamese", "header, #view-ontime",
		[]string{"Báo cáo giải quyết hồ sơ đúng hạn", "Kỳ báo cáo", "Nguồn", "Thủ tục (mã TTHC)", "Đến hạn trong kỳ", "Đúng hạn",
			"Trễ hạn", "Quá hạn", "Chưa đến hạn", "Tải CSV"},
		ontimeEnglish)
	var onTimeRows int
	_ = eval(`document.querySelectorAll('#ontime tbody tr[data-source]').length`, &onTimeRows)
	rows = download("#ot-csv", "ontime-"+report.Period+".csv", "period,source,label,province,procedure,due,on_time,late,overdue_now,open")
	if len(rows)-1 < onTimeRows {
		t.Errorf("the on-time report's CSV has %d rows; the page shows %d", len(rows)-1, onTimeRows)
	}
	for _, r := range rows[1:] {
		if r[0] != report.Period {
			t.Errorf("the on-time report's CSV has a row of another period: %q", r)
		}
	}
	t.Logf("on-time report %s: %d rows on the page, %d in the CSV", report.Period, onTimeRows, len(rows)-1)
	shot("ontime.png", true)

	// The reconciliation page: the planted drift, by kind, in Vietnamese.
	waitDrift(t, dev, planted, 3*time.Minute)
	checkDevCommands(t, dev, planted)
	run("open the reconciliation page", chromedp.Navigate(dev.base+"/console/#/drift"), chromedp.WaitVisible(chromedp.CSS(`#dr-kind`)))
	// pickDrift filters the list by kind (and state) as an operator would.
	pickDrift := func(kind, state string) {
		t.Helper()
		if err := eval(`(() => { document.querySelector('#dr-state').value = `+jsString(state)+`;
			const k = document.querySelector('#dr-kind'); k.value = `+jsString(kind)+`; k.dispatchEvent(new Event('change')); return true; })()`, new(bool)); err != nil {
			t.Fatal(err)
		}
	}
	driftRow := func(id, kind, label string) string {
		return `(() => { const tr = document.querySelector('#drift tr[data-id=' + ` + jsString(jsString(id)) + ` + ']');
			return !!tr && tr.getAttribute('data-kind') === ` + jsString(kind) + ` && tr.children[2].textContent === ` + jsString(label) + ` &&
				!!tr.querySelector('a[href="#/dossier/` + url.PathEscape(id) + `"]'); })()`
	}
	for id, kind := range planted {
		pickDrift(kind, "")
		waitJS("the planted "+kind+" drift of "+id+" in Vietnamese", driftRow(id, kind, driftVietnamese[kind]), 30*time.Second)
	}
	waitJS("the summary per source", `document.querySelectorAll('#drift-summary tbody tr[data-source]').length === 5 &&
		[...document.querySelectorAll('#drift-summary tbody td[data-kind]')].some(td => td.textContent !== '0')`, 10*time.Second)
	labels("the reconciliation page in Vietnamese", "header, #view-drift h2, #view-drift h3, #dr-filters, #drift thead, #drift-summary thead, #dr-csv",
		[]string{"Đối soát", "Đối soát với Cổng Dịch vụ công quốc gia", "Hồ sơ lệch chưa khắc phục theo nguồn", "Thiếu ở Cổng quốc gia",
			"Trạng thái cũ hơn", "Trường dữ liệu khác", "Cổng quốc gia có, hub không ghi nhận", "Đồng bộ lại tất cả hồ sơ theo bộ lọc…",
			"Phát hiện lúc", "Tải CSV"},
		driftEnglish)
	shot("drift-vi.png", true)
	// Resyncing all that the filter shows asks first, with the count of
	// open drift the hub has for it.
	var openOfKind struct {
		Total int `json:"total"`
	}
	dev.api(t, "GET", "/api/drift?state=open&limit=1&kind=field_differs", &openOfKind)
	pickDrift("field_differs", "")
	if err := eval(`(document.querySelector('#dr-resync-all').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the bulk resync's question with the count", `!document.querySelector('#dr-confirm').hidden &&
		document.querySelector('#dr-confirm').getAttribute('data-count') === `+jsString(fmt.Sprint(openOfKind.Total))+` &&
		/^Đồng bộ lại \d+ hồ sơ lệch chưa xử lý có loại = “Trường dữ liệu khác”\?/.test(document.querySelector('#dr-confirm-text').textContent)`, 10*time.Second)
	if err := eval(`(document.querySelector('#dr-resync-all-cancel').click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	// Its CSV: every state, every kind, with the planted rows.
	pickDrift("", "all")
	rows = download("#dr-csv", "drift.csv", "dossier_id,source,province,kind,fields,detail,found_at,checked_at,state,resynced_at")
	inCSV := map[string]string{}
	for _, r := range rows[1:] {
		inCSV[r[0]] = r[3]
	}
	for id, kind := range planted {
		if inCSV[id] != kind {
			t.Errorf("the drift CSV has %s as %q; want %s", id, inCSV[id], kind)
		}
	}

	// English, picked in the header and remembered across a reload.
	if err := eval(`(() => { const s = document.querySelector('#lang'); s.value = 'en'; s.dispatchEvent(new Event('change')); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	labels("the quarantine in English", "header, #view-quarantine h2, #q-filters, #quarantine thead, #view-quarantine .pager",
		[]string{"Quarantine", "Source", "Reason", "State", "Apply", "Next ›", "‹ Previous", "Page 1 of"},
		[]string{"Hàng chờ xử lý lỗi", "Lý do", "Trang sau", "Đăng xuất", "Tổng quan"})
	if err := eval(`(location.reload(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	run("the overview after a reload", chromedp.WaitVisible(chromedp.CSS(`#whoami`)), chromedp.Navigate(dev.base+"/console/#/overview"))
	waitJS("English remembered", `document.documentElement.lang === 'en' && document.querySelector('#lang').value === 'en'`, 30*time.Second)
	labels("the overview in English", "body",
		[]string{"Overview", "Dossier", "Quarantine", "Sources", "Lag", "Last success", "Dossiers/min", "Log out", "Throughput"},
		[]string{"Tổng quan", "Nguồn dữ liệu", "Độ trễ", "Lần thành công gần nhất", "Hồ sơ/phút", "Đăng xuất", "Thông lượng"})
	waitJS("the overview's rows in English", `!!document.querySelector('#sources tr[data-source="sonla"] td.per-minute') &&
		/ago|never/.test(document.querySelector('#sources tr[data-source="sonla"] td.last-success').textContent)`, 30*time.Second)
	shot("overview-en.png", false)
	run("open the on-time report in English", chromedp.Navigate(dev.base+"/console/#/ontime"), chromedp.WaitVisible(chromedp.CSS(`#ot-period`)))
	labels("the on-time report in English", "header, #view-ontime",
		[]string{"On-time report (SLA)", "Period", "Source", "Procedure (MaTTHC)", "Due", "On time", "Late", "Overdue now",
			"Open (not yet due)", "Download CSV", "overdue now"},
		[]string{"Báo cáo giải quyết", "Kỳ báo cáo", "Nguồn", "Thủ tục", "Đến hạn trong kỳ", "Trễ hạn", "Quá hạn", "Chưa đến hạn", "Tải CSV", "Đăng xuất"})
	shot("ontime-en.png", false)

	// The reconciliation page in English; one drifted dossier resynced
	// from its row.
	run("open the reconciliation page in English", chromedp.Navigate(dev.base+"/console/#/drift"), chromedp.WaitVisible(chromedp.CSS(`#dr-kind`)))
	for id, kind := range planted {
		pickDrift(kind, "")
		waitJS("the planted "+kind+" drift of "+id+" in English", driftRow(id, kind, driftEnglishKinds[kind]), 30*time.Second)
	}
	labels("the reconciliation page in English", "header, #view-drift h2, #view-drift h3, #dr-filters, #drift thead, #drift-summary thead, #dr-csv",
		[]string{"Reconciliation", "Reconciliation with the national portal", "Drift not resolved, per source", "Missing at the national portal",
			"Older status", "Fields differ", "Held nationally, unknown to the hub", "Resync all shown by the filter…", "Found", "Download CSV"},
		[]string{"Đối soát", "Thiếu ở Cổng quốc gia", "Trạng thái cũ hơn", "Trường dữ liệu khác", "Đồng bộ lại", "Phát hiện lúc", "Tải CSV"})
	var resynced string
	for id, kind := range planted {
		if kind == "field_differs" {
			resynced = id
		}
	}
	pickDrift("field_differs", "")
	sel := `#drift tr[data-id=` + jsString(resynced) + `] button[data-resync]`
	waitJS("the Resync button of "+resynced, `(() => { const b = document.querySelector(`+jsString(sel)+`); return !!b && b.textContent === 'Resync'; })()`, 10*time.Second)
	if err := eval(`(document.querySelector(`+jsString(sel)+`).click(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitJS("the resync of "+resynced+" on the page", `document.querySelector('#dr-message').textContent === `+jsString("Dossier "+resynced+" sent to be resynced.")+` && (() => {
		const tr = document.querySelector('#drift tr[data-id=' + `+jsString(jsString(resynced))+` + ']');
		return !tr || (tr.getAttribute('data-state') === 'resyncing' && !tr.querySelector('button[data-resync]'));
	})()`, 30*time.Second)
	var driftAfter struct {
		Items []struct {
			DossierID string `json:"dossier_id"`
			State     string `json:"state"`
		} `json:"items"`
	}
	dev.api(t, "GET", "/api/drift?state=all&kind=field_differs&limit=1000", &driftAfter)
	for _, d := range driftAfter.Items {
		if d.DossierID == resynced && d.State != "resyncing" && d.State != "resolved" {
			t.Errorf("drift of %s after the console's resync: state %q; want resyncing or resolved", resynced, d.State)
		}
	}
	shot("drift-en.png", false)
	target := refused[0]
	run("open the quarantine", chromedp.Navigate(dev.base+"/console/#/quarantine"), chromedp.WaitVisible(chromedp.CSS(`#q-field`)),
		chromedp.SendKeys(chromedp.CSS(`#q-field`), "national:21"), chromedp.Click(chromedp.CSS(`#q-apply`)))
	row := fmt.Sprintf(`#quarantine tr[data-id="%d"]`, target.ID)
	run("open entry", chromedp.WaitVisible(chromedp.CSS(row)), chromedp.Click(chromedp.CSS(row)))
	waitJS("the entry's reason and payload", `document.querySelector('#q-reason-text').textContent.includes("21") &&
		document.querySelector('#q-payload').textContent.includes(`+jsString(target.DossierID)+`)`, 30*time.Second)
	run("replay", chromedp.Click(chromedp.CSS(`#q-replay`)))
	waitJS("the replay's confirmation", `/replayed/i.test(document.querySelector('#q-message').textContent)`, 30*time.Second)
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
	// Long lists are paged there too, 25 rows at the most, with sortable headers.
	waitJS("the level-4 lists paged", `["payments", "stale-payments", "deliveries", "problems"].every(id =>
		document.querySelectorAll('#' + id + ' tbody tr').length <= 25 && !!document.querySelector('#' + id + '-pager') &&
		!!document.querySelector('#' + id + ' th button.sort'))`, 10*time.Second)
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

// English labels of the overview and the quarantine page, none of which
// may be left when the console is in Vietnamese.
var (
	overviewEnglish = []string{"Overview", "Dossier", "Quarantine", "Level 4", "Sources", "Targets", "Instances", "Lag",
		"Last success", "Dossiers/min", "Open quarantine", "Breaker", "Errors", "Log out", "Updated", "refreshes every",
		"Throughput", "time (Vietnam)", "No data yet", "not called", "alive", "ago"}
	quarantineEnglish = []string{"Quarantine", "Source", "Field", "Reason", "Dossier", "State", "Apply", "Replay all matching",
		"Previous", "Next", "Page", "entries", "open", "replayed", "discarded", "all", "Log out", "Click to sort", "Download CSV"}
	ontimeEnglish = []string{"On-time report", "On time", "Period", "Source", "Procedure", "Due", "Late", "Overdue now",
		"Not yet due", "Download CSV", "Months", "Quarters", "Log out", "No dossier is due"}
)

// The kinds of drift as the reconciliation page names them, and English
// labels of the page, none of which may be left in Vietnamese.
var (
	driftVietnamese = map[string]string{"missing_at_national": "Thiếu ở Cổng quốc gia", "older_status": "Trạng thái cũ hơn",
		"field_differs": "Trường dữ liệu khác", "unknown_to_hub": "Cổng quốc gia có, hub không ghi nhận"}
	driftEnglishKinds = map[string]string{"missing_at_national": "Missing at the national portal", "older_status": "Older status",
		"field_differs": "Fields differ", "unknown_to_hub": "Held nationally, unknown to the hub"}
	driftEnglish = []string{"Reconciliation", "Missing at the national portal", "Older status", "Fields differ", "Resync", "Found",
		"Last checked", "Action", "Source", "Kind", "Total", "Download CSV", "all", "not resolved", "Log out"}
)

// plantDrift makes the national simulator lose one dossier, hold another
// at another status and a third with another summary: three at a final
// status with nothing to follow (3 refused or 7 withdrawn: no fees, no
// delivery, so nothing the hub does will send them again; a dossier merely
// unchanged for a while may still move on, and its next version would
// repair the drift before the sweep finds it), held unchanged for 20 s, of
// three sources, not drifted already, nor of the procedure the catalogue
// lost (a newer version refused would make them older_status). It returns
// the kind of drift each should be found with.
func plantDrift(t *testing.T, dev *devProcess, lostProcedure string) map[string]string {
	t.Helper()
	nat := dev.urls["national"]
	deadline := time.Now().Add(time.Minute)
	for {
		var page struct {
			Items []struct {
				MaHoSo  string    `json:"MaHoSo"`
				DstCode string    `json:"dstcode"`
				Updated time.Time `json:"updated"`
				HoSo    struct {
					Status    json.RawMessage `json:"TrangThaiHoSo"`
					Procedure string          `json:"MaTTHC"`
				} `json:"HOSO"`
			} `json:"items"`
		}
		getJSON(t, nat+"/_sim/dossiers?limit=1000", &page)
		var drifted struct {
			Items []struct {
				DossierID string `json:"dossier_id"`
			} `json:"items"`
		}
		dev.api(t, "GET", "/api/drift?state=all&limit=1000", &drifted)
		skip := map[string]bool{}
		for _, d := range drifted.Items {
			skip[d.DossierID] = true
		}
		var picked []string
		status := map[string]string{}
		units := map[string]bool{}
		// The first is the dossier page's: left alone.
		for i, d := range page.Items {
			st := strings.Trim(string(d.HoSo.Status), `"`)
			if i == 0 || units[d.DstCode] || skip[d.MaHoSo] || d.HoSo.Procedure == lostProcedure ||
				time.Since(d.Updated) < 20*time.Second || (st != "3" && st != "7") {
				continue
			}
			units[d.DstCode] = true
			status[d.MaHoSo] = st
			if picked = append(picked, d.MaHoSo); len(picked) == 3 {
				break
			}
		}
		if len(picked) == 3 {
			lost, older, changed := picked[0], picked[1], picked[2]
			send(t, "DELETE", nat+"/_sim/dossiers/"+url.PathEscape(lost), nil)
			other := 1
			if status[older] == "1" {
				other = 2
			}
			send(t, "PATCH", nat+"/_sim/dossiers/"+url.PathEscape(older), map[string]any{"TrangThaiHoSo": other})
			send(t, "PATCH", nat+"/_sim/dossiers/"+url.PathEscape(changed), map[string]any{"TrichYeuHoSo": "Trích yếu đã bị sửa ở cổng quốc gia"})
			t.Logf("drift planted: %s lost, %s at status %d (was %s), %s with another summary", lost, older, other, status[older], changed)
			return map[string]string{lost: "missing_at_national", older: "older_status", changed: "field_differs"}
		}
		if time.Now().After(deadline) {
			t.Fatalf("within a minute, %d dossiers of different sources at a final status (3 or 7) held unchanged for 20 s at the national portal; want 3", len(picked))
		}
		time.Sleep(2 * time.Second)
	}
}

// waitDrift waits until the hub's reconciliation has found each planted
// drift with its kind.
func waitDrift(t *testing.T, dev *devProcess, planted map[string]string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		var res struct {
			Items []struct {
				DossierID string `json:"dossier_id"`
				Kind      string `json:"kind"`
			} `json:"items"`
			Total int `json:"total"`
		}
		dev.api(t, "GET", "/api/drift?state=all&limit=1000", &res)
		found := map[string]string{}
		for _, d := range res.Items {
			found[d.DossierID] = d.Kind
		}
		missing := 0
		for id, kind := range planted {
			if found[id] != kind {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("reconciliation found the planted drift within %s of the check (%d drifted dossiers in all)", time.Since(start).Round(time.Second), res.Total)
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("within %s, reconciliation found %d of the %d planted drifts: planted %v, found %d (%v…)", limit, len(planted)-missing, len(planted), planted, res.Total, res.Items[:min(len(res.Items), 10)])
		}
		time.Sleep(time.Second)
	}
}

// checkDevCommands runs the operator commands that call the portals on
// the data directory of the running hub dev: hub reconcile --data finds
// the planted drift (and exits 1 for it), hub check --data logs in to a
// simulated portal and maps its first page.
func checkDevCommands(t *testing.T, dev *devProcess, planted map[string]string) {
	t.Helper()
	cmd := exec.Command(dev.bin, "reconcile", "--data", dev.dir, "--rate", "500")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("hub reconcile --data on the running hub dev: %v; want exit 1 for the drift\n%s", err, out)
	}
	for id, kind := range planted {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\t[a-z]+\t` + kind + `\t`).Match(out) {
			t.Errorf("hub reconcile --data does not list %s as %s:\n%s", id, kind, out)
		}
	}
	out, err = exec.Command(dev.bin, "check", "--data", dev.dir, "--source", "sonla").Output()
	if !errors.As(err, &ee) && err != nil || !bytes.HasPrefix(out, []byte("sonla (rest-json, province 14, ")) || !bytes.Contains(out, []byte("logged in, read ")) {
		t.Errorf("hub check --data --source sonla on the running hub dev: %v\n%s", err, out)
	}
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
	bin    string // the hub binary, for the operator commands
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
	// Reconciliation fast enough for drift planted at the national
	// simulator to be found within a sweep of a minute or so.
	flags := []string{"dev", "--data", dir, "--initial", "60", "--trickle", "8", "--every", "2s", "--malformed", "0.02",
		"--reconcile-rate", "100", "--reconcile-grace", "5s"}
	urls := map[string]string{}
	for _, name := range []string{"kafka", "sonla", "laichau", "thainguyen", "hatinh", "nghean", "national", "payment", "vnpost", "sms", "mail", "smtp", "http"} {
		addr := freeAddr(t)
		flags = append(flags, "--"+name, addr)
		urls[name] = "http://" + addr
	}
	p := &devProcess{bin: bin, dir: dir, base: urls["http"], urls: urls, out: &bytes.Buffer{}, exited: make(chan error, 1)}
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
	send(t, "PUT", u, v)
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
