package modelmanifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaFile = "../../schema/model-manifest.schema.json"

func TestLoadManifestSeed(t *testing.T) {
	fromYAML, err := Load("testdata/good/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Model{
		Name:      "gpt-realtime",
		Version:   "2026-04-01", // unquoted in the YAML: a date scalar is still its text
		Supplier:  &Supplier{Name: "OpenAI", URL: "https://openai.com"},
		External:  &External{Provider: "OpenAI", Endpoint: "wss://api.openai.com/v1/realtime?model=gpt-realtime"},
		ModelCard: &ModelCard{Approach: "supervised", Task: "speech-to-speech"},
		Hashes:    []Hash{},
	}
	if len(fromYAML.Models) != 1 || !reflect.DeepEqual(fromYAML.Models[0], want) {
		t.Fatalf("seed.yaml models = %+v, want [%+v]", fromYAML.Models, want)
	}
	// The same manifest as JSON, indented with tabs (which YAML refuses as indentation).
	fromJSON, err := Load("testdata/good/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON.Models, fromYAML.Models) {
		t.Fatalf("seed.json models = %+v, want %+v", fromJSON.Models, fromYAML.Models)
	}
}

func TestLoadManifestFull(t *testing.T) {
	m := loadFull(t, t.TempDir(), map[string]string{
		"SENTIMENT_SHA256":         strings.Repeat("ab", 32),
		"SENTIMENT_SHA512":         strings.Repeat("CD", 64),
		"SUMMARIZER_SHARD2_SHA512": strings.Repeat("ef", 64),
	})
	if got := len(m.Models); got != 4 {
		t.Fatalf("models = %d, want 4", got)
	}
	s := m.Models[1]
	if s.Hashes[0] != (Hash{Alg: "SHA-256", Content: strings.Repeat("ab", 32)}) || s.Hashes[1] != (Hash{Alg: "SHA-512", Content: strings.Repeat("cd", 64)}) {
		t.Errorf("hashes not normalised: %+v", s.Hashes)
	}
	if !slices.Equal(s.BaseModel, []string{"distilbert/distilbert-base-uncased"}) {
		t.Errorf("baseModel = %v", s.BaseModel)
	}
	env := s.ModelCard.Considerations.Environmental
	if len(env) != 2 || *env[0].EnergyKWh != 12.5 || *env[0].CO2Tonnes != 0.004 || env[1].CO2Tonnes != nil {
		t.Errorf("environmental = %+v", env)
	}
	g := m.Datasets[0].Governance
	if g.Owners[0] != (Party{Name: "Stanford NLP"}) || g.Custodians[0] != (Party{Name: "Data Team", Email: "data@example.com"}) {
		t.Errorf("governance = %+v", g)
	}
	if line := m.lines["models[1].path"]; line == 0 {
		t.Errorf("no line recorded for models[1].path")
	}
}

