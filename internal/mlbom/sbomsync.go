package mlbom

import (
	"fmt"
	"slices"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
)

// collectRefs gathers the bom-refs the SBOM already uses, so a model's cannot clash with one.
func collectRefs(bom *cyclonedx.BOM, refs map[string]bool) {
	var walk func(cs *[]cyclonedx.Component)
	walk = func(cs *[]cyclonedx.Component) {
		if cs == nil {
			return
		}
		for _, c := range *cs {
			if c.BOMRef != "" && !isModelRef(c.BOMRef) {
				refs[c.BOMRef] = true
			}
			walk(c.Components)
		}
	}
	if bom.Metadata != nil && bom.Metadata.Component != nil && bom.Metadata.Component.BOMRef != "" {
		refs[bom.Metadata.Component.BOMRef] = true
	}
	walk(bom.Components)
}

// isModelRef reports whether a bom-ref is one Build made, so a second Build over the same SBOM
// replaces its own components instead of keeping them as strangers.
func isModelRef(ref string) bool {
	return strings.HasPrefix(ref, "model:")
}

// syftPaths are the file paths syft recorded for a component (syft:location:N:path).
func syftPaths(c *cyclonedx.Component) []string {
	if c.Properties == nil {
		return nil
	}
	var out []string
	for _, p := range *c.Properties {
		if strings.HasPrefix(p.Name, "syft:location:") && strings.HasSuffix(p.Name, ":path") {
			out = append(out, p.Value)
		}
	}
	return out
}

// rewriteSBOM replaces the SBOM's model components with the ones Build made for models in the
// image, re-pointing dependencies at the new bom-refs. It returns the SBOM model components
// nobody examined (the scan was off), which stay in the SBOM and are copied to the ML-BOM.
func (b *builder) rewriteSBOM(sbomDoc *cyclonedx.BOM, entries []*entry) []*cyclonedx.Component {
	byPath := map[string]*entry{}
	for _, e := range entries {
		for _, f := range e.files {
			byPath[f.Path] = e
			if f.realPath != "" {
				byPath[f.realPath] = e
			}
		}
		for _, f := range e.found {
			byPath[f.Dir] = e
		}
	}
	ourRefs := map[string]bool{}
	for _, e := range entries {
		ourRefs[e.ref] = true
	}
	remap := map[string]string{}
	var kept []cyclonedx.Component
	var strangers []*cyclonedx.Component
	if sbomDoc.Components != nil {
		for i := range *sbomDoc.Components {
			c := (*sbomDoc.Components)[i]
			if c.Type != cyclonedx.ComponentTypeMachineLearningModel {
				kept = append(kept, c)
				continue
			}
			var owner *entry
			for _, p := range syftPaths(&c) {
				if e := byPath[p]; e != nil {
					owner = e
					break
				}
			}
			switch {
			case owner != nil:
				if c.BOMRef != "" {
					remap[c.BOMRef] = owner.ref
				}
				if c.Name != owner.comp.Name || c.Version != owner.comp.Version {
					b.res.Notices = append(b.res.Notices, fmt.Sprintf("sbom: model %q at %s is now %q, with its weights hashed", nameVersion(c.Name, c.Version), syftPaths(&c)[0], nameVersion(owner.comp.Name, owner.comp.Version)))
				}
			case isModelRef(c.BOMRef) && !ourRefs[c.BOMRef]:
				// Made by an earlier Build for a model no longer found; drop it.
			case isModelRef(c.BOMRef):
				// Made by an earlier Build; replaced below by this Build's version.
			default:
				kept = append(kept, c)
				strangers = append(strangers, deepCopy(&c))
			}
		}
	}
	for _, e := range entries {
		if len(e.files) == 0 {
			continue
		}
		sc := deepCopy(&e.comp)
		sc.ModelCard = nil // its data set refs live in the ML-BOM only
		kept = append(kept, *sc)
	}
	sbomDoc.Components = &kept
	if sbomDoc.Dependencies != nil && len(remap) > 0 {
		sbomDoc.Dependencies = remapDeps(*sbomDoc.Dependencies, remap)
	}
	b.hangUnderImage(sbomDoc, entries)
	return strangers
}

// hangUnderImage adds the image's models to the image's own dependency entry, when the SBOM has
// one: the sbom stage puts every top-level component there, and a model syft did not find (an
// ONNX file, say) must not be left without a parent.
func (b *builder) hangUnderImage(sbomDoc *cyclonedx.BOM, entries []*entry) {
	if sbomDoc.Metadata == nil || sbomDoc.Metadata.Component == nil || sbomDoc.Dependencies == nil {
		return
	}
	root := sbomDoc.Metadata.Component.BOMRef
	for i := range *sbomDoc.Dependencies {
		d := &(*sbomDoc.Dependencies)[i]
		if d.Ref != root || root == "" {
			continue
		}
		var on []string
		if d.Dependencies != nil {
			on = *d.Dependencies
		}
		for _, e := range entries {
			if len(e.files) > 0 && !slices.Contains(on, e.ref) {
				on = append(on, e.ref)
			}
		}
		slices.Sort(on)
		d.Dependencies = &on
		return
	}
}

func remapDeps(deps []cyclonedx.Dependency, remap map[string]string) *[]cyclonedx.Dependency {
	to := func(r string) string {
		if n, ok := remap[r]; ok {
			return n
		}
		return r
	}
	var out []cyclonedx.Dependency
	index := map[string]int{}
	for _, d := range deps {
		ref := to(d.Ref)
		var on []string
		if d.Dependencies != nil {
			for _, r := range *d.Dependencies {
				on = append(on, to(r))
			}
		}
		if i, ok := index[ref]; ok {
			if out[i].Dependencies != nil {
				on = append(*out[i].Dependencies, on...)
			}
		} else {
			index[ref] = len(out)
			out = append(out, cyclonedx.Dependency{Ref: ref, Provides: d.Provides})
		}
		if on = uniq(on); len(on) > 0 {
			out[index[ref]].Dependencies = &on
		}
	}
	return &out
}
