package api_test

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/camvault/camvault/internal/api"
	"github.com/camvault/camvault/internal/domain"
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

// schemaKeywords are the keys a Schema Object may have (OpenAPI 3.1, JSON
// Schema 2020-12, the ones an API description uses).
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "format": true, "description": true, "title": true, "properties": true,
	"items": true, "required": true, "enum": true, "const": true, "default": true, "examples": true,
	"example": true, "additionalProperties": true, "oneOf": true, "anyOf": true, "allOf": true, "not": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minProperties": true, "maxProperties": true, "readOnly": true, "writeOnly": true, "deprecated": true,
	"discriminator": true, "nullable": true,
}

// TestSpecSchemasWellFormed fails on a schema with a key that is no
// schema keyword — typically an unquoted description with a comma or a
// colon in a flow mapping, which YAML splits into extra keys (what
// `npx @redocly/cli lint api/openapi.yaml` reports as "Property … is not
// expected here").
func TestSpecSchemasWellFormed(t *testing.T) {
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var schema func(n *yaml.Node, where string)
	var walk func(n *yaml.Node, where string)
	// schema checks n as a Schema Object and the schemas inside it.
	schema = func(n *yaml.Node, where string) {
		if n.Kind != yaml.MappingNode {
			if n.Kind != yaml.ScalarNode || (n.Value != "true" && n.Value != "false") {
				t.Errorf("%s (line %d): a schema must be a mapping", where, n.Line)
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if !schemaKeywords[k.Value] {
				t.Errorf("%s (line %d): %q is no schema keyword (an unquoted value with a comma?)", where, k.Line, k.Value)
				continue
			}
			switch k.Value {
			case "properties":
				for j := 0; j+1 < len(v.Content); j += 2 {
					schema(v.Content[j+1], where+"."+v.Content[j].Value)
				}
			case "items", "additionalProperties", "not":
				schema(v, where+"."+k.Value)
			case "oneOf", "anyOf", "allOf":
				for _, s := range v.Content {
					schema(s, where+"."+k.Value)
				}
			}
		}
	}
	// walk finds every schema in the document: components' schemas and
	// every "schema" key of parameters and media types.
	walk = func(n *yaml.Node, where string) {
		if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode && n.Kind != yaml.DocumentNode {
			return
		}
		if n.Kind != yaml.MappingNode {
			for _, c := range n.Content {
				walk(c, where)
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch {
			case k.Value == "schema":
				schema(v, where)
			case k.Value == "schemas" && where == "components":
				for j := 0; j+1 < len(v.Content); j += 2 {
					schema(v.Content[j+1], "components.schemas."+v.Content[j].Value)
				}
			default:
				next := k.Value
				if where != "" {
					next = where + "." + k.Value
				}
				walk(v, next)
			}
		}
	}
	walk(&doc, "")
}

// TestSpecCameraActions: the actions (permissions) a camera lists in the
// spec are exactly the policy's camera actions.
func TestSpecCameraActions(t *testing.T) {
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Items struct {
						Enum []string `yaml:"enum"`
					} `yaml:"items"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range domain.CameraActions {
		want = append(want, string(a))
	}
	got := spec.Components.Schemas["Camera"].Properties["actions"].Items.Enum
	if !slices.Equal(got, want) {
		t.Fatalf("Camera.actions enum %v, want the policy's camera actions %v", got, want)
	}
}
