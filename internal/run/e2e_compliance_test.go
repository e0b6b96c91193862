package run_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/pkgdb/pkgdbtest"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

type complianceFile struct {
	Score     float64  `json:"score"`
	FailUnder *float64 `json:"failUnder"`
	Platforms []struct {
		Platform string         `json:"platform"`
		Score    float64        `json:"score"`
		Hashes   map[string]int `json:"hashes"`
		Elements []struct {
			ID       string  `json:"id"`
			Coverage float64 `json:"coverage"`
		} `json:"elements"`
		ResolveRequests int `json:"resolveRequests"`
	} `json:"platforms"`
}

func readCompliance(t *testing.T, dir string) complianceFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "compliance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c complianceFile
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestComplianceGate: under compliance-fail-under the run exits 2 — after writing every file
// and the summary, with its outputs set — and over it the same run succeeds.
func TestComplianceGate(t *testing.T) {
	img := "oci-dir:" + pkgdbtest.Write(t, pkgdbtest.DebianPython(false).Files...)
	r := newRunner(t)
	res := r.run(map[string]string{"image": img, "subject-name": "ghcr.io/acme/app", "compliance-fail-under": "99"})
	if res.code != 2 {
		t.Fatalf("exit %d, want 2 (gate)\n%s", res.code, res.stdout)
	}
	out := filepath.Join(r.temp, "bom-attest")
	for _, f := range []string{"sbom.cdx.json", "sbom.intoto.json", "compliance.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written before the gate: %v", f, err)
		}
	}
	c := readCompliance(t, out)
	if c.FailUnder == nil || *c.FailUnder != 99 || c.Score >= 99 || c.Score <= 0 {
		t.Errorf("compliance.json: score %v, fail-under %v", c.Score, c.FailUnder)
	}
	if got := res.outputs["compliance-score"]; got != strconv.FormatFloat(c.Score, 'f', 1, 64) {
		t.Errorf("compliance-score output %q, file says %v", got, c.Score)
	}
	if res.outputs["sbom-path"] == "" {
		t.Error("sbom-path not set though the SBOM was written")
	}
	for _, want := range []string{"### Compliance", "CISA Component hash", "BSI SHA-512 of the deployable form", "compliance gate failed", "under compliance-fail-under 99%"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if !strings.Contains(res.stdout, "::error::") || !strings.Contains(res.stdout, "compliance-fail-under") {
		t.Errorf("the log does not say why the run failed:\n%s", res.stdout)
	}

	res = newRunner(t).run(map[string]string{"image": img, "subject-name": "ghcr.io/acme/app", "compliance-fail-under": "10"})
	if res.code != 0 {
		t.Fatalf("over the threshold: exit %d\n%s", res.code, res.stdout)
	}
}

// TestComplianceNetworkOnlyWhenAsked: with the default inputs the compliance stage sends no
// request at all — the loopback registries it is pointed at see none — and with
// resolve-hashes and hash-downloads it resolves every .deb and wheel through them.
func TestComplianceNetworkOnlyWhenAsked(t *testing.T) {
	fx := pkgdbtest.DebianPython(false)
	img := "oci-dir:" + pkgdbtest.Write(t, fx.Files...)
	var pkgs []testserver.DebianPackage
	for _, p := range []struct{ suite, name, version, arch, src, srcVer string }{
		{"bookworm", "bash", "5.2.15-2+b13", "amd64", "bash", "5.2.15-2"}, {"bookworm", "libzstd1", "1.5.4+dfsg2-5", "amd64", "libzstd", ""},
		{"bookworm", "zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib", ""}, {"bookworm", "python3-six", "1.16.0-4", "all", "six", ""},
		{"bookworm", "node-ms", "2.1.3+~cs0.7.31-3", "all", "", ""}, {"bookworm-security", "mytool", "1.0-1", "amd64", "", ""},
	} {
		pkgs = append(pkgs, testserver.DebianPackage{Suite: p.suite, Name: p.name, Version: p.version, Arch: p.arch, Source: p.src, SourceVersion: p.srcVer, Body: []byte("deb " + p.name)})
	}
	mirror := testserver.StartDebianMirror(t, pkgs...)
	pypi := testserver.StartPyPI(t, testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3-py3-none-any.whl", PackageType: "bdist_wheel", Body: []byte("wheel")},
		testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3.tar.gz", PackageType: "sdist", Body: []byte("sdist")})
	with := map[string]string{"image": img, "subject-name": "ghcr.io/acme/app", "pypi-url": pypi.URL, "debian-archive-urls": mirror.URL, "cyclonedx-version": "1.7"}

	res := newRunner(t).run(with)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if n := len(mirror.Paths()) + len(pypi.Paths()); n != 0 {
		t.Fatalf("default inputs: %d requests (mirror %v, PyPI %v)", n, mirror.Paths(), pypi.Paths())
	}

	with["resolve-hashes"], with["hash-downloads"] = "true", "true"
	r := newRunner(t)
	res = r.run(with)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if len(mirror.Paths()) == 0 || len(pypi.Paths()) == 0 {
		t.Fatalf("resolve-hashes sent nothing: mirror %v, PyPI %v", mirror.Paths(), pypi.Paths())
	}
	out := filepath.Join(r.temp, "bom-attest")
	c := readCompliance(t, out)
	// Six debs, six and ms (by their .debs) and requests resolved; urllib3's hash is recorded.
	if h := c.Platforms[0].Hashes; h["resolved"] != 9 || h["recorded"] != 1 {
		t.Errorf("hash kinds %v, want 9 resolved, 1 recorded", h)
	}
	b, err := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(b, cyclonedx.SpecVersion1_7); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"url":"`+mirror.URL+`/pool/main/b/bash/bash_5.2.15-2+b13_amd64.deb"`) || !strings.Contains(string(b), `"alg":"SHA-512"`) {
		t.Error("the SBOM lacks bash's .deb from the mirror with its SHA-512")
	}
}

// TestComplianceEverySpecVersion: the enriched SBOM is valid at 1.5, 1.6 and 1.7 (the run
// checks it against the schema before writing it), with BSI properties only from 1.6.
func TestComplianceEverySpecVersion(t *testing.T) {
	img := "oci-dir:" + pkgdbtest.Write(t, pkgdbtest.DebianPython(true).Files...)
	for _, v := range []string{"1.5", "1.6", "1.7"} {
		r := newRunner(t)
		res := r.run(map[string]string{"image": img, "subject-name": "ghcr.io/acme/app", "cyclonedx-version": v, "supplier-email": "security@acme.example"})
		if res.code != 0 {
			t.Fatalf("%s: exit %d\n%s", v, res.code, res.stdout)
		}
		b, err := os.ReadFile(filepath.Join(r.temp, "bom-attest", "sbom.cdx.json"))
		if err != nil {
			t.Fatal(err)
		}
		if bsi := strings.Contains(string(b), `"bsi:component:`); bsi != (v != "1.5") {
			t.Errorf("%s: BSI properties %v", v, bsi)
		}
		c := readCompliance(t, filepath.Join(r.temp, "bom-attest"))
		for _, e := range c.Platforms[0].Elements {
			if strings.HasPrefix(e.ID, "cisa:") && e.ID != "cisa:license" && e.ID != "cisa:software-producer" && e.Coverage < 90 {
				t.Errorf("%s: %s covers %v%%", v, e.ID, e.Coverage)
			}
		}
	}
}
