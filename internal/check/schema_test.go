package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestValidate(t *testing.T) {
	minimal := func(v string) string {
		return `{"bomFormat":"CycloneDX","specVersion":"` + v + `","serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79","version":1,"components":[{"type":"library","name":"x","purl":"pkg:pypi/x@1.0"}]}`
	}
	tests := []struct {
		name, doc, version string
		err                error
	}{
		{"1.5 minimal", minimal("1.5"), "1.5", nil},
		{"1.6 minimal", minimal("1.6"), "1.6", nil},
		{"1.7 minimal", minimal("1.7"), "1.7", nil},
		{"bad component type", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"gadget","name":"x"}]}`, "1.6", ErrSchema},
		{"missing bomFormat", `{"specVersion":"1.6"}`, "1.6", ErrSchema},
		{"bad serial", `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"nope"}`, "1.6", ErrSchema},
		{"ml model card needs 1.5+ type", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"machine-learning-model","name":"m","modelCard":{"modelParameters":{"task":"x"}}}]}`, "1.5", nil},
		{"not json", `{`, "1.6", ErrSchema},
		{"unknown version", minimal("1.4"), "1.4", ErrSpecVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc), specOf(tt.version))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Validate() = %v, want %v", err, tt.err)
			}
		})
	}
}

// specOf maps the table's "1.x" to cyclonedx-go's constant, as config does for the input.
func specOf(v string) cyclonedx.SpecVersion {
	var sv cyclonedx.SpecVersion
	if err := sv.UnmarshalJSON([]byte(`"` + v + `"`)); err != nil {
		return 0
	}
	return sv
}

// TestComponentsSchema pins what Validate's split relies on: each schema holds the document's
// components array to being an array of components with no two equal, and to nothing else, and
// nothing at the document's level reads what is in it.
func TestComponentsSchema(t *testing.T) {
	for _, v := range SpecVersions {
		raw, err := schemas.ReadFile("schema/bom-" + v.String() + ".SNAPSHOT.schema.json")
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		comps := s["properties"].(map[string]any)["components"].(map[string]any)
		for k, want := range map[string]any{"type": "array", "items": map[string]any{"$ref": componentPointer}, "uniqueItems": true} {
			if !reflect.DeepEqual(comps[k], want) {
				t.Errorf("%s: components %s = %v, want %v", v, k, comps[k], want)
			}
		}
		for k := range comps {
			if !slices.Contains([]string{"type", "items", "uniqueItems", "title", "description"}, k) {
				t.Errorf("%s: components has %q, which Validate's split does not check", v, k)
			}
		}
		for k := range s {
			if !slices.Contains([]string{"$schema", "$id", "type", "title", "$comment", "required", "additionalProperties", "properties", "definitions"}, k) {
				t.Errorf("%s: the document schema has %q, which may read the components", v, k)
			}
		}
	}
}

