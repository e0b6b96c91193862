package sbom_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/sbom"
)

// libraryEncode is what one call of cyclonedx-go's encoder writes, the output Encode must match.
func libraryEncode(t *testing.T, bom *cyclonedx.BOM, v cyclonedx.SpecVersion) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := cyclonedx.NewBOMEncoder(&buf, cyclonedx.BOMFileFormatJSON).SetEscapeHTML(false).EncodeVersion(bom, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// richBOM has more components than one chunk of the encoder takes, with fields that some spec
// versions drop or change (so the converter's work shows), nested components, and members on
// both sides of components.
func richBOM(n int) *cyclonedx.BOM {
	bom := cyclonedx.NewBOM()
	bom.SerialNumber = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
	bom.Metadata = &cyclonedx.Metadata{
		Timestamp:  "2025-01-01T00:00:00Z",
		Lifecycles: &[]cyclonedx.Lifecycle{{Phase: cyclonedx.LifecyclePhasePostBuild}},
		Component:  &cyclonedx.Component{BOMRef: "img", Type: cyclonedx.ComponentTypeContainer, Name: "app <&>"},
	}
	yes := true
	declared := cyclonedx.LicenseAcknowledgementDeclared
	var comps []cyclonedx.Component
	var deps []cyclonedx.Dependency
	for i := range n {
		ref := fmt.Sprintf("c%04d", i)
		c := cyclonedx.Component{
			BOMRef: ref, Type: cyclonedx.ComponentTypeLibrary, Name: fmt.Sprintf("pkg-%d", i), Version: "1.0",
			PackageURL: fmt.Sprintf("pkg:deb/debian/pkg-%d@1.0?arch=amd64", i),
			Hashes:     &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: strings.Repeat("a", 64)}, {Algorithm: cyclonedx.HashAlgoBlake3, Value: strings.Repeat("b", 64)}},
			Licenses:   &cyclonedx.Licenses{{License: &cyclonedx.License{ID: "MIT", Acknowledgement: cyclonedx.LicenseAcknowledgementConcluded}}, {Expression: "MIT OR Apache-2.0", Acknowledgement: &declared}},
			Properties: &[]cyclonedx.Property{{Name: "syft:package:type", Value: "deb"}, {Name: "x", Value: "<tag> & \"quotes\""}},
		}
		switch i % 4 {
		case 1:
			c.OmniborID = &[]string{"gitoid:blob:sha1:261eeb9e9f8b2b4b0d119366dda99c6fd7d35c64"}
			c.Tags = &[]string{"t"}
		case 2:
			c.IsExternal = &yes
			c.VersionRange = "vers:deb/>=1.0"
		case 3:
			c.Components = &[]cyclonedx.Component{{BOMRef: ref + "/file", Type: cyclonedx.ComponentTypeFile, Name: "f", Properties: &[]cyclonedx.Property{{Name: "syft:location:0:path", Value: "/f"}}}}
		}
		comps = append(comps, c)
		deps = append(deps, cyclonedx.Dependency{Ref: ref})
	}
	bom.Components = &comps
	bom.Dependencies = &deps
	bom.Properties = &[]cyclonedx.Property{{Name: "p", Value: "v"}}
	return bom
}

// TestEncodeIsTheLibrarysOutput: chunk by chunk, Encode writes byte for byte what one
// EncodeVersion call does, at every spec version, and leaves the BOM as it was.
func TestEncodeIsTheLibrarysOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		bom  *cyclonedx.BOM
	}{
		{"several chunks", richBOM(600)},
		{"one chunk", richBOM(3)},
		{"empty components", func() *cyclonedx.BOM { b := richBOM(0); b.Components = &[]cyclonedx.Component{}; return b }()},
		{"no components", func() *cyclonedx.BOM { b := richBOM(0); b.Components = nil; return b }()},
		{"components last", func() *cyclonedx.BOM { b := richBOM(300); b.Dependencies, b.Properties = nil, nil; return b }()},
	} {
		for _, v := range check.SpecVersions {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				before := libraryEncode(t, tc.bom, v)
				got, err := sbom.Encode(tc.bom, v)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, before) {
					t.Errorf("Encode differs from cyclonedx-go's EncodeVersion\n got: %.300s\nwant: %.300s", got, before)
				}
				if after := libraryEncode(t, tc.bom, v); !bytes.Equal(after, before) {
					t.Error("Encode changed the BOM")
				}
			})
		}
	}
}

