package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite action.yml from the input and output tables")

// actionYAML renders action.yml from Inputs and Outputs, so the runner's view of the action and
// the Go code cannot drift apart.
func actionYAML() string {
	var b strings.Builder
	b.WriteString(`# Generated from internal/config/inputs.go: go test ./internal/config -update
name: bom-attest
description: CycloneDX SBOM and ML-BOM of a container image, with pedigree, signed keyless with Sigstore and published as attestations in one step.
author: bom-attest
branding:
  icon: shield
  color: blue
inputs:
`)
	for _, in := range Inputs {
		fmt.Fprintf(&b, "  %s:\n    description: %s\n    required: false\n", in.Name, quote(in.Description))
		def := in.Default
		if in.ActionDefault != "" {
			def = in.ActionDefault
		}
		if def != "" {
			fmt.Fprintf(&b, "    default: %s\n", quote(def))
		}
	}
	b.WriteString("outputs:\n")
	for _, o := range Outputs {
		fmt.Fprintf(&b, "  %s:\n    description: %s\n", o.Name, quote(o.Description))
	}
	b.WriteString(`runs:
  using: docker
  # A release commit names the image its release pushed instead, by digest
  # (scripts/pin-action-image.sh, RELEASING.md), so a pinned run pulls and never compiles.
  image: Dockerfile
`)
	return b.String()
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestActionYAMLMatchesInputs(t *testing.T) {
	const path = "../../action.yml"
	want := actionYAML()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A release commit differs in this one line (scripts/pin-action-image.sh) and is still in step.
	got = pinnedImage.ReplaceAll(got, []byte("  image: Dockerfile"))
	if string(got) != want {
		t.Errorf("action.yml is out of date with internal/config/inputs.go; run go test ./internal/config -update")
	}
}

// readmeTables renders the inputs and outputs tables README.md shows between its markers.
func readmeTables() (inputs, outputs string) {
	var b strings.Builder
	b.WriteString("| Input | Default | Description |\n|---|---|---|\n")
	for _, in := range Inputs {
		def := in.Default
		if in.ActionDefault != "" {
			def = in.ActionDefault
		}
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", in.Name, def, strings.ReplaceAll(in.Description, "|", `\|`))
	}
	inputs = b.String()
	b.Reset()
	b.WriteString("| Output | Description |\n|---|---|\n")
	for _, o := range Outputs {
		fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, o.Description)
	}
	return inputs, b.String()
}

