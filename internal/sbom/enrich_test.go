package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/hashes"
	"github.com/bom-attest/bom-attest/internal/pkgdb/pkgdbtest"
	"github.com/bom-attest/bom-attest/internal/sbom"
)

// fixture scans the shared Debian + Python fixture once per test (its layers are open until
// the test ends) and hands out copies of Syft's SBOM of it.
type fixture struct {
	s   *pkgdbtest.Scanned
	raw []byte
}

func scanFixture(t *testing.T, withLists bool) *fixture {
	s := pkgdbtest.Scan(t, pkgdbtest.DebianPython(withLists).Files...)
	raw, err := json.Marshal(s.BOM)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{s: s, raw: raw}
}

// enrich runs the compliance stage's steps on a copy of the fixture's SBOM.
func (fx *fixture) enrich(t *testing.T, v cyclonedx.SpecVersion) (*cyclonedx.BOM, *sbom.Enrichment) {
	t.Helper()
	s := fx.s
	var bom *cyclonedx.BOM
	if err := json.Unmarshal(fx.raw, &bom); err != nil {
		t.Fatal(err)
	}
	var comps []hashes.Component
	for i := range *bom.Components {
		c := &(*bom.Components)[i]
		comps = append(comps, hashes.Component{Ref: c.BOMRef, PURL: c.PackageURL, Location: sbom.Location(c)})
	}
	bsi := v >= cyclonedx.SpecVersion1_6
	res, _, err := hashes.Compute(context.Background(), s.Image, comps, hashes.Options{Examine: bsi})
	if err != nil {
		t.Fatal(err)
	}
	sbom.ApplyMetadata(bom, sbom.Metadata{Author: sbom.Party{Name: "Jane Doe", Emails: []string{"jane@acme.example"}},
		Supplier: sbom.Party{Name: "acme", URL: "https://github.com/acme", Emails: []string{"security@acme.example"}}}, v)
	enr, err := sbom.Enrich(context.Background(), bom, s.Image, sbom.EnrichOptions{SpecVersion: v, Namespace: "bom-attest", BSI: bsi, Hashes: res})
	if err != nil {
		t.Fatal(err)
	}
	return bom, enr
}

func find(t *testing.T, bom *cyclonedx.BOM, purlPrefix string) *cyclonedx.Component {
	t.Helper()
	for i := range *bom.Components {
		if c := &(*bom.Components)[i]; strings.HasPrefix(c.PackageURL, purlPrefix) {
			return c
		}
	}
	t.Fatalf("no component %s", purlPrefix)
	return nil
}

func prop(c *cyclonedx.Component, name string) string {
	if c.Properties != nil {
		for _, p := range *c.Properties {
			if p.Name == name {
				return p.Value
			}
		}
	}
	return ""
}

func extRef(c *cyclonedx.Component, typ cyclonedx.ExternalReferenceType) *cyclonedx.ExternalReference {
	if c.ExternalReferences != nil {
		for i, r := range *c.ExternalReferences {
			if r.Type == typ {
				return &(*c.ExternalReferences)[i]
			}
		}
	}
	return nil
}

