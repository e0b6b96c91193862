package admission

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// crdDir, when set, regenerates testdata/crd from Kyverno's own CRDs:
//
//	go test ./internal/admission -run TestCRDSchemas -crds ../shared/kyverno-v1.19.0-crds
var crdDir = flag.String("crds", "", "directory of Kyverno's CRD YAML files to extract the schemas from")

// crds are the CRDs and the version of each that bom-attest writes.
var crds = []struct {
	file, version, schema string
	kind                  Kind
}{
	{"policies.kyverno.io_imagevalidatingpolicies.yaml", "v1", "imagevalidatingpolicies.v1.json", KindImageValidating},
	{"kyverno.io_clusterpolicies.yaml", "v1", "clusterpolicies.v1.json", KindClusterPolicy},
}

// TestCRDSchemas extracts, with -crds, the openAPIV3Schema of each CRD version bom-attest writes,
// without its descriptions (the schema keyword, not properties of that name), and checks that
// what is checked in parses.
func TestCRDSchemas(t *testing.T) {
	for _, c := range crds {
		out := filepath.Join("testdata", "crd", c.schema)
		if *crdDir != "" {
			raw, err := os.ReadFile(filepath.Join(*crdDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			schema, err := extractSchema(raw, c.version)
			if err != nil {
				t.Fatalf("%s: %v", c.file, err)
			}
			sum := sha256.Sum256(raw)
			t.Logf("%s (sha256 %s) version %s -> %s", c.file, hex.EncodeToString(sum[:]), c.version, out)
			if err := os.WriteFile(out, schema, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := crdSchema(c.kind); err != nil {
			t.Errorf("%s: %v", out, err)
		}
	}
}

// extractSchema returns the openAPIV3Schema of one version of a CRD as JSON.
func extractSchema(crd []byte, version string) ([]byte, error) {
	var doc struct {
		Spec struct {
			Versions []struct {
				Name   string `yaml:"name"`
				Served bool   `yaml:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				} `yaml:"schema"`
			} `yaml:"versions"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(crd, &doc); err != nil {
		return nil, err
	}
	for _, v := range doc.Spec.Versions {
		if v.Name == version {
			if !v.Served {
				return nil, fmt.Errorf("version %s is not served", version)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("", " ")
			if err := enc.Encode(withoutDescriptions(v.Schema.OpenAPIV3Schema, false)); err != nil {
				return nil, err
			}
			return b.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("no version %s", version)
}

// withoutDescriptions drops the description keyword of every schema; inProperties says the
// keys of m are property names, where "description" is a field like any other.
func withoutDescriptions(v any, inProperties bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if k == "description" && !inProperties {
				continue
			}
			out[k] = withoutDescriptions(val, !inProperties && k == "properties")
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutDescriptions(e, false)
		}
		return out
	}
	return v
}

// crdSchema compiles the CRD schema of a kind as the API server applies it: OpenAPI's nullable
// becomes a null type, x-kubernetes-int-or-string an integer-or-string, and an object with
// declared properties is closed unless x-kubernetes-preserve-unknown-fields keeps it open — the
// API server prunes unknown fields silently, so a misspelt field would be lost, not refused.
// (x-kubernetes-validations, CEL rules, are not evaluated.)
func crdSchema(kind Kind) (*jsonschema.Schema, error) {
	for _, c := range crds {
		if c.kind != kind {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("testdata", "crd", c.schema))
		if err != nil {
			return nil, err
		}
		var s any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		s = asAPIServer(s)
		comp := jsonschema.NewCompiler()
		comp.DefaultDraft(jsonschema.Draft4)
		url := "https://kyverno.io/crd/" + c.schema
		if err := comp.AddResource(url, s); err != nil {
			return nil, err
		}
		return comp.Compile(url)
	}
	return nil, fmt.Errorf("no CRD for %s", kind)
}

func asAPIServer(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if k == "properties" {
				props := map[string]any{}
				for name, p := range val.(map[string]any) {
					props[name] = asAPIServer(p)
				}
				out[k] = props
				continue
			}
			out[k] = asAPIServer(val)
		}
		if out["x-kubernetes-int-or-string"] == true && out["type"] == nil && out["anyOf"] == nil {
			out["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
		if out["nullable"] == true {
			if t, ok := out["type"].(string); ok {
				out["type"] = []any{t, "null"}
			}
		}
		if _, ok := out["properties"]; ok && out["additionalProperties"] == nil && out["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = asAPIServer(e)
		}
		return out
	}
	return v
}

// validateAgainstCRD checks a rendered policy against its kind's CRD schema.
func validateAgainstCRD(t *testing.T, kind Kind, policy []byte) error {
	t.Helper()
	s, err := crdSchema(kind)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(policy, &doc); err != nil {
		return err
	}
	// Through JSON, as kubectl sends it: YAML maps become JSON objects, numbers json.Number.
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func TestCRDSchemaRefusesWhatKubernetesWould(t *testing.T) {
	good, err := Render(fixtureRules(t, KindImageValidating, "public-good"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"misspelt field":   func(s string) string { return strings.Replace(s, "validationActions:", "validationAction:", 1) },
		"wrong enum value": func(s string) string { return strings.Replace(s, "failurePolicy: Fail", "failurePolicy: Sometimes", 1) },
		"wrong type":       func(s string) string { return strings.Replace(s, "timeoutSeconds: 30", "timeoutSeconds: soon", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			bad := edit(string(good))
			if bad == string(good) {
				t.Fatal("the edit changed nothing")
			}
			if err := validateAgainstCRD(t, KindImageValidating, []byte(bad)); err == nil {
				t.Error("the CRD schema accepts it")
			}
		})
	}
	cp, err := Render(fixtureRules(t, KindClusterPolicy, "github"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(cp), "type: SigstoreBundle", "type: Bundle", 1)
	if err := validateAgainstCRD(t, KindClusterPolicy, []byte(bad)); err == nil {
		t.Error("the ClusterPolicy schema accepts verifyImages type Bundle")
	}
}
