package vulns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/clio"
	"github.com/anchore/grype/cmd/grype/cli/options"
	"github.com/anchore/grype/grype"
	v6dist "github.com/anchore/grype/grype/db/v6/distribution"
	v6inst "github.com/anchore/grype/grype/db/v6/installation"
	"github.com/anchore/grype/grype/distro"
	"github.com/anchore/grype/grype/grypeerr"
	"github.com/anchore/grype/grype/match"
	"github.com/anchore/grype/grype/matcher"
	"github.com/anchore/grype/grype/pkg"
	"github.com/anchore/grype/grype/vulnerability"
	"github.com/anchore/syft/syft/format/syftjson"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
	"github.com/bom-attest/bom-attest/internal/vulns"
	"github.com/bom-attest/bom-attest/internal/vulns/grypedb"
)

// fixture is the sample image's SBOM, the test database served on loopback and loaded through
// grypedb, built once for every test here.
type fixture struct {
	sbom   *sbom.Result
	cdx    []byte // the SBOM as the action writes it
	target image.Target
	server *grypedbtest.Server
	db     *grypedb.DB
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = build(t) })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func build(t *testing.T) (*fixture, error) {
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindOCIDir, "../../testdata/sample-image", image.Options{})
	if err != nil {
		return nil, err
	}
	tg := r.Targets[0]
	src, closeSrc, err := image.Open(ctx, tg)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	res, err := sbom.Generate(ctx, src, sbom.Options{
		Subject:     sbom.Subject{Name: tg.Name, RepoURL: tg.RepoURL, Digest: tg.Digest.String(), OS: tg.Platform.OS, Arch: tg.Platform.Architecture},
		ToolVersion: "v0.0.0-test", Timestamp: time.Unix(1767225600, 0), Namespace: "bom-attest",
	})
	if err != nil {
		return nil, err
	}
	cdx, err := sbom.Encode(res.BOM, cyclonedx.SpecVersion1_6)
	if err != nil {
		return nil, err
	}
	// The server and the database directory outlive the first test: a package-level temp dir.
	dir, err := os.MkdirTemp("", "vulns-test-")
	if err != nil {
		return nil, err
	}
	a := grypedbtest.Build(t, grypedbtest.Options{Built: time.Now().Add(-2 * time.Hour)})
	srv := grypedbtest.Serve(&longLived{T: t}, a)
	db, err := grypedb.Load(ctx, grypedb.Options{Dir: filepath.Join(dir, "db"), URL: srv.URL})
	if err != nil {
		return nil, err
	}
	return &fixture{sbom: res, cdx: cdx, target: tg, server: srv, db: db}, nil
}

// longLived keeps a server started inside sync.Once running after the test that started it.
type longLived struct{ *testing.T }

func (l *longLived) Cleanup(func()) {}

