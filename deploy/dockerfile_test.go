package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN…
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from, name string
	body       []instruction
}

// dockerfile is the repository's Dockerfile, parsed.
type dockerfile struct {
	args   map[string]string // ARG before the first FROM, with defaults
	stages []stage
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{args: map[string]string{}}
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			df.stages = append(df.stages, s)
		case len(df.stages) == 0:
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				df.args[k] = v
			}
		default:
			s := &df.stages[len(df.stages)-1]
			s.body = append(s.body, in)
		}
	}
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	if len(df.stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return df
}

// final is the last stage: what `docker build .` makes.
func (df dockerfile) final() stage { return df.stages[len(df.stages)-1] }

// stage returns the stage named name.
func (df dockerfile) stage(t *testing.T, name string) stage {
	t.Helper()
	for _, s := range df.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile: no stage %q", name)
	return stage{}
}

// chain is a stage and the stages it is built FROM, nearest first.
func (df dockerfile) chain(s stage) []stage {
	out := []stage{s}
	for {
		i := slices.IndexFunc(df.stages, func(p stage) bool { return p.name != "" && p.name == out[len(out)-1].from })
		if i < 0 {
			return out
		}
		out = append(out, df.stages[i])
	}
}

// last is the arguments of the stage's last cmd instruction, "" if none.
func (s stage) last(cmd string) string {
	for i := len(s.body) - 1; i >= 0; i-- {
		if s.body[i].cmd == cmd {
			return s.body[i].args
		}
	}
	return ""
}

// all is the arguments of every cmd instruction of the stage.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm decodes an instruction's JSON (exec) form.
func execForm(t *testing.T, what, args string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		t.Fatalf("Dockerfile %s %s: want the exec form, a JSON array (%v)", what, args, err)
	}
	return out
}

// hubConfigPath is where the image's CMD has hub serve read its
// configuration.
func (df dockerfile) hubConfigPath(t *testing.T) string {
	t.Helper()
	cmd := execForm(t, "CMD", df.final().last("CMD"))
	i := slices.Index(cmd, "--config")
	if len(cmd) == 0 || cmd[0] != "serve" || i < 0 || i+1 >= len(cmd) {
		t.Fatalf("Dockerfile CMD %q: want serve --config FILE", cmd)
	}
	return cmd[i+1]
}

// user is the final stage's USER as uid (and gid).
func (df dockerfile) user(t *testing.T) string {
	t.Helper()
	return df.final().last("USER")
}

var numericUser = regexp.MustCompile(`^([1-9][0-9]*)(:[0-9]+)?$`)

// TestDockerfile checks the Dockerfile's shape: a Go builder of the go.mod's
// version, static binaries built with -trimpath and stripped, the version
// passed to main.version, a distroless or scratch final stage running /hub
// as a numeric non-root user. No Docker here, and no hadolint: this is what
// is checked instead.
func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t)
	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s); want a builder and a final stage", len(df.stages))
	}

	// The builder's Go is the go.mod's.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	builder := df.stages[0]
	image := os.Expand(builder.from, func(k string) string { return df.args[k] })
	if goVersion == nil || image != "golang:"+string(goVersion[1]) {
		t.Errorf("Dockerfile: first stage FROM %s (%s); want golang:<go.mod's go %s>", builder.from, image, goVersion[1])
	}

	final := df.final()
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static… or scratch", final.from)
	}
	if u := df.user(t); !numericUser.MatchString(u) {
		t.Errorf("final stage USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks it)", u)
	}
	if ep := execForm(t, "ENTRYPOINT", final.last("ENTRYPOINT")); !slices.Equal(ep, []string{"/hub"}) {
		t.Errorf("final stage ENTRYPOINT %q: want [\"/hub\"]", ep)
	}
	if p := df.hubConfigPath(t); p != "/etc/lienthong/hub.yaml" {
		t.Errorf("CMD reads %s; want /etc/lienthong/hub.yaml (compose, kubernetes and systemd mount it there)", p)
	}
	if final.last("EXPOSE") == "" {
		t.Error("final stage: no EXPOSE for the hub's HTTP port")
	}

	// /hub comes from a stage that builds ./cmd/hub statically.
	var from, src string
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[2] == "/hub" {
			from, src = strings.TrimPrefix(f[0], "--from="), f[1]
		}
	}
	if from == "" {
		t.Fatal("final stage: no COPY --from=STAGE … /hub")
	}
	checkGoBuild(t, df, df.stage(t, from), "./cmd/hub", src, true)

	// The simulators' stage, for compose, runs as non-root too.
	ps := df.stage(t, "portalsim")
	if u := ps.last("USER"); !numericUser.MatchString(u) {
		t.Errorf("portalsim stage USER %q: want a numeric non-root uid", u)
	}
}

