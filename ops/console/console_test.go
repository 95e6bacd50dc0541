package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The hub mounts the handler at /console/ without stripping the prefix.
func serveConsole(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(Prefix, Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestAssets(t *testing.T) {
	srv := serveConsole(t)
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<input id="token"`},
		{"/console/index.html", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/console/app.js", "text/javascript; charset=utf-8", "Authorization: 'Bearer '"},
		{"/console/i18n.js", "text/javascript; charset=utf-8", "'nav.quarantine': ["},
		{"/console/style.css", "text/css; charset=utf-8", ".series-0"},
	} {
		res, body := get(t, srv.URL+tc.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", tc.path, got, CSP)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tc.path, got)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
}

func TestCSPIsStrict(t *testing.T) {
	want := "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"
	if CSP != want {
		t.Errorf("CSP %q, want %q", CSP, want)
	}
}

// The CSP forbids inline scripts and styles; the page must not need them,
// and data must never reach the DOM as markup.
func TestNoInlineCodeOrMarkupInjection(t *testing.T) {
	page, err := web.ReadFile("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:", "http://", "https://"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	if strings.Count(html, "<script") != 2 || !strings.Contains(html, `<script src="i18n.js" defer></script>`) ||
		!strings.Contains(html, `<meta charset="utf-8">`) {
		t.Errorf("index.html: want two external scripts (i18n.js, app.js) and a UTF-8 meta")
	}
	for _, name := range []string{"app.js", "i18n.js"} {
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			t.Fatal(err)
		}
		js := string(b)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "window.prompt", "window.confirm"} {
			if strings.Contains(js, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		// localStorage keeps the language and nothing else (never the token).
		uses := strings.Count(js, "localStorage")
		lang := strings.Count(js, "localStorage.getItem(LANG_KEY)") + strings.Count(js, "localStorage.setItem(LANG_KEY, lang)")
		if uses != lang {
			t.Errorf("%s uses localStorage %d times, %d of them for the language only", name, uses, lang)
		}
	}
}

// The browser tests find elements by these ids.
func TestStableIDs(t *testing.T) {
	page, _ := web.ReadFile("web/index.html")
	for _, id := range []string{
		"token", "login", "login-error", "whoami", "logout",
		"nav-overview", "nav-dossier", "nav-quarantine", "nav-level4",
		"sources", "targets", "chart-throughput", "chart-lag", "overview-updated",
		"search", "search-go", "search-results", "dossier-summary", "dossier-record", "timeline", "targets-held", "dossier-error",
		"q-source", "q-field", "q-reason", "q-dossier", "q-state", "q-apply", "quarantine", "q-detail", "q-reason-text",
		"q-payload", "q-replay", "q-discard-reason", "q-discard", "q-message", "q-replay-all",
		"payments", "stale-payments", "deliveries", "problems", "lang", "q-prev", "q-next", "q-page",
		"nav-ontime", "ontime", "ot-period", "ot-source", "ot-totals", "ot-csv", "q-csv", "audit-export", "au-csv",
		"nav-drift", "drift", "drift-summary", "dr-source", "dr-kind", "dr-state", "dr-csv", "dr-resync-all", "dr-confirm",
		"dr-confirm-text", "dr-resync-all-confirm", "dr-resync-all-cancel", "dr-message",
	} {
		if n := strings.Count(string(page), ` id="`+id+`"`); n != 1 {
			t.Errorf("index.html has id %q %d times, want once", id, n)
		}
	}
}

func TestNotFound(t *testing.T) {
	srv := serveConsole(t)
	for _, path := range []string{"/console/nope.js", "/console/web/app.js", "/console/app.js/x", "/console/../go.mod"} {
		res, _ := get(t, srv.URL+path)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

func TestMethodsAndCaching(t *testing.T) {
	srv := serveConsole(t)
	res, err := http.Post(srv.URL+"/console/app.js", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/app.js: %d, want 405", res.StatusCode)
	}

	res, _ = get(t, srv.URL+"/console/app.js")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET /console/app.js: no ETag")
	}
	req, _ := http.NewRequest("GET", srv.URL+"/console/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating app.js: %d, want 304", res.StatusCode)
	}
}

// Mounted under http.StripPrefix the handler serves the same.
func TestStripped(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("/console", Handler()))
	defer srv.Close()
	res, body := get(t, srv.URL+"/console/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="token"`) {
		t.Errorf("GET /console/ behind StripPrefix: %d", res.StatusCode)
	}
}
