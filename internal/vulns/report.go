package vulns

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/grype/grype/vulnerability"
	"github.com/google/uuid"

	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/vulns/grypedb"
)

// PredicateType is the report's in-toto predicate type: the CycloneDX document carrying
// vulnerabilities and their VEX analysis, attested as it is, as the SBOM is under
// https://cyclonedx.org/bom.
const PredicateType = "https://cyclonedx.org/vex"

// ReportOptions describe what the report is about and what made it.
type ReportOptions struct {
	// SBOM is the document the findings were matched from: the report takes its image
	// component, points back at it by serial number, and copies the affected components with
	// their bom-refs.
	SBOM        *cyclonedx.BOM
	DB          grypedb.Status
	Namespace   string // property prefix; required
	ToolVersion string // bom-attest's
	Timestamp   time.Time
}

// Report builds the CycloneDX vulnerability document: one vulnerability entry per finding,
// affecting the SBOM component it was found in (same bom-ref), with ratings, fixed versions
// as the recommendation, advisories, and the VEX analysis where a statement applies. The
// affected components are copied in, so every ref resolves inside the report; an external
// reference of type bom points at the SBOM (BOM-Link by serial number).
func Report(findings []Finding, o ReportOptions) *cyclonedx.BOM {
	ts := o.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	bom := cyclonedx.NewBOM()
	bom.SerialNumber = uuid.New().URN()
	bom.Metadata = &cyclonedx.Metadata{
		Timestamp: ts.UTC().Format(time.RFC3339),
		Tools: &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{
			{Type: cyclonedx.ComponentTypeApplication, Name: "bom-attest", Version: o.ToolVersion, Supplier: &cyclonedx.OrganizationalEntity{Name: "bom-attest"}},
			{Type: cyclonedx.ComponentTypeLibrary, Group: "github.com/anchore", Name: "grype", Version: GrypeVersion(),
				Supplier: &cyclonedx.OrganizationalEntity{Name: "Anchore, Inc.", URL: &[]string{"https://anchore.com"}}, PackageURL: "pkg:golang/github.com/anchore/grype@" + GrypeVersion()},
		}},
	}
	ns := o.Namespace + ":vulnerabilities:"
	props := []cyclonedx.Property{
		{Name: ns + "db-built", Value: o.DB.Built.UTC().Format(time.RFC3339)},
		{Name: ns + "db-schema", Value: o.DB.Schema},
	}
	if o.DB.Source != "" {
		props = append(props, cyclonedx.Property{Name: ns + "db-source", Value: o.DB.Source})
	}
	bom.Metadata.Properties = &props

	var sbomComponents map[string]cyclonedx.Component
	if o.SBOM != nil {
		if o.SBOM.Metadata != nil && o.SBOM.Metadata.Component != nil {
			c := *o.SBOM.Metadata.Component
			bom.Metadata.Component = &c
		}
		if strings.HasPrefix(o.SBOM.SerialNumber, "urn:uuid:") {
			bom.ExternalReferences = &[]cyclonedx.ExternalReference{{Type: cyclonedx.ERTypeBOM, Comment: "SBOM the findings are about",
				URL: fmt.Sprintf("urn:cdx:%s/%d", strings.TrimPrefix(o.SBOM.SerialNumber, "urn:uuid:"), max(o.SBOM.Version, 1))}}
		}
		sbomComponents = components(o.SBOM)
	}

	var comps []cyclonedx.Component
	seenComp := map[string]bool{}
	seenVuln := map[string]int{}
	vulns := make([]cyclonedx.Vulnerability, 0, len(findings))
	for _, f := range findings {
		ref := f.Package.BOMRef
		if ref == "" {
			// Not in the SBOM as a component (cannot happen for a package Syft found, but the
			// report must still say what was affected).
			ref = nonEmpty(f.Package.PURL, f.Package.ID)
		}
		if !seenComp[ref] {
			seenComp[ref] = true
			c, ok := sbomComponents[ref]
			if !ok {
				c = cyclonedx.Component{Type: cyclonedx.ComponentTypeLibrary, Name: f.Package.Name, Version: f.Package.Version, PackageURL: f.Package.PURL}
			}
			comps = append(comps, cyclonedx.Component{BOMRef: ref, Type: c.Type, Group: c.Group, Name: c.Name, Version: c.Version, PackageURL: c.PackageURL})
		}
		v := vulnerabilityEntry(f, ref, ns)
		// One entry per finding; the same ID on one component twice (two namespaces) gets a suffix.
		seenVuln[v.BOMRef]++
		if n := seenVuln[v.BOMRef]; n > 1 {
			v.BOMRef += "#" + strconv.Itoa(n)
		}
		vulns = append(vulns, v)
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].BOMRef < comps[j].BOMRef })
	bom.Components = &comps
	bom.Vulnerabilities = &vulns
	return bom
}

func components(bom *cyclonedx.BOM) map[string]cyclonedx.Component {
	out := map[string]cyclonedx.Component{}
	if bom.Components != nil {
		eachComponent(*bom.Components, func(c cyclonedx.Component) {
			if c.BOMRef != "" {
				out[c.BOMRef] = c
			}
		})
	}
	return out
}

