package vulns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/grype/grype"
	"github.com/anchore/grype/grype/distro"
	"github.com/anchore/grype/grype/match"
	"github.com/anchore/grype/grype/matcher"
	"github.com/anchore/grype/grype/matcher/dotnet"
	"github.com/anchore/grype/grype/matcher/dpkg"
	"github.com/anchore/grype/grype/matcher/golang"
	"github.com/anchore/grype/grype/matcher/hex"
	"github.com/anchore/grype/grype/matcher/java"
	"github.com/anchore/grype/grype/matcher/javascript"
	"github.com/anchore/grype/grype/matcher/python"
	"github.com/anchore/grype/grype/matcher/rpm"
	"github.com/anchore/grype/grype/matcher/ruby"
	"github.com/anchore/grype/grype/matcher/rust"
	"github.com/anchore/grype/grype/matcher/stock"
	"github.com/anchore/grype/grype/pkg"
	"github.com/anchore/grype/grype/version"
	"github.com/anchore/grype/grype/vulnerability"
	"github.com/anchore/packageurl-go"
	"github.com/anchore/syft/syft/format/syftjson"
	syftpkg "github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
)

// ErrScan wraps failures of the matching itself.
var ErrScan = errors.New("vulnerability scan failed")

// Severity is Grype's severity scale, lowest first.
type Severity = vulnerability.Severity

// Finding is one vulnerability matched against one package of the SBOM.
type Finding struct {
	ID          string // CVE-…, GHSA-…, as the database names it
	Namespace   string // where the record comes from, e.g. debian:distro:debian:12
	DataSource  string // the record's primary link
	Severity    Severity
	CVSS        []vulnerability.Cvss
	Description string
	URLs        []string
	Advisories  []vulnerability.Advisory
	Related     []string // other IDs of the same vulnerability (a GHSA's CVE, …)
	CWEs        []string
	FixState    vulnerability.FixState
	FixVersions []string
	MatchTypes  []string // exact-direct-match, exact-indirect-match, cpe-match
	Package     Package
	// Analysis is set by VEX; Suppressed findings stay in the report but not in counts and gate.
	Analysis *Analysis
}

// Package is the matched package, as the SBOM names it.
type Package struct {
	ID      string // Syft's package ID
	BOMRef  string // its bom-ref in the SBOM; empty if the SBOM has no such component
	Name    string
	Version string
	Type    string // Syft's package type: deb, python, …
	PURL    string
}

// Suppressed reports whether a VEX statement took the finding out of counts and gate.
func (f Finding) Suppressed() bool { return f.Analysis != nil && f.Analysis.Suppresses() }

// Key names the vulnerability in the package version: the same key on several platforms of an
// image is one finding to a reader.
func (f Finding) Key() string {
	return f.ID + "\x00" + f.Package.Type + "\x00" + f.Package.Name + "\x00" + f.Package.Version
}

// Link is the finding's advisory: the record's own link, else its first advisory's or URL.
func (f Finding) Link() string {
	if f.DataSource != "" {
		return f.DataSource
	}
	for _, a := range f.Advisories {
		if a.Link != "" {
			return a.Link
		}
	}
	if len(f.URLs) > 0 {
		return f.URLs[0]
	}
	return ""
}

// Distinct lists each finding once per key, in order, split into those VEX left open and those
// it suppressed. A VEX statement may cover a finding on one platform and not another, so a key
// can be in both lists.
func Distinct(fs []Finding) (open, suppressed []Finding) {
	seen := map[string]bool{}
	for _, f := range fs {
		k := fmt.Sprint(f.Suppressed()) + f.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if f.Suppressed() {
			suppressed = append(suppressed, f)
		} else {
			open = append(open, f)
		}
	}
	return open, suppressed
}

// Fixed reports whether the database knows a version that fixes it.
func (f Finding) Fixed() bool {
	return f.FixState == vulnerability.FixStateFixed && len(f.FixVersions) > 0
}

