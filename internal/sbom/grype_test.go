package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/grype/grype"
	v6 "github.com/anchore/grype/grype/db/v6"
	"github.com/anchore/grype/grype/distro"
	"github.com/anchore/grype/grype/match"
	"github.com/anchore/grype/grype/matcher"
	"github.com/anchore/grype/grype/pkg"
	"github.com/anchore/grype/grype/vulnerability"
	syftpkg "github.com/anchore/syft/syft/pkg"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
)

// The attested document must give Grype the same matches as the full one: what it leaves out
// is what Grype, configured as its command line is by default, does not match on. These tests
// hold that to Grype v0.115.0's library — its SBOM reader, its matchers, and a database built
// with its own v6 writer.

// TestCPEFreeTypesAreGrypes: every type whose candidates the attested document drops has a
// matcher of its own among Grype's defaults (so it never falls to the stock matcher, which
// matches by CPE), and Grype's default options turn CPE matching off for that matcher.
func TestCPEFreeTypesAreGrypes(t *testing.T) {
	cfg, o := grypedbtest.CLIMatcherConfig()
	claimed := map[syftpkg.Type]match.MatcherType{}
	for _, m := range matcher.NewDefaultMatchers(cfg) {
		for _, ty := range m.PackageTypes() {
			claimed[ty] = m.Type()
		}
	}
	usesCPEs := map[match.MatcherType]bool{
		match.DpkgMatcher:       o.Match.Dpkg.UseCPEs || o.Match.Dpkg.UseCPEsForEOL,
		match.RpmMatcher:        o.Match.Rpm.UseCPEs || o.Match.Rpm.UseCPEsForEOL,
		match.PythonMatcher:     o.Match.Python.UseCPEs,
		match.JavascriptMatcher: o.Match.Javascript.UseCPEs,
		match.RubyGemMatcher:    o.Match.Ruby.UseCPEs,
		match.JavaMatcher:       o.Match.Java.UseCPEs,
		match.DotnetMatcher:     o.Match.Dotnet.UseCPEs,
		match.GoModuleMatcher:   o.Match.Golang.UseCPEs || o.Match.Golang.AlwaysUseCPEForStdlib,
		match.RustMatcher:       o.Match.Rust.UseCPEs,
		match.HexMatcher:        o.Match.Hex.UseCPEs,
	}
	for ty := range cpeFreeTypes {
		m, ok := claimed[syftpkg.Type(ty)]
		if !ok {
			t.Errorf("%s: no Grype matcher of its own; the stock matcher, which matches by CPE, takes it", ty)
			continue
		}
		uses, known := usesCPEs[m]
		if !known || uses {
			t.Errorf("%s: Grype's %s matches by CPE by default (or is not known to this test)", ty, m)
		}
	}
}

// advisory is one vunnel record as Grype's database build reads it.
type advisory = grypedbtest.Record

const schemaNVD = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/nvd/schema-1.0.0.json"

func osAdvisory(id, pkgName, fixed string) advisory {
	return advisory{Provider: "debian", Schema: grypedbtest.SchemaOS, Item: fmt.Sprintf(`{"Vulnerability": {"Name": %[1]q, "NamespaceName": "debian:12", "Severity": "High",
		"Link": "https://security-tracker.debian.org/tracker/%[1]s", "Description": "made up",
		"FixedIn": [{"Name": %[2]q, "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": %[3]q,
			"VendorAdvisory": {"NoAdvisory": false, "AdvisorySummary": []}}], "Metadata": {}}}`, id, pkgName, fixed)}
}

func ghsa(id, ecosystem, name, vrange string) advisory {
	return advisory{Provider: "github", Schema: grypedbtest.SchemaGitHub, Item: fmt.Sprintf(`{"Advisory": {"ghsaId": %[1]q, "namespace": "github:%[2]s", "Severity": "High",
		"Classification": "GENERAL", "Summary": "made up", "url": "https://github.com/advisories/%[1]s", "CVE": [], "Metadata": {"CVE": []},
		"FixedIn": [{"name": %[3]q, "identifier": "", "ecosystem": %[2]q, "namespace": "github:%[2]s", "range": %[4]q}],
		"published": "2099-01-02T00:00:00Z", "updated": "2099-01-03T00:00:00Z", "withdrawn": null}}`, id, ecosystem, name, vrange)}
}

func nvd(id, criteria, endExcluding string) advisory {
	return advisory{Provider: "nvd", Schema: schemaNVD, Item: fmt.Sprintf(`{"cve": {"id": %q, "sourceIdentifier": "nvd@nist.gov",
		"published": "2099-01-02T00:00:00.000", "lastModified": "2099-01-03T00:00:00.000", "vulnStatus": "Analyzed",
		"descriptions": [{"lang": "en", "value": "made up"}],
		"configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": [
			{"vulnerable": true, "criteria": %q, "versionEndExcluding": %q, "matchCriteriaId": "00000000-0000-0000-0000-000000000000"}]}]}],
		"references": []}}`, id, criteria, endExcluding)}
}

