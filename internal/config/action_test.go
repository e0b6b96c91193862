package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
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
  # Release tags replace this with the prebuilt image pinned by digest (see .github/workflows/release.yml),
  # so a pinned run pulls, never compiles.
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
