package run_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPedigreeOnSample enriches the sample image's SBOM with the seed patch tree and constraint
// overrides, through the binary and its inputs.
func TestPedigreeOnSample(t *testing.T) {
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	fixtures, _ := filepath.Abs("../pedigree/testdata")
	patches := filepath.Join(r.workspace, "patches")
	for _, c := range []string{"nova", "oslo.messaging"} {
		copyTree(t, filepath.Join(fixtures, "patches", c), filepath.Join(patches, c))
	}
	copyTree(t, filepath.Join(fixtures, "overrides"), filepath.Join(r.workspace, "overrides"))

	res := r.run(map[string]string{
		"image":                "oci-dir:" + sample,
		"patches-dir":          "patches",
		"patches-base-url":     "https://github.com/c5c3/forge/blob/stable/1.0/patches/",
		"constraint-overrides": "overrides/constraints.txt",
	})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if res.outputs["patched-count"] != "2" {
		t.Errorf("patched-count = %q, want 2 (nova, oslo.messaging)", res.outputs["patched-count"])
	}
	for _, want := range []string{"### Pedigree", "| nova | 32.1.0 | 1 | LP#2099999 |", "Upgraded from 44.0.0 via overrides/constraints.txt (CVE-2025-XXXX)"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
	doc := readBOM(t, res.outputs["sbom-path"])
	var nova map[string]any
	for _, c := range doc["components"].([]any) {
		if c.(map[string]any)["name"] == "nova" {
			nova = c.(map[string]any)
		}
	}
	b, _ := json.Marshal(nova["pedigree"])
	for _, want := range []string{`"type":"backport"`, `https://github.com/c5c3/forge/blob/stable/1.0/patches/nova/2025.2/0001-fix-live-migration-timeout-handling.patch`, `LP#2099999`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("nova pedigree lacks %s: %s", want, b)
		}
	}

	t.Run("a patch for nothing in the image names the directory", func(t *testing.T) {
		copyTree(t, filepath.Join(fixtures, "patches", "jinja2"), filepath.Join(patches, "jinja2"))
		defer os.RemoveAll(filepath.Join(patches, "jinja2"))
		res := r.run(map[string]string{"image": "oci-dir:" + sample, "patches-dir": "patches"})
		if res.code != 1 || !strings.Contains(res.stdout, "::error::patches-dir: ") || !strings.Contains(res.stdout, "jinja2") {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
	})
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
