package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/sim/devenv"
	"github.com/lienthong/lienthong/store/storetest"
)

const examplePath = "../../deploy/hub.example.yaml"

// setExampleEnv sets every ${NAME} deploy/hub.example.yaml names.
func setExampleEnv(t *testing.T) {
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(string(raw), -1) {
		t.Setenv(m[1], "secret-"+strings.ToLower(m[1]))
	}
	t.Setenv("LIENTHONG_PG_DSN", "postgres://lienthong@db.example:5432/lienthong")
	t.Setenv("LIENTHONG_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(storetest.EncryptionKey))
	t.Setenv("LIENTHONG_IDENTITY_KEY", base64.StdEncoding.EncodeToString(storetest.IdentityKey))
}

// badConfig has a problem in every other section.
const badConfig = `kafka:
  brokers: [kafka-1]
store:
  sqlite_path: hub.db
  encryption_key: c2hvcnQ=
national:
  base_url: https://national.example
  timeout: soon
sources:
  - {name: hatinh, province: "42", kind: xml-feed, base_url: "https://dvc.hatinh.example", api_key: k, national_dstcode: 000.00.00.H25}
  - name: thainguyen
    province: "19"
    kind: soap
    base_url: motcua.thainguyen.example
    national_dstcode: 000.00.00.H55
    charset: utf-8
smtp:
  addr: smtp.example:25
`

func TestValidate(t *testing.T) {
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(bad, []byte(badConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := validate(ctx, []string{"--config", bad}, &out); err == nil || err.Error() != "validate: 8 problems" {
		t.Errorf("validate of a bad file: %v", err)
	}
	want := []string{
		bad + `:2: kafka.brokers[0]: "kafka-1" is not host:port`,
		bad + ":3: store.identity_key: required (base64 of at least 32 random bytes)",
		bad + ":5: store.encryption_key: 5 bytes, need 32",
		bad + ":8: national.timeout: not a duration",
		bad + ":11: sources[1] (thainguyen).username: required for kind soap",
		bad + `:14: sources[1] (thainguyen).base_url: "motcua.thainguyen.example" is not an absolute http(s) URL`,
		bad + ":16: sources[1] (thainguyen).charset: only for kind xml-feed",
		bad + ":17: smtp.from: required",
		// From the environment, named by its variable.
		"LIENTHONG_SOURCES_0_PAYMENT_CODE: sources[0] (hatinh).payment.secret: required",
	}
	t.Setenv("LIENTHONG_SOURCES_0_PAYMENT_CODE", "DVC14")
	out.Reset()
	err := validate(ctx, []string{"--config", bad}, &out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if err == nil || len(lines) != len(want) {
		t.Fatalf("validate: %v, %d lines, want %d:\n%s", err, len(lines), len(want), &out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n  %s\nwant\n  %s…", i+1, lines[i], w)
		}
	}

	setExampleEnv(t)
	out.Reset()
	if err := validate(ctx, []string{"--config", examplePath}, &out); err != nil || !strings.HasPrefix(out.String(),
		examplePath+": ok: 4 sources (sonla, laichau, thainguyen, hatinh), 2 Kafka brokers, PostgreSQL store, level 4: payment, vnpost, sms, smtp\n") {
		t.Errorf("validate of the example: %v\n%s", err, &out)
	}
}

// TestValidateEnvOnly: no file, every setting from the environment.
func TestValidateEnvOnly(t *testing.T) {
	for k, v := range map[string]string{
		"LIENTHONG_KAFKA_BROKERS":              "127.0.0.1:9092",
		"LIENTHONG_STORE_SQLITE_PATH":          filepath.Join(t.TempDir(), "hub.db"),
		"LIENTHONG_STORE_ENCRYPTION_KEY":       base64.StdEncoding.EncodeToString(storetest.EncryptionKey),
		"LIENTHONG_STORE_IDENTITY_KEY":         base64.StdEncoding.EncodeToString(storetest.IdentityKey),
		"LIENTHONG_NATIONAL_BASE_URL":          "https://national.example",
		"LIENTHONG_SOURCES_0_NAME":             "hatinh",
		"LIENTHONG_SOURCES_0_PROVINCE":         "42",
		"LIENTHONG_SOURCES_0_KIND":             "xml-feed",
		"LIENTHONG_SOURCES_0_BASE_URL":         "https://dvc.hatinh.example",
		"LIENTHONG_SOURCES_0_API_KEY":          "k",
		"LIENTHONG_SOURCES_0_NATIONAL_DSTCODE": "000.00.00.H25",
	} {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	if err := validate(context.Background(), nil, &out); err != nil || out.String() != "environment: ok: 1 sources (hatinh), 1 Kafka brokers, SQLite store\n" {
		t.Errorf("validate: %v\n%s", err, &out)
	}
	// Set empty: the setting is empty, and named by its variable.
	t.Setenv("LIENTHONG_KAFKA_BROKERS", "")
	out.Reset()
	if err := validate(context.Background(), []string{"--config", ""}, &out); err == nil || out.String() != "LIENTHONG_KAFKA_BROKERS: kafka.brokers: at least one broker (host:port)\n" {
		t.Errorf("validate without brokers: %v\n%s", err, &out)
	}
}

// TestValidateConnect logs in to the simulators with the right credentials,
// then with wrong ones: each failure is reported under its setting.
func TestValidateConnect(t *testing.T) {
	sims, err := devenv.Start(devenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	dir := t.TempDir()
	keys, err := hub.DevKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sims.HubConfig([]string{"127.0.0.1:1"}, hub.StoreConfig{SQLitePath: dir + "/unused.db"}.WithKeys(keys))
	write := func(cfg hub.Config) (string, []string) {
		raw, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "hub.yaml")
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return p, strings.Split(string(raw), "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, _ := write(cfg)
	var out bytes.Buffer
	var names []string
	for _, s := range cfg.Sources {
		names = append(names, s.Name)
	}
	if err := validate(ctx, []string{"--config", p, "--connect"}, &out); err != nil ||
		!strings.HasSuffix(out.String(), "; reached "+strings.Join(names, ", ")+", national, payment, vnpost (sms and smtp not tried)\n") {
		t.Fatalf("validate --connect with the right credentials: %v\n%s", err, &out)
	}

	tn := slices.IndexFunc(cfg.Sources, func(s hub.SourceConfig) bool { return s.Name == devenv.NameThaiNguyen })
	cfg.Sources[tn].Password = "wrong"
	cfg.Sources[0].Payment.Secret = "wrong"
	cfg.National.Password = "wrong"
	cfg.VNPost.ClientSecret = "wrong"
	p, lines := write(cfg)
	lineOf := func(prefix string, after int) int {
		for i := after; i < len(lines); i++ {
			if strings.HasPrefix(strings.TrimSpace(lines[i]), prefix) {
				return i + 1
			}
		}
		t.Fatalf("no line %q in\n%s", prefix, strings.Join(lines, "\n"))
		return 0
	}
	out.Reset()
	err = validate(ctx, []string{"--config", p, "--connect"}, &out)
	t.Logf("validate --connect with wrong credentials:\n%s", &out)
	if err == nil {
		t.Fatal("validate --connect with wrong credentials passed")
	}
	first := lineOf("- name: "+cfg.Sources[0].Name, 0)
	for _, want := range []string{
		fmt.Sprintf("%s:%d: national: unit %s: ", p, lineOf("national:", 0), cfg.Sources[0].DstCode),
		fmt.Sprintf("%s:%d: sources[0] (%s).payment: ", p, lineOf("payment:", first), cfg.Sources[0].Name),
		fmt.Sprintf("%s:%d: sources[%d] (thainguyen): ", p, lineOf("- name: thainguyen", 0), tn),
		fmt.Sprintf("%s:%d: vnpost: ", p, lineOf("vnpost:", 0)),
	} {
		if !strings.Contains(out.String(), "\n"+want) && !strings.HasPrefix(out.String(), want) {
			t.Errorf("report does not say %q", want)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("%d problems reported, want 4", n)
	}
}

func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/lienthong/lienthong", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-07T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := versionText(bi, true)
	for _, want := range []string{"version  v1.2.3\n", "commit   0123456789abcdef (modified", "date     2026-12-07T10:00:00Z\n", "go       go1.26.8 "} {
		if !strings.Contains(got, want) {
			t.Errorf("version text does not say %q:\n%s", want, got)
		}
	}
	version, date = "v9.0.0", "2026-12-08"
	defer func() { version, date = "", "" }()
	if got := versionText(bi, true); !strings.Contains(got, "version  v9.0.0\n") || !strings.Contains(got, "date     2026-12-08\n") {
		t.Errorf("-X main.version and main.date not taken:\n%s", got)
	}
	if got := versionText(nil, false); !strings.Contains(got, "commit   unknown\n") {
		t.Errorf("without build information:\n%s", got)
	}
}

// TestVersionAndValidateProcess runs the binary: `hub version` and its flag
// forms print the version stamped at build and the commit, not the usage;
// `hub validate` exits 1 on a problem and 0 without.
func TestVersionAndValidateProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hub binary")
	}
	// As a release build stamps it: the go command records no VCS
	// information in a git worktree, nor with -buildvcs=false.
	bin := filepath.Join(t.TempDir(), "hub")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test -X main.commit=0123abcd", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	run := func(args ...string) (code int, stdout, stderr string) {
		var o, e bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), o.String(), e.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, o.String(), e.String()
	}
	for _, arg := range []string{"version", "--version", "-version"} {
		code, out, errOut := run(arg)
		if code != 0 || !strings.Contains(out, "version  v9.9.9-test\n") || !strings.Contains(out, "commit   0123abcd") || errOut != "" {
			t.Errorf("hub %s: exit %d\n%s%s", arg, code, out, errOut)
		}
	}

	bad := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(bad, []byte(badConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run("validate", "--config", bad); code != 1 || strings.Count(out, "\n") != 8 {
		t.Errorf("hub validate of a bad file: exit %d, want 1, and its 8 problems:\n%s", code, out)
	}
	setExampleEnv(t)
	if code, out, errOut := run("validate", "--config", examplePath); code != 0 || !strings.Contains(out, ": ok: ") {
		t.Errorf("hub validate of the example: exit %d, want 0\n%s%s", code, out, errOut)
	}
	// An operator command ends with a sentence, not a JSON log record.
	missing := filepath.Join(t.TempDir(), "nothing-here")
	for _, cmd := range []string{"reconcile", "dlq list", "check"} {
		args := append(strings.Fields(cmd), "--data", missing)
		if code, _, errOut := run(args...); code != 1 || errOut != "hub: "+cmd+": --data "+missing+": no such directory: run hub dev first, give --data DIR where it keeps its data, or --config FILE for a hub run with hub serve\n" {
			t.Errorf("hub %s --data (missing): exit %d, want 1 and one plain line:\n%s", cmd, code, errOut)
		}
	}
}