// checkGoBuild checks that stage s builds pkg into out statically.
func checkGoBuild(t *testing.T, df dockerfile, s stage, pkg, out string, versioned bool) {
	t.Helper()
	var build string
	for _, r := range s.all("RUN") {
		if strings.Contains(r, "go build") && strings.Contains(r, pkg) {
			build = r
		}
	}
	if build == "" {
		t.Fatalf("stage %s: no RUN … go build … %s", s.name, pkg)
	}
	cgoOff := strings.Contains(build, "CGO_ENABLED=0")
	for _, st := range df.chain(s) {
		for _, env := range st.all("ENV") {
			cgoOff = cgoOff || strings.Contains(env, "CGO_ENABLED=0")
		}
	}
	if !cgoOff {
		t.Errorf("stage %s: go build without CGO_ENABLED=0 (a static binary for distroless/static)", s.name)
	}
	for _, want := range []string{"-trimpath", "-s -w", "-o " + out, "-tags timetzdata"} {
		if !strings.Contains(build, want) {
			t.Errorf("stage %s: go build lacks %q: %s", s.name, want, build)
		}
	}
	if versioned {
		if !strings.Contains(build, "-X main.version=${VERSION}") {
			t.Errorf("stage %s: go build does not pass -X main.version=${VERSION}: %s", s.name, build)
		}
		if !slices.ContainsFunc(s.all("ARG"), func(a string) bool { return strings.HasPrefix(a, "VERSION") }) {
			t.Errorf("stage %s: no ARG VERSION", s.name)
		}
	}
}

// TestDockerignore checks that .dockerignore keeps the repository's
// metadata and local data out of the build context, and none of the files
// the hub's and portalsim's packages are built from (Go files and embedded
// files, as go list reports them).
func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf(".dockerignore: %q: this test does not read exceptions", line)
			}
			patterns = append(patterns, strings.TrimPrefix(line, "/"))
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			// A pattern matching a directory ignores everything under it.
			for prefix := p; prefix != "."; prefix = path.Dir(prefix) {
				if dockerignoreMatch(pat, prefix) {
					return true
				}
			}
		}
		return false
	}
	for _, p := range []string{".git/config", "data/hub.db", "ops/data/x", "cmd/hub/hub.test"} {
		if !ignored(p) {
			t.Errorf(".dockerignore: %s is sent to the builder", p)
		}
	}

	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`,
		"./cmd/hub", "./cmd/portalsim")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			p := filepath.ToSlash(filepath.Join(dir, name))
			n++
			if ignored(p) {
				t.Errorf(".dockerignore leaves out %s, which the image's go build needs", p)
			}
		}
	}
	for _, p := range []string{"go.mod", "go.sum"} {
		if ignored(p) {
			t.Errorf(".dockerignore leaves out %s", p)
		}
	}
	if n < 100 {
		t.Errorf("go list named %d files of the hub and portalsim; want all of them", n)
	}
}

// dockerignoreMatch matches a .dockerignore pattern (filepath.Match syntax,
// with a leading **/ for any number of directories) against a slash path.
func dockerignoreMatch(pat, p string) bool {
	if rest, ok := strings.CutPrefix(pat, "**/"); ok {
		for {
			if m, _ := path.Match(rest, p); m {
				return true
			}
			_, after, found := strings.Cut(p, "/")
			if !found {
				return false
			}
			p = after
		}
	}
	m, _ := path.Match(pat, p)
	return m
}