func (f *fixture) scan(t *testing.T) []vulns.Finding {
	t.Helper()
	fs, err := vulns.Scan(context.Background(), f.db.Provider, f.sbom.Syft, f.sbom.BOM)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func (f *fixture) image() vulns.Image {
	return vulns.Image{Name: f.target.Name, Digests: []string{f.target.Digest.String()}}
}

type key struct{ id, ns, pkg, version, fixState, fixes string }

func keyOf(id, ns, name, version string, fix vulnerability.Fix) key {
	return key{id, ns, name, version, string(fix.State), strings.Join(fix.Versions, ",")}
}

// reference is Grype doing it all by itself, as `grype sbom:FILE` does: its own distribution
// client and curator download the same served database, its own reader reads the SBOM from
// sbomFile, and its matcher runs with its command line's defaults.
func reference(t *testing.T, f *fixture, sbomFile string, ignore []match.IgnoreRule, failOn *vulnerability.Severity) (map[key]bool, error) {
	t.Helper()
	dir := t.TempDir()
	dist := v6dist.DefaultConfig()
	dist.LatestURL = f.server.URL
	inst := v6inst.DefaultConfig(clio.Identification{Name: "grype"})
	inst.DBRootDir = dir
	vp, _, err := grype.LoadVulnerabilityDB(dist, inst, true)
	if err != nil {
		t.Fatal(err)
	}
	defer vp.Close()
	o := options.DefaultGrype(clio.Identification{Name: "grype"})
	pkgs, pctx, _, err := pkg.Provide("sbom:"+sbomFile, pkg.ProviderConfig{SynthesisConfig: pkg.SynthesisConfig{
		GenerateMissingCPEs: o.GenerateMissingCPEs, Distro: pkg.DistroConfig{FixChannels: distro.DefaultFixChannels()}}})
	if err != nil {
		t.Fatal(err)
	}
	m := grype.VulnerabilityMatcher{VulnerabilityProvider: vp, Matchers: matcher.NewDefaultMatchers(cliMatchers()), IgnoreRules: ignore, FailSeverity: failOn}
	matches, _, gateErr := m.FindMatches(pkgs, pctx)
	if gateErr != nil && !errors.Is(gateErr, grypeerr.ErrAboveSeverityThreshold) {
		t.Fatal(gateErr)
	}
	out := map[key]bool{}
	for _, mt := range matches.Sorted() {
		out[keyOf(mt.Vulnerability.ID, mt.Vulnerability.Namespace, mt.Package.Name, mt.Package.Version, mt.Vulnerability.Fix)] = true
	}
	return out, gateErr
}

// sbomFiles writes the sample SBOM as Grype reads it from a previous step: the action's
// CycloneDX document, and Syft's own JSON of the same scan. The CycloneDX one goes without its
// model component: Syft v1.54.1's CycloneDX decoder, which Grype uses, recurses without end on
// this document with it (a dpkg component plus a safetensors model). A model has no
// vulnerability records, so the findings are the same.
func (f *fixture) sbomFiles(t *testing.T) map[string]string {
	dir := t.TempDir()
	var doc map[string]any
	if err := json.Unmarshal(f.cdx, &doc); err != nil {
		t.Fatal(err)
	}
	var kept []any
	for _, c := range doc["components"].([]any) {
		if c.(map[string]any)["type"] != "machine-learning-model" {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(doc["components"].([]any)) {
		t.Fatal("the sample SBOM has no model component any more; drop the workaround")
	}
	doc["components"], doc["dependencies"] = kept, nil
	cdx, _ := json.Marshal(doc)
	var syftJSON bytes.Buffer
	if err := syftjson.NewFormatEncoder().Encode(&syftJSON, *f.sbom.Syft); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"CycloneDX": filepath.Join(dir, "sbom.cdx.json"), "Syft JSON": filepath.Join(dir, "sbom.syft.json")}
	os.WriteFile(files["CycloneDX"], cdx, 0o644)
	os.WriteFile(files["Syft JSON"], syftJSON.Bytes(), 0o644)
	return files
}

func keys(fs []vulns.Finding) map[key]bool {
	out := map[key]bool{}
	for _, f := range fs {
		out[keyOf(f.ID, f.Namespace, f.Package.Name, f.Package.Version, vulnerability.Fix{State: f.FixState, Versions: f.FixVersions})] = true
	}
	return out
}

func sorted(m map[key]bool) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%+v", k))
	}
	sort.Strings(out)
	return out
}