// loadFull writes full.yaml with its ${…} placeholders filled in and loads it.
func loadFull(t *testing.T, dir string, vars map[string]string) *Manifest {
	t.Helper()
	raw, err := os.ReadFile("testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "full.yaml")
	if err := os.WriteFile(p, []byte(expandVars(string(raw), vars)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// badManifests are the manifests LoadManifest must refuse, each with the field its error names.
// schema marks the ones the JSON Schema refuses too (it cannot see duplicates or references).
var badManifests = []struct {
	file   string
	err    error
	want   string
	schema bool
}{
	{"unknown-field.yaml", ErrUnknownField, `models[0].modelCard.taks: unknown field, did you mean "task"?`, true},
	{"unknown-top-level.yaml", ErrUnknownField, `model: unknown field, did you mean "models"?`, true},
	{"snake-case-key.yaml", ErrUnknownField, `models[0].base_model: unknown field, did you mean "baseModel"?`, true},
	{"models-not-a-list.yaml", ErrType, "models: want a list, got a mapping", true},
	{"version-is-a-list.yaml", ErrType, "models[0].version: want a string, got a list", true},
	{"sensitive-data-not-a-list.yaml", ErrType, `datasets[0].sensitiveData: want a list, got the string "PII"`, true},
	{"energy-not-a-number.yaml", ErrType, `models[0].modelCard.considerations.environmental[0].energyKWh: want a number`, true},
	{"missing-name.yaml", ErrRequired, "models[0].name: every model needs a name", true},
	{"duplicate-model-name.yaml", ErrDuplicate, `models[1].name: "m" is already the name of models[0]`, false},
	{"duplicate-dataset-name.yaml", ErrDuplicate, `datasets[1].name: "d" is already the name of datasets[0]`, false},
	{"dataset-reference-to-nothing.yaml", ErrReference, `models[0].modelCard.datasets[1]: "missing" is not declared in datasets[]`, false},
	{"bad-purl.yaml", ErrPURL, `models[0].purl: "huggingface/org/m" is not a package URL`, true},
	{"bad-base-model-purl.yaml", ErrPURL, `models[0].baseModel[1]: "pkg:" is not a package URL`, false},
	{"relative-path.yaml", ErrPath, `models[0].path: "models/m" must be an absolute path`, true},
	{"path-escapes.yaml", ErrPath, `models[0].path: "/opt/models/../../etc" must not contain ..`, true},
	{"path-not-clean.yaml", ErrPath, `models[0].path: "/opt//models/m/" is not a clean path; write /opt/models/m`, true},
	{"overlapping-paths.yaml", ErrDuplicate, "models[1].path: /opt/models/b overlaps models[0].path /opt/models", false},
	{"unverifiable-hash-alg.yaml", ErrValue, `models[0].hashes[0].alg: "SHA-1" is not one of SHA-256, SHA-512`, true},
	{"short-hash.yaml", ErrValue, "models[0].hashes[0].content: a SHA-256 digest has 64 hex digits, this one has 32", true},
	{"bad-approach.yaml", ErrValue, `models[0].modelCard.approach: "vibes" is not one of supervised,`, true},
	{"bad-environmental.yaml", ErrValue, `models[0].modelCard.considerations.environmental[0].activity: "cooking" is not one of design,`, true},
	{"bad-environmental.yaml", ErrRequired, `models[0].modelCard.considerations.environmental[0].energyKWh: give the energy used`, true},
	{"metric-without-value.yaml", ErrRequired, "models[0].modelCard.metrics[0].value: give the metric's value", true},
	{"external-with-path.yaml", ErrValue, "models[0].path: an external model has no weights in the image", true},
	{"bad-endpoint.yaml", ErrValue, `models[0].external.endpoint: "api.acme.example/v1" is not an absolute URL`, true},
	{"supplier-without-name.yaml", ErrRequired, "models[0].supplier.name: a supplier needs a name", true},
	{"no-location.yaml", ErrRequired, "models[0]: say where the model is", true},
	{"party-with-bad-email.yaml", ErrValue, `datasets[0].governance.custodians[0].email: "data-team" is not an email address`, true},
	{"no-models-or-datasets.yaml", ErrRequired, "declares no models and no datasets", true},
	{"empty.yaml", ErrRequired, "the file is empty", false},
	{"not-yaml.yaml", ErrType, "not valid YAML", false},
	{"not-json.json", ErrType, "not valid JSON", false},
	{"two-documents.yaml", ErrType, "holds more than one YAML document", false},
}

func TestLoadManifestBad(t *testing.T) {
	for _, tt := range badManifests {
		t.Run(tt.file, func(t *testing.T) {
			file := filepath.Join("testdata/bad", tt.file)
			m, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", tt.file, m)
			}
			if !errors.Is(err, ErrManifest) || !errors.Is(err, tt.err) {
				t.Fatalf("error %v\nis not ErrManifest and %v", err, tt.err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "model-manifest: ") {
				t.Errorf("error %q does not name the model-manifest input", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\ndoes not say %q", msg, tt.want)
			}
			if !strings.Contains(msg, file) {
				t.Errorf("error %q does not name the file", msg)
			}
		})
	}
}

func TestLoadManifestLineNumbers(t *testing.T) {
	_, err := Load("testdata/bad/unknown-field.yaml")
	if err == nil || !strings.Contains(err.Error(), "unknown-field.yaml:6)") {
		t.Fatalf("error %v does not point at line 6", err)
	}
}

func TestLoadManifestReportsAllProblems(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	doc := "models:\n  - name: a\n    purl: nope\n    colour: red\n  - name: a\n    path: rel\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil {
		t.Fatal("no error")
	}
	// Unknown fields and types are reported first; the semantic checks run on a document that
	// decoded cleanly, so they cannot trip over half-read values.
	if !strings.Contains(err.Error(), "models[0].colour: unknown field") {
		t.Fatalf("error %v lacks the unknown field", err)
	}
	p2 := filepath.Join(t.TempDir(), "m.yaml")
	doc = "models:\n  - name: a\n    purl: nope\n  - name: a\n    path: rel\n"
	if err := os.WriteFile(p2, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p2)
	for _, want := range []string{"models[0].purl", "models[1].name", "models[1].path"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not report %s", err, want)
		}
	}
}

func TestLoadManifestFileProblems(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), maxManifestSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		err  error
		want string
	}{
		{filepath.Join(dir, "missing.yaml"), ErrValue, "cannot read"},
		{big, ErrValue, "larger than 4 MiB"},
	}
	for _, tt := range tests {
		_, err := Load(tt.file)
		if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want %v mentioning %q", tt.file, err, tt.err, tt.want)
		}
	}
}