// grypeDB builds a v6 database from records with Grype's own processors and writer
// (testserver's build), and opens it.
func grypeDB(t *testing.T, records []advisory) vulnerability.Provider {
	t.Helper()
	dir := t.TempDir()
	if _, err := grypedbtest.Write(dir, grypedbtest.Options{Records: records, Gzip: true}); err != nil {
		t.Fatal(err)
	}
	rd, err := v6.NewReader(v6.Config{DBDirPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	vp := v6.NewVulnerabilityProvider(rd)
	t.Cleanup(func() { vp.Close() })
	return vp
}

// matchesOf runs Grype on an SBOM document as `grype sbom:FILE` would, and lists the matches.
func matchesOf(t *testing.T, vp vulnerability.Provider, doc []byte) []string {
	t.Helper()
	cfg, o := grypedbtest.CLIMatcherConfig()
	pkgs, pctx, _, err := pkg.ProvideFromReader(bytes.NewReader(doc), pkg.ProviderConfig{SynthesisConfig: pkg.SynthesisConfig{
		GenerateMissingCPEs: o.GenerateMissingCPEs, Distro: pkg.DistroConfig{FixChannels: distro.DefaultFixChannels()}}})
	if err != nil {
		t.Fatal(err)
	}
	m := grype.VulnerabilityMatcher{VulnerabilityProvider: vp, Matchers: matcher.NewDefaultMatchers(cfg)}
	found, _, err := m.FindMatchesContext(context.Background(), pkgs, pctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mt := range found.Sorted() {
		var how []string
		for _, d := range mt.Details {
			how = append(how, string(d.Type)+"/"+string(d.Matcher))
		}
		sort.Strings(how)
		out = append(out, fmt.Sprintf("%s %s %s@%s %s", mt.Vulnerability.ID, mt.Vulnerability.Namespace, mt.Package.Name, mt.Package.Version, strings.Join(slices.Compact(how), ",")))
	}
	return out
}

// matchImage is a Debian 12 image with what each kind of Grype matching works on: distribution
// packages (one matched through its source package), Python and npm packages with guessed CPE
// candidates, and a Python interpreter found by Syft's binary classifier, which Grype matches
// by CPE — with the record naming the classifier's second CPE, which the document carries only
// as a syft:cpe23 candidate.
func matchImage(t *testing.T) string {
	t.Helper()
	files := []testimage.File{
		testimage.OSRelease("12", "bookworm"),
		testimage.DpkgStatus(
			testimage.DebPackage{Name: "libc6", Version: "2.36-9+deb12u9", Source: "glibc", InstalledSize: 12000},
			testimage.DebPackage{Name: "libssl3", Version: "3.0.15-1~deb12u1", Source: "openssl", InstalledSize: 6000},
			testimage.DebPackage{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib", InstalledSize: 160},
		),
		{Path: "/usr/lib/node_modules/lodash/package.json", Body: []byte(`{"name": "lodash", "version": "4.17.20", "license": "MIT", "author": "John-David Dalton <john.david.dalton@gmail.com>"}`)},
		{Path: "/usr/local/bin/python3.12", Body: []byte("ELF?\x003.12.1\x00Python interpreter"), Mode: 0o755},
	}
	for _, p := range []testimage.PythonPackage{{Name: "requests", Version: "2.31.0", License: "Apache-2.0"}, {Name: "python-dateutil", Version: "2.8.2", License: "BSD"}} {
		files = append(files, testimage.DistInfo("/usr/lib/python3/dist-packages", p)...)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := testimage.WriteOneLayer(dir, files...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// scan makes the SBOM of the OCI layout at dir as the action does, without the model stage.
func scan(t *testing.T, dir string) *Result {
	t.Helper()
	return scanWith(t, dir, false)
}

// scanWith is scan, with the CPEs left to GenerateCPEs when deferCPEs is set.
func scanWith(t *testing.T, dir string, deferCPEs bool) *Result {
	t.Helper()
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindOCIDir, dir, image.Options{SubjectName: "example.com/match"})
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
	res, err := Generate(ctx, src, Options{Subject: Subject{Name: tg.Name, Digest: tg.Digest.String(), OS: "linux", Arch: "amd64"},
		ToolVersion: "test", Namespace: "bom-attest", SkipModels: true, DeferCPEs: deferCPEs,
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// matchDB is a database with records for every kind of matching matchImage and the sample
// image exercise.
func matchDB(t *testing.T) vulnerability.Provider {
	return grypeDB(t, []advisory{
		osAdvisory("CVE-2099-0001", "glibc", "2.36-9+deb12u10"),    // libc6, through its source package
		osAdvisory("CVE-2099-0002", "openssl", "3.0.18-1~deb12u1"), // libssl3
		osAdvisory("CVE-2099-0003", "zlib", "1:1.2.13.dfsg-0"),     // fixed before the installed version
		osAdvisory("CVE-2099-0009", "libxml2", "None"),
		ghsa("GHSA-2099-0004-0001", "python", "requests", "< 2.32.4"),
		ghsa("GHSA-2099-0004-0003", "python", "cryptography", "< 44.0.2"),
		ghsa("GHSA-2099-0004-0002", "npm", "lodash", "< 4.17.21"),
		nvd("CVE-2099-0005", "cpe:2.3:a:python:python:*:*:*:*:*:*:*:*", "3.12.2"), // the interpreter's second CPE
		// Records for guessed candidates of packages Grype matches without CPEs: no match in
		// either document, which is the point.
		nvd("CVE-2099-0006", "cpe:2.3:a:python-requests:requests:*:*:*:*:*:*:*:*", "2.32.4"),
		nvd("CVE-2099-0007", "cpe:2.3:a:lodash:lodash:*:*:*:*:*:*:*:*", "4.17.21"),
		nvd("CVE-2099-0008", "cpe:2.3:a:python-dateutil_project:python-dateutil:*:*:*:*:*:*:*:*", "2.9.0"),
		nvd("CVE-2099-0010", "cpe:2.3:a:libxml2:libxml2:*:*:*:*:*:*:*:*", "2.9.15"),
	})
}

// matchCase is an image the equivalence tests run on, with the matches it must give, so the
// comparison covers every kind of matching.
type matchCase struct {
	name string
	dir  string
	want []string
}

func matchCases(t *testing.T) []matchCase {
	return []matchCase{
		{"every kind of matching", matchImage(t), []string{
			"CVE-2099-0001 debian:distro:debian:12 libc6@", // through the source package
			"CVE-2099-0002 debian:distro:debian:12 libssl3@",
			"GHSA-2099-0004-0001 github:language:python requests@",
			"GHSA-2099-0004-0002 github:language:javascript lodash@",
			"CVE-2099-0005 nvd:cpe python@3.12.1 cpe-match/stock-matcher",
		}},
		{"the sample image", "../../testdata/sample-image", []string{
			"CVE-2099-0002 debian:distro:debian:12 libssl3@",
			"CVE-2099-0009 debian:distro:debian:12 libxml2@",
			"GHSA-2099-0004-0003 github:language:python cryptography@",
		}},
	}
}

func TestAttestedSBOMKeepsGrypeMatches(t *testing.T) {
	vp := matchDB(t)
	for _, tc := range matchCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			res := scan(t, tc.dir)
			v := cyclonedx.SpecVersion1_6
			// As the compliance stage leaves it: Syft's creator strings the manufacturer repeats
			// are out of the attested document too.
			if manufactureAll(t, res.BOM, false) == 0 {
				t.Fatal("no creator string to leave out: the comparison would not cover them")
			}
			lean, err := Encode(res.BOM, v)
			if err != nil {
				t.Fatal(err)
			}
			full, omitted, err := res.EncodeFull(v)
			if err != nil {
				t.Fatal(err)
			}
			if omitted.CPEs == 0 || omitted.Locations == 0 {
				t.Fatalf("the attested document leaves nothing out (%+v): the comparison would prove nothing", omitted)
			}
			want := matchesOf(t, vp, full)
			got := matchesOf(t, vp, lean)
			if !slices.Equal(got, want) {
				t.Errorf("the attested SBOM's matches differ from the full one's\nattested: %q\nfull:     %q", got, want)
			}
			for _, kind := range tc.want {
				if !slices.ContainsFunc(want, func(m string) bool { return strings.HasPrefix(m, kind) }) {
					t.Errorf("no match %q in %q: the image or database no longer exercises it", kind, want)
				}
			}
			if !strings.Contains(tc.name, "every kind") {
				return
			}
			// The same document with every candidate dropped, binaries' too, loses the
			// interpreter's match: the test notices a representation that goes too far.
			lost := matchesOf(t, vp, dropAllCandidates(t, lean))
			if slices.ContainsFunc(lost, func(m string) bool { return strings.HasPrefix(m, "CVE-2099-0005") }) {
				t.Errorf("without the binary's CPE candidates Grype still matches it by CPE: %q", lost)
			}
		})
	}
}

// dropAllCandidates removes every syft:cpe23 property from an SBOM document.
func dropAllCandidates(t *testing.T, doc []byte) []byte {
	t.Helper()
	var bom cyclonedx.BOM
	if err := json.Unmarshal(doc, &bom); err != nil {
		t.Fatal(err)
	}
	for i := range *bom.Components {
		c := &(*bom.Components)[i]
		if c.Properties == nil {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(*c.Properties), func(p cyclonedx.Property) bool { return p.Name == cpeProperty })
		c.Properties = &kept
	}
	out, err := json.Marshal(&bom)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
