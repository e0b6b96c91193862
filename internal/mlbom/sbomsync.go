package mlbom

import (
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

// syncSBOM puts the components Build made for the models in the image into the SBOM, replacing
// the ones an earlier Build put there. The sbom stage leaves models to this stage (Syft's model
// catalogers are off), so nothing has to be matched or renamed. A model component the SBOM
// already had that Build did not make (another tool's) stays, and is returned to be copied to
// the ML-BOM, so the two documents still list the same models.
func (b *builder) syncSBOM(sbomDoc *cyclonedx.BOM, entries []*entry) []*cyclonedx.Component {
	inSBOM := map[string]bool{}
	for _, e := range entries {
		if len(e.files) > 0 {
			inSBOM[e.ref] = true
		}
	}
	gone := map[string]bool{}
	var kept []cyclonedx.Component
	var foreign []*cyclonedx.Component
	if sbomDoc.Components != nil {
		for _, c := range *sbomDoc.Components {
			switch {
			case c.Type != cyclonedx.ComponentTypeMachineLearningModel:
				kept = append(kept, c)
			case isModelRef(c.BOMRef):
				// Made by an earlier Build: replaced below, or gone with the model it described.
				if !inSBOM[c.BOMRef] {
					gone[c.BOMRef] = true
				}
			default:
				kept = append(kept, c)
				foreign = append(foreign, deepCopy(&c))
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
	if sbomDoc.Dependencies != nil && len(gone) > 0 {
		sbomDoc.Dependencies = dropDeps(*sbomDoc.Dependencies, gone)
	}
	b.hangUnderImage(sbomDoc, entries)
	return foreign
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

// dropDeps removes the refs in gone from the dependency graph, as entries and as targets.
func dropDeps(deps []cyclonedx.Dependency, gone map[string]bool) *[]cyclonedx.Dependency {
	out := make([]cyclonedx.Dependency, 0, len(deps))
	for _, d := range deps {
		if gone[d.Ref] {
			continue
		}
		if d.Dependencies != nil {
			on := slices.DeleteFunc(slices.Clone(*d.Dependencies), func(r string) bool { return gone[r] })
			d.Dependencies = nil
			if len(on) > 0 {
				d.Dependencies = &on
			}
		}
		out = append(out, d)
	}
	return &out
}
