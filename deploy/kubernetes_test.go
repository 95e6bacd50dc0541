package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var kubeDir = "kubernetes"

// kustomization is what these tests read of kustomization.yaml.
type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	SecretGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
		Envs  []string `yaml:"envs"`
	} `yaml:"secretGenerator"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// object is any manifest: its kind and name, and the whole document.
type object struct {
	Kind     string     `yaml:"kind"`
	Metadata objectMeta `yaml:"metadata"`
	node     yaml.Node
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type intOrString struct{ s string }

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error { v.s = n.Value; return nil }

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe    *probe `yaml:"startupProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type deployment struct {
	Spec struct {
		Replicas int           `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    int   `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		MinAvailable   *intOrString  `yaml:"minAvailable"`
		MaxUnavailable *intOrString  `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type secret struct {
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

// decodeObjects reads every manifest of a multi-document stream.
func decodeObjects(t *testing.T, what string, raw []byte) []object {
	t.Helper()
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		if err := dec.Decode(&o.node); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := o.node.Decode(&o); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if o.Kind != "" {
			out = append(out, o)
		}
	}
}

// as decodes the whole manifest into v.
func (o object) as(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

// kube is the kustomization and its resources.
type kube struct {
	k       kustomization
	objects []object
}

func loadKube(t *testing.T) kube {
	t.Helper()
	var k kube
	decodeInto(t, filepath.Join(kubeDir, "kustomization.yaml"), &k.k)
	for _, r := range k.k.Resources {
		raw, err := os.ReadFile(filepath.Join(kubeDir, r))
		if err != nil {
			t.Fatalf("kustomization.yaml resource %s: %v", r, err)
		}
		k.objects = append(k.objects, decodeObjects(t, r, raw)...)
	}
	return k
}

// one returns the one object of a kind.
func (k kube) one(t *testing.T, kind string) object {
	t.Helper()
	var found []object
	for _, o := range k.objects {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("kubernetes: %d %s objects; want one", len(found), kind)
	}
	return found[0]
}

// TestKustomizationFiles checks that every file kustomization.yaml names
// exists, and that the namespace it sets is the Namespace it creates.
func TestKustomizationFiles(t *testing.T) {
	k := loadKube(t)
	var files []string
	for _, g := range k.k.ConfigMapGenerator {
		files = append(files, g.Files...)
	}
	for _, g := range k.k.SecretGenerator {
		files = append(files, g.Files...)
		files = append(files, g.Envs...)
	}
	for _, f := range files {
		_, f, _ = strings.Cut(f, "=") // key=path
		if f == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(kubeDir, f)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	if ns := k.one(t, "Namespace"); ns.Metadata.Name != k.k.Namespace || k.k.Namespace == "" {
		t.Errorf("kustomization.yaml namespace %q; the Namespace created is %q", k.k.Namespace, ns.Metadata.Name)
	}
	// A manifest left out of resources is never applied.
	manifests, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		b := filepath.Base(m)
		if b == "kustomization.yaml" || slices.Contains(files, b) {
			continue
		}
		if !slices.Contains(k.k.Resources, b) {
			t.Errorf("%s: neither a resource nor a generator file of kustomization.yaml", m)
		}
	}
}

// hubContainer is the Deployment's hub container and the Deployment.
func (k kube) hubContainer(t *testing.T) (deployment, container) {
	t.Helper()
	var d deployment
	k.one(t, "Deployment").as(t, &d)
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment: %d containers; want the hub's", len(cs))
	}
	return d, cs[0]
}

// configFile is the file of this directory the hub container reads as its
// configuration: through the config volume, a ConfigMap of the
// kustomization's generator.
func (k kube) configFile(t *testing.T) string {
	t.Helper()
	d, c := k.hubContainer(t)
	args := c.Args
	if args == nil {
		args = execForm(t, "CMD", parseDockerfile(t).final().last("CMD"))
	}
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("hub container: args %q: want serve --config FILE", args)
	}
	cfgPath := args[i+1]
	for _, m := range c.VolumeMounts {
		if path.Dir(cfgPath) != m.MountPath {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, g := range k.k.ConfigMapGenerator {
				if g.Name != v.ConfigMap.Name {
					continue
				}
				for _, f := range g.Files {
					key, file, ok := strings.Cut(f, "=")
					if !ok {
						key, file = path.Base(f), f
					}
					if key == path.Base(cfgPath) {
						return filepath.Join(kubeDir, file)
					}
				}
			}
		}
	}
	t.Fatalf("hub container: %s is not a key of a generated ConfigMap mounted at %s", cfgPath, path.Dir(cfgPath))
	return ""
}

// podEnv is the hub's environment: the container's env (a fieldRef as a
// made-up value) and the keys of the Secrets it takes with envFrom, with
// their values as committed.
func (k kube) podEnv(t *testing.T) map[string]string {
	t.Helper()
	_, c := k.hubContainer(t)
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.SecretRef == nil {
			continue
		}
		found := false
		for _, o := range k.objects {
			if o.Kind == "Secret" && o.Metadata.Name == e.SecretRef.Name {
				var s secret
				o.as(t, &s)
				maps.Copy(env, s.StringData)
				for key, v := range s.Data {
					b, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						t.Fatalf("Secret %s data %s: %v", o.Metadata.Name, key, err)
					}
					env[key] = string(b)
				}
				found = true
			}
		}
		if !found {
			t.Errorf("envFrom: Secret %s is not among the resources", e.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = "from-" + e.ValueFrom.FieldRef.FieldPath
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// TestKubernetesConfig checks the ConfigMap's hub.yaml: every variable it
// names is set in the pod, it loads with hub.LoadConfig once the Secret's
// placeholders are replaced, and the hub refuses it with the placeholders
// as committed.
func TestKubernetesConfig(t *testing.T) {
	k := loadKube(t)
	file := k.configFile(t)
	env := k.podEnv(t)

	// As committed, the keys are placeholders the hub refuses.
	if _, err := loadHubConfig(t, file, env); err == nil || !strings.Contains(err.Error(), "not base64") {
		t.Errorf("hub.LoadConfig with the Secret's placeholders: %v; want the keys refused, so a forgotten placeholder stops the hub", err)
	}
	for key, v := range env {
		if strings.HasSuffix(key, "_KEY") && strings.HasPrefix(key, "LIENTHONG_") && !strings.Contains(v, "REPLACE_ME") {
			t.Errorf("Secret %s: %q is not marked REPLACE_ME: commit no key", key, v)
		}
	}

	// Filled in, it loads.
	filled := maps.Clone(env)
	for key, v := range filled {
		if !strings.Contains(v, "REPLACE_ME") {
			continue
		}
		switch {
		case strings.HasSuffix(key, "_KEY") && strings.HasPrefix(key, "LIENTHONG_"):
			filled[key] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		case strings.HasSuffix(key, "_DSN"):
			filled[key] = "postgres://lienthong:secret@postgres.example:5432/lienthong"
		default:
			filled[key] = "secret"
		}
	}
	cfg := mustLoadHubConfig(t, file, filled)
	if cfg.Store.PostgresDSN == "" {
		t.Error("store: want PostgreSQL (several instances share it)")
	}
	if cfg.Instance != env["HUB_INSTANCE"] || !strings.HasPrefix(cfg.Instance, "from-metadata.name") {
		t.Errorf("instance %q: want ${HUB_INSTANCE}, the pod's name", cfg.Instance)
	}
}

// TestKubernetesDeployment checks the Deployment against the hub: two or more
// replicas; probes on /healthz and /readyz at the container port the
// configuration's http.listen names; non-root as the image's user, read-only
// root; resources above the benchmark's peak memory; a grace period longer
// than the hub's stop; and the Service, PodDisruptionBudget and Prometheus
// annotations on the same pods and port.
func TestKubernetesDeployment(t *testing.T) {
	k := loadKube(t)
	d, c := k.hubContainer(t)
	tpl := d.Spec.Template
	if d.Spec.Replicas < 2 {
		t.Errorf("Deployment: %d replicas; want 2 or more", d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, tpl.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("Deployment: selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, tpl.Metadata.Labels)
	}

	filled := k.podEnv(t)
	for key, v := range filled {
		if strings.HasPrefix(key, "LIENTHONG_") && strings.HasSuffix(key, "_KEY") {
			filled[key] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		} else if strings.Contains(v, "REPLACE_ME") && strings.HasSuffix(key, "_DSN") {
			filled[key] = "postgres://lienthong:x@postgres:5432/lienthong"
		} else if strings.Contains(v, "REPLACE_ME") {
			filled[key] = "x"
		}
	}
	port := listenPort(t, mustLoadHubConfig(t, k.configFile(t), filled))

	// Container ports by name and number.
	ports := map[string]string{}
	for _, p := range c.Ports {
		n := strconv.Itoa(p.ContainerPort)
		ports[n] = n
		if p.Name != "" {
			ports[p.Name] = n
		}
	}
	if _, ok := ports[port]; !ok {
		t.Errorf("hub container: ports %v; http.listen is :%s", c.Ports, port)
	}
	for _, pr := range []struct {
		name string
		p    *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"startupProbe", c.StartupProbe, "/healthz"}} {
		if pr.p == nil {
			if pr.name != "startupProbe" {
				t.Errorf("hub container: no %s", pr.name)
			}
			continue
		}
		if pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || ports[pr.p.HTTPGet.Port.s] != port {
			t.Errorf("hub container %s: %+v; want GET %s on port %s (http.listen)", pr.name, pr.p.HTTPGet, pr.path, port)
		}
	}
	// /readyz waits up to 2 s for the store and a broker.
	if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 2 {
		t.Errorf("readinessProbe timeoutSeconds %d: /readyz may take 2 s", c.ReadinessProbe.TimeoutSeconds)
	}

	// Security: the image's numeric user, non-root, read-only, no privileges.
	uid, _, _ := strings.Cut(parseDockerfile(t).user(t), ":")
	sc := tpl.Spec.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || strconv.Itoa(sc.RunAsUser) != uid {
		t.Errorf("pod securityContext: runAsNonRoot %v, runAsUser %d; want true and the image's user %s", sc.RunAsNonRoot, sc.RunAsUser, uid)
	}
	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("hub container: want readOnlyRootFilesystem")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("hub container: want allowPrivilegeEscalation false")
	}
	if !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Error("hub container: want capabilities drop ALL")
	}

	// Resources.
	for _, r := range []string{"cpu", "memory"} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req == "" || lim == "" {
			t.Errorf("hub container: %s request %q, limit %q; want both", r, req, lim)
			continue
		}
		if quantity(t, req) > quantity(t, lim) {
			t.Errorf("hub container: %s request %s above its limit %s", r, req, lim)
		}
	}
	if m := c.Resources.Requests["memory"]; m != "" && quantity(t, m) < benchPeakRSS {
		t.Errorf("hub container: memory request %s below the benchmark's peak RSS (%d MiB)", m, benchPeakRSS>>20)
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" && quantity(t, strings.TrimSuffix(e.Value, "B")) >= quantity(t, c.Resources.Limits["memory"]) {
			t.Errorf("GOMEMLIMIT %s: want it below the memory limit %s", e.Value, c.Resources.Limits["memory"])
		}
	}
	if g := tpl.Spec.TerminationGracePeriodSeconds; float64(g) <= hubStopBound.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d: want more than the hub's %s stop", g, hubStopBound)
	}

	// The Service, the PodDisruptionBudget and the scrape annotations.
	var svc service
	k.one(t, "Service").as(t, &svc)
	if !subset(svc.Spec.Selector, tpl.Metadata.Labels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service: selector %v does not select the hub's pods %v", svc.Spec.Selector, tpl.Metadata.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if ports[p.TargetPort.s] != port {
			t.Errorf("Service: targetPort %s is not the hub's port %s", p.TargetPort.s, port)
		}
	}
	var budget pdb
	k.one(t, "PodDisruptionBudget").as(t, &budget)
	if budget.Spec.MinAvailable == nil || budget.Spec.MinAvailable.s != "1" {
		t.Errorf("PodDisruptionBudget: minAvailable %v; want 1", budget.Spec.MinAvailable)
	}
	if !maps.Equal(budget.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget: selector %v; the Deployment's is %v", budget.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	if budget.Spec.MinAvailable != nil && mustAtoi(t, budget.Spec.MinAvailable.s) >= d.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %s with %d replicas: no node could ever be drained", budget.Spec.MinAvailable.s, d.Spec.Replicas)
	}
	a := tpl.Metadata.Annotations
	if a["prometheus.io/scrape"] == "true" && (a["prometheus.io/port"] != port || a["prometheus.io/path"] != "/metrics") {
		t.Errorf("pod annotations: prometheus.io/port %q, path %q; want %s and /metrics", a["prometheus.io/port"], a["prometheus.io/path"], port)
	}
}

// TestKustomizeBuild builds the kustomization with kubectl (where installed;
// no cluster needed): every object lands in the namespace, and the
// Deployment mounts the generated, hash-named ConfigMap.
func TestKustomizeBuild(t *testing.T) {
	kubectl := lookPath(t, "kubectl")
	if kubectl == "" {
		t.Skip("kubectl is not installed")
	}
	out := run(t, kubectl, "kustomize", kubeDir)
	if t.Failed() {
		return
	}
	k := loadKube(t)
	built := kube{k: k.k, objects: decodeObjects(t, "kubectl kustomize", out)}
	var configMaps []string
	for _, o := range built.objects {
		if o.Kind != "Namespace" && o.Metadata.Namespace != k.k.Namespace {
			t.Errorf("%s %s: namespace %q; want %s", o.Kind, o.Metadata.Name, o.Metadata.Namespace, k.k.Namespace)
		}
		if o.Kind == "ConfigMap" {
			configMaps = append(configMaps, o.Metadata.Name)
		}
	}
	d, _ := built.hubContainer(t)
	var mounted []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			mounted = append(mounted, v.ConfigMap.Name)
		}
	}
	if len(mounted) != 1 || !slices.Contains(configMaps, mounted[0]) || mounted[0] == k.k.ConfigMapGenerator[0].Name {
		t.Errorf("built Deployment mounts ConfigMaps %v; built ConfigMaps %v: want the generated one, its name hashed", mounted, configMaps)
	}
}

// subset reports whether every label of a is in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var quantityRE = regexp.MustCompile(`^([0-9.]+)(m|Ki|Mi|Gi|k|M|G)?$`)

// quantity parses a Kubernetes quantity (CPU in cores, memory in bytes).
func quantity(t *testing.T, q string) float64 {
	t.Helper()
	m := quantityRE.FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("quantity %q: not understood", q)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v * map[string]float64{"": 1, "m": 1e-3, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 1e3, "M": 1e6, "G": 1e9}[m[2]]
}
