package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var unitFile = filepath.Join("systemd", "lienthong-hub.service")

// unit is a systemd unit file: section → key → values, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q: want Key=value in a section", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// get is the last value of a key ("" if none).
func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// unitDuration parses a systemd time span: "30", "30s", "1min", "1min 30s".
func unitDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	var d time.Duration
	for _, f := range strings.Fields(s) {
		i := strings.IndexFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			i = len(f)
		}
		n, err := strconv.Atoi(f[:i])
		if err != nil {
			t.Fatalf("time span %q: %v", s, err)
		}
		unit, ok := map[string]time.Duration{"": time.Second, "s": time.Second, "sec": time.Second,
			"m": time.Minute, "min": time.Minute, "ms": time.Millisecond}[f[i:]]
		if !ok {
			t.Fatalf("time span %q: unit %q not understood", s, f[i:])
		}
		d += time.Duration(n) * unit
	}
	return d
}

// TestSystemdUnit checks the unit's required keys: hub serve with the
// configuration where the other deployments put it, an unprivileged user, a
// read-only system, a state directory, restarts on failure, and a stop
// timeout longer than the hub's stop. With systemd-analyze installed it also
// verifies the unit (its ExecStart pointed at an executable that exists).
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitFile)
	want := map[string]map[string]string{
		"Service": {
			"ExecStart":       "/usr/local/bin/hub serve --config " + parseDockerfile(t).hubConfigPath(t),
			"ProtectSystem":   "strict",
			"Restart":         "on-failure",
			"NoNewPrivileges": "yes",
			"ProtectHome":     "yes",
			"PrivateTmp":      "yes",
		},
		"Install": {"WantedBy": "multi-user.target"},
	}
	for section, keys := range want {
		for k, v := range keys {
			if got := u.get(section, k); got != v {
				t.Errorf("[%s] %s=%q; want %q", section, k, got, v)
			}
		}
	}
	if u.get("Service", "DynamicUser") != "yes" && (u.get("Service", "User") == "" || u.get("Service", "User") == "root") {
		t.Error("[Service]: want DynamicUser=yes or a User other than root")
	}
	if u.get("Service", "StateDirectory") == "" {
		t.Error("[Service]: no StateDirectory")
	}
	if s := u.get("Service", "TimeoutStopSec"); s == "" || unitDuration(t, s) <= hubStopBound {
		t.Errorf("[Service] TimeoutStopSec=%q: want more than the hub's %s stop (systemd's default is 90s, but say it)", s, hubStopBound)
	}
	if s := u.get("Service", "MemoryMax"); s != "" && quantity(t, strings.TrimSuffix(s, "B")) < benchPeakRSS {
		t.Errorf("[Service] MemoryMax=%s: below the benchmark's peak RSS (%d MiB)", s, benchPeakRSS>>20)
	}
	if !strings.Contains(u.get("Unit", "After"), "network-online.target") {
		t.Error("[Unit]: want After=network-online.target (the hub dials Kafka and PostgreSQL at start)")
	}
	// The configuration names instance: ${HUB_INSTANCE} in the other
	// deployments; this unit sets it too.
	var env []string
	for _, e := range u["Service"]["Environment"] {
		env = append(env, strings.Fields(e)...)
	}
	found := false
	for _, e := range env {
		found = found || strings.HasPrefix(e, "HUB_INSTANCE=")
	}
	if !found {
		t.Error("[Service]: no Environment=HUB_INSTANCE=…")
	}

	analyze := lookPath(t, "systemd-analyze")
	if analyze == "" {
		return
	}
	// verify checks that ExecStart exists: point it at this test binary, and
	// make the environment file (on the target host) optional.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := rewrittenCopy(t, unitFile, "ExecStart=/usr/local/bin/hub ", "ExecStart="+self+" ", "EnvironmentFile=/", "EnvironmentFile=-/")
	if out := run(t, analyze, "verify", tmp); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %s", out)
	}
}
