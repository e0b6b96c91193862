package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/pkg"
)

// syftComponent is a component as Syft's converter makes it, with what the attested
// representation keeps and what it leaves out.
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
	props = append(props, cyclonedx.Property{Name: "syft:metadata:source", Value: ref + "-src"})
	return cyclonedx.Component{BOMRef: ref, Type: cyclonedx.ComponentTypeLibrary, Name: ref, Version: "1.0",
		CPE: "cpe:2.3:a:own:" + ref + ":1.0:*:*:*:*:*:*:*", PackageURL: "pkg:generic/" + ref + "@1.0", Properties: &props}
}

func names(props *[]cyclonedx.Property) []string {
	var out []string
	if props != nil {
		for _, p := range *props {
			out = append(out, p.Name)
		}
	}
	return out
}

func TestLeanComponentAndRestore(t *testing.T) {
	kept := []string{"syft:package:type", "syft:package:metadataType", "syft:location:0:path", "syft:metadata:source"}
	for _, tc := range []struct {
		typ             string
		cpes, locations int
		want            []string
		omitted         Omitted
	}{
		{"deb", 2, 3, kept, Omitted{Components: 1, CPEs: 2, Locations: 5, FoundBy: 1}},
		{"python", 20, 1, kept, Omitted{Components: 1, CPEs: 20, Locations: 1, FoundBy: 1}},
		{"binary", 2, 2, append(slices.Clone(kept[:2]), "syft:cpe23", "syft:cpe23", "syft:location:0:path", "syft:metadata:source"), Omitted{Components: 1, Locations: 3, FoundBy: 1}},
		{"python", 0, 0, slices.Delete(slices.Clone(kept), 2, 3), Omitted{Components: 1, FoundBy: 1}},
	} {
		t.Run(fmt.Sprint(tc.typ, tc.cpes, tc.locations), func(t *testing.T) {
			orig := syftComponent("p", tc.typ, tc.cpes, tc.locations)
			c := orig
			c.Properties = new(slices.Clone(*orig.Properties))
			if o := leanComponent(&c); o != tc.omitted {
				t.Errorf("omitted %+v, want %+v", o, tc.omitted)
			}
			if got := names(c.Properties); !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			if c.CPE != orig.CPE || c.PackageURL != orig.PackageURL || c.BOMRef != orig.BOMRef {
				t.Error("identity changed")
			}
			// Later stages add a property and change a kept one; restore puts back what was
			// left out, in Syft's order, and keeps what the stages did.
			added := cyclonedx.Property{Name: "bom-attest:bsi:filename", Value: "p.deb"}
			cur := append(slices.Clone(*c.Properties), added)
			cur[0].Value = "changed" // syft:package:type
			got, put := restore(*orig.Properties, &cur)
			want := append(slices.Clone(*orig.Properties), added)
			want[1].Value = "changed"
			if !slices.Equal(got, want) {
				t.Errorf("restored\n%v\nwant\n%v", got, want)
			}
			if put.CPEs != tc.omitted.CPEs || put.Locations != tc.omitted.Locations || put.FoundBy != tc.omitted.FoundBy {
				t.Errorf("restore put back %+v, leanComponent took %+v", put, tc.omitted)
			}
		})
	}
}

