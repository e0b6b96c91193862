package sbom_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/vulns"
)

// TestVulnerabilityStageMatchesAttestedSBOM: the vulnerability stage matches Syft's model of the
// image (vulns.Scan, no second read), not a document; it must find exactly what Grype finds in
// the attested SBOM, and name each finding's component by a bom-ref that document has.
func TestVulnerabilityStageMatchesAttestedSBOM(t *testing.T) {
	vp := sbom.MatchDB(t)
	for _, tc := range sbom.MatchCases(t) {
		t.Run(tc.Name(), func(t *testing.T) {
			res := sbom.ScanForTest(t, tc.Dir())
			doc, err := sbom.Encode(res.BOM, cyclonedx.SpecVersion1_6)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, m := range sbom.MatchesOf(t, vp, doc) {
				f := strings.Fields(m) // ID, namespace, name@version, how
				want = append(want, strings.Join(f[:3], " "))
			}
			if len(want) == 0 {
				t.Fatal("no matches in the attested SBOM: the comparison would prove nothing")
			}
			findings, err := vulns.Scan(context.Background(), vp, res.Syft, res.BOM)
			if err != nil {
				t.Fatal(err)
			}
			refs := map[string]bool{}
			for _, c := range *res.BOM.Components {
				refs[c.BOMRef] = true
			}
			var got []string
			for _, f := range findings {
				got = append(got, f.ID+" "+f.Namespace+" "+f.Package.Name+"@"+f.Package.Version)
				if !refs[f.Package.BOMRef] {
					t.Errorf("%s on %s: bom-ref %q is no component of the attested SBOM", f.ID, f.Package.Name, f.Package.BOMRef)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("the vulnerability stage's findings differ from Grype's on the attested SBOM\nstage:    %q\nattested: %q", got, want)
			}
		})
	}
}
