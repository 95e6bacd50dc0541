// Package console is the operators' web console: a single page, written by
// hand in plain HTML, CSS and JavaScript, embedded in the hub's binary and
// served by the hub itself, so that it works offline (no CDN, no build step).
// It talks only to the hub's /api/… endpoints, with the operator's API token.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Prefix is where the hub mounts Handler.
const Prefix = "/console/"

// CSP admits nothing but the hub's own assets: no inline script or style, no
// other origin. The console escapes what it shows, and this is the second
// line of defence should it ever not.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"

//go:embed web/index.html web/i18n.js web/app.js web/style.css
var web embed.FS

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets by their path under Prefix; "" is the page itself.
var assets = func() map[string]asset {
	m := map[string]asset{}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"i18n.js":    "text/javascript; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"style.css":  "text/css; charset=utf-8",
	} {
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			panic("console: embedded asset missing: " + err.Error())
		}
		sum := sha256.Sum256(b)
		m[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	m[""] = m["index.html"]
	return m
}()

// Handler serves the console under Prefix: GET /console/ is the page, and
// /console/i18n.js (its texts in Vietnamese and English), /console/app.js
// and /console/style.css its scripts and style sheet. Any
// other path is 404. It needs no token: the page asks for one and sends it
// with every API call.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// no-cache: the browser revalidates (by ETag) so a new hub's console is
	// never mixed with an old cached script.
	h.Set("Cache-Control", "no-cache")

	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	// Mounted with or without http.StripPrefix: both are accepted.
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	name = strings.TrimPrefix(name, "/")
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// ServeContent answers HEAD, If-None-Match and ranges; the modification
	// time is unknown (the assets are compiled in), so only the ETag counts.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