func TestReadmeTablesMatchInputs(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	inputs, outputs := readmeTables()
	for _, part := range []struct{ marker, body string }{{"inputs", inputs}, {"outputs", outputs}} {
		start, end := "<!-- "+part.marker+" -->\n", "<!-- /"+part.marker+" -->"
		i, j := strings.Index(readme, start), strings.Index(readme, end)
		if i < 0 || j < i {
			t.Fatalf("README.md lacks the %s markers", part.marker)
		}
		if *update {
			readme = readme[:i+len(start)] + part.body + readme[j:]
			continue
		}
		if readme[i+len(start):j] != part.body {
			t.Errorf("README.md's %s table is out of date; run go test ./internal/config -update", part.marker)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pinnedImage is runs.image on a release commit: the release's image by digest.
var pinnedImage = regexp.MustCompile(`(?m)^  image: docker://ghcr\.io/[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)+@sha256:[0-9a-f]{64}$`)

// checkActionYAML checks action.yml against GitHub's metadata syntax for a Docker container
// action and against the input and output tables, and lists what is wrong.
func checkActionYAML(raw []byte) []string {
	var (
		doc      yaml.Node
		problems []string
	)
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return []string{fmt.Sprintf("not a YAML mapping: %v", err)}
	}
	top := mappingOf(doc.Content[0])
	for _, k := range top.keys {
		if !slices.Contains([]string{"name", "author", "description", "inputs", "outputs", "runs", "branding"}, k) {
			bad("unknown top-level key %q", k)
		}
	}
	for _, k := range []string{"name", "description", "runs"} {
		if n := top.vals[k]; n == nil || n.Kind == yaml.ScalarNode && n.Value == "" {
			bad("%s is required", k)
		}
	}
	if runs := top.vals["runs"]; runs != nil {
		r := mappingOf(runs)
		for _, k := range r.keys {
			if !slices.Contains([]string{"using", "image", "env", "pre-entrypoint", "post-entrypoint"}, k) {
				bad("runs.%s: bom-attest reads its inputs as INPUT_* variables and takes no entrypoint or args", k)
			}
		}
		if v := r.value("using"); v != "docker" {
			bad("runs.using is %q, want docker", v)
		}
		if img := r.value("image"); img != "Dockerfile" && !pinnedImage.MatchString("  image: "+img) {
			bad("runs.image is %q, want Dockerfile or docker://ghcr.io/<owner>/<name>@sha256:<digest>", img)
		}
	}
	if b := mappingOf(top.vals["branding"]); len(b.keys) > 0 {
		colors := []string{"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}
		if !slices.Contains(colors, b.value("color")) || b.value("icon") == "" {
			bad("branding %q/%q: want an icon and one of the colors %v", b.value("icon"), b.value("color"), colors)
		}
	}

	inputs := mappingOf(top.vals["inputs"])
	var wantIn []string
	for _, in := range Inputs {
		wantIn = append(wantIn, in.Name)
		spec := mappingOf(inputs.vals[in.Name])
		if spec.keys == nil {
			continue // reported below, with the list
		}
		for _, k := range spec.keys {
			if !slices.Contains([]string{"description", "required", "default", "deprecationMessage"}, k) {
				bad("inputs.%s: unknown key %q", in.Name, k)
			}
		}
		if spec.value("description") != in.Description {
			bad("inputs.%s.description differs from inputs.go", in.Name)
		}
		if spec.value("required") != "false" {
			bad("inputs.%s.required is %q: every input is optional (checked in code, all at once)", in.Name, spec.value("required"))
		}
		def := in.Default
		if in.ActionDefault != "" {
			def = in.ActionDefault
		}
		if _, ok := spec.vals["default"]; ok != (def != "") || spec.value("default") != def {
			bad("inputs.%s.default is %q, the code's is %q", in.Name, spec.value("default"), def)
		}
	}
	if got := inputs.keys; !slices.Equal(got, wantIn) {
		bad("inputs %v, inputs.go has %v", got, wantIn)
	}
	outputs := mappingOf(top.vals["outputs"])
	var wantOut []string
	for _, o := range Outputs {
		wantOut = append(wantOut, o.Name)
		spec := mappingOf(outputs.vals[o.Name])
		if spec.keys == nil {
			continue
		}
		if got := spec.keys; !slices.Equal(got, []string{"description"}) || spec.value("description") != o.Description {
			bad("outputs.%s: want only its description from inputs.go (a container action sets outputs itself), got %v", o.Name, got)
		}
	}
	if got := outputs.keys; !slices.Equal(got, wantOut) {
		bad("outputs %v, inputs.go has %v", got, wantOut)
	}
	return problems
}

// mapping is a YAML mapping with its keys in file order.
type mapping struct {
	keys []string
	vals map[string]*yaml.Node
}

func mappingOf(n *yaml.Node) mapping {
	m := mapping{vals: map[string]*yaml.Node{}}
	if n == nil || n.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m.keys = append(m.keys, n.Content[i].Value)
		m.vals[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// value is the scalar at key, "" when there is none.
func (m mapping) value(key string) string {
	if n := m.vals[key]; n != nil {
		return n.Value
	}
	return ""
}

func TestActionYAMLStructure(t *testing.T) {
	raw, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkActionYAML(raw) {
		t.Error(p)
	}
}

// The structure check itself: each rule, broken once, is reported; a release commit's pinned
// image passes.
func TestActionYAMLStructureCatches(t *testing.T) {
	good := actionYAML()
	pinned := "image: docker://ghcr.io/acme/bom-attest@sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, from, to, problem string
	}{
		{"as generated", "", "", ""},
		{"release commit", "image: Dockerfile", pinned, ""},
		{"not a container action", "using: docker", "using: node24", "runs.using"},
		{"image by tag", "image: Dockerfile", "image: docker://ghcr.io/acme/bom-attest:v1", "runs.image"},
		{"args", "  image: Dockerfile", "  image: Dockerfile\n  args: [--dry-run]", "runs.args"},
		{"required input", "    required: false\n", "    required: true\n", "required"},
		{"default drifted", "default: '1.6'", "default: '1.7'", "cyclonedx-version.default"},
		{"output value", "  sbom-path:\n    description: 'Path of the (first) SBOM file.'", "  sbom-path:\n    description: 'Path of the (first) SBOM file.'\n    value: x", "outputs.sbom-path"},
		{"undeclared input", "outputs:\n", "  extra:\n    description: x\n    required: false\noutputs:\n", "inputs ["},
		{"unknown key", "branding:", "color: blue\nbranding:", "unknown top-level key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			if tc.from != "" {
				if !strings.Contains(src, tc.from) {
					t.Fatalf("%q is not in action.yml; update this test", tc.from)
				}
				src = strings.Replace(src, tc.from, tc.to, 1)
			}
			problems := strings.Join(checkActionYAML([]byte(src)), "\n")
			if (tc.problem == "") != (problems == "") || !strings.Contains(problems, tc.problem) {
				t.Errorf("problems %q, want one containing %q", problems, tc.problem)
			}
		})
	}
}

// outputsSetInCode finds every output the code sets: calls of Set or SetJSON on a
// report.Outputs, whose first argument must be a string literal so this test can read it. It
// returns name -> where.
func outputsSetInCode(root string) (map[string][]string, []string, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// Names declared with the type report.Outputs or *report.Outputs (fields, variables,
	// parameters) or assigned &report.Outputs{}: what a Set call's receiver must be named.
	isOutputs := func(f *ast.File, e ast.Expr) bool {
		if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
			e = u.X
		}
		if c, ok := e.(*ast.CompositeLit); ok {
			e = c.Type
		}
		if s, ok := e.(*ast.StarExpr); ok {
			e = s.X
		}
		sel, ok := e.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Outputs" {
			return false
		}
		pkg, ok := sel.X.(*ast.Ident)
		if !ok {
			return false
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			local := filepath.Base(path)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			if strings.HasSuffix(path, "/internal/report") && local == pkg.Name {
				return true
			}
		}
		return false
	}
	receivers := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if isOutputs(f, n.Type) {
					for _, id := range n.Names {
						receivers[id.Name] = true
					}
				}
			case *ast.ValueSpec:
				if n.Type != nil && isOutputs(f, n.Type) || len(n.Values) > 0 && isOutputs(f, n.Values[0]) {
					for _, id := range n.Names {
						receivers[id.Name] = true
					}
				}
			case *ast.AssignStmt:
				for i, rhs := range n.Rhs {
					if i >= len(n.Lhs) {
						break
					}
					if id, ok := n.Lhs[i].(*ast.Ident); ok && isOutputs(f, rhs) {
						receivers[id.Name] = true
					}
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && isOutputs(f, n.Value) {
					receivers[id.Name] = true
				}
			}
			return true
		})
	}
	set := map[string][]string{}
	var problems []string
	for _, f := range files {
		if f.Name.Name == "report" {
			continue // Outputs' own methods
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Set" && sel.Sel.Name != "SetJSON" || len(call.Args) != 2 {
				return true
			}
			var recv string
			switch x := sel.X.(type) {
			case *ast.Ident:
				recv = x.Name
			case *ast.SelectorExpr:
				recv = x.Sel.Name
			}
			if !receivers[recv] {
				return true
			}
			pos := fset.Position(call.Pos()).String()
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				problems = append(problems, pos+": output name is not a string literal")
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			set[name] = append(set[name], pos)
			return true
		})
	}
	return set, problems, nil
}

