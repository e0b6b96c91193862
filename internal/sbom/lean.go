package sbom

import (
	"slices"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
)

// The attested representation (README, "The attested SBOM"): every component with its own
// identity (purl, cpe, bom-ref), licences, hashes, dependencies and every property, less three
// kinds of Syft's evidence that are bulk rather than substance:
//   - the guessed CPE candidates (syft:cpe23) of packages whose type Grype matches without CPEs
//     (cpeFreeTypes); each keeps its own cpe, and packages Grype matches by CPE keep them all;
//   - every location but the first path (syft:location:0:path): no layer IDs, no further
//     evidence files;
//   - the name of the cataloger that found the package (syft:package:foundBy), which says how
//     Syft worked rather than what the image holds; no matcher of Grype's reads it.
//
// The BOM Generate returns is in this form from the start, so neither the model later stages
// enrich nor the document Encode writes ever holds the candidates; EncodeFull puts them back
// from Syft's model for the full document.

// cpeFreeTypes are the Syft package types (syft:package:type) whose Grype matcher, as Grype
// configures it by default, matches by distribution or ecosystem and never by CPE: dpkg and
// RPM (CPEs only for end-of-life distributions, off by default), Python, npm, Ruby gems, Java
// archives and Jenkins plugins, .NET, Go modules, Rust crates, Hex and Erlang/OTP. For these
// the guessed CPE candidates change no match, so the attested document leaves them out. Every
// other type (binaries, apk, anything Grype's stock matcher takes) keeps all of them. The
// Grype test (grype_test.go) holds this list to Grype's own matchers.
var cpeFreeTypes = map[string]bool{
	"deb": true, "rpm": true,
	"python": true, "npm": true, "gem": true,
	"java-archive": true, "jenkins-plugin": true,
	"dotnet": true, "go-module": true, "rust-crate": true,
	"hex": true, "erlang-otp": true,
}

const (
	cpeProperty      = "syft:cpe23"
	locationPrefix   = "syft:location:"
	keptLocationPath = "syft:location:0:path"
	typeProperty     = "syft:package:type"
	foundByProperty  = "syft:package:foundBy"
)

// omission is what kind of Syft's evidence a property is that the attested representation
// leaves out, or kept.
type omission int

const (
	kept omission = iota
	leftCPE
	leftLocation
	leftFoundBy
)

// leftOut says whether the attested representation leaves out p, a property of a package whose
// Syft type is typ, and as which kind.
func leftOut(p cyclonedx.Property, typ string) omission {
	switch {
	case p.Name == cpeProperty && cpeFreeTypes[typ]:
		return leftCPE
	case strings.HasPrefix(p.Name, locationPrefix) && p.Name != keptLocationPath:
		return leftLocation
	case p.Name == foundByProperty:
		return leftFoundBy
	}
	return kept
}

// count adds one left-out property of kind k.
func (o *Omitted) count(k omission) {
	switch k {
	case leftCPE:
		o.CPEs++
	case leftLocation:
		o.Locations++
	case leftFoundBy:
		o.FoundBy++
	}
}

func packageType(props []cyclonedx.Property) string {
	for _, p := range props {
		if p.Name == typeProperty {
			return p.Value
		}
	}
	return ""
}

// leanComponent puts c, a component Syft's converter just made, in the attested
// representation, and says what it took out.
func leanComponent(c *cyclonedx.Component) Omitted {
	if c.Properties == nil {
		return Omitted{}
	}
	props := *c.Properties
	typ := packageType(props)
	var o Omitted
	keep := props[:0:0]
	for _, p := range props {
		if k := leftOut(p, typ); k != kept {
			o.count(k)
			continue
		}
		keep = append(keep, p)
	}
	if !o.Any() {
		return o
	}
	o.Components = 1
	if len(keep) == 0 {
		c.Properties = nil
	} else {
		c.Properties = &keep
	}
	return o
}

