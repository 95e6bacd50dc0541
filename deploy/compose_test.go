package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
)

var composeDir = "compose"

// composeFile is what these tests read of deploy/compose/compose.yaml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
		Target     string `yaml:"target"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

// dependsOn is depends_on in either form: a list of names or a map of them.
type dependsOn []string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*d = l
	case yaml.MappingNode:
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return err
		}
		*d = slices.Sorted(maps.Keys(m))
	default:
		return fmt.Errorf("depends_on: want a list or a map")
	}
	return nil
}

// stack is the parsed compose file with what the tests derive from it.
type stack struct {
	composeFile
	hubs   []string // hub services, sorted
	kafkas []string // Kafka services, sorted
}

func loadStack(t *testing.T) stack {
	t.Helper()
	var s stack
	decodeInto(t, filepath.Join(composeDir, "compose.yaml"), &s.composeFile)
	hubStage := parseDockerfile(t).final().name
	for name, svc := range s.Services {
		if svc.Build != nil && svc.Build.Target == hubStage {
			s.hubs = append(s.hubs, name)
		}
		if strings.Contains(svc.Environment["KAFKA_PROCESS_ROLES"], "broker") {
			s.kafkas = append(s.kafkas, name)
		}
	}
	slices.Sort(s.hubs)
	slices.Sort(s.kafkas)
	return s
}

// service returns the one service whose image starts with prefix.
func (s stack) service(t *testing.T, prefix string) (string, composeService) {
	t.Helper()
	var found []string
	for name, svc := range s.Services {
		if strings.HasPrefix(svc.Image, prefix) {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		t.Fatalf("compose: services of image %s…: %v; want one", prefix, found)
	}
	return found[0], s.Services[found[0]]
}

// env is a service's environment: its env_file files, then environment.
func (s stack) env(t *testing.T, name string) map[string]string {
	t.Helper()
	svc := s.Services[name]
	out := map[string]string{}
	for _, f := range svc.EnvFile {
		maps.Copy(out, readEnvFile(t, filepath.Join(composeDir, f)))
	}
	maps.Copy(out, svc.Environment)
	return out
}

// hostPath is the file of this repository a service sees at container path
// p, through its bind mounts ("./x:/y" or "../x:/y").
func (s stack) hostPath(t *testing.T, name, p string) string {
	t.Helper()
	for _, v := range s.Services[name].Volumes {
		f := strings.Split(v, ":")
		if len(f) < 2 || !strings.HasPrefix(f[0], ".") {
			continue // a named volume
		}
		if rel, ok := strings.CutPrefix(p, f[1]); ok && (rel == "" || strings.HasPrefix(rel, "/")) {
			return filepath.Join(composeDir, f[0], rel)
		}
	}
	t.Fatalf("compose service %s: nothing of this repository is mounted at %s", name, p)
	return ""
}

// TestComposeHubs checks the two hub services: built from the Dockerfile's
// final stage, their configuration mounted where the image's CMD reads it,
// loading with hub.LoadConfig under each service's own environment, one
// instance name each, and a stop grace period longer than the hub's stop.
func TestComposeHubs(t *testing.T) {
	s := loadStack(t)
	if len(s.hubs) < 2 {
		t.Fatalf("compose: hub services %v; want two or more", s.hubs)
	}
	df := parseDockerfile(t)
	instances := map[string]string{}
	for _, name := range s.hubs {
		svc := s.Services[name]
		if got := filepath.Join(composeDir, svc.Build.Context, svc.Build.Dockerfile); !samePath(t, got, filepath.Join(repoRoot, "Dockerfile")) {
			t.Errorf("%s: built from %s; want the repository's Dockerfile", name, got)
		}
		if svc.Command != nil {
			t.Errorf("%s: command %q overrides the image's CMD; these tests read the configuration path from the CMD", name, svc.Command)
		}
		cfg := mustLoadHubConfig(t, s.hostPath(t, name, df.hubConfigPath(t)), s.env(t, name))
		if other, dup := instances[cfg.Instance]; dup || cfg.Instance == "" {
			t.Errorf("%s: instance %q, as %s's: each hub needs its own", name, cfg.Instance, other)
		}
		instances[cfg.Instance] = name
		if !slices.Contains(strings.Fields(df.final().last("EXPOSE")), listenPort(t, cfg)) {
			t.Errorf("%s: http.listen %s is not a port the image EXPOSEs (%s)", name, cfg.HTTP.Listen, df.final().last("EXPOSE"))
		}
		if g := svc.StopGracePeriod; g == "" || mustDuration(t, g) <= hubStopBound {
			t.Errorf("%s: stop_grace_period %q; want more than the hub's %s (compose's default is 10s)", name, g, hubStopBound)
		}
		for _, dep := range append(slices.Clone(s.kafkas), "postgres") {
			if !slices.Contains(svc.DependsOn, dep) {
				t.Errorf("%s: does not depend on %s", name, dep)
			}
		}
	}
}

// hubConfig loads the configuration of compose hub service name.
func (s stack) hubConfig(t *testing.T, name string) hub.Config {
	t.Helper()
	return mustLoadHubConfig(t, s.hostPath(t, name, parseDockerfile(t).hubConfigPath(t)), s.env(t, name))
}

// TestComposeKafka checks the Kafka services form one KRaft cluster (the
// same cluster ID and voters on every node, each voter a node with the
// controller role on its controller listener) and that each hub's brokers are
// exactly the nodes' advertised client listeners.
func TestComposeKafka(t *testing.T) {
	s := loadStack(t)
	if len(s.kafkas) != 3 {
		t.Fatalf("compose: Kafka services %v; want three", s.kafkas)
	}
	var voters []string
	var advertised []string
	clusterIDs := map[string]bool{}
	ids := map[string]bool{}
	for _, name := range s.kafkas {
		env := s.Services[name].Environment
		clusterIDs[env["CLUSTER_ID"]] = true
		id := env["KAFKA_NODE_ID"]
		if ids[id] || id == "" {
			t.Errorf("%s: KAFKA_NODE_ID %q: want one per node", name, id)
		}
		ids[id] = true
		listeners := parseListeners(t, name, env["KAFKA_LISTENERS"])
		protocols := map[string]bool{}
		for _, p := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
			l, _, _ := strings.Cut(p, ":")
			protocols[l] = true
		}
		for l := range listeners {
			if !protocols[l] {
				t.Errorf("%s: listener %s missing from KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", name, l)
			}
		}
		ctrl := env["KAFKA_CONTROLLER_LISTENER_NAMES"]
		if _, ok := listeners[ctrl]; !ok || !strings.Contains(env["KAFKA_PROCESS_ROLES"], "controller") {
			t.Errorf("%s: want a controller (KAFKA_PROCESS_ROLES) listening on %q", name, ctrl)
		}
		if _, ok := listeners[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]; !ok {
			t.Errorf("%s: KAFKA_INTER_BROKER_LISTENER_NAME %q is not a listener", name, env["KAFKA_INTER_BROKER_LISTENER_NAME"])
		}
		voters = append(voters, id+"@"+net.JoinHostPort(name, listeners[ctrl]))
		for l, addr := range parseAdvertised(t, name, env["KAFKA_ADVERTISED_LISTENERS"]) {
			host, port := splitHostPort(t, addr)
			if host != name || listeners[l] != port {
				t.Errorf("%s: advertises %s %s; it is reached as %s and listens on %s", name, l, addr, name, listeners[l])
			}
			advertised = append(advertised, addr)
		}
		if v := env["KAFKA_MIN_INSYNC_REPLICAS"]; v == "" || mustAtoi(t, v) >= len(s.kafkas) {
			t.Errorf("%s: KAFKA_MIN_INSYNC_REPLICAS %q: want fewer than the %d brokers, so one can be down", name, v, len(s.kafkas))
		}
	}
	if len(clusterIDs) != 1 {
		t.Errorf("Kafka services: CLUSTER_IDs %v; want one cluster", slices.Collect(maps.Keys(clusterIDs)))
	}
	slices.Sort(voters)
	for _, name := range s.kafkas {
		got := strings.Split(s.Services[name].Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"], ",")
		slices.Sort(got)
		if !slices.Equal(got, voters) {
			t.Errorf("%s: KAFKA_CONTROLLER_QUORUM_VOTERS %v; the nodes are %v", name, got, voters)
		}
	}
	slices.Sort(advertised)
	for _, name := range s.hubs {
		cfg := s.hubConfig(t, name)
		brokers := slices.Sorted(slices.Values(cfg.Kafka.Brokers))
		if !slices.Equal(brokers, advertised) {
			t.Errorf("%s: kafka.brokers %v; the Kafka services advertise %v", name, brokers, advertised)
		}
		if rf := cfg.Kafka.ReplicationFactor; rf < 2 || rf > len(s.kafkas) {
			t.Errorf("%s: kafka.replication_factor %d: want 2 to %d", name, rf, len(s.kafkas))
		}
	}
}

// parseListeners maps each listener name of KAFKA_LISTENERS to its port.
func parseListeners(t *testing.T, svc, v string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for l, addr := range parseAdvertised(t, svc, v) {
		_, port := splitHostPort(t, addr)
		out[l] = port
	}
	return out
}

// parseAdvertised maps each listener name of NAME://host:port,… to host:port.
func parseAdvertised(t *testing.T, svc, v string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(v, ",") {
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			t.Fatalf("%s: listener %q: want NAME://host:port", svc, l)
		}
		out[name] = addr
	}
	return out
}

// TestComposePostgres checks each hub's DSN against the postgres service:
// its host, port, user, password and database.
func TestComposePostgres(t *testing.T) {
	s := loadStack(t)
	name, svc := s.service(t, "postgres:")
	if tag := strings.TrimPrefix(svc.Image, "postgres:"); !strings.HasPrefix(tag, "15") {
		t.Errorf("%s: image %s; want PostgreSQL 15 (the version the README's benchmarks ran on)", name, svc.Image)
	}
	env := s.env(t, name)
	for _, h := range s.hubs {
		dsn := s.hubConfig(t, h).Store.PostgresDSN
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme != "postgres" {
			t.Fatalf("%s: store.postgres_dsn: want a postgres:// URL (%v)", h, err)
		}
		pass, _ := u.User.Password()
		for what, got := range map[string][2]string{
			"host":     {u.Hostname(), name},
			"port":     {u.Port(), "5432"},
			"user":     {u.User.Username(), env["POSTGRES_USER"]},
			"password": {pass, env["POSTGRES_PASSWORD"]},
			"database": {strings.TrimPrefix(u.Path, "/"), env["POSTGRES_DB"]},
		} {
			if got[0] != got[1] || got[1] == "" {
				t.Errorf("%s: DSN %s %q; the postgres service has %q", h, what, got[0], got[1])
			}
		}
	}
	if svc.Healthcheck == nil {
		t.Errorf("%s: no healthcheck; the hubs wait for it to be healthy", name)
	}
}

// TestComposePrometheus checks Prometheus's configuration: mounted where its
// --config.file says, scraping every hub service on its http.listen port as
// job lienthong, its rule files mounted, deploy/prometheus/alerts.yml among
// them; and with promtool installed, `promtool check config` on it.
func TestComposePrometheus(t *testing.T) {
	s := loadStack(t)
	name, svc := s.service(t, "prom/prometheus:")
	var cfgPath string
	for _, a := range svc.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	if cfgPath == "" {
		t.Fatalf("%s: no --config.file in command", name)
	}
	host := s.hostPath(t, name, cfgPath)
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeInto(t, host, &prom)

	var want []string
	for _, h := range s.hubs {
		want = append(want, net.JoinHostPort(h, listenPort(t, s.hubConfig(t, h))))
	}
	var got []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "lienthong" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job lienthong: metrics_path %s; the hub serves /metrics", sc.MetricsPath)
		}
		for _, c := range sc.StaticConfigs {
			got = append(got, c.Targets...)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("job lienthong scrapes %v; the hub services listen at %v", got, want)
	}

	alerts := filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml")
	var rules []string
	for _, r := range prom.RuleFiles {
		p := s.hostPath(t, name, r)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("rule_files %s: %v", r, err)
		}
		rules = append(rules, p)
	}
	if !slices.ContainsFunc(rules, func(p string) bool { return samePath(t, p, alerts) }) {
		t.Errorf("rule_files %v: want deploy/prometheus/alerts.yml", prom.RuleFiles)
	}

	promtool := lookPath(t, "promtool")
	if promtool == "" {
		return
	}
	// promtool reads the rule files at the host paths compose mounts.
	var oldnew []string
	for i, r := range prom.RuleFiles {
		abs, err := filepath.Abs(rules[i])
		if err != nil {
			t.Fatal(err)
		}
		oldnew = append(oldnew, r, abs)
	}
	run(t, promtool, "check", "config", rewrittenCopy(t, host, oldnew...))
}

// TestComposeGrafana checks Grafana's provisioning: the datasource is the
// compose Prometheus, the dashboard provider's folder is deploy/grafana (with
// lienthong.json), and the admin password is a mounted secret.
func TestComposeGrafana(t *testing.T) {
	s := loadStack(t)
	name, svc := s.service(t, "grafana/grafana")
	promName, _ := s.service(t, "prom/prometheus:")

	dsDir := s.hostPath(t, name, "/etc/grafana/provisioning/datasources")
	var datasources []string
	for _, f := range yamlFiles(t, dsDir) {
		var ds struct {
			Datasources []struct {
				Type, URL string
				IsDefault bool `yaml:"isDefault"`
			} `yaml:"datasources"`
		}
		decodeInto(t, f, &ds)
		for _, d := range ds.Datasources {
			datasources = append(datasources, d.URL)
			if d.Type != "prometheus" || !d.IsDefault {
				t.Errorf("%s: datasource %s: want the default, of type prometheus (the dashboard's datasource variable picks it)", f, d.URL)
			}
			if h, p := urlHostPort(t, d.URL); h != promName || p != "9090" {
				t.Errorf("%s: datasource %s; Prometheus is %s:9090", f, d.URL, promName)
			}
		}
	}
	if len(datasources) != 1 {
		t.Errorf("datasources %v; want the one Prometheus", datasources)
	}

	dbDir := s.hostPath(t, name, "/etc/grafana/provisioning/dashboards")
	dashboards := 0
	for _, f := range yamlFiles(t, dbDir) {
		var p struct {
			Providers []struct {
				Type    string
				Options struct {
					Path string
				}
			}
		}
		decodeInto(t, f, &p)
		for _, pr := range p.Providers {
			dir := s.hostPath(t, name, pr.Options.Path)
			if !samePath(t, dir, filepath.Join(repoRoot, "deploy", "grafana")) {
				t.Errorf("%s: provider path %s is %s; want deploy/grafana", f, pr.Options.Path, dir)
			}
			if _, err := os.Stat(filepath.Join(dir, "lienthong.json")); err != nil {
				t.Errorf("%s: provider path %s: %v", f, pr.Options.Path, err)
			}
			dashboards++
		}
	}
	if dashboards != 1 {
		t.Errorf("dashboard providers: %d; want one", dashboards)
	}

	secret, ok := strings.CutPrefix(svc.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"], "/run/secrets/")
	if !ok || !slices.Contains(svc.Secrets, secret) {
		t.Errorf("%s: GF_SECURITY_ADMIN_PASSWORD__FILE: want /run/secrets/<one of its secrets %v>", name, svc.Secrets)
	}
	for n, sec := range s.Secrets {
		if _, err := os.Stat(filepath.Join(composeDir, sec.File)); err != nil {
			t.Errorf("secret %s: %v", n, err)
		}
	}
}

// TestComposePortalsim checks the simulators' service: built from the
// Dockerfile's portalsim stage, listening on every interface, at the ports
// and with the credentials each hub's configuration uses, and posting
// payment notifications to a hub.
func TestComposePortalsim(t *testing.T) {
	s := loadStack(t)
	df := parseDockerfile(t)
	var name string
	for n, svc := range s.Services {
		if svc.Build != nil && svc.Build.Target == df.stage(t, "portalsim").name {
			name = n
		}
	}
	if name == "" {
		t.Fatal("compose: no service built from the Dockerfile's portalsim stage")
	}
	env := s.env(t, name)
	flags := portalsimFlags(t)
	addr := func(flag string) string {
		h, p := splitHostPort(t, simValue(flags, flag, env))
		if h != "0.0.0.0" && h != "" {
			t.Errorf("%s: -%s listens on %s; other containers reach it only on every interface", name, flag, h)
		}
		return net.JoinHostPort(name, p)
	}
	for _, h := range s.hubs {
		cfg := s.hubConfig(t, h)
		checkAgainstPortalsim(t, cfg, env, addr)
		if !slices.Contains(s.Services[h].DependsOn, name) {
			t.Errorf("%s: does not depend on %s", h, name)
		}
	}
	callback := simValue(flags, "payment-callback", env)
	cbHost, _ := urlHostPort(t, callback)
	if !slices.Contains(s.hubs, cbHost) {
		t.Fatalf("%s: payment callback %s: want a hub service", name, callback)
	}
	checkPaymentCallback(t, callback, net.JoinHostPort(cbHost, listenPort(t, s.hubConfig(t, cbHost))))
}

// yamlFiles lists the YAML files of a directory.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, ext := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Errorf("%s: no YAML file", dir)
	}
	return out
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