func licences(c *cyclonedx.Component) string {
	var out []string
	if c.Licenses != nil {
		for _, l := range *c.Licenses {
			var s string
			switch {
			case l.License != nil:
				s = l.License.ID + l.License.Name + "/" + string(l.License.Acknowledgement)
			default:
				s = l.Expression + "/"
				if l.Acknowledgement != nil {
					s += string(*l.Acknowledgement)
				}
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

// TestEnrichWithAptLists: each package gets what the image says about it, in its place.
func TestEnrichWithAptLists(t *testing.T) {
	bom, enr := scanFixture(t, true).enrich(t, cyclonedx.SpecVersion1_6)

	bash := find(t, bom, "pkg:deb/debian/bash@")
	if m := bash.Manufacturer; m == nil || m.Name != "Matthias Klose" || m.Contact == nil || (*m.Contact)[0].Email != "doko@debian.org" {
		t.Errorf("bash's creator: %+v", bash.Manufacturer)
	}
	// Syft's "Matthias Klose <doko@debian.org>" says nothing the manufacturer does not.
	if bash.Publisher != "" {
		t.Errorf("bash's publisher %q beside a manufacturer that says the same", bash.Publisher)
	}
	sum, file := pkgdbtest.PackagesEntry("bash")
	d := extRef(bash, cyclonedx.ERTypeDistribution)
	if d == nil || d.URL != "http://deb.debian.org/debian/"+file || d.Hashes == nil || (*d.Hashes)[0].Value != sum {
		t.Errorf("bash's deployable form: %+v", d)
	}
	if s := extRef(bash, cyclonedx.ERTypeSourceDistribution); s == nil || s.URL != "http://deb.debian.org/debian/pool/main/b/bash/bash_5.2.15-2.dsc" {
		t.Errorf("bash's source: %+v", s)
	}
	if bash.Hashes != nil {
		t.Errorf("bash: component hashes %v beside its deployable form's", *bash.Hashes)
	}
	for name, want := range map[string]string{"bom-attest:hash:kind": "recorded", "bsi:component:filename": "bash_5.2.15-2+b13_amd64.deb",
		"bsi:component:executable": "executable", "bsi:component:archive": "archive", "bsi:component:structured": "structured"} {
		if got := prop(bash, name); got != want {
			t.Errorf("bash %s = %q, want %q", name, got, want)
		}
	}

	// mytool is in no list: the digest of its installed files is its hash, never a
	// distribution reference.
	// The document names that kind once; the component does not repeat it.
	my := find(t, bom, "pkg:deb/debian/mytool@")
	if my.Hashes == nil || len(*my.Hashes) != 1 || (*my.Hashes)[0].Algorithm != cyclonedx.HashAlgoSHA256 || prop(my, "bom-attest:hash:kind") != "" {
		t.Errorf("mytool: hashes %v, kind %q", my.Hashes, prop(my, "bom-attest:hash:kind"))
	}
	if md := bom.Metadata; md == nil || md.Properties == nil || !slices.Contains(*md.Properties, cyclonedx.Property{Name: "bom-attest:hash:kind", Value: "installed-files"}) {
		t.Errorf("metadata.properties do not name the installed-files kind: %+v", bom.Metadata)
	}
	if extRef(my, cyclonedx.ERTypeDistribution) != nil || prop(my, "bsi:component:filename") != "" {
		t.Error("mytool: a distribution reference or filename though no deployable form is known")
	}
	if g := enr.Gaps[my.BOMRef][check.FieldConcluded]; g.Why != check.WhyUnknown || !strings.Contains(g.Detail, "not machine-readable") {
		t.Errorf("mytool's concluded-licence gap: %+v", g)
	}
	if g := enr.Gaps[my.BOMRef][check.FieldDeployable]; !strings.Contains(g.Detail, "resolve-hashes") {
		t.Errorf("mytool's deployable-hash gap: %+v", g)
	}

	// Licences: declared as such; concluded where a DEP-5 copyright file allows one that 1.6 can
	// hold beside the declared ones.
	if got := licences(find(t, bom, "pkg:deb/debian/zlib1g@")); !strings.Contains(got, "Zlib/concluded") {
		t.Errorf("zlib1g licences: %s", got)
	}
	six := find(t, bom, "pkg:deb/debian/python3-six@")
	if got := licences(six); strings.Contains(got, "concluded") {
		t.Errorf("python3-six at 1.6: %s; a compound conclusion does not fit beside the declared licences", got)
	}
	if g := enr.Gaps[six.BOMRef][check.FieldConcluded]; g.Why != check.WhyWithheld || !strings.Contains(g.Detail, "MIT AND GPL-2.0-or-later") {
		t.Errorf("python3-six's concluded gap: %+v", g)
	}
	req := find(t, bom, "pkg:pypi/requests@")
	if got := licences(req); got != "Apache-2.0/declared" {
		t.Errorf("requests licences: %s", got)
	}

	// Python and npm packages a .deb installed: their creators from their own metadata, their
	// deployable form the .deb.
	pySix := find(t, bom, "pkg:pypi/six@")
	if m := pySix.Manufacturer; m == nil || m.Name != "Benjamin Peterson" || (*m.Contact)[0].Email != "benjamin@python.org" {
		t.Errorf("six's creator: %+v", pySix.Manufacturer)
	}
	if d := extRef(pySix, cyclonedx.ERTypeDistribution); d == nil || !strings.Contains(d.URL, "python3-six_1.16.0-4_all.deb") {
		t.Errorf("six's deployable form: %+v", d)
	}
	ms := find(t, bom, "pkg:npm/ms@")
	if m := ms.Manufacturer; m == nil || m.Name != "Vercel" || m.URL == nil || (*m.URL)[0] != "https://vercel.com" || (*m.Contact)[0].Email != "hello@vercel.com" {
		t.Errorf("ms's creator: %+v", ms.Manufacturer)
	}
	if g := enr.Gaps[req.BOMRef][check.FieldProducer]; !strings.Contains(g.Detail, "names no author") {
		t.Errorf("requests' producer gap: %+v", g)
	}

	// Compositions: mytool's Depends are all installed (zlib1g:any, which Syft does not
	// resolve, gets its edge), bash's are not.
	agg := map[string]cyclonedx.CompositionAggregate{}
	for _, cp := range *bom.Compositions {
		for _, list := range []*[]cyclonedx.BOMReference{cp.Dependencies, cp.Assemblies} {
			if list != nil {
				for _, r := range *list {
					agg[string(r)] = cp.Aggregate
				}
			}
		}
	}
	for ref, want := range map[string]cyclonedx.CompositionAggregate{
		my.BOMRef: cyclonedx.CompositionAggregateComplete, find(t, bom, "pkg:deb/debian/zlib1g@").BOMRef: cyclonedx.CompositionAggregateComplete,
		bash.BOMRef: cyclonedx.CompositionAggregateIncomplete, six.BOMRef: cyclonedx.CompositionAggregateIncomplete,
		req.BOMRef: cyclonedx.CompositionAggregateUnknown, bom.Metadata.Component.BOMRef: cyclonedx.CompositionAggregateUnknown,
	} {
		if agg[ref] != want {
			t.Errorf("composition of %s: %q, want %q", ref, agg[ref], want)
		}
	}
	if !dependsOn(bom, my.BOMRef, find(t, bom, "pkg:deb/debian/zlib1g@").BOMRef) || enr.AddedEdges == 0 {
		t.Errorf("mytool → zlib1g (from zlib1g:any) missing; %d edges added", enr.AddedEdges)
	}

	md := bom.Metadata
	if md.Manufacturer == nil || md.Manufacturer.Name != "acme" || (*md.Manufacturer.Contact)[0].Email != "security@acme.example" ||
		md.Supplier == nil || (*md.Authors)[0].Email != "jane@acme.example" {
		t.Errorf("metadata: manufacturer %+v, supplier %+v, authors %+v", md.Manufacturer, md.Supplier, md.Authors)
	}
}

func dependsOn(bom *cyclonedx.BOM, from, to string) bool {
	for _, d := range *bom.Dependencies {
		if d.Ref == from && d.Dependencies != nil {
			for _, r := range *d.Dependencies {
				if r == to {
					return true
				}
			}
		}
	}
	return false
}

// TestEnrichBySpecVersion: every document is valid at its version, and carries only what the
// version can: acknowledgements, manufacturer and BSI properties from 1.6, a concluded
// expression beside declared licences from 1.7.
func TestEnrichBySpecVersion(t *testing.T) {
	for _, lists := range []bool{false, true} {
		fx := scanFixture(t, lists)
		for _, v := range check.SpecVersions {
			bom, _ := fx.enrich(t, v)
			doc, err := sbom.Encode(bom, v)
			if err != nil {
				t.Fatal(err)
			}
			if err := check.Validate(doc, v); err != nil {
				t.Errorf("lists %v, %s: %v", lists, v, err)
			}
			bash := find(t, bom, "pkg:deb/debian/bash@")
			six := find(t, bom, "pkg:deb/debian/python3-six@")
			bsi := bytes.Contains(doc, []byte(`"bsi:component:`))
			switch v {
			case cyclonedx.SpecVersion1_5:
				if bsi || bytes.Contains(doc, []byte(`"acknowledgement"`)) || bash.Supplier == nil || bytes.Contains(doc, []byte(`"manufacturer"`)) {
					t.Errorf("1.5 (lists %v): BSI properties %v, or no supplier, or an acknowledgement or manufacturer", lists, bsi)
				}
			case cyclonedx.SpecVersion1_6:
				if !bsi || bash.Manufacturer == nil {
					t.Errorf("1.6: BSI properties %v, manufacturer %+v", bsi, bash.Manufacturer)
				}
			case cyclonedx.SpecVersion1_7:
				if got := licences(six); !strings.Contains(got, "MIT AND GPL-2.0-or-later/concluded") || !strings.Contains(got, "/declared") {
					t.Errorf("1.7 python3-six licences: %s", got)
				}
			}
		}
	}
}

// TestComplianceReportOnFixture: the fixture's known gaps give the expected report
// (testdata/compliance-*.json, regenerated with -update), and the report names them.
func TestComplianceReportOnFixture(t *testing.T) {
	for _, tc := range []struct {
		lists bool
		v     cyclonedx.SpecVersion
	}{{false, cyclonedx.SpecVersion1_6}, {true, cyclonedx.SpecVersion1_7}, {false, cyclonedx.SpecVersion1_5}} {
		bom, enr := scanFixture(t, tc.lists).enrich(t, tc.v)
		r := check.Compliance(check.ComplianceInput{BOM: bom, SpecVersion: tc.v, Standards: []check.Standard{check.CISA, check.BSI}, Namespace: "bom-attest", Gaps: enr.Gaps})
		got, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		name := "compliance-" + tc.v.String()
		if tc.lists {
			name += "-lists"
		}
		golden := filepath.Join("testdata", name+".json")
		if *update {
			os.WriteFile(golden, append(got, '\n'), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(got, '\n'), want) {
			t.Errorf("%s differs from the golden file; rerun with -update and review the diff", golden)
		}
		el := map[string]check.Element{}
		for _, e := range r.Elements {
			el[e.ID] = e
		}
		switch {
		case tc.v == cyclonedx.SpecVersion1_5:
			if el["bsi:filename"].NotApplicable == "" {
				t.Error("1.5: BSI elements counted")
			}
		case tc.lists:
			// mytool is in no list, requests has no direct_url.json, urllib3's is a file: URL,
			// and the OS is no package.
			if e := el["bsi:deployable-uri"]; e.MissingCount != 4 || e.Why[check.WhyWithheld] != 2 {
				t.Errorf("with lists: %d without a deployable form URI: %+v", e.MissingCount, e.Missing)
			}
		default:
			if e := el["cisa:component-hash"]; e.MissingCount != 1 || e.Missing[0].Component != "debian@12" {
				t.Errorf("without lists every package has a hash, the OS none: %+v", e.Missing)
			}
			if e := el["bsi:deployable-hash"]; e.Why[check.WhyWithheld] == 0 || !strings.Contains(e.Missing[0].Detail, "apt lists") {
				t.Errorf("without lists the deployable hashes are withheld for want of apt lists: %+v", e)
			}
		}
	}
}