// toFormatModel is cyclonedxhelpers.ToFormatModel(*s) with every package in the attested
// representation. The packages go through Syft's converter a chunk at a time, each chunk
// trimmed before the next, so what the attested document leaves out — half of what the
// converter makes on a large image — is never held all at once. Each package's component is
// the converter's own: it depends on the package and the image's layer order alone.
// pkgs is s's packages in Syft's order.
func toFormatModel(s *syftsbom.SBOM, pkgs []pkg.Package) *cyclonedx.BOM {
	rest := *s
	rest.Artifacts.Packages = pkg.NewCollection()
	bom := cyclonedxhelpers.ToFormatModel(rest) // metadata, the OS, dependencies
	// The chunks are converted on every core, each into its own slot, and joined in order.
	chunks := make([][]cyclonedx.Component, (len(pkgs)+componentChunk-1)/componentChunk)
	onEveryCore(len(chunks), func(i int) {
		start := i * componentChunk
		part := packageComponents(s, pkgs[start:min(start+componentChunk, len(pkgs))])
		for k := range part {
			leanComponent(&part[k])
		}
		chunks[i] = part
	})
	comps := make([]cyclonedx.Component, 0, len(pkgs)+len(*bom.Components))
	for i, part := range chunks {
		comps = append(comps, part...)
		chunks[i] = nil
	}
	// The converter puts the packages first, then the OS and files.
	comps = append(comps, *bom.Components...)
	bom.Components = &comps
	return bom
}

// packageComponents is what Syft's converter makes of pkgs, in Syft's order of packages.
func packageComponents(s *syftsbom.SBOM, pkgs []pkg.Package) []cyclonedx.Component {
	part := syftsbom.SBOM{Source: s.Source, Descriptor: s.Descriptor,
		Artifacts: syftsbom.Artifacts{Packages: pkg.NewCollection(pkgs...)}}
	return *cyclonedxhelpers.ToFormatModel(part).Components
}

// fullComponents gives each component of comps that is one of pkgs (at[its ID] is its index)
// the properties the attested representation leaves out, where Syft's converter puts them;
// what later stages changed or added stays as they left it. candidates[i], if any, is the
// syft:cpe23 values of pkgs[i] that GenerateCPEs keeps out of the model (none before it ran).
// comps is a copy the caller owns.
func fullComponents(s *syftsbom.SBOM, pkgs []pkg.Package, candidates [][]string, at map[artifact.ID]int, comps []cyclonedx.Component) Omitted {
	var these []pkg.Package
	where := map[artifact.ID]int{} // in comps
	for i, c := range comps {
		if k, ok := at[artifact.ID(c.BOMRef)]; ok {
			these = append(these, pkgs[k])
			where[pkgs[k].ID()] = i
		}
	}
	if len(these) == 0 {
		return Omitted{}
	}
	var o Omitted
	// The converter writes a collection's packages in Syft's order.
	sorted := slices.Clone(these)
	pkg.Sort(sorted)
	for k, syftComp := range packageComponents(s, these) {
		id := sorted[k].ID()
		c := &comps[where[id]]
		if i := at[id]; i < len(candidates) && len(candidates[i]) > 0 {
			var props []cyclonedx.Property
			if syftComp.Properties != nil {
				props = *syftComp.Properties
			}
			props = insertCandidates(props, candidates[i])
			syftComp.Properties = &props
		}
		var put Omitted
		if syftComp.Properties != nil {
			var props []cyclonedx.Property
			if props, put = restore(*syftComp.Properties, c.Properties); put.Any() {
				c.Properties = &props
			}
		}
		// Enrich leaves out Syft's string for who made the package where the manufacturer it
		// adds says the same (dropRepeatedCreator); no other stage clears these.
		if c.Publisher == "" && syftComp.Publisher != "" {
			c.Publisher = syftComp.Publisher
			put.Creators++
		}
		if c.Author == "" && syftComp.Author != "" {
			c.Author = syftComp.Author
			put.Creators++
		}
		if put.Any() {
			put.Components = 1
			o.add(put)
		}
	}
	return o
}

// restore merges syft, a package's properties as Syft's converter writes them, into current,
// the same package's properties in the attested representation as later stages left them:
// the properties the representation leaves out go back in Syft's order, around the ones kept,
// which keep their current values; what the stages added follows where they put it.
func restore(syft []cyclonedx.Property, current *[]cyclonedx.Property) ([]cyclonedx.Property, Omitted) {
	var cur []cyclonedx.Property
	if current != nil {
		cur = *current
	}
	typ := packageType(syft)
	out := make([]cyclonedx.Property, 0, len(syft)+len(cur))
	var o Omitted
	j := 0
	for _, p := range syft {
		if k := leftOut(p, typ); k != kept {
			out = append(out, p)
			o.count(k)
			continue
		}
		// A kept property: bring along what precedes it in current, up to and with it.
		for k := j; k < len(cur); k++ {
			if cur[k].Name == p.Name {
				out = append(out, cur[j:k+1]...)
				j = k + 1
				break
			}
		}
	}
	return append(out, cur[j:]...), o
}
