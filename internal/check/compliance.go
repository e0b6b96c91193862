package check

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
)

// ErrGate is wrapped by the error of a compliance gate that failed: the score fell under
// compliance-fail-under.
var ErrGate = errors.New("compliance gate failed")

// Standard is a set of minimum elements the report measures.
type Standard string

const (
	CISA Standard = "cisa" // CISA, 2025 Minimum Elements for a Software Bill of Materials
	BSI  Standard = "bsi"  // BSI TR-03183-2 v2.1, Cyber Resilience Requirements, Part 2: SBOM
)

// StandardNames are the standards' titles, as the report prints them.
var StandardNames = map[Standard]string{
	CISA: "CISA 2025 Minimum Elements for an SBOM",
	BSI:  "BSI TR-03183-2 v2.1",
}

// BSI TR-03183-2 v2.1 property names (github.com/BSI-Bund/tr-03183-cyclonedx-property-taxonomy):
// sbom writes them, Compliance looks for them.
const (
	BSIFilename   = "bsi:component:filename"
	BSIExecutable = "bsi:component:executable"
	BSIArchive    = "bsi:component:archive"
	BSIStructured = "bsi:component:structured"
)

// HashKindProperty is the name of the property, under the property namespace ns, that says
// which kind of hash a component (or, in metadata.properties, the document) carries.
func HashKindProperty(ns string) string { return ns + ":hash:kind" }

// maxExamples is how many components missing an element the report names.
const maxExamples = 5

// ComplianceInput is what Compliance measures.
type ComplianceInput struct {
	BOM         *cyclonedx.BOM
	SpecVersion cyclonedx.SpecVersion
	Standards   []Standard
	Namespace   string // property prefix, for the hash kinds
	// Gaps say why components lack fields, in the words of the stage that filled the SBOM;
	// a component without one gets the element's general reason.
	Gaps Gaps
}

// Report is how far an SBOM carries the minimum elements.
type Report struct {
	Standards   []Standard `json:"standards"`
	SpecVersion string     `json:"specVersion"`
	Components  int        `json:"components"`
	// Score is the mean coverage of the applicable elements, in percent (one decimal).
	Score    float64        `json:"score"`
	Elements []Element      `json:"elements"`
	Hashes   map[string]int `json:"hashes"` // components by the kind of hash they carry; "none" for none
}

// Element is one minimum element and how many components (or, for a document-level element,
// whether the document) carry it.
type Element struct {
	ID       string   `json:"id"` // e.g. cisa:component-hash
	Standard Standard `json:"standard"`
	Name     string   `json:"name"`
	Level    string   `json:"level"` // document or component
	Covered  int      `json:"covered"`
	Total    int      `json:"total"`
	// Coverage is Covered/Total in percent, one decimal.
	Coverage float64 `json:"coverage"`
	// NotApplicable, when set, says why the element does not count (BSI below CycloneDX 1.6).
	NotApplicable string    `json:"notApplicable,omitempty"`
	Missing       []Example `json:"missing,omitempty"`
	MissingCount  int       `json:"missingCount,omitempty"`
	// Why counts the missing components by the sort of reason.
	Why map[Why]int `json:"why,omitempty"`
}

// Example is one component that lacks an element, and why.
type Example struct {
	Component string `json:"component"` // name@version
	BOMRef    string `json:"bomRef,omitempty"`
	Why       Why    `json:"why"`
	Detail    string `json:"detail"`
}

// element is how one minimum element is measured.
type element struct {
	std   Standard
	id    string
	name  string
	doc   func(in *ComplianceInput) (bool, Gap) // a document-level element
	comp  func(c *cyclonedx.Component, x *facts) bool
	field Field // the field a component's gap is looked up by
	// why is the reason for a component without a gap of its own.
	why Gap
}

// facts are what several elements look up about the document.
type facts struct {
	inGraph     map[string]bool
	composition map[string]cyclonedx.CompositionAggregate
}

var notInSBOM = Gap{Why: WhyUnknown, Detail: "the SBOM does not carry it"}

