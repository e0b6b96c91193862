package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/sbom"
)

var update = flag.Bool("update", false, "rewrite golden files")

// scanSample scans the committed sample image the way the action does.
func scanSample(t *testing.T) *sbom.Result {
	t.Helper()
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindOCIDir, "../../testdata/sample-image", image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	tg := r.Targets[0]
	src, closeSrc, err := image.Open(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSrc() })
	res, err := sbom.Generate(ctx, src, sbom.Options{
		Subject:     sbom.Subject{Name: tg.Name, RepoURL: tg.RepoURL, Digest: tg.Digest.String(), OS: tg.Platform.OS, Arch: tg.Platform.Architecture},
		ToolVersion: "v0.0.0-test",
		Timestamp:   time.Unix(1735689600, 0),
		Namespace:   "bom-attest",
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSampleImagePackages(t *testing.T) {
	res := scanSample(t)
	purls := map[string]bool{}
	for _, c := range *res.BOM.Components {
		purls[strings.SplitN(c.PackageURL, "?", 2)[0]] = true
	}
	for _, want := range []string{
		"pkg:deb/debian/base-files@12.4%2Bdeb12u11",
		"pkg:deb/debian/libc6@2.36-9%2Bdeb12u10",
		"pkg:deb/debian/libgcc-s1@12.2.0-14%2Bdeb12u1",
		"pkg:deb/debian/libssl3@3.0.17-1~deb12u2",
		"pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3~deb12u4",
		"pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1",
		"pkg:deb/debian/python3.11-minimal@3.11.2-6%2Bdeb12u6",
		"pkg:pypi/nova@32.1.0",
		"pkg:pypi/oslo-messaging@14.9.0",
		"pkg:pypi/cryptography@44.0.1",
		"pkg:pypi/requests@2.32.3",
	} {
		if !purls[want] {
			t.Errorf("missing %s; have %v", want, keys(purls))
		}
	}
	md := res.BOM.Metadata
	if md.Component == nil || md.Component.Type != cyclonedx.ComponentTypeContainer {
		t.Fatalf("metadata.component = %+v", md.Component)
	}
	wantPURL := "pkg:oci/sample@sha256%3A"
	if !strings.HasPrefix(md.Component.PackageURL, wantPURL) || !strings.Contains(md.Component.PackageURL, "repository_url=ghcr.io%2Fbom-attest%2Fsample") {
		t.Errorf("image purl = %s", md.Component.PackageURL)
	}
	tools := *md.Tools.Components
	if tools[0].Name != "bom-attest" || tools[1].Name != "syft" || tools[1].Version != sbom.SyftVersion() || tools[1].Author != "" {
		t.Errorf("tools = %+v", tools)
	}
	// The image is the one root of the dependency graph.
	var root *cyclonedx.Dependency
	for i, d := range *res.BOM.Dependencies {
		if d.Ref == md.Component.BOMRef {
			root = &(*res.BOM.Dependencies)[i]
		}
	}
	if root == nil || len(*root.Dependencies) == 0 {
		t.Fatalf("no root dependency for %s", md.Component.BOMRef)
	}
}

var (
	serialRE = regexp.MustCompile(`urn:uuid:[0-9a-f-]{36}`)
	syftVer  = regexp.MustCompile(`("version": |syft@)"?v1\.[0-9]+\.[0-9]+`)
)

// normalize blanks what legitimately differs between runs and machines.
func normalize(b []byte) []byte {
	b = serialRE.ReplaceAll(b, []byte("urn:uuid:00000000-0000-0000-0000-000000000000"))
	return syftVer.ReplaceAllFunc(b, func(m []byte) []byte {
		return regexp.MustCompile(`v1\.[0-9]+\.[0-9]+`).ReplaceAll(m, []byte("vX.Y.Z"))
	})
}

func TestGoldenSampleSBOM(t *testing.T) {
	res := scanSample(t)
	for _, v := range check.SpecVersions {
		t.Run(v.String(), func(t *testing.T) {
			doc, err := sbom.Encode(res.BOM, v)
			if err != nil {
				t.Fatal(err)
			}
			if err := check.Validate(doc, v); err != nil {
				t.Fatalf("schema: %v", err)
			}
			var probe struct{ SpecVersion string }
			json.Unmarshal(doc, &probe)
			if probe.SpecVersion != v.String() {
				t.Errorf("specVersion = %s", probe.SpecVersion)
			}
			golden := filepath.Join("testdata", "sample-"+v.String()+".cdx.json")
			got := normalize(indent(t, doc))
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("SBOM differs from %s (run go test -update if the change is intended)\n%s", golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := sbom.Encode(scanSample(t).BOM, cyclonedx.SpecVersion1_6)
	b, _ := sbom.Encode(scanSample(t).BOM, cyclonedx.SpecVersion1_6)
	if string(a) == string(b) {
		t.Fatal("two runs share a serialNumber")
	}
	if string(normalize(a)) != string(normalize(b)) {
		t.Errorf("two scans of one image differ beyond serialNumber:\n%s", firstDiff(string(indent(t, a)), string(indent(t, b))))
	}
}

// indent makes a golden file a person can review; the action itself writes compact JSON.
func indent(t *testing.T, doc []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + itoa(i+1) + ":\n- " + al[i] + "\n+ " + bl[i]
		}
	}
	return "lengths differ"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPackageRefs: a package's bom-ref is its Syft package ID, and every dependency names a
// component of the document.
func TestPackageRefs(t *testing.T) {
	res := scanSample(t)
	refs := map[string]bool{res.BOM.Metadata.Component.BOMRef: true}
	packages := 0
	for _, c := range *res.BOM.Components {
		refs[c.BOMRef] = true
		if !strings.HasPrefix(c.PackageURL, "pkg:") {
			continue
		}
		packages++
		if res.Syft.Artifacts.Packages.Package(artifact.ID(c.BOMRef)) == nil {
			t.Errorf("%s: bom-ref %q is not a Syft package ID", c.PackageURL, c.BOMRef)
		}
	}
	if packages == 0 {
		t.Fatal("no packages")
	}
	for _, d := range *res.BOM.Dependencies {
		if !refs[d.Ref] {
			t.Errorf("dependency of %q: no such component", d.Ref)
		}
		for _, on := range *d.Dependencies {
			if !refs[on] {
				t.Errorf("%q depends on %q: no such component", d.Ref, on)
			}
		}
	}
}

// TestAttestedSample: the attested document of the sample image has every component of the
// full one with the same identity, and leaves out only what EncodeFull says.
func TestAttestedSample(t *testing.T) {
	res := scanSample(t)
	v := cyclonedx.SpecVersion1_6
	doc, err := sbom.Encode(res.BOM, v)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(doc, v); err != nil {
		t.Fatalf("schema: %v", err)
	}
	full, omitted, err := res.EncodeFull(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(full, v); err != nil {
		t.Fatalf("schema of the full document: %v", err)
	}
	var a, f cyclonedx.BOM
	if err := json.Unmarshal(doc, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(full, &f); err != nil {
		t.Fatal(err)
	}
	if len(*a.Components) != len(*f.Components) {
		t.Fatalf("%d components attested, %d in full", len(*a.Components), len(*f.Components))
	}
	var cpes, locations, foundBy int
	for i, c := range *a.Components {
		fc := (*f.Components)[i]
		if c.BOMRef != fc.BOMRef || c.PackageURL != fc.PackageURL || c.CPE != fc.CPE || c.Name != fc.Name || c.Version != fc.Version {
			t.Errorf("component %d differs in identity: %+v vs %+v", i, c, fc)
		}
		kept := map[cyclonedx.Property]bool{}
		for _, p := range propertiesOf(c) {
			kept[p] = true
		}
		for _, p := range propertiesOf(fc) {
			switch {
			case kept[p]:
			case p.Name == "syft:cpe23":
				cpes++
			case strings.HasPrefix(p.Name, "syft:location:") && p.Name != "syft:location:0:path":
				locations++
			case p.Name == "syft:package:foundBy":
				foundBy++
			default:
				t.Errorf("%s: left out %s=%s", fc.Name, p.Name, p.Value)
			}
		}
	}
	if cpes != omitted.CPEs || locations != omitted.Locations || foundBy != omitted.FoundBy || cpes == 0 || locations == 0 || foundBy == 0 {
		t.Errorf("left out %d CPEs, %d locations and %d cataloger names, Omitted says %+v", cpes, locations, foundBy, omitted)
	}
	if !omitted.Any() || omitted.String() == "nothing" {
		t.Errorf("omitted %+v says %q", omitted, omitted)
	}
	if len(doc) >= len(full) {
		t.Errorf("attested %d bytes, full %d", len(doc), len(full))
	}
	// Without Syft's model there is nothing to put back.
	same, none, err := (&sbom.Result{BOM: res.BOM}).EncodeFull(v)
	if err != nil || none.Any() || string(same) != string(doc) {
		t.Errorf("EncodeFull without Syft's model: %v, %+v, same as the attested document %v", err, none, string(same) == string(doc))
	}
}

func propertiesOf(c cyclonedx.Component) []cyclonedx.Property {
	if c.Properties == nil {
		return nil
	}
	return *c.Properties
}