// TestFullIsSyfts: the full document's components are Syft's converter's, property for
// property, although the model never held what the attested one leaves out.
func TestFullIsSyfts(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		deferred bool // the CPEs made by GenerateCPEs, after the scan, as a run makes them
	}{{"../../testdata/sample-image", false}, {matchImage(t), false}, {"../../testdata/sample-image", true}, {matchImage(t), true}} {
		dir := tc.dir
		res := scanWith(t, dir, tc.deferred)
		// What Syft's converter makes of Syft's own scan, CPEs and licences and all.
		syfts := res
		if tc.deferred {
			syfts = scan(t, dir)
			if err := res.GenerateCPEs(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		want := cyclonedxhelpers.ToFormatModel(*syfts.Syft)
		packageRefs(want, syfts.packages())
		full, omitted, err := res.EncodeFull(cyclonedx.SpecVersion1_6)
		if err != nil {
			t.Fatal(err)
		}
		if !omitted.Any() {
			t.Fatalf("%s: nothing left out", dir)
		}
		var got cyclonedx.BOM
		if err := json.Unmarshal(full, &got); err != nil {
			t.Fatal(err)
		}
		enc := func(c []cyclonedx.Component) []byte {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		// The model adds nothing to Syft's components but the image's root dependency; compare
		// what the converter makes.
		if !bytes.Equal(enc(*got.Components), enc(*want.Components)) {
			t.Errorf("%s: the full document's components are not Syft's converter's:\n got %.600s\nwant %.600s", dir, enc(*got.Components), enc(*want.Components))
		}
	}
}

// TestRepeatedCreatorsGoBackInFull: the attested document leaves out Syft's publisher or
// author string only where the manufacturer says exactly the same; the full document has every
// one of Syft's strings back, and counts them.
func TestRepeatedCreatorsGoBackInFull(t *testing.T) {
	res := scan(t, matchImage(t))
	want := cyclonedxhelpers.ToFormatModel(*res.Syft)
	packageRefs(want, res.packages())
	byRef := map[string]cyclonedx.Component{}
	for _, c := range *want.Components {
		byRef[c.BOMRef] = c
	}
	dropped := manufactureAll(t, res.BOM, true)
	if dropped == 0 {
		t.Fatal("the image has no package whose creator string the manufacturer repeats")
	}
	full, omitted, err := res.EncodeFull(cyclonedx.SpecVersion1_6)
	if err != nil {
		t.Fatal(err)
	}
	if omitted.Creators != dropped {
		t.Errorf("omitted.Creators = %d, want %d", omitted.Creators, dropped)
	}
	if !strings.Contains(omitted.String(), fmt.Sprintf("%d publisher or author strings", dropped)) {
		t.Errorf("omitted: %s", omitted)
	}
	var got cyclonedx.BOM
	if err := json.Unmarshal(full, &got); err != nil {
		t.Fatal(err)
	}
	for _, c := range *got.Components {
		if w, ok := byRef[c.BOMRef]; ok && (c.Publisher != w.Publisher || c.Author != w.Author) {
			t.Errorf("%s in the full document: publisher %q author %q, Syft's %q %q", c.Name, c.Publisher, c.Author, w.Publisher, w.Author)
		}
	}
}

// manufactureAll gives every component with Syft's publisher or author string the manufacturer
// the compliance stage makes of it, which drops the string, and returns how many it dropped.
// With someMore every other one's manufacturer has a second address, so its string stays.
func manufactureAll(t *testing.T, bom *cyclonedx.BOM, someMore bool) int {
	t.Helper()
	dropped, seen := 0, 0
	for i := range *bom.Components {
		c := &(*bom.Components)[i]
		s := c.Publisher + c.Author
		if s == "" {
			continue
		}
		var p Party
		p.Name, p.Emails = ParseAddresses(s)
		if seen++; someMore && seen%2 == 0 {
			p.Emails = append(p.Emails, "second@example.org")
		}
		c.Manufacturer = p.entity()
		dropRepeatedCreator(c, p)
		if c.Publisher+c.Author == "" {
			dropped++
		} else if len(p.Emails) < 2 {
			t.Errorf("%s: %q kept though the manufacturer %+v says the same", c.Name, s, p)
		}
	}
	return dropped
}

// TestRelationshipsNameOnly: after the scan, a relationship's packages carry their ID and purl
// (what the documents and Grype read of them) and not Syft's model of them a second time.
func TestRelationshipsNameOnly(t *testing.T) {
	res := scan(t, matchImage(t))
	byID := map[artifact.ID]pkg.Package{}
	for _, p := range res.packages() {
		byID[p.ID()] = p
	}
	packages := 0
	for _, r := range res.Syft.Relationships {
		for _, end := range []artifact.Identifiable{r.From, r.To} {
			p, ok := end.(pkg.Package)
			if !ok {
				continue
			}
			packages++
			full, ok := byID[p.ID()]
			if !ok {
				t.Fatalf("%s relationship names package %s (%s), which is not in the model", r.Type, p.Name, p.ID())
			}
			if p.PURL != full.PURL || p.Name != full.Name {
				t.Errorf("%s relationship: package %s keeps purl %q, the model has %q", r.Type, p.Name, p.PURL, full.PURL)
			}
			if p.Metadata != nil || len(p.Locations.ToSlice()) > 0 || len(p.Licenses.ToSlice()) > 0 || len(p.CPEs) > 0 {
				t.Errorf("%s relationship: package %s still carries Syft's model of it", r.Type, p.Name)
			}
		}
	}
	if packages == 0 {
		t.Fatal("no relationship names a package: the test proves nothing")
	}
}