var elements = []element{
	{std: CISA, id: "sbom-author", name: "SBOM author", doc: func(in *ComplianceInput) (bool, Gap) {
		md := in.BOM.Metadata
		ok := md != nil && (md.Authors != nil && len(*md.Authors) > 0 && (*md.Authors)[0].Name != "" || md.Manufacturer != nil && md.Manufacturer.Name != "")
		return ok, Gap{WhyUnknown, "no author: set sbom-author (in Actions the repository owner is the default)"}
	}},
	{std: CISA, id: "software-producer", name: "Software producer", field: FieldProducer, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return c.Supplier != nil && c.Supplier.Name != "" || c.Manufacturer != nil && c.Manufacturer.Name != ""
	}, why: notInSBOM},
	{std: CISA, id: "component-name", name: "Component name", comp: func(c *cyclonedx.Component, _ *facts) bool { return c.Name != "" }, why: notInSBOM},
	{std: CISA, id: "component-version", name: "Component version", comp: func(c *cyclonedx.Component, _ *facts) bool { return c.Version != "" },
		why: Gap{WhyUnknown, "the image records no version for it"}},
	{std: CISA, id: "software-identifiers", name: "Software identifiers", comp: identified, why: Gap{WhyUnknown, "no purl, CPE or SWID could be made for it"}},
	{std: CISA, id: "component-hash", name: "Component hash", field: FieldHash, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return c.Hashes != nil && len(*c.Hashes) > 0 || distributionHash(c, "") != ""
	}, why: notInSBOM},
	{std: CISA, id: "license", name: "License", field: FieldLicence, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return c.Licenses != nil && len(*c.Licenses) > 0
	}, why: Gap{WhyUnknown, "its package metadata declares no licence"}},
	{std: CISA, id: "dependency-relationship", name: "Dependency relationship", comp: func(c *cyclonedx.Component, x *facts) bool {
		return x.inGraph[c.BOMRef]
	}, why: Gap{WhyUnknown, "it is in no dependency relationship"}},
	{std: CISA, id: "tool-name", name: "Tool name", doc: func(in *ComplianceInput) (bool, Gap) {
		md := in.BOM.Metadata
		return md != nil && md.Tools != nil && (md.Tools.Components != nil && len(*md.Tools.Components) > 0 || md.Tools.Services != nil && len(*md.Tools.Services) > 0), notInSBOM
	}},
	{std: CISA, id: "timestamp", name: "Timestamp", doc: timestamped},
	{std: CISA, id: "generation-context", name: "Generation context", doc: func(in *ComplianceInput) (bool, Gap) {
		md := in.BOM.Metadata
		return md != nil && md.Lifecycles != nil && len(*md.Lifecycles) > 0, notInSBOM
	}},
	{std: CISA, id: "known-unknowns", name: "Coverage and known unknowns", field: FieldDependencies, comp: func(c *cyclonedx.Component, x *facts) bool {
		_, ok := x.composition[c.BOMRef]
		return ok
	}, why: Gap{WhyUnknown, "no composition says how complete its dependencies are"}},

	{std: BSI, id: "sbom-creator", name: "SBOM creator (e-mail or URL)", doc: func(in *ComplianceInput) (bool, Gap) {
		md := in.BOM.Metadata
		return md != nil && reachable(md.Manufacturer), Gap{WhyUnknown, "metadata.manufacturer has no e-mail or URL: set supplier-url or supplier-email"}
	}},
	{std: BSI, id: "timestamp", name: "Timestamp", doc: timestamped},
	{std: BSI, id: "sbom-uri", name: "SBOM URI", doc: func(in *ComplianceInput) (bool, Gap) {
		return strings.HasPrefix(in.BOM.SerialNumber, "urn:uuid:"), notInSBOM
	}},
	{std: BSI, id: "creator", name: "Component creator (e-mail or URL)", field: FieldCreator, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return reachable(c.Manufacturer)
	}, why: notInSBOM},
	{std: BSI, id: "name", name: "Component name", comp: func(c *cyclonedx.Component, _ *facts) bool { return c.Name != "" }, why: notInSBOM},
	{std: BSI, id: "version", name: "Component version", comp: func(c *cyclonedx.Component, _ *facts) bool { return c.Version != "" },
		why: Gap{WhyUnknown, "the image records no version for it"}},
	{std: BSI, id: "filename", name: "Filename", field: FieldFilename, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return property(c, BSIFilename) != ""
	}, why: notInSBOM},
	{std: BSI, id: "dependencies", name: "Dependencies and their completeness", field: FieldDependencies, comp: func(c *cyclonedx.Component, x *facts) bool {
		a := x.composition[c.BOMRef]
		return a == cyclonedx.CompositionAggregateComplete || strings.HasPrefix(string(a), "incomplete")
	}, why: Gap{WhyUnknown, "no composition says whether its dependencies are complete"}},
	{std: BSI, id: "distribution-licence", name: "Distribution licence (concluded)", field: FieldConcluded, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return acknowledged(c, cyclonedx.LicenseAcknowledgementConcluded)
	}, why: notInSBOM},
	{std: BSI, id: "deployable-hash", name: "SHA-512 of the deployable form", field: FieldSHA512, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return distributionHash(c, cyclonedx.HashAlgoSHA512) != ""
	}, why: notInSBOM},
	{std: BSI, id: "executable", name: "Executable property", field: FieldExecutable, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return property(c, BSIExecutable) != ""
	}, why: notInSBOM},
	{std: BSI, id: "archive", name: "Archive property", field: FieldArchive, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return property(c, BSIArchive) != ""
	}, why: notInSBOM},
	{std: BSI, id: "structured", name: "Structured property", field: FieldArchive, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return property(c, BSIStructured) != ""
	}, why: notInSBOM},
	{std: BSI, id: "source-uri", name: "Source code URI", field: FieldSource, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return refURL(c, cyclonedx.ERTypeSourceDistribution)
	}, why: notInSBOM},
	{std: BSI, id: "deployable-uri", name: "URI of the deployable form", field: FieldDistribution, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return refURL(c, cyclonedx.ERTypeDistribution)
	}, why: notInSBOM},
	{std: BSI, id: "other-identifiers", name: "Other unique identifiers", comp: identified, why: Gap{WhyUnknown, "no purl, CPE or SWID could be made for it"}},
	{std: BSI, id: "original-licences", name: "Original licences (declared)", field: FieldDeclared, comp: func(c *cyclonedx.Component, _ *facts) bool {
		return acknowledged(c, cyclonedx.LicenseAcknowledgementDeclared)
	}, why: notInSBOM},
}