// matcherConfig is Grype's command-line default (grype v0.115.0, cmd/grype/cli/options): CPE
// matching only where Grype does it by default, no Maven Central look-ups (no network).
func matcherConfig() matcher.Config {
	return matcher.Config{
		Java: java.MatcherConfig{UseCPEs: false, ExternalSearchConfig: java.ExternalSearchConfig{
			SearchMavenUpstream: false, MavenBaseURL: "https://search.maven.org/solrsearch/select", MavenRateLimit: 300 * time.Millisecond}},
		Ruby:       ruby.MatcherConfig{UseCPEs: false},
		Python:     python.MatcherConfig{UseCPEs: false},
		Dotnet:     dotnet.MatcherConfig{UseCPEs: false},
		Javascript: javascript.MatcherConfig{UseCPEs: false},
		Golang:     golang.MatcherConfig{UseCPEs: false},
		Rust:       rust.MatcherConfig{UseCPEs: false},
		Hex:        hex.MatcherConfig{UseCPEs: false},
		Stock:      stock.MatcherConfig{UseCPEs: true},
		Dpkg:       dpkg.MatcherConfig{MissingEpochStrategy: version.MissingEpochStrategyZero},
		Rpm:        rpm.MatcherConfig{MissingEpochStrategy: version.MissingEpochStrategyAuto},
	}
}

// kernelHeaders are the ignore rules Grype's command line applies by default: header packages
// match the kernel's advisories only through their source package, and those are about the
// kernel, not the headers.
var kernelHeaders = []match.IgnoreRule{
	{Package: match.IgnoreRulePackage{Name: "kernel-headers", UpstreamName: "kernel", Type: string(syftpkg.RpmPkg)}, MatchType: match.ExactIndirectMatch},
	{Package: match.IgnoreRulePackage{Name: "linux(-.*)?-headers-.*", UpstreamName: "linux.*", Type: string(syftpkg.DebPkg)}, MatchType: match.ExactIndirectMatch},
	{Package: match.IgnoreRulePackage{Name: "linux-libc-dev", UpstreamName: "linux", Type: string(syftpkg.DebPkg)}, MatchType: match.ExactIndirectMatch},
	{Package: match.IgnoreRulePackage{Name: "linux-kbuild-.*", UpstreamName: "linux.*", Type: string(syftpkg.DebPkg)}, MatchType: match.ExactIndirectMatch},
}

// Scan matches the packages of s, the Syft model the SBOM was made from, against the database,
// with Grype's matchers as its command line configures them. The packages reach Grype the way
// `grype sbom:FILE` reads a Syft JSON SBOM (distro, upstream source packages, file-overlap
// pruning included), from memory: the image is not read again. bom is the CycloneDX SBOM
// written from s; it gives each finding its component's bom-ref.
func Scan(ctx context.Context, vp vulnerability.Provider, s *syftsbom.SBOM, bom *cyclonedx.BOM) ([]Finding, error) {
	pkgs, pctx, err := packages(s)
	if err != nil {
		return nil, err
	}
	m := grype.VulnerabilityMatcher{
		VulnerabilityProvider: vp,
		Matchers:              matcher.NewDefaultMatchers(matcherConfig()),
		IgnoreRules:           kernelHeaders,
	}
	matches, _, err := m.FindMatchesContext(ctx, pkgs, pctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScan, err)
	}
	refs := bomRefs(bom)
	var out []Finding
	for _, mt := range matches.Sorted() {
		f := finding(vp, mt)
		f.Package.BOMRef = refs[f.Package.ID]
		out = append(out, f)
	}
	sortFindings(out)
	return out, nil
}

// packages converts the Syft model into Grype's packages through Grype's own SBOM reader.
func packages(s *syftsbom.SBOM) ([]pkg.Package, pkg.Context, error) {
	var buf bytes.Buffer
	if err := syftjson.NewFormatEncoder().Encode(&buf, *s); err != nil {
		return nil, pkg.Context{}, fmt.Errorf("%w: encode the SBOM for Grype: %v", ErrScan, err)
	}
	pkgs, pctx, _, err := pkg.ProvideFromReader(bytes.NewReader(buf.Bytes()), pkg.ProviderConfig{
		SynthesisConfig: pkg.SynthesisConfig{Distro: pkg.DistroConfig{FixChannels: distro.DefaultFixChannels()}},
	})
	if err != nil {
		return nil, pkg.Context{}, fmt.Errorf("%w: read the SBOM into Grype: %v", ErrScan, err)
	}
	return pkgs, pctx, nil
}

