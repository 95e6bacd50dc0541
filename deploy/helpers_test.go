package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
)

// repoRoot is the repository's root, seen from this package's directory.
const repoRoot = ".."

// hubStopBound is how long the hub may take to stop on SIGTERM: ten seconds
// for the router (e2e/crash_test.go's bound) plus the five hub.startHTTP
// gives its HTTP server. Supervisors must wait longer before SIGKILL.
const hubStopBound = 15 * time.Second

// benchPeakRSS is the peak RSS of `hub bench` (README, "Tests and
// benchmarks": 223-248 MB in the table) with a margin for runs that peak
// higher: every memory request and limit must be above it.
const benchPeakRSS = 280 << 20

// decodeYAML decodes every document of a YAML file.
func decodeYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeInto decodes a single-document YAML file into v.
func decodeInto(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestEveryFileParses parses every YAML and JSON file under deploy/ (each
// document of a multi-document file).
func TestEveryFileParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			if len(decodeYAML(t, path)) == 0 {
				t.Errorf("%s: no YAML document", path)
			}
		case ".json":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		default:
			return nil
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no YAML or JSON file under deploy/")
	}
}

// envRefs are the names a configuration file takes from the environment,
// as hub.LoadConfig expands them.
func envRefs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	os.Expand(string(raw), func(name string) string {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return ""
	})
	slices.Sort(names)
	return names
}

// loadHubConfig loads a hub configuration with hub.LoadConfig, its ${NAME}
// references set from env alone: a reference env does not provide is an
// error here, whatever the test process's own environment holds.
func loadHubConfig(t *testing.T, path string, env map[string]string) (hub.Config, error) {
	t.Helper()
	for _, name := range envRefs(t, path) {
		v, ok := env[name]
		if !ok {
			t.Errorf("%s: ${%s} is set by nothing that runs the hub", path, name)
			continue
		}
		t.Setenv(name, v)
	}
	return hub.LoadConfig(path)
}

// mustLoadHubConfig is loadHubConfig, failing the test on an error.
func mustLoadHubConfig(t *testing.T, path string, env map[string]string) hub.Config {
	t.Helper()
	cfg, err := loadHubConfig(t, path, env)
	if err != nil {
		t.Fatalf("hub.LoadConfig(%s): %v", path, err)
	}
	return cfg
}

// listenPort is the port of the hub's http.listen.
func listenPort(t *testing.T, cfg hub.Config) string {
	t.Helper()
	_, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || port == "" {
		t.Fatalf("http.listen %q: want host:port (%v)", cfg.HTTP.Listen, err)
	}
	return port
}

// urlHostPort is the host and port of an http(s) URL, the port defaulted
// from the scheme.
func urlHostPort(t *testing.T, raw string) (host, port string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("URL %q: %v", raw, err)
	}
	port = u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Hostname(), port
}

// splitHostPort is net.SplitHostPort, failing the test on an error.
func splitHostPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return host, port
}

// readEnvFile reads NAME=value lines (blank lines and # comments skipped),
// as docker compose's env_file and systemd's EnvironmentFile take them.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q: want NAME=value", path, line)
		}
		out[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// simFlag is one of portalsim's flags: the environment variable that
// overrides its default, and the default.
type simFlag struct{ env, value string }

// portalsimFlags reads portalsim's string flags and their defaults from
// cmd/portalsim/main.go: each fs.StringVar(&x, "name", env("VAR", default),
// …) or fs.StringVar(&x, "name", default, …) in parseFlags. Parsing the
// source keeps these tests on what portalsim really does without running it.
func portalsimFlags(t *testing.T) map[string]simFlag {
	t.Helper()
	path := filepath.Join(repoRoot, "cmd", "portalsim", "main.go")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	str := func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		}
		return "", false
	}
	flags := map[string]simFlag{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "StringVar" {
			return true
		}
		name, ok := str(call.Args[1])
		if !ok {
			return true
		}
		if v, ok := str(call.Args[2]); ok {
			flags[name] = simFlag{value: v}
		} else if env, ok := call.Args[2].(*ast.CallExpr); ok && len(env.Args) == 2 {
			if fn, ok := env.Fun.(*ast.Ident); ok && fn.Name == "env" {
				e, ok1 := str(env.Args[0])
				v, ok2 := str(env.Args[1])
				if ok1 && ok2 {
					flags[name] = simFlag{env: e, value: v}
				}
			}
		}
		return true
	})
	for _, want := range []string{"sonla-addr", "national-addr", "payment-callback", "payment-partners", "smtp-addr"} {
		if _, ok := flags[want]; !ok {
			t.Fatalf("%s: flag -%s not found; this test reads fs.StringVar(&x, name, env(VAR, default), …)", path, want)
		}
	}
	return flags
}

// simValue is a portalsim flag's value when it runs with env (its
// environment, nil for none) and no flags.
func simValue(flags map[string]simFlag, name string, env map[string]string) string {
	f := flags[name]
	if v, ok := env[f.env]; ok && f.env != "" {
		return v
	}
	return f.value
}