func vulnerabilityEntry(f Finding, ref, ns string) cyclonedx.Vulnerability {
	v := cyclonedx.Vulnerability{
		BOMRef:      f.ID + "@" + ref,
		ID:          f.ID,
		Source:      &cyclonedx.Source{Name: f.Namespace, URL: f.DataSource},
		Description: f.Description,
	}
	if len(f.Related) > 0 {
		refs := make([]cyclonedx.VulnerabilityReference, len(f.Related))
		for i, r := range f.Related {
			refs[i] = cyclonedx.VulnerabilityReference{ID: r, Source: &cyclonedx.Source{Name: sourceOfID(r)}}
		}
		v.References = &refs
	}
	// The database's own severity first: it is the one the gate reads.
	ratings := []cyclonedx.VulnerabilityRating{{Source: &cyclonedx.Source{Name: f.Namespace}, Severity: cdxSeverity(f.Severity)}}
	for _, c := range f.CVSS {
		score := c.Metrics.BaseScore
		method := cvssMethod(c.Version)
		ratings = append(ratings, cyclonedx.VulnerabilityRating{Source: &cyclonedx.Source{Name: nonEmpty(c.Source, f.Namespace)},
			Score: &score, Severity: cvssSeverity(method, score), Method: method, Vector: c.Vector})
	}
	v.Ratings = &ratings
	var cwes []int
	for _, c := range f.CWEs {
		if n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(c), "CWE-")); err == nil && n > 0 {
			cwes = append(cwes, n)
		}
	}
	if len(cwes) > 0 {
		v.CWEs = &cwes
	}
	if f.Fixed() {
		v.Recommendation = fmt.Sprintf("Upgrade %s to %s.", f.Package.Name, strings.Join(f.FixVersions, " or "))
	} else {
		v.Recommendation = fmt.Sprintf("No fixed version of %s is known (%s).", f.Package.Name, f.FixState)
	}
	var adv []cyclonedx.Advisory
	seen := map[string]bool{}
	addAdv := func(title, u string) {
		if u != "" && !seen[u] {
			seen[u] = true
			adv = append(adv, cyclonedx.Advisory{Title: title, URL: u})
		}
	}
	addAdv(f.ID, f.DataSource)
	for _, a := range f.Advisories {
		addAdv(a.ID, a.Link)
	}
	for _, u := range f.URLs {
		addAdv("", u)
	}
	if len(adv) > 0 {
		v.Advisories = &adv
	}
	status := cyclonedx.VulnerabilityStatusAffected
	if f.Suppressed() {
		status = cyclonedx.VulnerabilityStatusNotAffected
	}
	v.Affects = &[]cyclonedx.Affects{{Ref: ref, Range: &[]cyclonedx.AffectedVersions{{Version: f.Package.Version, Status: status}}}}
	if a := f.Analysis; a != nil {
		v.Analysis = &cyclonedx.VulnerabilityAnalysis{State: a.State, Justification: a.Justification, Detail: a.Detail}
		if len(a.Responses) > 0 {
			r := append([]cyclonedx.ImpactAnalysisResponse(nil), a.Responses...)
			v.Analysis.Response = &r
		}
	}
	props := []cyclonedx.Property{{Name: ns + "fix-state", Value: string(f.FixState)}}
	for _, t := range f.MatchTypes {
		props = append(props, cyclonedx.Property{Name: ns + "match-type", Value: t})
	}
	if f.Analysis != nil {
		props = append(props, cyclonedx.Property{Name: ns + "vex-source", Value: f.Analysis.File})
	}
	v.Properties = &props
	return v
}

// sourceOfID names the database an ID belongs to, for a reference's source.
func sourceOfID(id string) string {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return "NVD"
	case strings.HasPrefix(id, "GHSA-"):
		return "GitHub Advisory Database"
	}
	return ""
}

func cvssMethod(version string) cyclonedx.ScoringMethod {
	switch strings.TrimSpace(version) {
	case "2", "2.0":
		return cyclonedx.ScoringMethodCVSSv2
	case "3", "3.0":
		return cyclonedx.ScoringMethodCVSSv3
	case "3.1":
		return cyclonedx.ScoringMethodCVSSv31
	case "4", "4.0":
		return cyclonedx.ScoringMethodCVSSv4
	}
	return cyclonedx.ScoringMethodOther
}

// cvssSeverity is the qualitative rating the CVSS specification gives a base score.
func cvssSeverity(m cyclonedx.ScoringMethod, score float64) cyclonedx.Severity {
	switch {
	case m == cyclonedx.ScoringMethodOther:
		return ""
	case m == cyclonedx.ScoringMethodCVSSv2:
		switch {
		case score >= 7:
			return cyclonedx.SeverityHigh
		case score >= 4:
			return cyclonedx.SeverityMedium
		default:
			return cyclonedx.SeverityLow
		}
	case score >= 9:
		return cyclonedx.SeverityCritical
	case score >= 7:
		return cyclonedx.SeverityHigh
	case score >= 4:
		return cyclonedx.SeverityMedium
	case score > 0:
		return cyclonedx.SeverityLow
	default:
		return cyclonedx.SeverityNone
	}
}

// cdxSeverity maps Grype's scale onto CycloneDX's as Grype's own CycloneDX output does
// (negligible becomes none).
func cdxSeverity(s Severity) cyclonedx.Severity {
	switch s {
	case vulnerability.CriticalSeverity:
		return cyclonedx.SeverityCritical
	case vulnerability.HighSeverity:
		return cyclonedx.SeverityHigh
	case vulnerability.MediumSeverity:
		return cyclonedx.SeverityMedium
	case vulnerability.LowSeverity:
		return cyclonedx.SeverityLow
	case vulnerability.NegligibleSeverity:
		return cyclonedx.SeverityNone
	}
	return cyclonedx.SeverityUnknown
}

// GrypeVersion is the version of the Grype library compiled in, so the report names the
// matcher that really ran.
func GrypeVersion() string { return sbom.ModuleVersion("github.com/anchore/grype") }
