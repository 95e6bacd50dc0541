package docs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/schemas"
)

// The test runs in docs/: the repository root is its parent.
const root = ".."

// helpers are packages under connectors/ that talk to no system of their
// own, so they need no page.
var helpers = []string{"httpx", "breaker"}

// page is one Markdown file: its path (from the repository root) and text.
type page struct {
	path string
	text string
}

// pages reads docs/**/*.md.
func pages(t *testing.T) []page {
	t.Helper()
	var out []page
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, page{path: filepath.ToSlash(filepath.Join("docs", p)), text: string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no Markdown pages under docs/")
	}
	return out
}

// withReadme is the pages and the repository's README.md.
func withReadme(t *testing.T) []page {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(pages(t), page{path: "README.md", text: string(b)})
}

var fence = regexp.MustCompile("^\\s*(```|~~~)")

// prose is text without its fenced code blocks and inline code spans: what
// Markdown renders as links.
func prose(text string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return inlineCode.ReplaceAllString(b.String(), "")
}

var inlineCode = regexp.MustCompile("`[^`\n]*`")

// yamlBlocks are the fenced ```yaml blocks of text.
func yamlBlocks(text string) []string {
	var (
		out   []string
		cur   []string
		in    bool
		isYML bool
	)
	for _, line := range strings.Split(text, "\n") {
		if m := fence.FindStringIndex(line); m != nil {
			if in {
				if isYML {
					out = append(out, strings.Join(cur, "\n"))
				}
				in, cur = false, nil
				continue
			}
			lang := strings.TrimSpace(line[m[1]:])
			in, isYML = true, lang == "yaml" || lang == "yml"
			continue
		}
		if in {
			cur = append(cur, line)
		}
	}
	return out
}

// Every connector package has a page that names it (connectors/<name>).
func TestEveryConnectorHasAPage(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(root, "connectors"))
	if err != nil {
		t.Fatal(err)
	}
	ps := pages(t)
	n := 0
	for _, e := range entries {
		if !e.IsDir() || slices.Contains(helpers, e.Name()) {
			continue
		}
		gofiles, _ := filepath.Glob(filepath.Join(root, "connectors", e.Name(), "*.go"))
		if len(gofiles) == 0 {
			continue
		}
		n++
		name := regexp.MustCompile(`connectors/` + regexp.QuoteMeta(e.Name()) + `\b`)
		if !slices.ContainsFunc(ps, func(p page) bool { return name.MatchString(p.text) }) {
			t.Errorf("connectors/%s has no page under docs/ that names it", e.Name())
		}
	}
	if n < 8 {
		t.Fatalf("found %d connector packages; the walk of connectors/ is broken", n)
	}
}

// Every interface kind of provincial portal has its page, with a source of
// that kind in it.
func TestEveryKindHasAPage(t *testing.T) {
	for _, k := range schemas.Kinds {
		p := filepath.Join("provinces", k+".md")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("kind %s: no page docs/%s", k, filepath.ToSlash(p))
			continue
		}
		if !strings.Contains(string(b), "kind: "+k) {
			t.Errorf("docs/%s shows no source of kind %s (kind: %s)", filepath.ToSlash(p), k, k)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)

// Every relative link of README.md and the pages names a file or folder
// inside the repository.
func TestRelativeLinksResolve(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range withReadme(t) {
		for _, m := range mdLink.FindAllStringSubmatch(prose(p.text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			if i := strings.IndexByte(target, '#'); i >= 0 {
				target = target[:i]
			}
			full := filepath.Join(abs, filepath.Dir(p.path), filepath.FromSlash(target))
			rel, err := filepath.Rel(abs, full)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %s leaves the repository", p.path, m[1])
				continue
			}
			if _, err := os.Stat(full); err != nil {
				t.Errorf("%s: link %s: no such file", p.path, m[1])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found; the link pattern is broken")
	}
}

// The project describes its interfaces itself: neither the README nor the
// pages point at a contract kept outside the repository.
func TestNoExternalContract(t *testing.T) {
	for _, p := range withReadme(t) {
		for _, s := range []string{"shared/spec", "external-systems.md"} {
			if strings.Contains(p.text, s) {
				t.Errorf("%s mentions %s", p.path, s)
			}
		}
	}
}

var sourceKey = regexp.MustCompile("`sources\\[\\]\\.([A-Za-z_]+(?:\\.[A-Za-z_]+)*)")

// Every `sources[].key` the README and the pages mention is a key of a
// source's configuration (hub.SourceConfig, by its yaml tags).
func TestSourceKeysExist(t *testing.T) {
	n := 0
	for _, p := range withReadme(t) {
		for _, m := range sourceKey.FindAllStringSubmatch(p.text, -1) {
			n++
			if err := lookupKey(reflect.TypeFor[hub.SourceConfig](), strings.Split(m[1], ".")); err != "" {
				t.Errorf("%s: sources[].%s: %s", p.path, m[1], err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no sources[].key found; the pattern is broken")
	}
}

// lookupKey walks path through the yaml tags of typ; "" when it exists.
func lookupKey(typ reflect.Type, path []string) string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if len(path) == 0 {
		return ""
	}
	if typ.Kind() != reflect.Struct {
		return "no key " + path[0] + " under a " + typ.Kind().String()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == path[0] {
			return lookupKey(f.Type, path[1:])
		}
	}
	return "no key " + path[0] + " in " + typ.Name()
}

var envRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// Every ```yaml example of README.md and the pages is (part of) the hub's
// configuration: it decodes into hub.Config with no unknown key, as
// `hub serve --config` reads it.
func TestYAMLExamplesAreConfiguration(t *testing.T) {
	n := 0
	for _, p := range withReadme(t) {
		for i, block := range yamlBlocks(p.text) {
			n++
			var cfg hub.Config
			dec := yaml.NewDecoder(strings.NewReader(envRef.ReplaceAllString(block, "x")))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("%s: yaml example %d: %v", p.path, i+1, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no yaml examples found; the block pattern is broken")
	}
}
