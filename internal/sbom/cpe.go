package sbom

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/cpe"
	"github.com/anchore/syft/syft/pkg"
	cpegen "github.com/anchore/syft/syft/pkg/cataloger/common/cpe"
)

// Syft generates each package's CPE candidates as a cataloger finishes, while the image's file
// trees are held: on a large image that is over a third of what the scan allocates, every byte of
// it collected while the heap is at its largest. With Options.DeferCPEs the scan leaves them out
// and GenerateCPEs makes them later, with the same functions of Syft's, on every core, once the
// image is closed.

// GenerateCPEs gives every package Syft's generated CPEs, as Syft's scan would have, when
// Generate left them for later (Options.DeferCPEs), and puts them in r.BOM where Syft's
// converter does: the most specific as the component's cpe, the others as syft:cpe23
// properties, after the package's own ones (in the attested representation, only for the types
// that keep them). What later stages added stays as it is. Without deferred CPEs it does nothing.
func (r *Result) GenerateCPEs(ctx context.Context) error {
	if !r.cpesDeferred {
		return nil
	}
	pkgs := r.packages()
	// The packages' licences are in r.BOM already, and nothing after the scan reads them from
	// Syft's model: not the CPEs, not the full document's properties (which the converter makes
	// from the package's type, cataloger, CPEs, locations and metadata), not Grype's matchers.
	// With the relationships' copies gone (namesOnly), the packages and the collection are all
	// that hold them; the collection is rebuilt below.
	r.Syft.Artifacts.Packages = pkg.NewCollection()
	for i := range pkgs {
		pkgs[i].Licenses = pkg.NewLicenseSet()
	}
	// The package ID leaves the CPEs and licences out, so every package keeps its ID, bom-ref
	// and relationships.
	defer func() { r.Syft.Artifacts.Packages = pkg.NewCollection(pkgs...) }()
	changed := make([]bool, len(pkgs))
	cands := make([][]string, len(pkgs))
	onEveryCore(len(pkgs), func(i int) {
		if ctx.Err() == nil {
			changed[i] = generateCPEs(&pkgs[i])
			if changed[i] {
				cands[i] = keepCandidatesAsText(&pkgs[i])
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	r.cpesDeferred = false
	r.candidates = cands
	byID := make(map[artifact.ID]*pkg.Package, len(pkgs))
	for i := range pkgs {
		if changed[i] {
			byID[pkgs[i].ID()] = &pkgs[i]
		}
	}
	if r.BOM.Components == nil {
		return nil
	}
	for i := range *r.BOM.Components {
		c := &(*r.BOM.Components)[i]
		if p := byID[artifact.ID(c.BOMRef)]; p != nil {
			setCPEs(c, p.CPEs)
		}
	}
	return nil
}

// keepCandidatesAsText leaves p, whose CPEs were just generated, with its most specific CPE
// alone if its type is one whose guessed candidates the attested document leaves out, and
// returns the others as the syft:cpe23 values Syft's converter would write of them, for the
// full document (fullComponents). Only that document and Grype read them, and Grype's matchers
// for these types never do (cpeFreeTypes). On a large image they are most of the CPEs (260,000
// of 275,000 on the bench image): as Syft's structures, a dozen strings each, they were a
// quarter of what the CPE and encode stages' collections mark, and Syft's converter deep-copied
// and formatted each again for the full document.
func keepCandidatesAsText(p *pkg.Package) []string {
	if len(p.CPEs) < 2 || !cpeFreeTypes[string(p.Type)] {
		return nil
	}
	out := make([]string, 0, len(p.CPEs)-1)
	for _, c := range p.CPEs[1:] {
		out = append(out, c.Attributes.String())
	}
	p.CPEs = []cpe.CPE{p.CPEs[0]}
	return out
}

// LoadCPEDictionary reads Syft's CPE dictionary, which GenerateCPEs looks every package up in,
// once for the process: a caller with a core to spare calls it ahead of GenerateCPEs.
func LoadCPEDictionary() { cpegen.DictionaryFind(pkg.Package{}) }

// generateCPEs is what Syft's scan does for p's CPEs (internal/task finalizePkgCatalogerResults
// in Syft v1.54.1) and reports whether it changed them: packages with a CPE of their own (from
// the package's metadata or a binary classifier) keep what they have; the others get the CPE
// dictionary's entries or, without any, the generated candidates.
func generateCPEs(p *pkg.Package) bool {
	for _, c := range p.CPEs {
		if c.Source != cpe.GeneratedSource {
			return false
		}
	}
	found, ok := cpegen.DictionaryFind(*p)
	if !ok {
		found = cpegen.Generate(*p)
		if len(p.CPEs) == 0 && len(found) > 0 {
			// A slice of its own, nothing of Syft's: the candidates (275,000 on the 12,500-package
			// bench image) are not copied again.
			p.CPEs = found
			return true
		}
	}
	if len(found) == 0 {
		return false
	}
	p.CPEs = append(p.CPEs, found...)
	return true
}

// setCPEs writes cpes into c as Syft's converter does, in the attested representation: the first
// is the component's cpe, the rest syft:cpe23 properties unless c's package type is one whose
// candidates the representation leaves out. They go after the syft:package properties, where
// the converter puts them.
func setCPEs(c *cyclonedx.Component, cpes []cpe.CPE) {
	c.CPE = cpes[0].Attributes.String()
	var props []cyclonedx.Property
	if c.Properties != nil {
		props = slices.DeleteFunc(*c.Properties, func(p cyclonedx.Property) bool { return p.Name == cpeProperty })
	}
	if !cpeFreeTypes[packageType(props)] && len(cpes) > 1 {
		cands := make([]string, 0, len(cpes)-1)
		for _, x := range cpes[1:] {
			cands = append(cands, x.Attributes.String())
		}
		props = insertCandidates(props, cands)
	}
	if len(props) == 0 {
		c.Properties = nil
	} else {
		c.Properties = &props
	}
}

// insertCandidates puts cands as syft:cpe23 properties into props, a package's properties as
// Syft's converter writes them, where the converter puts them: after the syft:package ones.
func insertCandidates(props []cyclonedx.Property, cands []string) []cyclonedx.Property {
	at := 0
	for i, p := range props {
		if strings.HasPrefix(p.Name, "syft:package:") {
			at = i + 1
		}
	}
	extra := make([]cyclonedx.Property, len(cands))
	for i, c := range cands {
		extra[i] = cyclonedx.Property{Name: cpeProperty, Value: c}
	}
	return slices.Insert(slices.Clip(props), at, extra...)
}

// onEveryCore calls fn(i) for every i below n, each once, on every core.
func onEveryCore(n int, fn func(i int)) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}