// checkAgainstPortalsim checks that cfg's endpoints are portalsim's
// simulators and its credentials theirs. addr maps a portalsim address flag
// (sonla-addr…) to the host:port the hub must use to reach it; env is
// portalsim's environment.
func checkAgainstPortalsim(t *testing.T, cfg hub.Config, env map[string]string, addr func(flag string) string) {
	t.Helper()
	flags := portalsimFlags(t)
	val := func(name string) string { return simValue(flags, name, env) }
	sameURL := func(what, raw, flag string) {
		t.Helper()
		h, p := urlHostPort(t, raw)
		if got, want := net.JoinHostPort(h, p), addr(flag); got != want {
			t.Errorf("%s %s: reaches %s; portalsim's -%s is reached at %s", what, raw, got, flag, want)
		}
	}
	same := func(what, got, flag string) {
		t.Helper()
		if want := val(flag); got != want {
			t.Errorf("%s = %q; portalsim's -%s is %q", what, got, flag, want)
		}
	}

	sameURL("national.base_url", cfg.National.BaseURL, "national-addr")
	same("national.username", cfg.National.Username, "national-user")
	same("national.password", cfg.National.Password, "national-password")

	partners := map[string]string{}
	for _, p := range strings.Split(val("payment-partners"), ",") {
		code, secret, _ := strings.Cut(strings.TrimSpace(p), "=")
		partners[code] = secret
	}
	seen := map[string]bool{}
	for _, s := range cfg.Sources {
		key := "sources[" + s.Name + "]"
		switch s.Name {
		case "sonla":
			same(key+".client_id", s.ClientID, "sonla-client-id")
			same(key+".client_secret", s.ClientSecret, "sonla-client-secret")
		case "thainguyen":
			same(key+".username", s.Username, "thainguyen-user")
			same(key+".password", s.Password, "thainguyen-password")
		case "hatinh":
			same(key+".api_key", s.APIKey, "hatinh-api-key")
		default:
			t.Errorf("%s: portalsim runs sonla, thainguyen and hatinh by default; this source needs a -portal flag", key)
			continue
		}
		seen[s.Name] = true
		sameURL(key+".base_url", s.BaseURL, s.Name+"-addr")
		if s.Payment != nil {
			if secret, ok := partners[s.Payment.Code]; !ok || secret != s.Payment.Secret {
				t.Errorf("%s.payment %s: not one of portalsim's partner accounts (-payment-partners %q)", key, s.Payment.Code, val("payment-partners"))
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("sources %v: want portalsim's three portals, sonla, thainguyen and hatinh", seen)
	}

	if cfg.Payment == nil || cfg.VNPost == nil || cfg.SMS == nil || cfg.SMTP == nil {
		t.Fatal("payment, vnpost, sms and smtp: want every level-4 system portalsim simulates")
	}
	sameURL("payment.base_url", cfg.Payment.BaseURL, "payment-addr")
	sameURL("vnpost.base_url", cfg.VNPost.BaseURL, "vnpost-addr")
	same("vnpost.client_id", cfg.VNPost.ClientID, "vnpost-client-id")
	same("vnpost.client_secret", cfg.VNPost.ClientSecret, "vnpost-client-secret")
	sameURL("sms.base_url", cfg.SMS.BaseURL, "sms-addr")
	same("sms.username", cfg.SMS.Username, "sms-user")
	same("sms.password", cfg.SMS.Password, "sms-password")
	if got, want := cfg.SMTP.Addr, addr("smtp-addr"); got != want {
		t.Errorf("smtp.addr %s; portalsim's -smtp-addr is reached at %s", got, want)
	}
}

// checkPaymentCallback checks that portalsim's payment notifications reach
// the hub: callback is -payment-callback, hubAddr the host:port the
// simulator reaches the hub's http.listen at.
func checkPaymentCallback(t *testing.T, callback, hubAddr string) {
	t.Helper()
	h, p := urlHostPort(t, callback)
	if got := net.JoinHostPort(h, p); got != hubAddr {
		t.Errorf("portalsim's -payment-callback %s goes to %s; the hub listens at %s", callback, got, hubAddr)
	}
	if u, _ := url.Parse(callback); u.Path != hub.PaymentCallbackPath {
		t.Errorf("portalsim's -payment-callback %s: path %q; the hub takes notifications at %s", callback, u.Path, hub.PaymentCallbackPath)
	}
}

// mustDuration parses a Go duration ("30s").
func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lookPath finds a tool, or logs that the check needing it is skipped.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Logf("%s is not installed: its check is skipped", name)
		return ""
	}
	return p
}

// run runs a command, failing the test with its output if it fails.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// samePath reports whether two paths name the same file or directory.
func samePath(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Errorf("%s: %v", a, err)
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Errorf("%s: %v", b, err)
		return false
	}
	return os.SameFile(fa, fb)
}

// rewrittenCopy copies a file into a temporary directory, under the same
// name, with each old string replaced by its new one (strings.NewReplacer's
// pairs), for a tool that must see host paths; it returns the copy's path.
func rewrittenCopy(t *testing.T, path string, oldnew ...string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(strings.NewReplacer(oldnew...).Replace(string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
