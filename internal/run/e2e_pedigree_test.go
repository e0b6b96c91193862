package run_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testimage"
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

// TestPedigreeTwoPlatforms runs pedigree on a two-platform image: the patch tree is read once,
// before the image; each warning is reported once, naming the platforms when only some had it;
// and a broken tree fails before anything is pulled.
func TestPedigreeTwoPlatforms(t *testing.T) {
	idx := debIndex(t)
	layout := filepath.Join(t.TempDir(), "layout")
	if err := testimage.WriteLayout(layout, idx); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t)
	patch := "Description: fix\nBug-Debian: https://bugs.debian.org/1098320\n---\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
	for rel, body := range map[string]string{
		"patches/libc6/0001-fix.patch":         patch, // both platforms have libc6
		"patches/only-on-amd64/0001-fix.patch": patch, // arm64 has no such package
		"patches/empty/README":                 "no patches yet",
	} {
		p := filepath.Join(r.workspace, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	with := map[string]string{"image": "oci-dir:" + layout, "patches-dir": "patches", "unmatched-patches": "warn"}

	res := r.run(with)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	count := func(text, s string) int { return strings.Count(text, s) }
	if n := count(res.stdout, "pedigree inputs: 2 patches for 2 components"); n != 1 {
		t.Errorf("the patch tree was read %d times, want once:\n%s", n, res.stdout)
	}
	for _, plat := range []string{"linux/amd64", "linux/arm64/v8"} {
		if count(res.stdout, "::group::pedigree "+plat+"\n") != 1 {
			t.Errorf("no pedigree stage for %s:\n%s", plat, res.stdout)
		}
	}
	if strings.Index(res.stdout, "pedigree inputs:") > strings.Index(res.stdout, "::group::resolve") {
		t.Errorf("the patch tree was read after the image was resolved:\n%s", res.stdout)
	}
	everywhere := "patches-dir: empty/: holds no patches"
	if count(res.stdout, "::warning::"+everywhere+"\n") != 1 || count(res.summary, everywhere) != 1 {
		t.Errorf("a warning every platform has must be reported once, without a platform:\n%s\n%s", res.stdout, res.summary)
	}
	if count(res.stdout, "patches-dir: only-on-amd64/: matches no component") != 1 || count(res.summary, "only-on-amd64/: matches no component") != 1 {
		t.Errorf("the warning of arm64 alone must be reported once:\n%s\n%s", res.stdout, res.summary)
	}
	if !strings.Contains(res.stdout, "its patches are not recorded (only on linux/arm64/v8)") {
		t.Errorf("the warning of arm64 alone does not name it:\n%s", res.stdout)
	}
	for _, name := range []string{"sbom.full.linux-amd64.cdx.json", "sbom.full.linux-arm64-v8.cdx.json"} {
		if _, err := os.Stat(filepath.Join(r.temp, "bom-attest", name)); err != nil {
			t.Errorf("full SBOM of a platform: %v", err)
		}
	}
	if res.outputs["patched-count"] != "2" {
		t.Errorf("patched-count = %q, want 2 (libc6 and only-on-amd64 on the first platform)", res.outputs["patched-count"])
	}

	t.Run("a broken patch tree fails before the image is read", func(t *testing.T) {
		notes := filepath.Join(r.workspace, "patches", "libc6", "0002-notes.patch")
		if err := os.WriteFile(notes, []byte("remember to rebase\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(notes)
		start := time.Now()
		res := r.run(with)
		took := time.Since(start)
		if res.code != 1 || !strings.Contains(res.stdout, "::error::patches-dir: libc6/0002-notes.patch: not a patch") {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		for _, stage := range []string{"::group::resolve", "::group::pull", "::group::scan"} {
			if strings.Contains(res.stdout, stage) {
				t.Errorf("log has %q: the image was read before the patch tree was checked:\n%s", stage, res.stdout)
			}
		}
		t.Logf("failed in %v", took)
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
