package vulns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/packageurl-go"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// ErrVEX wraps every problem with a VEX document; the message names the file.
var ErrVEX = errors.New("bad VEX document")

// maxVEXFile bounds one VEX document; real ones are kilobytes.
const maxVEXFile = 16 << 20

// Analysis is what a VEX statement says about a finding, in CycloneDX's terms.
type Analysis struct {
	State         cyclonedx.ImpactAnalysisState
	Justification cyclonedx.ImpactAnalysisJustification
	Responses     []cyclonedx.ImpactAnalysisResponse
	Detail        string
	// Status is the statement's own word (OpenVEX status or CycloneDX state) and File the
	// document it came from, for the summary.
	Status string
	File   string
}

// Suppresses reports whether the statement says the finding does not apply: OpenVEX
// not_affected or fixed, CycloneDX not_affected, false_positive, resolved or
// resolved_with_pedigree.
func (a *Analysis) Suppresses() bool {
	switch a.State {
	case cyclonedx.IASNotAffected, cyclonedx.IASFalsePositive, cyclonedx.IASResolved, cyclonedx.IASResolvedWithPedigree:
		return true
	}
	return false
}

// Image identifies the image the findings are in, for VEX statements about it as a product.
type Image struct {
	Name    string   // e.g. ghcr.io/acme/app
	Digests []string // the platform manifest's and, for a multi-platform image, the index's
}

// VEX holds the statements of every VEX document given, in the order they take effect.
type VEX struct {
	statements []statement
}

type statement struct {
	file          string
	index         string // where in the file, for messages
	when          time.Time
	ids           []string // the vulnerability and its aliases, upper case
	products      []string // purls, image references, bom-refs or BOM-Links
	subcomponents []string
	versions      []string // CycloneDX affects[].versions[].version: only these versions
	analysis      Analysis
	// bomRefs maps a CycloneDX VEX's own components' bom-refs to their purls.
	bomRefs map[string]string
}

// LoadVEX reads and checks every file: each must be a regular file no larger than 16 MiB
// holding an OpenVEX (v0.0.1 or v0.2.0) or CycloneDX (1.4 and later) VEX document.
func LoadVEX(files []string) (*VEX, error) {
	v := &VEX{}
	for _, file := range files {
		data, err := readVEX(file)
		if err != nil {
			return nil, err
		}
		sts, err := parseVEX(file, data)
		if err != nil {
			return nil, err
		}
		v.statements = append(v.statements, sts...)
	}
	// Later statements override earlier ones, as OpenVEX orders them by time; statements
	// without a time keep their place in the input.
	sort.SliceStable(v.statements, func(i, j int) bool {
		a, b := v.statements[i].when, v.statements[j].when
		return !a.IsZero() && !b.IsZero() && a.Before(b)
	})
	return v, nil
}

// Statements counts the statements loaded.
func (v *VEX) Statements() int {
	if v == nil {
		return 0
	}
	return len(v.statements)
}

// readVEX reads one VEX document as hostile input (regular file, bounded, opened without
// blocking). The error names the file and matches both ErrVEX and localfile's sentinels.
func readVEX(file string) ([]byte, error) {
	data, err := localfile.Read(context.Background(), file, maxVEXFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVEX, err)
	}
	return data, nil
}

func parseVEX(file string, data []byte) ([]statement, error) {
	var probe struct {
		Context   any    `json:"@context"`
		BOMFormat string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %s: not JSON: %v", ErrVEX, file, err)
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		return parseCycloneDXVEX(file, data)
	case strings.Contains(fmt.Sprint(probe.Context), "openvex"):
		return parseOpenVEX(file, data)
	}
	return nil, fmt.Errorf("%w: %s: neither OpenVEX (@context https://openvex.dev/ns/…) nor CycloneDX (bomFormat CycloneDX)", ErrVEX, file)
}

// openvexVuln and openvexProduct accept a JSON string too: OpenVEX v0.0.1 wrote products and
// vulnerabilities as strings, v0.2.0 as objects.
type openvexVuln struct {
	Name    string   `json:"name"`
	ID      string   `json:"@id"`
	Aliases []string `json:"aliases"`
}

