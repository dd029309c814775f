package api_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/camvault/camvault/internal/api"
)

// TestSpecMatchesRoutes fails when api/openapi.yaml and the route table
// disagree about which method and path pairs exist.
func TestSpecMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	inSpec := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				inSpec[strings.ToUpper(method)+" /api/v1"+path] = true
			}
		}
	}
	inRoutes := map[string]bool{}
	for _, r := range api.New(api.Config{}).Routes() {
		inRoutes[r.Pattern] = true
	}
	var problems []string
	for k := range inRoutes {
		if !inSpec[k] {
			problems = append(problems, "route not in spec: "+k)
		}
	}
	for k := range inSpec {
		if !inRoutes[k] {
			problems = append(problems, "spec path with no route: "+k)
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