// TestScanEqualsGrype: the findings are exactly Grype's own for the same SBOM and database —
// and they are the ones the made-up advisories were written to produce.
func TestScanEqualsGrype(t *testing.T) {
	f := setup(t)
	got := f.scan(t)
	for name, file := range f.sbomFiles(t) {
		want, _ := reference(t, f, file, nil, nil)
		if g, w := sorted(keys(got)), sorted(want); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Fatalf("findings differ from Grype's reading %s:\n got %s\nwant %s", name, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
		}
	}
	byID := map[string]vulns.Finding{}
	for _, fd := range got {
		byID[fd.ID] = fd
	}
	for id, pkgName := range map[string]string{"CVE-2099-1001": "libssl3", "CVE-2099-1002": "libxml2", "CVE-2099-1004": "libc6",
		"GHSA-2099-crit-0003": "cryptography", "GHSA-2099-low0-0006": "requests"} {
		if byID[id].Package.Name != pkgName {
			t.Errorf("%s: found in %q, want %s", id, byID[id].Package.Name, pkgName)
		}
	}
	for _, id := range []string{"CVE-2099-1005", "GHSA-2099-none-0007"} {
		if _, ok := byID[id]; ok {
			t.Errorf("%s matched a version outside its range", id)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d findings, want 5", len(got))
	}
	// Every finding points at its component in the SBOM.
	refs := map[string]bool{}
	for _, c := range *f.sbom.BOM.Components {
		refs[c.BOMRef] = true
	}
	for _, fd := range got {
		if !refs[fd.Package.BOMRef] {
			t.Errorf("%s: bom-ref %q is not in the SBOM", fd.ID, fd.Package.BOMRef)
		}
	}
	if s := byID["CVE-2099-1001"]; s.Severity != vulnerability.HighSeverity || !s.Fixed() || s.FixVersions[0] != "3.0.18-1~deb12u1" {
		t.Errorf("CVE-2099-1001 = %+v", s)
	}
	if s := byID["GHSA-2099-crit-0003"]; len(s.Related) != 1 || s.Related[0] != "CVE-2099-1003" {
		t.Errorf("GHSA-2099-crit-0003 related = %v", s.Related)
	}
}

// TestMatcherConfigIsGrypes: the matchers run with the configuration Grype's command line
// builds from its defaults, so the action finds what a `grype` step would.
func TestMatcherConfigIsGrypes(t *testing.T) {
	if got, want := fmt.Sprintf("%+v", vulns.MatcherConfig()), fmt.Sprintf("%+v", cliMatchers()); got != want {
		t.Errorf("matcher config\n got %s\nwant %s", got, want)
	}
}

// TestGateEqualsGrype: at every fail-on-severity level, with and without only-fixed, the gate
// fails exactly when Grype's own --fail-on (with --only-fixed's ignore rules) does, and on the
// findings the made-up advisories predict.
func TestGateEqualsGrype(t *testing.T) {
	f := setup(t)
	got := f.scan(t)
	file := f.sbomFiles(t)["Syft JSON"]
	onlyFixed := []match.IgnoreRule{{FixState: string(vulnerability.FixStateNotFixed)}, {FixState: string(vulnerability.FixStateWontFix)}, {FixState: string(vulnerability.FixStateUnknown)}}
	for _, tc := range []struct {
		level     string
		onlyFixed bool
		failing   []string
	}{
		{"none", false, nil},
		{"critical", false, []string{"GHSA-2099-crit-0003"}},
		{"high", false, []string{"GHSA-2099-crit-0003", "CVE-2099-1001"}},
		{"medium", false, []string{"GHSA-2099-crit-0003", "CVE-2099-1001", "CVE-2099-1002"}},
		{"low", false, []string{"GHSA-2099-crit-0003", "CVE-2099-1001", "CVE-2099-1002", "GHSA-2099-low0-0006"}},
		{"negligible", false, []string{"GHSA-2099-crit-0003", "CVE-2099-1001", "CVE-2099-1002", "GHSA-2099-low0-0006", "CVE-2099-1004"}},
		{"low", true, []string{"GHSA-2099-crit-0003", "CVE-2099-1001"}},
		{"medium", true, []string{"GHSA-2099-crit-0003", "CVE-2099-1001"}},
		{"critical", true, []string{"GHSA-2099-crit-0003"}},
	} {
		t.Run(fmt.Sprintf("%s/only-fixed=%v", tc.level, tc.onlyFixed), func(t *testing.T) {
			sev, err := vulns.ParseFailOn(tc.level)
			if err != nil {
				t.Fatal(err)
			}
			g := vulns.Gate{FailOn: sev, OnlyFixed: tc.onlyFixed}
			var ids []string
			for _, fd := range g.Failing(got) {
				ids = append(ids, fd.ID)
			}
			if strings.Join(ids, " ") != strings.Join(tc.failing, " ") {
				t.Errorf("failing = %v, want %v", ids, tc.failing)
			}
			err = g.Check(got)
			if (err != nil) != (len(tc.failing) > 0) || (err != nil && !errors.Is(err, vulns.ErrGate)) {
				t.Errorf("Check = %v", err)
			}
			var ignore []match.IgnoreRule
			if tc.onlyFixed {
				ignore = onlyFixed
			}
			var failOn *vulnerability.Severity
			if tc.level != "none" {
				failOn = &sev
			}
			_, grypeGate := reference(t, f, file, ignore, failOn)
			if (grypeGate != nil) != (err != nil) {
				t.Errorf("Grype's gate says %v, ours %v", grypeGate, err)
			}
		})
	}
	if _, err := vulns.ParseFailOn("severe"); err == nil || !strings.Contains(err.Error(), "none, negligible, low, medium, high, critical") {
		t.Errorf("ParseFailOn(severe) = %v", err)
	}
}

// TestReport: the report is valid CycloneDX at every spec version the action writes, points
// at the SBOM's components by bom-ref, and carries what a reader needs per finding.
func TestReport(t *testing.T) {
	f := setup(t)
	got := f.scan(t)
	rep := vulns.Report(got, vulns.ReportOptions{SBOM: f.sbom.BOM, DB: f.db.Status, Namespace: "bom-attest", ToolVersion: "v0.0.0-test", Timestamp: time.Unix(1767225600, 0)})
	for _, v := range []cyclonedx.SpecVersion{cyclonedx.SpecVersion1_5, cyclonedx.SpecVersion1_6, cyclonedx.SpecVersion1_7} {
		doc, err := sbom.Encode(rep, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := check.Validate(doc, v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	sbomRefs := map[string]bool{}
	for _, c := range *f.sbom.BOM.Components {
		sbomRefs[c.BOMRef] = true
	}
	repRefs := map[string]bool{}
	for _, c := range *rep.Components {
		repRefs[c.BOMRef] = true
		if !sbomRefs[c.BOMRef] {
			t.Errorf("component %s is not in the SBOM", c.BOMRef)
		}
	}
	if rep.Metadata.Component.BOMRef != f.sbom.BOM.Metadata.Component.BOMRef {
		t.Errorf("metadata.component = %s", rep.Metadata.Component.BOMRef)
	}
	if er := (*rep.ExternalReferences)[0]; er.Type != cyclonedx.ERTypeBOM || er.URL != "urn:cdx:"+strings.TrimPrefix(f.sbom.BOM.SerialNumber, "urn:uuid:")+"/1" {
		t.Errorf("external reference = %+v", er)
	}
	byID := map[string]cyclonedx.Vulnerability{}
	for _, v := range *rep.Vulnerabilities {
		byID[v.ID] = v
		for _, a := range *v.Affects {
			if !repRefs[a.Ref] {
				t.Errorf("%s affects %s, which the report does not list", v.ID, a.Ref)
			}
		}
	}
	if len(byID) != len(got) {
		t.Errorf("%d vulnerabilities for %d findings", len(byID), len(got))
	}
	v := byID["CVE-2099-1001"]
	if v.Recommendation != "Upgrade libssl3 to 3.0.18-1~deb12u1." || v.Source.Name != "debian:distro:debian:12" ||
		v.Source.URL != "https://security-tracker.debian.org/tracker/CVE-2099-1001" {
		t.Errorf("CVE-2099-1001: %+v", v)
	}
	if r := (*v.Ratings)[1]; r.Vector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" || *r.Score != 7.5 || r.Method != cyclonedx.ScoringMethodCVSSv31 || r.Severity != cyclonedx.SeverityHigh {
		t.Errorf("CVE-2099-1001 CVSS rating = %+v", r)
	}
	if (*v.Ratings)[0].Severity != cyclonedx.SeverityHigh {
		t.Errorf("CVE-2099-1001 severity rating = %+v", (*v.Ratings)[0])
	}
	if adv := fmt.Sprint(*v.Advisories); !strings.Contains(adv, "https://security-tracker.debian.org/tracker/DSA-9901-1") {
		t.Errorf("advisories = %s", adv)
	}
	if a := (*v.Affects)[0]; (*a.Range)[0].Version != "3.0.17-1~deb12u2" || (*a.Range)[0].Status != cyclonedx.VulnerabilityStatusAffected {
		t.Errorf("affects = %+v", *a.Range)
	}
	g := byID["GHSA-2099-crit-0003"]
	if g.References == nil || (*g.References)[0].ID != "CVE-2099-1003" || (*g.Ratings)[0].Severity != cyclonedx.SeverityCritical {
		t.Errorf("GHSA-2099-crit-0003: %+v", g)
	}
	if n := byID["CVE-2099-1002"]; !strings.HasPrefix(n.Recommendation, "No fixed version of libxml2 is known") {
		t.Errorf("CVE-2099-1002 recommendation = %q", n.Recommendation)
	}
	if byID["CVE-2099-1004"].Ratings == nil || (*byID["CVE-2099-1004"].Ratings)[0].Severity != cyclonedx.SeverityNone {
		t.Errorf("negligible severity = %+v", byID["CVE-2099-1004"].Ratings)
	}
	props := fmt.Sprint(*rep.Metadata.Properties)
	if !strings.Contains(props, f.db.Status.Built.UTC().Format(time.RFC3339)) || !strings.Contains(props, f.db.Status.Schema) {
		t.Errorf("metadata properties = %s", props)
	}
	c := vulns.Count(got)
	if c.JSON() != `{"critical":1,"high":1,"medium":1,"low":1,"negligible":1,"unknown":0}` || c.Total() != 5 {
		t.Errorf("counts = %s", c.JSON())
	}
}

// cliMatchers is the matcher configuration of Grype's command line.
func cliMatchers() matcher.Config {
	cfg, _ := grypedbtest.CLIMatcherConfig()
	return cfg
}