type openvexProduct struct {
	ID          string `json:"@id"`
	Identifiers struct {
		PURL string `json:"purl"`
	} `json:"identifiers"`
	Subcomponents []openvexProduct `json:"subcomponents"`
}

func (p *openvexProduct) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		p.ID = s
		return nil
	}
	type plain openvexProduct
	return json.Unmarshal(b, (*plain)(p))
}

func (v *openvexVuln) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v.Name = s
		return nil
	}
	type plain openvexVuln
	return json.Unmarshal(b, (*plain)(v))
}

type openvexStatement struct {
	Vulnerability   openvexVuln      `json:"vulnerability"`
	Products        []openvexProduct `json:"products"`
	Subcomponents   []openvexProduct `json:"subcomponents"` // v0.0.1
	Status          string           `json:"status"`
	Justification   string           `json:"justification"`
	ImpactStatement string           `json:"impact_statement"`
	ActionStatement string           `json:"action_statement"`
	StatusNotes     string           `json:"status_notes"`
	Timestamp       string           `json:"timestamp"`
}

type openvexDoc struct {
	Timestamp  string             `json:"timestamp"`
	Statements []openvexStatement `json:"statements"`
}

// openvexJustification maps OpenVEX's justifications to CycloneDX's nearest; the OpenVEX word
// is kept in the detail.
var openvexJustification = map[string]cyclonedx.ImpactAnalysisJustification{
	"component_not_present":                             cyclonedx.IAJCodeNotPresent,
	"vulnerable_code_not_present":                       cyclonedx.IAJCodeNotPresent,
	"vulnerable_code_not_in_execute_path":               cyclonedx.IAJCodeNotReachable,
	"vulnerable_code_cannot_be_controlled_by_adversary": cyclonedx.IAJRequiresEnvironment,
	"inline_mitigations_already_exist":                  cyclonedx.IAJProtectedByMitigatingControl,
}

func parseOpenVEX(file string, data []byte) ([]statement, error) {
	var doc openvexDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: OpenVEX: %v", ErrVEX, file, err)
	}
	docTime, err := parseTime(doc.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: timestamp: %v", ErrVEX, file, err)
	}
	var out []statement
	for i, s := range doc.Statements {
		where := fmt.Sprintf("statements[%d]", i)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: %s: %s: %s", ErrVEX, file, where, fmt.Sprintf(format, a...))
		}
		id := s.Vulnerability.Name
		if id == "" {
			id = s.Vulnerability.ID
		}
		if id == "" {
			return nil, bad("vulnerability has no name")
		}
		if len(s.Products) == 0 {
			return nil, bad("no products")
		}
		st := statement{file: file, index: where, ids: upper(append([]string{id}, s.Vulnerability.Aliases...)),
			analysis: Analysis{Status: s.Status, File: file}}
		if st.when, err = parseTime(s.Timestamp); err != nil {
			return nil, bad("timestamp: %v", err)
		}
		if st.when.IsZero() {
			st.when = docTime
		}
		detail := []string{}
		switch s.Status {
		case "not_affected":
			if s.Justification == "" && s.ImpactStatement == "" {
				return nil, bad("status not_affected needs a justification or an impact_statement")
			}
			st.analysis.State = cyclonedx.IASNotAffected
			if s.Justification != "" {
				j, ok := openvexJustification[s.Justification]
				if !ok {
					return nil, bad("unknown justification %q", s.Justification)
				}
				st.analysis.Justification = j
				detail = append(detail, "OpenVEX justification: "+s.Justification+".")
			}
			detail = append(detail, s.ImpactStatement)
		case "fixed":
			st.analysis.State = cyclonedx.IASResolved
		case "affected":
			st.analysis.State = cyclonedx.IASExploitable
			detail = append(detail, s.ActionStatement)
		case "under_investigation":
			st.analysis.State = cyclonedx.IASInTriage
		default:
			return nil, bad("status %q is not one of not_affected, affected, fixed, under_investigation", s.Status)
		}
		detail = append(detail, s.StatusNotes)
		st.analysis.Detail = joinNonEmpty(detail)
		for _, p := range s.Products {
			st.products = append(st.products, nonEmpty(p.Identifiers.PURL, p.ID))
			for _, sc := range p.Subcomponents {
				st.subcomponents = append(st.subcomponents, nonEmpty(sc.Identifiers.PURL, sc.ID))
			}
		}
		for _, sc := range s.Subcomponents {
			st.subcomponents = append(st.subcomponents, nonEmpty(sc.Identifiers.PURL, sc.ID))
		}
		out = append(out, st)
	}
	return out, nil
}

