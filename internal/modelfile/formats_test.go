package modelfile

import (
	"path"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		path    string
		format  string // "" when no reader knows the file
		role    Role
		weights bool
	}{
		{"/opt/models/m/model.safetensors", "safetensors", Weights, true},
		{"/opt/models/m/model-00001-of-00002.safetensors", "safetensors", Weights, true},
		{"/models/TinyLlama.Q4_K_M.GGUF", "gguf", Weights, true},
		{"/srv/onnx/model.onnx", "onnx", Weights, true},
		{"/srv/onnx/model.onnx_data", "", 0, true},
		{"/models/pytorch_model.bin", "", 0, true},
		{"/models/m/config.json", "config.json", Companion, false},
		{"/models/m/README.md", "README.md", Companion, false},
		{"/models/m/Config.json", "", 0, false},
		{"/models/m/config.json.bak", "", 0, false},
		{"/etc/os-release", "", 0, false},
	}
	for _, tt := range tests {
		f, ok := Lookup(tt.path)
		if ok != (tt.format != "") || f.Name != tt.format || f.Role != tt.role {
			t.Errorf("Lookup(%s) = %q (role %d), %v; want %q (role %d)", tt.path, f.Name, f.Role, ok, tt.format, tt.role)
		}
		if got := IsWeights(tt.path); got != tt.weights {
			t.Errorf("IsWeights(%s) = %v, want %v", tt.path, got, tt.weights)
		}
	}
}

// TestRegistry: every format has a unique name and a reader, its header names it, weight
// formats are scanned for, and companion patterns are literal names looked for beside weights.
func TestRegistry(t *testing.T) {
	if got, want := ScanGlobs(), []string{"**/*.safetensors", "**/*.gguf", "**/*.onnx"}; !slices.Equal(got, want) {
		t.Errorf("ScanGlobs = %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, f := range formats {
		if seen[f.Name] || f.Read == nil || (f.Role != Weights && f.Role != Companion) {
			t.Errorf("format %+v: duplicate name, no reader or no role", f)
		}
		seen[f.Name] = true
		if f.Role == Companion && strings.ContainsAny(f.Pattern, `*?[\`) {
			t.Errorf("companion %s: pattern %q is not a file name", f.Name, f.Pattern)
		}
		if _, err := path.Match(f.Pattern, "x"); err != nil {
			t.Errorf("format %s: bad pattern %q", f.Name, f.Pattern)
		}
	}
	exts := WeightExtensions()
	if !slices.IsSorted(exts) || !slices.Contains(exts, ".gguf") || !slices.Contains(exts, ".pt") {
		t.Errorf("WeightExtensions = %v", exts)
	}
}

// TestHeaderFormat: each reader's header says which format read it, so a model's format is what
// its readers found.
func TestHeaderFormat(t *testing.T) {
	headers := map[string]Header{"safetensors": &Safetensors{}, "gguf": &GGUF{}, "onnx": &ONNX{}, "config.json": &HFConfig{}, "README.md": &ModelCard{}}
	for _, f := range formats {
		h, ok := headers[f.Name]
		if !ok {
			t.Errorf("format %s: no header type known to this test", f.Name)
			continue
		}
		if h.Format() != f.Name {
			t.Errorf("format %s: header %T says %q", f.Name, h, h.Format())
		}
	}
	var _ Parts = &ONNX{}
}
