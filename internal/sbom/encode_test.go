package sbom_test

import (
	"bytes"
	"fmt"
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
		// Properties are encoded apart from the converter's copy (encodeChunk): what the copy
		// would change about them must come out the same.
		switch i % 7 {
		case 4:
			c.Properties = &[]cyclonedx.Property{} // the copy drops an empty list
		case 5:
			c.Properties = nil
		case 6:
			c.Properties = &[]cyclonedx.Property{
				{Name: "empty value"}, {}, {Name: "nul \x00 in name", Value: "bad utf-8 \xff\xfe, nul \x00"},
				{Name: "\x00bom-attest placeholder 00", Value: "1"}, {Name: "u2028 \u2028 and tab \t", Value: `"}]`},
			}
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

// TestChunksAreCut: for every spec version, a chunk's components array is cut from between
// the members cyclonedx-go writes first and the object's end, not read back as JSON (which on
// a large image is a second of CPU); TestEncodeIsTheLibrarysOutput holds the result to the
// library's.
func TestChunksAreCut(t *testing.T) {
	for _, v := range check.SpecVersions {
		head, err := sbom.ChunkHead(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want := fmt.Sprintf(`{"$schema":"http://cyclonedx.org/schema/bom-%s.schema.json","bomFormat":"","specVersion":"%s","version":0,"components":`, v, v)
		if string(head) != want {
			t.Errorf("%s: head %s, want %s", v, head, want)
		}
	}
}

// FuzzEncodeIsTheLibrarysOutput: whatever a property holds, the properties encoded apart from
// the converter's copy (encodeChunk) come out as one EncodeVersion call writes them.
func FuzzEncodeIsTheLibrarysOutput(f *testing.F) {
	f.Add("syft:package:type", "deb", "x", "")
	f.Add("\x00bom-attest placeholder 00", "1", "\xff", `"}]`)
	f.Add("<&>", "\u2028", "", "\x00")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		bom := richBOM(3)
		(*bom.Components)[0].Properties = &[]cyclonedx.Property{{Name: n1, Value: v1}, {Name: n2, Value: v2}}
		(*bom.Components)[2].Properties = &[]cyclonedx.Property{{Name: n2, Value: v1}}
		for _, v := range check.SpecVersions {
			got, err := sbom.Encode(bom, v)
			if err != nil {
				t.Fatal(err)
			}
			if want := libraryEncode(t, bom, v); !bytes.Equal(got, want) {
				t.Fatalf("%s: Encode differs from cyclonedx-go's EncodeVersion\n got: %q\nwant: %q", v, got, want)
			}
		}
	})
}