// TestSchemaAgreesWithLoader checks the shipped JSON Schema against the loader: the good
// manifests validate, the bad ones it can judge fail, and it names exactly the fields the Go
// types decode, so editor completion never offers a key LoadManifest would refuse.
func TestSchemaAgreesWithLoader(t *testing.T) {
	schema := compileSchema(t)
	for _, f := range []string{"seed.yaml", "seed.json", "full.yaml"} {
		doc := yamlFileToAny(t, filepath.Join("testdata/good", f), map[string]string{
			"SENTIMENT_SHA256": strings.Repeat("ab", 32), "SENTIMENT_SHA512": strings.Repeat("cd", 64), "SUMMARIZER_SHARD2_SHA512": strings.Repeat("ef", 64),
		})
		if err := schema.Validate(doc); err != nil {
			t.Errorf("good/%s does not validate against the schema: %v", f, err)
		}
	}
	for _, tt := range badManifests {
		if !tt.schema {
			continue
		}
		doc := yamlFileToAny(t, filepath.Join("testdata/bad", tt.file), nil)
		if err := schema.Validate(doc); err == nil {
			t.Errorf("bad/%s validates against the schema; it should not", tt.file)
		}
	}

	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s any
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	inSchema := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok {
				for k := range props {
					inSchema[k] = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(s)
	inGo := map[string]bool{}
	var fields func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	fields = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for name, i := range yamlFields(t) {
			inGo[name] = true
			fields(t.Field(i).Type)
		}
	}
	fields(reflect.TypeOf(Manifest{}))
	for k := range inGo {
		if !inSchema[k] {
			t.Errorf("field %q is decoded but not in the schema", k)
		}
	}
	for k := range inSchema {
		if !inGo[k] {
			t.Errorf("schema property %q is not decoded by LoadManifest", k)
		}
	}
}

var varRe = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// expandVars fills ${NAME} placeholders (and leaves a JSON "$schema" key alone).
func expandVars(s string, vars map[string]string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string { return vars[m[2:len(m)-1]] })
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("model-manifest.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("model-manifest.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// yamlFileToAny reads YAML the way an editor's YAML language server does (YAML 1.2 core schema:
// a date is a string) into JSON values for the schema validator.
func yamlFileToAny(t *testing.T, file string, vars map[string]string) any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := expandVars(string(raw), vars)
	text = strings.ReplaceAll(text, "\t", " ")
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(n.Content) == 0 {
		return nil
	}
	return nodeToAny(n.Content[0])
}

func nodeToAny(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeToAny(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, nodeToAny(c))
		}
		return out
	case yaml.AliasNode:
		return nodeToAny(n.Alias)
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		return n.Value == "true"
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err == nil {
			return f
		}
	}
	return n.Value
}
