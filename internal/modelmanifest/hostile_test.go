package modelmanifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testcost"
)

// laughs is a billion-laughs manifest of about size bytes: nine levels of ten aliases to the level
// before, 10^9 strings expanded, padded with more aliases. The decoder that followed aliases took
// 137 s and 5.3 GB for 100 KB of it.
func laughs(size int) string {
	var b strings.Builder
	b.WriteString("models:\n  - name: lol\n    purl: pkg:generic/lol\n    modelCard:\n      inputs: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "      outputs%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("      outputs: [")
	for b.Len() < size {
		b.WriteString("*l8, ")
	}
	b.WriteString("*l8]\n")
	return b.String()
}

// TestLoadHostile: manifests built to exhaust the loader fail fast, with bounded memory, naming
// the file (and the line, when there is one).
func TestLoadHostile(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		err  error
		want string
	}{
		{"billion laughs", laughs(100 << 10), ErrValue, "anchors and aliases are not allowed: &l0"},
		{"nested lists", "models: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n", ErrType, "nested too deep: more than 32 levels"},
		{"nested JSON", `{"models": ` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + "}", ErrType, "nested too deep"},
		{"nested past the parser's limit", "models: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", ErrType, "not valid YAML"},
		{"fifty thousand unknown keys", "models:\n  - name: a\n    purl: pkg:x/a\n" + strings.Repeat("    k_ey-x: 1\n", 50000), ErrUnknownField, "and 49900 more problems"},
		{"a page-long key", "models:\n  - name: a\n    ? " + strings.Repeat("k", 1<<20) + "\n    : 1\n", ErrUnknownField, "models[0]." + strings.Repeat("k", 64) + "…: unknown field"},
		{"ten thousand problems", "models:\n" + strings.Repeat("  - description: no name, no location\n", 5000), ErrRequired, "and 9900 more problems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m.yaml")
			if err := os.WriteFile(p, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			took, alloc := testcost.Measure(func() { _, err = Load(p) })
			if !errors.Is(err, ErrManifest) || !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load error %.300v\nwant %v naming %s and saying %q", err, tt.err, p, tt.want)
			}
			t.Logf("%d bytes: %v of CPU, %d KiB allocated", len(tt.doc), took, alloc>>10)
			if took > time.Second {
				t.Errorf("took %v of CPU for %d bytes", took, len(tt.doc))
			}
			if alloc > 64<<20 {
				t.Errorf("allocated %d MiB for %d bytes", alloc>>20, len(tt.doc))
			}
		})
	}
}

// TestOverlapsManyPaths: the overlap check over 200,000 paths (comparing every pair took minutes
// for 100,000) is fast and still finds the overlaps, including one a plain string sort would
// separate (/m/p000007/sub sorts after /m/p000007-x).
func TestOverlapsManyPaths(t *testing.T) {
	const n = 200_000
	models := make([]Model, 0, n+3)
	for i := range n {
		models = append(models, Model{Path: fmt.Sprintf("/m/p%06d", n-1-i)})
	}
	models = append(models, Model{Path: "/m/p000007-x"}, Model{Path: "/m/p000007/sub"}, Model{Path: "/m/p199990"})
	var got []overlap
	took, _ := testcost.Measure(func() { got = overlaps(models) })
	want := []overlap{{earlier: n - 1 - 7, later: n + 1}, {earlier: 9, later: n + 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("overlaps = %v, want %v", got, want)
	}
	if took > 5*time.Second {
		t.Errorf("took %v of CPU for %d paths", took, len(models))
	}
}

// TestLoadManyPaths loads a manifest of 100,000 models with paths, two of them overlapping.
func TestLoadManyPaths(t *testing.T) {
	var b strings.Builder
	b.WriteString("models:\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "- {name: m%d, path: /m/%d}\n", i, i)
	}
	b.WriteString("- {name: inside, path: /m/42/x}\n")
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	took, _ := testcost.Measure(func() { _, err = Load(p) })
	if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "models[100000].path: /m/42/x overlaps models[42].path /m/42") {
		t.Fatalf("Load error %.300v, want the overlap", err)
	}
	if took > 10*time.Second {
		t.Errorf("took %v of CPU for 100,001 paths", took)
	}
	t.Logf("%d bytes, 100,001 paths: %v of CPU", b.Len(), took)
}
