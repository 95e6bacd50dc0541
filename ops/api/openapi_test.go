package api_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/ops/api"
)

// TestOpenAPI: the specification documents every route the API serves,
// with the roles' refusals, and nothing it does not serve.
func TestOpenAPI(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			Responses map[string]any `yaml:"responses"`
			Security  *[]any         `yaml:"security"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi %q; want 3.x", spec.OpenAPI)
	}
	served := map[string]bool{"GET /api/openapi.yaml": true}
	for _, e := range api.Endpoints {
		key := e.Method + " " + e.Pattern
		served[key] = true
		op, ok := spec.Paths[e.Pattern][strings.ToLower(e.Method)]
		if !ok {
			t.Errorf("%s is not documented", key)
			continue
		}
		want := []string{"200", "401"}
		if len(e.Roles) < 3 {
			want = append(want, "403")
		}
		if strings.Contains(e.Pattern, "{id}") {
			want = append(want, "404")
		}
		for _, code := range want {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s: response %s not documented", key, code)
			}
		}
	}
	for path, ops := range spec.Paths {
		for method := range ops {
			if key := strings.ToUpper(method) + " " + path; !served[key] {
				t.Errorf("%s is documented but not served", key)
			}
		}
	}
	if !slices.ContainsFunc(api.Endpoints, func(e api.Endpoint) bool { return e.Operation }) {
		t.Error("no operation among the endpoints")
	}
}