// TestValidateIsWholeDocument: splitting the components off gives the verdict one validation
// of the whole document gives, on documents that pass and documents that fail in and around
// the components.
func TestValidateIsWholeDocument(t *testing.T) {
	comp := func(name string) string {
		return `{"type":"library","name":"` + name + `","purl":"pkg:pypi/` + name + `@1.0"}`
	}
	doc := func(v, comps string) string {
		return `{"bomFormat":"CycloneDX","specVersion":"` + v + `","version":1,"components":` + comps + `,"dependencies":[{"ref":"a"}]}`
	}
	many := make([]string, 300)
	for i := range many {
		many[i] = comp(fmt.Sprintf("p%d", i))
	}
	tests := []struct {
		name, doc string
		ok        bool
	}{
		{"many", doc("1.6", "["+strings.Join(many, ",")+"]"), true},
		{"empty", doc("1.6", "[]"), true},
		{"components first", `{"components":[` + comp("a") + `],"bomFormat":"CycloneDX","specVersion":"1.6"}`, true},
		{"nested components", doc("1.6", `[{"type":"library","name":"a","components":[`+comp("b")+`,`+comp("b")+`]}]`), false},
		{"one bad of many", doc("1.6", "["+strings.Join(append(slices.Clone(many), `{"type":"gadget","name":"x"}`), ",")+"]"), false},
		{"bad elsewhere", `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"nope","components":[` + comp("a") + `]}`, false},
		{"duplicate", doc("1.6", "["+comp("a")+","+comp("b")+","+comp("a")+"]"), false},
		{"duplicate in other order", doc("1.6", `[{"name":"a","type":"library"},{"type":"library","name":"a"}]`), false},
		{"duplicate, nested members in other order", doc("1.6", `[{"type":"library","name":"a","modelCard":{"quantitativeAnalysis":{"performanceMetrics":[{"type":"x","value":"1"}]}},"properties":[{"name":"n","value":"1"}]},{"type":"library","name":"a","properties":[{"name":"n","value":"1"}],"modelCard":{"quantitativeAnalysis":{"performanceMetrics":[{"type":"x","value":"1"}]}}}]`), false},
		{"not an array", doc("1.6", `{"a":1}`), false},
		{"not components", doc("1.6", `[1, "x", null]`), false},
		{"two components members", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"gadget","name":"x"}],"components":[` + comp("a") + `]}`, true},
		{"trailing data", doc("1.6", "["+comp("a")+"]") + " {}", false},
		{"truncated", doc("1.6", "["+comp("a")+"]")[:60], false},
	}
	s := func() *jsonschema.Schema { compileOnce.Do(compileAll); return compiled[cyclonedx.SpecVersion1_6] }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := validateWhole(s, []byte(tt.doc), cyclonedx.SpecVersion1_6)
			got := Validate([]byte(tt.doc), cyclonedx.SpecVersion1_6)
			if (whole == nil) != tt.ok {
				t.Fatalf("the whole document's validation says %v; the table says ok=%v", whole, tt.ok)
			}
			if (got == nil) != (whole == nil) {
				t.Fatalf("Validate() = %v; the whole document's validation = %v", got, whole)
			}
			if got != nil && !errors.Is(got, ErrSchema) {
				t.Fatalf("Validate() = %v, want ErrSchema", got)
			}
		})
	}
}

// TestEqualValues: the form uniqueness is decided on is shared by values JSON Schema holds
// equal, and by no others.
func TestEqualValues(t *testing.T) {
	same := [][2]string{
		{`{"a":1,"b":[true,null]}`, `{"b":[true,null],"a":1.0}`},
		{`1e2`, `100`},
		{`"x"`, `"\u0078"`},
	}
	differ := [][2]string{
		{`{"a":1}`, `{"a":"1"}`},
		{`["ab","c"]`, `["a","bc"]`},
		{`{"a":[]}`, `{"a":{}}`},
		{`[null]`, `[false]`},
		{`{"ab":"c"}`, `{"a":"bc"}`},
	}
	form := func(s string) string {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return string(appendValue(nil, v))
	}
	for _, p := range same {
		if form(p[0]) != form(p[1]) {
			t.Errorf("%s and %s are equal but not taken so", p[0], p[1])
		}
	}
	for _, p := range differ {
		if form(p[0]) == form(p[1]) {
			t.Errorf("%s and %s differ but are taken as equal", p[0], p[1])
		}
	}
}

// FuzzValidateIsWholeDocument: on any input, Validate's verdict is the whole document's.
func FuzzValidateIsWholeDocument(f *testing.F) {
	comp := `{"type":"library","name":"a"}`
	for _, seed := range []string{
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + comp + `]}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + comp + `,` + comp + `]}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"a","type":"library"},` + comp + `]}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","version":"1"},{"type":"library","name":"a","version":"1.0"}]}`,
		`{"components":[],"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"gadget"}]}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + comp + `]} x`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":{}}`,
		`[]`, `{`, ``,
	} {
		f.Add(seed)
	}
	s := func() *jsonschema.Schema { compileOnce.Do(compileAll); return compiled[cyclonedx.SpecVersion1_6] }()
	f.Fuzz(func(t *testing.T, doc string) {
		whole := validateWhole(s, []byte(doc), cyclonedx.SpecVersion1_6)
		got := Validate([]byte(doc), cyclonedx.SpecVersion1_6)
		if (got == nil) != (whole == nil) {
			t.Fatalf("Validate() = %v; the whole document's validation = %v", got, whole)
		}
	})
}
