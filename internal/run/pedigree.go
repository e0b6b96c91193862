package run

import (
	"strconv"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/pedigree"
	"github.com/bom-attest/bom-attest/internal/report"
)

// pedigree records patches and constraint overrides on an SBOM. Every platform gets them; the
// summary and the patched-count output speak for the first, as the platforms share one patch tree.
func (p *pipeline) pedigree(bom *cyclonedx.BOM, first bool) error {
	c := p.cfg
	res, err := pedigree.Apply(bom, pedigree.Options{
		PatchesDir:      c.PatchesDir,
		BaseURL:         c.PatchesBaseURL,
		ConstraintsFile: c.ConstraintOverrides,
		Unmatched:       c.UnmatchedPatches,
		Namespace:       c.PropertyNamespace,
	})
	if err != nil {
		return err
	}
	p.log.Infof("%d components patched, %d changed in all", res.PatchedCount(), len(res.Components))
	if !first {
		return nil
	}
	for _, w := range res.Warnings {
		p.warn("%s", w)
	}
	p.out.Set("patched-count", strconv.Itoa(res.PatchedCount()))
	s := report.Section{Title: "Pedigree", Header: []string{"Component", "Version", "Patches", "Resolves", "Override"}}
	if len(res.Components) == 0 {
		s.Intro = "No component of the image matched the patches or constraint overrides."
	}
	for _, pc := range res.Components {
		s.Rows = append(s.Rows, report.Texts(pc.Name, pc.Version, strconv.Itoa(pc.Patches), strings.Join(pc.Resolves, ", "), pc.Override))
	}
	p.sum.Sections = append(p.sum.Sections, s)
	return nil
}