func parseCycloneDXVEX(file string, data []byte) ([]statement, error) {
	var bom cyclonedx.BOM
	if err := cyclonedx.NewBOMDecoder(bytes.NewReader(data), cyclonedx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%w: %s: CycloneDX: %v", ErrVEX, file, err)
	}
	if bom.Vulnerabilities == nil || len(*bom.Vulnerabilities) == 0 {
		return nil, fmt.Errorf("%w: %s: a CycloneDX document without vulnerabilities is not VEX", ErrVEX, file)
	}
	refs := map[string]string{}
	walk := func(cs []cyclonedx.Component) {
		eachComponent(cs, func(c cyclonedx.Component) {
			if c.BOMRef != "" {
				refs[c.BOMRef] = c.PackageURL
			}
		})
	}
	var docTime time.Time
	if bom.Metadata != nil {
		if bom.Metadata.Component != nil {
			walk([]cyclonedx.Component{*bom.Metadata.Component})
		}
		docTime, _ = parseTime(bom.Metadata.Timestamp)
	}
	if bom.Components != nil {
		walk(*bom.Components)
	}
	var out []statement
	for i, v := range *bom.Vulnerabilities {
		where := fmt.Sprintf("vulnerabilities[%d]", i)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: %s: %s: %s", ErrVEX, file, where, fmt.Sprintf(format, a...))
		}
		if v.ID == "" {
			return nil, bad("no id")
		}
		if v.Analysis == nil || v.Analysis.State == "" {
			// A vulnerability without analysis states nothing about exploitability.
			continue
		}
		if v.Affects == nil || len(*v.Affects) == 0 {
			return nil, bad("analysis without affects")
		}
		ids := []string{v.ID}
		if v.References != nil {
			for _, r := range *v.References {
				ids = append(ids, r.ID)
			}
		}
		a := v.Analysis
		switch a.State {
		case cyclonedx.IASNotAffected, cyclonedx.IASFalsePositive, cyclonedx.IASResolved, cyclonedx.IASResolvedWithPedigree,
			cyclonedx.IASExploitable, cyclonedx.IASInTriage:
		default:
			return nil, bad("analysis.state %q is not a CycloneDX impact analysis state", a.State)
		}
		st := statement{file: file, index: where, ids: upper(ids), bomRefs: refs,
			analysis: Analysis{State: a.State, Justification: a.Justification, Detail: a.Detail, Status: string(a.State), File: file}}
		if a.Response != nil {
			st.analysis.Responses = *a.Response
		}
		st.when = docTime
		if t, err := parseTime(nonEmpty(a.LastUpdated, a.FirstIssued)); err == nil && !t.IsZero() {
			st.when = t
		}
		for _, af := range *v.Affects {
			if af.Ref == "" {
				return nil, bad("affects without ref")
			}
			st.products = append(st.products, af.Ref)
			if af.Range != nil {
				for _, r := range *af.Range {
					if r.Version == "" {
						// Version ranges (vers) are not evaluated: a statement about a range
						// must not quietly cover versions it may not mean.
						return nil, bad("affects %q gives a version range; list the versions instead", af.Ref)
					}
					st.versions = append(st.versions, r.Version)
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

func upper(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id = strings.ToUpper(strings.TrimSpace(id)); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func joinNonEmpty(parts []string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// Apply sets the analysis of every finding a statement covers, the latest statement winning,
// and returns how many findings it set one on.
func (v *VEX) Apply(findings []Finding, img Image) int {
	if v == nil {
		return 0
	}
	n := 0
	for i := range findings {
		f := &findings[i]
		for _, s := range v.statements {
			if s.covers(f, img) {
				a := s.analysis
				if f.Analysis == nil {
					n++
				}
				f.Analysis = &a
			}
		}
	}
	return n
}

func (s *statement) covers(f *Finding, img Image) bool {
	if !s.names(f) {
		return false
	}
	if len(s.versions) > 0 && !slices.Contains(s.versions, f.Package.Version) {
		return false
	}
	for _, p := range s.products {
		switch s.target(p, f, img) {
		case targetPackage:
			return true
		case targetImage:
			if len(s.subcomponents) == 0 {
				return true
			}
			for _, sc := range s.subcomponents {
				if s.target(sc, f, img) == targetPackage {
					return true
				}
			}
		}
	}
	return false
}

func (s *statement) names(f *Finding) bool {
	for _, id := range s.ids {
		if strings.EqualFold(id, f.ID) {
			return true
		}
		for _, r := range f.Related {
			if strings.EqualFold(id, r) {
				return true
			}
		}
	}
	return false
}

type target int

const (
	targetNone target = iota
	targetPackage
	targetImage
)

// target tells what a product reference names: the finding's package, the image, or neither.
// A reference may be a purl, a bom-ref or BOM-Link (urn:cdx:…#bom-ref), or an image reference
// (name, name@digest or a bare digest).
func (s *statement) target(ref string, f *Finding, img Image) target {
	if _, frag, ok := strings.Cut(ref, "#"); ok && strings.HasPrefix(ref, "urn:cdx:") {
		if u, err := url.PathUnescape(frag); err == nil {
			frag = u
		}
		ref = frag
	}
	if ref == f.Package.BOMRef && ref != "" {
		return targetPackage
	}
	if p, ok := s.bomRefs[ref]; ok {
		if p == "" {
			return targetNone
		}
		ref = p
	}
	if strings.HasPrefix(ref, "pkg:") {
		vp, err := packageurl.FromString(ref)
		if err != nil {
			return targetNone
		}
		if strings.EqualFold(vp.Type, "oci") || strings.EqualFold(vp.Type, "docker") {
			if imageByPURL(vp, img) {
				return targetImage
			}
			return targetNone
		}
		if samePackage(vp, f.Package.PURL) {
			return targetPackage
		}
		return targetNone
	}
	if imageByRef(ref, img) {
		return targetImage
	}
	return targetNone
}

// samePackage: same type, namespace and name (PyPI names compared as PEP 503 normalises them);
// the VEX purl's version and qualifiers, where it has them, must match too.
func samePackage(vp packageurl.PackageURL, pkgPURL string) bool {
	pp, err := packageurl.FromString(pkgPURL)
	if err != nil {
		return false
	}
	if !strings.EqualFold(vp.Type, pp.Type) || !strings.EqualFold(vp.Namespace, pp.Namespace) ||
		normName(vp.Type, vp.Name) != normName(pp.Type, pp.Name) {
		return false
	}
	if vp.Version != "" && vp.Version != pp.Version {
		return false
	}
	have := pp.Qualifiers.Map()
	for k, v := range vp.Qualifiers.Map() {
		if k != "package-id" && have[k] != v {
			return false
		}
	}
	return true
}

var pep503 = regexp.MustCompile(`[-_.]+`)

func normName(typ, name string) string {
	if strings.EqualFold(typ, "pypi") {
		return pep503.ReplaceAllString(strings.ToLower(name), "-")
	}
	return name
}

func imageByPURL(p packageurl.PackageURL, img Image) bool {
	base := img.Name
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	if p.Name != "" && base != "" && !strings.EqualFold(p.Name, base) {
		return false
	}
	if p.Version == "" {
		return p.Name != "" && base != ""
	}
	return slices.Contains(img.Digests, p.Version)
}

func imageByRef(ref string, img Image) bool {
	name, digest, hasDigest := strings.Cut(ref, "@")
	if strings.HasPrefix(ref, "sha256:") {
		return slices.Contains(img.Digests, ref)
	}
	if name != img.Name || img.Name == "" {
		return false
	}
	return !hasDigest || slices.Contains(img.Digests, digest)
}