// Every output the code sets is declared in action.yml, and every declared output is set on
// some path — so a workflow never reads an output that cannot exist, nor misses one that does.
func TestOutputsMatchCode(t *testing.T) {
	set, problems, err := outputsSetInCode("../../internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if len(set) < 5 {
		t.Fatalf("found only %d outputs set in code (%v); the scan is broken", len(set), set)
	}
	declared := map[string]bool{}
	for _, o := range Outputs {
		declared[o.Name] = true
		if set[o.Name] == nil {
			t.Errorf("output %s is declared in action.yml but no code sets it", o.Name)
		}
	}
	for name, where := range set {
		if !declared[name] {
			t.Errorf("output %s is set (%s) but not declared in inputs.go's Outputs", name, strings.Join(where, ", "))
		}
	}
}

// The scan itself finds Set calls however the receiver is named, and only on report.Outputs.
func TestOutputsSetInCodeScan(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.go"), []byte(`package a

import (
	"net/http"

	rep "github.com/bom-attest/bom-attest/internal/report"
)

type p struct{ outs *rep.Outputs }

func f(o *rep.Outputs, h http.Header, q p, name string) {
	o.Set("one", "1")
	q.outs.Set("two", "2")
	local := &rep.Outputs{}
	local.Set("three", "3")
	local.SetJSON("four", []string{"4"})
	h.Set("Content-Type", "x")
	o.Set(name, "dynamic")
}
`), 0o644)
	set, problems, err := outputsSetInCode(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"four", "one", "three", "two"}) || len(problems) != 1 || !strings.Contains(problems[0], "not a string literal") {
		t.Errorf("found %v, problems %q; want four, one, three, two and the dynamic name reported", names, problems)
	}
}

// What the runner passes — every input at action.yml's default — configures a run exactly as
// leaving every input out does, so a local run and a workflow run agree and no default in
// action.yml differs from the code's.
func TestActionDefaultsMatchCode(t *testing.T) {
	raw, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default *string `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(raw, &action); err != nil {
		t.Fatal(err)
	}
	image := map[string]string{envName("image"): "oci-dir:../../testdata/sample-image"}
	withDefaults := map[string]string{envName("image"): image[envName("image")]}
	n := 0
	for name, in := range action.Inputs {
		if in.Default == nil || strings.Contains(*in.Default, "${{") {
			continue // no default, or one only the runner can evaluate (github.token)
		}
		withDefaults[envName(name)] = *in.Default
		n++
	}
	if n < 10 {
		t.Fatalf("action.yml gives %d inputs a default; the parse is broken", n)
	}
	a, err := Load(nil, env(withDefaults), io.Discard)
	if err != nil {
		t.Fatalf("action.yml's defaults do not load: %v", err)
	}
	b, err := Load(nil, env(image), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("action.yml's defaults configure\n%+v\nbut no inputs configure\n%+v", a, b)
	}
}
