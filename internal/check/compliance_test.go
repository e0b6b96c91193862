package check

import (
	"errors"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
)

func elementOf(r *Report, id string) Element {
	for _, e := range r.Elements {
		if e.ID == id {
			return e
		}
	}
	return Element{ID: "missing " + id}
}

func testBOM() *cyclonedx.BOM {
	declared := cyclonedx.LicenseAcknowledgementDeclared
	return &cyclonedx.BOM{
		SerialNumber: "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
		Metadata: &cyclonedx.Metadata{
			Timestamp:  "2025-01-01T00:00:00Z",
			Lifecycles: &[]cyclonedx.Lifecycle{{Phase: cyclonedx.LifecyclePhasePostBuild}},
			Tools:      &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{{Name: "bom-attest"}}},
			Authors:    &[]cyclonedx.OrganizationalContact{{Name: "acme"}},
			Component:  &cyclonedx.Component{BOMRef: "image", Name: "image"},
		},
		Components: &[]cyclonedx.Component{
			{BOMRef: "a", Name: "a", Version: "1", PackageURL: "pkg:deb/debian/a@1",
				Manufacturer: &cyclonedx.OrganizationalEntity{Name: "A team", Contact: &[]cyclonedx.OrganizationalContact{{Email: "a@example.org"}}},
				Hashes:       &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: "00"}},
				Licenses:     &cyclonedx.Licenses{{Expression: "MIT", Acknowledgement: &declared}},
				Properties:   &[]cyclonedx.Property{{Name: "ns:hash:kind", Value: "installed-files"}, {Name: "bsi:component:archive", Value: "archive"}}},
			{BOMRef: "b", Name: "b", Version: "2", CPE: "cpe:2.3:a:b:b:2:*:*:*:*:*:*:*",
				Supplier: &cyclonedx.OrganizationalEntity{Name: "B"},
				ExternalReferences: &[]cyclonedx.ExternalReference{{Type: cyclonedx.ERTypeDistribution, URL: "https://b.example/b-2.whl",
					Hashes: &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA512, Value: "11"}}}}},
			{BOMRef: "c", Name: "c"},
			{BOMRef: "f", Name: "f", Type: cyclonedx.ComponentTypeFile},
		},
		Dependencies: &[]cyclonedx.Dependency{{Ref: "image", Dependencies: &[]string{"a", "b"}}},
		Compositions: &[]cyclonedx.Composition{{Aggregate: cyclonedx.CompositionAggregateComplete, Dependencies: &[]cyclonedx.BOMReference{"a"}},
			{Aggregate: cyclonedx.CompositionAggregateUnknown, Dependencies: &[]cyclonedx.BOMReference{"b"}}},
	}
}

func TestCompliance(t *testing.T) {
	gaps := Gaps{}
	gaps.Set("c", FieldHash, WhyWithheld, "set resolve-hashes: true")
	gaps.Set("c", FieldHash, WhyUnknown, "a second gap for a field is not kept")
	r := Compliance(ComplianceInput{BOM: testBOM(), SpecVersion: cyclonedx.SpecVersion1_6, Standards: []Standard{CISA, BSI}, Namespace: "ns", Gaps: gaps})
	if r.Components != 3 {
		t.Errorf("%d components, want 3 (files are not counted)", r.Components)
	}
	tests := []struct {
		id               string
		covered, missing int
		why              Why
		detail           string
	}{
		{"cisa:sbom-author", 1, 0, "", ""},
		{"cisa:software-producer", 2, 1, WhyUnknown, "the SBOM does not carry it"},
		{"cisa:component-version", 2, 1, WhyUnknown, "the image records no version for it"},
		{"cisa:software-identifiers", 2, 1, "", ""},
		{"cisa:component-hash", 2, 1, WhyWithheld, "set resolve-hashes: true"},
		{"cisa:dependency-relationship", 2, 1, "", ""},
		{"cisa:known-unknowns", 2, 1, "", ""},
		{"bsi:sbom-creator", 0, 1, WhyUnknown, "metadata.manufacturer has no e-mail or URL: set supplier-url or supplier-email"},
		{"bsi:sbom-uri", 1, 0, "", ""},
		{"bsi:creator", 1, 2, "", ""},
		{"bsi:dependencies", 1, 2, "", ""},
		{"bsi:deployable-hash", 1, 2, "", ""},
		{"bsi:deployable-uri", 1, 2, "", ""},
		{"bsi:original-licences", 1, 2, "", ""},
		{"bsi:archive", 1, 2, "", ""},
	}
	for _, tt := range tests {
		e := elementOf(r, tt.id)
		if e.Covered != tt.covered || e.MissingCount != tt.missing {
			t.Errorf("%s: covered %d, missing %d; want %d, %d", tt.id, e.Covered, e.MissingCount, tt.covered, tt.missing)
		}
		if tt.why != "" && (len(e.Missing) == 0 || e.Missing[0].Why != tt.why || e.Missing[0].Detail != tt.detail) {
			t.Errorf("%s: missing %+v, want %s: %s", tt.id, e.Missing, tt.why, tt.detail)
		}
	}
	if r.Hashes["installed-files"] != 1 || r.Hashes["other"] != 1 || r.Hashes["none"] != 1 {
		t.Errorf("hash kinds %v", r.Hashes)
	}
	if r.Score <= 0 || r.Score >= 100 {
		t.Errorf("score %v", r.Score)
	}
	if e := elementOf(r, "cisa:component-hash"); e.Coverage != 66.7 {
		t.Errorf("coverage %v, want 66.7", e.Coverage)
	}
}

// Below CycloneDX 1.6 the BSI elements are reported but count for nothing.
func TestComplianceBSIBelow16(t *testing.T) {
	bom := testBOM()
	cisa := Compliance(ComplianceInput{BOM: bom, SpecVersion: cyclonedx.SpecVersion1_5, Standards: []Standard{CISA}})
	both := Compliance(ComplianceInput{BOM: bom, SpecVersion: cyclonedx.SpecVersion1_5, Standards: []Standard{CISA, BSI}})
	if cisa.Score != both.Score {
		t.Errorf("score %v with BSI at 1.5, %v without", both.Score, cisa.Score)
	}
	if e := elementOf(both, "bsi:filename"); e.NotApplicable == "" {
		t.Errorf("bsi:filename at 1.5: %+v", e)
	}
	if len(cisa.Elements) != 12 || len(both.Elements) != 29 {
		t.Errorf("%d CISA elements, %d in all", len(cisa.Elements), len(both.Elements))
	}
}

func TestGate(t *testing.T) {
	tests := []struct {
		score, under float64
		err          error
	}{
		{80, 90, ErrGate},
		{90, 90, nil},
		{95.5, 90, nil},
		{0, 0, nil},
	}
	for _, tt := range tests {
		if err := Gate(tt.score, tt.under); !errors.Is(err, tt.err) {
			t.Errorf("Gate(%v, %v) = %v, want %v", tt.score, tt.under, err, tt.err)
		}
	}
}

func TestSPDXLicense(t *testing.T) {
	for id, want := range map[string]bool{"MIT": true, "GPL-2.0-or-later": true, "LicenseRef-x": false, "Expat": false, "": false} {
		if SPDXLicense(id) != want {
			t.Errorf("SPDXLicense(%q) != %v", id, want)
		}
	}
}
