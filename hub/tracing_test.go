package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestTracingConfig(t *testing.T) {
	// The example's section, as written (its ${VAR}s do not matter here).
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "hub.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		Tracing TracingConfig `yaml:"tracing"`
	}
	if err := yaml.Unmarshal([]byte(os.Expand(string(raw), func(string) string { return "x" })), &example); err != nil {
		t.Fatal(err)
	}
	if !example.Tracing.Enabled() || example.Tracing.Validate() != nil || *example.Tracing.SampleRatio != 1 {
		t.Errorf("example tracing section: %+v, %v", example.Tracing, example.Tracing.Validate())
	}

	var off Config
	if off.Tracing.Enabled() || off.Tracing.Validate() != nil || tracedLogger(off, nil) != nil {
		t.Error("no tracing section: tracing must be off and need nothing")
	}
	var c Config
	if err := yaml.Unmarshal([]byte("tracing:\n  otlp_endpoint: collector:4318\n  insecure: true\n  headers: {x-api-key: k}\n"), &c); err != nil {
		t.Fatal(err)
	}
	s := c.Tracing.settings("hub-2", nil)
	if s.SampleRatio != 1 || s.Instance != "hub-2" || !s.Insecure || s.Headers["x-api-key"] != "k" || c.Tracing.Validate() != nil {
		t.Errorf("settings %+v", s)
	}
	zero := 0.0
	c.Tracing.SampleRatio = &zero
	if c.Tracing.settings("", nil).SampleRatio != 0 {
		t.Error("sample_ratio 0 (record nothing) read as the default")
	}
	bad := 2.0
	c.Tracing = TracingConfig{OTLPEndpoint: "https://collector", Insecure: true, SampleRatio: &bad}
	err = c.Tracing.Validate()
	if err == nil || !strings.Contains(err.Error(), "tracing: ") || !strings.Contains(err.Error(), "sample_ratio") || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("bad section: %v", err)
	}
	// The hub refuses to start with it.
	c.Tracing.Insecure = false
	h := New(c, nil, nil, nil)
	if err := h.startTracing(&parts{}); err == nil || !strings.Contains(err.Error(), "sample_ratio") {
		t.Errorf("start with a bad section: %v", err)
	}
}
