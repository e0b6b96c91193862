package run

import (
	"context"
	"strconv"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/pedigree"
	"github.com/bom-attest/bom-attest/internal/report"
)

// pedigreeState is the patch tree and constraints file, read once before the image, and the
// warnings each platform's SBOM got from them, reported once when the platforms are done.
type pedigreeState struct {
	set       *pedigree.Set
	platforms int                 // platforms the set was applied to
	order     []string            // distinct warnings, in the order first seen
	on        map[string][]string // warning → the platforms that had it
}

// loadPedigree reads patches-dir and constraint-overrides, so a broken patch tree fails in a
// second rather than after a pull. It does nothing when neither input is set.
func (p *pipeline) loadPedigree(ctx context.Context) error {
	c := p.cfg
	if c.PatchesDir == "" && c.ConstraintOverrides == "" {
		return nil
	}
	set, err := pedigree.Load(ctx, pedigree.Options{
		PatchesDir:      c.PatchesDir,
		BaseURL:         c.PatchesBaseURL,
		ConstraintsFile: c.ConstraintOverrides,
		Unmatched:       c.UnmatchedPatches,
		Namespace:       c.PropertyNamespace,
	})
	if err != nil {
		return err
	}
	p.log.Infof("pedigree inputs: %d patches for %d components, %d constraint overrides", set.Patches(), set.Components(), set.Overrides())
	p.ped = &pedigreeState{set: set}
	return nil
}

// pedigree records patches and constraint overrides on one platform's SBOM. The summary table
// and the patched-count output speak for the first platform, as the platforms share one patch
// tree; warnings are gathered from every platform for pedigreeWarnings.
func (p *imagePipeline) pedigree(bom *cyclonedx.BOM, platform string, first bool) error {
	s := p.ped
	res, err := pedigree.Apply(bom, s.set)
	if err != nil {
		return err
	}
	p.log.Infof("%d components patched, %d changed in all", res.PatchedCount(), len(res.Components))
	s.platforms++
	for _, w := range res.Warnings {
		if _, seen := s.on[w]; !seen {
			s.order = append(s.order, w)
		}
		if on := s.on[w]; len(on) == 0 || on[len(on)-1] != platform {
			s.on[w] = append(on, platform)
		}
	}
	if !first {
		return nil
	}
	p.out.Set("patched-count", strconv.Itoa(res.PatchedCount()))
	sec := report.Section{Title: "Pedigree", Header: []string{"Component", "Version", "Patches", "Resolves", "Override"}}
	if len(res.Components) == 0 {
		sec.Intro = "No component of the image matched the patches or constraint overrides."
	}
	for _, pc := range res.Components {
		sec.Rows = append(sec.Rows, report.Texts(pc.Name, pc.Version, strconv.Itoa(pc.Patches), strings.Join(pc.Resolves, ", "), pc.Override))
	}
	p.sum.Sections = append(p.sum.Sections, sec)
	return nil
}

// pedigreeWarnings reports the warnings of every platform the pedigree was applied to, once
// each: a warning every platform had as it is, one only some had naming them. It runs once,
// when the platforms are done or one of them stopped the run.
func (p *imagePipeline) pedigreeWarnings() {
	s := p.ped
	if s == nil {
		return
	}
	for _, w := range s.order {
		if on := s.on[w]; len(on) < s.platforms {
			w += " (only on " + strings.Join(on, ", ") + ")"
		}
		p.warn("%s", w)
	}
}
