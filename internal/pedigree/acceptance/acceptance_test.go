package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/pedigree"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixtures is the pedigree package's testdata, which its unit tests and fuzz seeds share.
var fixtures = filepath.Join("..", "testdata")

const seedBaseURL = "https://github.com/c5c3/forge/blob/stable/1.0/patches/"

// seedTree copies the fixture patch tree to a temporary patches-dir. Names are stored URL-escaped
// ("deb%3Alibxml2") because ':' is not allowed in Go module files nor on Windows; the copy
// has the real names.
func seedTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "patches")
	src := filepath.Join(fixtures, "patches")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, s := range parts {
			if parts[i], err = url.PathUnescape(s); err != nil {
				return err
			}
		}
		out := filepath.Join(dst, filepath.FromSlash(strings.Join(parts, "/")))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// scanSeedImage builds the seed's image — OpenStack services in a venv under
// /var/lib/openstack on Debian 12 — as an OCI layout and scans it as the action does.
func scanSeedImage(t *testing.T) *cyclonedx.BOM {
	t.Helper()
	site := "/var/lib/openstack/lib/python3.12/site-packages"
	files := []testimage.File{
		testimage.OSRelease("12", "bookworm"),
		testimage.DpkgStatus(
			testimage.DebPackage{Name: "libxml2", Version: "2.9.14+dfsg-1.3~deb12u1", Source: "libxml2", InstalledSize: 2074},
			testimage.DebPackage{Name: "libpython3.12-stdlib", Version: "3.12.8-1", Source: "python3.12", InstalledSize: 8400},
		),
	}
	for _, p := range []testimage.PythonPackage{
		{Name: "nova", Version: "32.1.0", License: "Apache-2.0", Requires: []string{"oslo.messaging>=14.1.0", "Jinja2>=3.1"}},
		{Name: "oslo.messaging", Version: "14.9.0", License: "Apache-2.0"},
		{Name: "cryptography", Version: "44.0.1", License: "Apache-2.0 OR BSD-3-Clause"},
		{Name: "Jinja2", Version: "3.1.4", License: "BSD-3-Clause"},
	} {
		files = append(files, testimage.DistInfo(site, p)...)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := testimage.WriteOneLayer(dir, files...); err != nil {
		t.Fatal(err)
	}
	// Resolved and scanned the way the action does it.
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindOCIDir, dir, image.Options{SubjectName: "ghcr.io/c5c3/nova"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	tg := r.Targets[0]
	src, closeSrc, err := image.Open(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeSrc() })
	res, err := sbom.Generate(ctx, src, sbom.Options{
		Subject:     sbom.Subject{Name: tg.Name, RepoURL: tg.RepoURL, Digest: tg.Digest.String(), OS: tg.Platform.OS, Arch: tg.Platform.Architecture},
		ToolVersion: "v0.0.0-test",
		Timestamp:   time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Namespace:   "bom-attest",
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.BOM
}

var pep503Separators = regexp.MustCompile(`[-_.]+`)

// pep503 normalizes a PyPI name, as the seed's pkg:pypi/oslo.messaging and syft's
// pkg:pypi/oslo-messaging name one package.
func pep503(name string) string {
	return pep503Separators.ReplaceAllString(strings.ToLower(name), "-")
}

// normalizeBOM makes the enriched BOM byte-stable: the serial number is random, and the Syft
// version changes with every upgrade that does not concern this test.
func normalizeBOM(bom *cyclonedx.BOM) {
	bom.SerialNumber = "urn:uuid:00000000-0000-4000-8000-000000000000"
	if m := bom.Metadata; m != nil && m.Tools != nil && m.Tools.Components != nil {
		for i := range *m.Tools.Components {
			c := &(*m.Tools.Components)[i]
			if c.Name == "syft" {
				c.Version = "vX"
				c.PackageURL = "pkg:golang/github.com/anchore/syft@vX"
			}
		}
	}
}

func encode(t *testing.T, bom *cyclonedx.BOM, v cyclonedx.SpecVersion) []byte {
	t.Helper()
	b, err := sbom.Encode(bom, v)
	if err != nil {
		t.Fatal(err)
	}
	// Indented, so the golden can be reviewed; the action writes the compact form.
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSeedGolden is the issue's acceptance fixture: the seed's patch tree and constraints
// file on a scanned image give exactly the expected pedigree, schema-valid at 1.5, 1.6, 1.7.
func TestSeedGolden(t *testing.T) {
	bom := scanSeedImage(t)
	tree := seedTree(t)
	golden, err := filepath.Abs(filepath.Join("testdata", "golden", "seed.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The constraints file is given relative, as a workflow would, and appears so in the SBOM.
	t.Chdir(fixtures)
	set, err := pedigree.Load(context.Background(), pedigree.Options{PatchesDir: tree, BaseURL: seedBaseURL, ConstraintsFile: "overrides/constraints.txt", Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pedigree.Apply(bom, set)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}

	// syft writes PyPI purls PEP 503-normalized (pkg:pypi/oslo-messaging@14.9.0); the seed's
	// pkg:pypi/oslo.messaging@14.9.0 names the same package, so look components up that way.
	pkgOf := func(typ, name, version string) *cyclonedx.Component {
		for i := range *bom.Components {
			c := &(*bom.Components)[i]
			if strings.HasPrefix(c.PackageURL, "pkg:"+typ+"/") && pep503(c.Name) == pep503(name) && c.Version == version {
				return c
			}
		}
		return nil
	}
	nova := pkgOf("pypi", "nova", "32.1.0")
	if nova == nil || nova.Pedigree == nil || nova.Pedigree.Patches == nil {
		t.Fatalf("nova = %+v, want a pedigree", nova)
	}
	wantNova := []cyclonedx.Patch{{
		Type: cyclonedx.PatchTypeBackport,
		Diff: &cyclonedx.Diff{URL: seedBaseURL + "nova/2025.2/0001-fix-live-migration-timeout-handling.patch"},
		Resolves: &[]cyclonedx.Issue{{
			Type: cyclonedx.IssueTypeDefect, ID: "LP#2099999",
			Description: "Resolved by patch nova/2025.2/0001-fix-live-migration-timeout-handling.patch",
			Source:      &cyclonedx.Source{Name: "Launchpad", URL: "https://bugs.launchpad.net/bugs/2099999"},
		}},
	}}
	if diff := cmp.Diff(wantNova, *nova.Pedigree.Patches); diff != "" {
		t.Errorf("nova patches (-want +got):\n%s", diff)
	}
	oslo := pkgOf("pypi", "oslo.messaging", "14.9.0")
	wantOslo := []cyclonedx.Patch{{
		Type: cyclonedx.PatchTypeBackport,
		Diff: &cyclonedx.Diff{URL: seedBaseURL + "oslo.messaging/2025.2/0001-fix-rabbit-reconnect-on-connection-reset.patch"},
	}}
	if oslo == nil || oslo.Pedigree == nil {
		t.Fatalf("oslo.messaging = %+v, want a pedigree", oslo)
	}
	if diff := cmp.Diff(wantOslo, *oslo.Pedigree.Patches); diff != "" {
		t.Errorf("oslo.messaging patches (-want +got):\n%s", diff)
	}
	crypto := pkgOf("pypi", "cryptography", "44.0.1")
	if crypto == nil || crypto.Properties == nil {
		t.Fatalf("cryptography = %+v, want properties", crypto)
	}
	found := false
	for _, p := range *crypto.Properties {
		if p.Name == "bom-attest:constraint-override" {
			found = true
			if want := "Upgraded from 44.0.0 via overrides/constraints.txt (CVE-2025-XXXX)"; p.Value != want {
				t.Errorf("constraint-override = %q, want %q", p.Value, want)
			}
		}
	}
	if !found {
		t.Errorf("cryptography has no bom-attest:constraint-override property: %+v", *crypto.Properties)
	}
	if crypto.Pedigree != nil {
		t.Errorf("cryptography pedigree = %+v, want none", crypto.Pedigree)
	}

	// Names and purls as syft writes them: PyPI names PEP 503-normalized.
	wantRows := []pedigree.Patched{
		{Name: "cryptography", Version: "44.0.1", PURL: "pkg:pypi/cryptography@44.0.1", Override: "Upgraded from 44.0.0 via overrides/constraints.txt (CVE-2025-XXXX)"},
		{Name: "jinja2", Version: "3.1.4", PURL: "pkg:pypi/jinja2@3.1.4", Patches: 1, Resolves: []string{"CVE-2024-56201", "GHSA-gmj6-6f8f-6699"}},
		{Name: "libxml2", Version: "2.9.14+dfsg-1.3~deb12u1", PURL: "pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3~deb12u1?arch=amd64&distro=debian-12&upstream=libxml2", Patches: 2, Resolves: []string{"CVE-2025-24928", "GNOME/libxml2#847", "Debian#1098320"}},
		{Name: "nova", Version: "32.1.0", PURL: "pkg:pypi/nova@32.1.0", Patches: 1, Resolves: []string{"LP#2099999"}},
		{Name: "oslo-messaging", Version: "14.9.0", PURL: "pkg:pypi/oslo-messaging@14.9.0", Patches: 1},
	}
	if diff := cmp.Diff(wantRows, res.Components); diff != "" {
		t.Errorf("summary rows (-want +got):\n%s", diff)
	}
	if got := res.PatchedCount(); got != 4 {
		t.Errorf("PatchedCount() = %d, want 4", got)
	}

	normalizeBOM(bom)
	for _, v := range check.SpecVersions {
		if err := check.Validate(encode(t, bom, v), v); err != nil {
			t.Errorf("enriched SBOM at %s: %v", v, err)
		}
	}
	got := encode(t, bom, cyclonedx.SpecVersion1_6)
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("enriched SBOM differs from %s (-want +got; rerun with -update if intended):\n%s", golden, diff)
	}
}