func timestamped(in *ComplianceInput) (bool, Gap) {
	return in.BOM.Metadata != nil && in.BOM.Metadata.Timestamp != "", notInSBOM
}

func identified(c *cyclonedx.Component, _ *facts) bool {
	return c.PackageURL != "" || c.CPE != "" || c.SWID != nil && c.SWID.TagID != ""
}

func reachable(e *cyclonedx.OrganizationalEntity) bool {
	if e == nil {
		return false
	}
	if e.URL != nil {
		for _, u := range *e.URL {
			if u != "" {
				return true
			}
		}
	}
	if e.Contact != nil {
		for _, c := range *e.Contact {
			if c.Email != "" {
				return true
			}
		}
	}
	return false
}

func property(c *cyclonedx.Component, name string) string {
	if c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// distributionHash is a hash (of algorithm alg, any when "") of the component's deployable form.
func distributionHash(c *cyclonedx.Component, alg cyclonedx.HashAlgorithm) string {
	if c.ExternalReferences == nil {
		return ""
	}
	for _, r := range *c.ExternalReferences {
		if (r.Type != cyclonedx.ERTypeDistribution && r.Type != cyclonedx.ERTypeDistributionIntake) || r.Hashes == nil {
			continue
		}
		for _, h := range *r.Hashes {
			if h.Value != "" && (alg == "" || h.Algorithm == alg) {
				return h.Value
			}
		}
	}
	return ""
}

func refURL(c *cyclonedx.Component, t cyclonedx.ExternalReferenceType) bool {
	if c.ExternalReferences == nil {
		return false
	}
	for _, r := range *c.ExternalReferences {
		if r.Type == t && r.URL != "" {
			return true
		}
	}
	return false
}

func acknowledged(c *cyclonedx.Component, ack cyclonedx.LicenseAcknowledgement) bool {
	if c.Licenses == nil {
		return false
	}
	for _, l := range *c.Licenses {
		if l.License != nil && l.License.Acknowledgement == ack || l.License == nil && l.Acknowledgement != nil && *l.Acknowledgement == ack {
			return true
		}
	}
	return false
}

// Compliance measures in.BOM against the minimum elements of in.Standards.
func Compliance(in ComplianceInput) *Report {
	r := &Report{Standards: in.Standards, SpecVersion: in.SpecVersion.String(), Hashes: map[string]int{}}
	comps := components(in.BOM)
	r.Components = len(comps)
	x := &facts{inGraph: map[string]bool{}, composition: map[string]cyclonedx.CompositionAggregate{}}
	if in.BOM.Dependencies != nil {
		for _, d := range *in.BOM.Dependencies {
			x.inGraph[d.Ref] = true
			if d.Dependencies != nil {
				for _, to := range *d.Dependencies {
					x.inGraph[to] = true
				}
			}
		}
	}
	if in.BOM.Compositions != nil {
		for _, cp := range *in.BOM.Compositions {
			for _, list := range []*[]cyclonedx.BOMReference{cp.Dependencies, cp.Assemblies} {
				if list == nil {
					continue
				}
				for _, ref := range *list {
					if _, ok := x.composition[string(ref)]; !ok {
						x.composition[string(ref)] = cp.Aggregate
					}
				}
			}
		}
	}
	// A component's own hashes are of the kind the document names (metadata.properties) unless
	// the component names its own: it saves a property on every component.
	kindProp := HashKindProperty(in.Namespace)
	ownKind := "other"
	if md := in.BOM.Metadata; md != nil && md.Properties != nil {
		for _, p := range *md.Properties {
			if p.Name == kindProp {
				ownKind = p.Value
			}
		}
	}
	for _, c := range comps {
		kind := property(c, kindProp)
		switch {
		case kind != "":
		case c.Hashes != nil && len(*c.Hashes) > 0:
			kind = ownKind
		case distributionHash(c, "") != "":
			kind = "other"
		default:
			kind = "none"
		}
		r.Hashes[kind]++
	}
	want := map[Standard]bool{}
	for _, s := range in.Standards {
		want[s] = true
	}
	var sum float64
	var n int
	for _, el := range elements {
		if !want[el.std] {
			continue
		}
		e := Element{ID: string(el.std) + ":" + el.id, Standard: el.std, Name: el.name, Level: "component"}
		if el.doc != nil {
			e.Level, e.Total = "document", 1
			ok, gap := el.doc(&in)
			if ok {
				e.Covered = 1
			} else {
				e.Missing = []Example{{Component: "the document", Why: gap.Why, Detail: gap.Detail}}
				e.MissingCount = 1
				e.Why = map[Why]int{gap.Why: 1}
			}
		} else {
			e.Total = len(comps)
			for _, c := range comps {
				if el.comp(c, x) {
					e.Covered++
					continue
				}
				gap := el.why
				if el.field != "" {
					if g, ok := in.Gaps[c.BOMRef][el.field]; ok {
						gap = g
					}
				}
				e.MissingCount++
				if e.Why == nil {
					e.Why = map[Why]int{}
				}
				e.Why[gap.Why]++
				if len(e.Missing) < maxExamples {
					e.Missing = append(e.Missing, Example{Component: label(c), BOMRef: c.BOMRef, Why: gap.Why, Detail: gap.Detail})
				}
			}
		}
		if el.std == BSI && in.SpecVersion < cyclonedx.SpecVersion1_6 {
			e.NotApplicable = "BSI TR-03183-2 v2.1 needs CycloneDX 1.6 or later; set cyclonedx-version: 1.6 or 1.7"
		}
		e.Coverage = percent(e.Covered, e.Total)
		if e.NotApplicable == "" {
			sum += e.Coverage
			n++
		}
		r.Elements = append(r.Elements, e)
	}
	if n > 0 {
		r.Score = round1(sum / float64(n))
	}
	return r
}

// components lists every component of the SBOM but files (which bom-attest does not write),
// nested ones too, in document order.
func components(bom *cyclonedx.BOM) []*cyclonedx.Component {
	var out []*cyclonedx.Component
	var walk func(cs *[]cyclonedx.Component)
	walk = func(cs *[]cyclonedx.Component) {
		if cs == nil {
			return
		}
		for i := range *cs {
			c := &(*cs)[i]
			if c.Type != cyclonedx.ComponentTypeFile {
				out = append(out, c)
			}
			walk(c.Components)
		}
	}
	walk(bom.Components)
	return out
}

func label(c *cyclonedx.Component) string {
	if c.Version == "" {
		return c.Name
	}
	return c.Name + "@" + c.Version
}

func percent(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return round1(100 * float64(a) / float64(b))
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// Gate fails (wrapping ErrGate) when the score is under failUnder percent. A run with several
// platforms gates on its lowest score.
func Gate(score, failUnder float64) error {
	if score < failUnder {
		return fmt.Errorf("%w: score %.1f%% is under compliance-fail-under %g%%", ErrGate, score, failUnder)
	}
	return nil
}