// syftComponent is a component as Syft writes it, with what the attested document keeps and
// what it leaves out.
func syftComponent(ref, typ string, cpes, locations int) cyclonedx.Component {
	props := []cyclonedx.Property{
		{Name: "syft:package:foundBy", Value: typ + "-cataloger"},
		{Name: "syft:package:type", Value: typ},
		{Name: "syft:package:metadataType", Value: typ + "-entry"},
	}
	for i := range cpes {
		props = append(props, cyclonedx.Property{Name: "syft:cpe23", Value: fmt.Sprintf("cpe:2.3:a:v%d:%s:1.0:*:*:*:*:*:*:*", i, ref)})
	}
	for i := range locations {
		props = append(props,
			cyclonedx.Property{Name: fmt.Sprintf("syft:location:%d:layerID", i), Value: "sha256:" + strings.Repeat("1", 64)},
			cyclonedx.Property{Name: fmt.Sprintf("syft:location:%d:path", i), Value: fmt.Sprintf("/evidence/%s/%d", ref, i)})
	}
	props = append(props,
		cyclonedx.Property{Name: "syft:metadata:source", Value: ref + "-src"},
		cyclonedx.Property{Name: "bom-attest:bsi:filename", Value: ref + ".deb"})
	return cyclonedx.Component{BOMRef: ref, Type: cyclonedx.ComponentTypeLibrary, Name: ref, Version: "1.0",
		CPE: "cpe:2.3:a:own:" + ref + ":1.0:*:*:*:*:*:*:*", PackageURL: "pkg:generic/" + ref + "@1.0", Properties: &props}
}

func propertyNames(c cyclonedx.Component) []string {
	var out []string
	if c.Properties != nil {
		for _, p := range *c.Properties {
			out = append(out, p.Name)
		}
	}
	return out
}

func TestEncodeAttested(t *testing.T) {
	bom := cyclonedx.NewBOM()
	bin := syftComponent("bin", "binary", 2, 2)
	nested := syftComponent("nested", "python", 3, 2)
	bin.Components = &[]cyclonedx.Component{nested}
	comps := []cyclonedx.Component{
		syftComponent("deb", "deb", 2, 3),
		syftComponent("py", "python", 20, 1),
		bin,
		{BOMRef: "plain", Type: cyclonedx.ComponentTypeLibrary, Name: "plain"},
	}
	bom.Components = &comps
	fullBefore, err := sbom.Encode(bom, cyclonedx.SpecVersion1_6)
	if err != nil {
		t.Fatal(err)
	}
	doc, omitted, err := sbom.EncodeAttested(bom, cyclonedx.SpecVersion1_6)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(doc, cyclonedx.SpecVersion1_6); err != nil {
		t.Fatalf("schema: %v", err)
	}
	var lean cyclonedx.BOM
	if err := json.Unmarshal(doc, &lean); err != nil {
		t.Fatal(err)
	}
	got := *lean.Components
	if len(got) != len(comps) {
		t.Fatalf("%d components, want all %d", len(got), len(comps))
	}
	kept := []string{"syft:package:foundBy", "syft:package:type", "syft:package:metadataType", "syft:location:0:path", "syft:metadata:source", "bom-attest:bsi:filename"}
	withCPEs := append(slices.Clone(kept[:3]), "syft:cpe23", "syft:cpe23", "syft:location:0:path", "syft:metadata:source", "bom-attest:bsi:filename")
	for i, want := range [][]string{kept, kept, withCPEs, nil} {
		if names := propertyNames(got[i]); !slices.Equal(names, want) {
			t.Errorf("%s: properties %v, want %v", got[i].Name, names, want)
		}
		if got[i].CPE != comps[i].CPE || got[i].PackageURL != comps[i].PackageURL || got[i].BOMRef != comps[i].BOMRef {
			t.Errorf("%s: identity changed: cpe %q purl %q bom-ref %q", got[i].Name, got[i].CPE, got[i].PackageURL, got[i].BOMRef)
		}
	}
	if names := propertyNames((*got[2].Components)[0]); !slices.Equal(names, kept) {
		t.Errorf("nested component: properties %v, want %v", names, kept)
	}
	// deb: 2 CPEs, 5 of 6 location properties; python: 20 CPEs, 1 of 2; binary: 3 of 4
	// locations, no CPEs; its nested python component: 3 CPEs, 3 of 4.
	want := sbom.Omitted{Components: 4, CPEs: 2 + 20 + 3, Locations: 5 + 1 + 3 + 3}
	if omitted != want {
		t.Errorf("omitted %+v, want %+v", omitted, want)
	}
	if !omitted.Any() || omitted.String() == "nothing" {
		t.Errorf("omitted %+v says %q", omitted, omitted)
	}
	if fullAfter, _ := sbom.Encode(bom, cyclonedx.SpecVersion1_6); !bytes.Equal(fullAfter, fullBefore) {
		t.Error("EncodeAttested changed the BOM")
	}

	none := cyclonedx.NewBOM()
	none.Components = &[]cyclonedx.Component{{BOMRef: "plain", Type: cyclonedx.ComponentTypeLibrary, Name: "plain"}}
	doc, omitted, err = sbom.EncodeAttested(none, cyclonedx.SpecVersion1_6)
	if err != nil {
		t.Fatal(err)
	}
	if full, _ := sbom.Encode(none, cyclonedx.SpecVersion1_6); omitted.Any() || !bytes.Equal(doc, full) {
		t.Errorf("nothing to leave out: omitted %+v, documents equal %v", omitted, bytes.Equal(doc, full))
	}
}