func finding(vp vulnerability.Provider, m match.Match) Finding {
	v := m.Vulnerability
	f := Finding{
		ID:          v.ID,
		Namespace:   v.Namespace,
		FixState:    v.Fix.State,
		FixVersions: append([]string(nil), v.Fix.Versions...),
		Advisories:  v.Advisories,
		Package: Package{ID: string(m.Package.ID), Name: m.Package.Name, Version: m.Package.Version,
			Type: string(m.Package.Type), PURL: m.Package.PURL},
	}
	if f.FixState == "" {
		f.FixState = vulnerability.FixStateUnknown
	}
	md := v.Metadata
	if md == nil {
		// Grype's presenters fall back to the provider the same way.
		md, _ = vp.VulnerabilityMetadata(v.Reference) //nolint:staticcheck // the one way to get metadata a matcher left out
	}
	if md != nil {
		f.DataSource, f.Description, f.URLs, f.CVSS = md.DataSource, md.Description, md.URLs, md.Cvss
		f.Severity = vulnerability.ParseSeverity(md.Severity)
		for _, c := range md.CWEs {
			f.CWEs = append(f.CWEs, c.CWE)
		}
	}
	for _, r := range v.RelatedVulnerabilities {
		if r.ID != f.ID && !slices.Contains(f.Related, r.ID) {
			f.Related = append(f.Related, r.ID)
		}
		// A distribution's record often has no CVSS of its own; NVD's comes with the related
		// record, as Grype's own reports show it.
		if rmd, err := vp.VulnerabilityMetadata(r); err == nil && rmd != nil { //nolint:staticcheck // see above
			for _, c := range rmd.Cvss {
				if c.Source == "" {
					c.Source = rmd.Namespace
				}
				f.CVSS = append(f.CVSS, c)
			}
			if f.Severity == vulnerability.UnknownSeverity {
				f.Severity = vulnerability.ParseSeverity(rmd.Severity)
			}
		}
	}
	for _, d := range m.Details {
		if t := string(d.Type); !slices.Contains(f.MatchTypes, t) {
			f.MatchTypes = append(f.MatchTypes, t)
		}
	}
	return f
}

// sortFindings orders by severity (worst first), then ID, package name and version.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		return a.Package.Version < b.Package.Version
	})
}

// bomRefs maps Syft package IDs to the SBOM's bom-refs. Syft's CycloneDX encoder makes a
// package's bom-ref its purl with a package-id qualifier holding the ID, or the bare ID when
// the package has no purl.
func bomRefs(bom *cyclonedx.BOM) map[string]string {
	refs := map[string]string{}
	if bom == nil || bom.Components == nil {
		return refs
	}
	eachComponent(*bom.Components, func(c cyclonedx.Component) {
		if c.BOMRef != "" {
			refs[packageID(c.BOMRef)] = c.BOMRef
		}
	})
	return refs
}

// eachComponent visits cs and their nested components, depth first, each before its children.
func eachComponent(cs []cyclonedx.Component, visit func(cyclonedx.Component)) {
	for _, c := range cs {
		visit(c)
		if c.Components != nil {
			eachComponent(*c.Components, visit)
		}
	}
}

func packageID(bomRef string) string {
	if strings.HasPrefix(bomRef, "pkg:") {
		if p, err := packageurl.FromString(bomRef); err == nil {
			if id := p.Qualifiers.Map()["package-id"]; id != "" {
				return id
			}
		}
		// A purl the parser refuses may still carry the qualifier.
		if _, q, ok := strings.Cut(bomRef, "?"); ok {
			if v, err := url.ParseQuery(q); err == nil && v.Get("package-id") != "" {
				return v.Get("package-id")
			}
		}
	}
	return bomRef
}
