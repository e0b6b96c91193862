package sbom

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/packageurl-go"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/artifact"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/cataloging/filecataloging"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/pkg"
	syftsbom "github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/google/uuid"

	"github.com/bom-attest/bom-attest/internal/fileindex"
	// The rpm database cataloger needs an SQL driver named "sqlite"; syft leaves choosing one to
	// its caller. Grype's database layer (internal/vulns) links glebarez's build of it, which
	// registers that name in its init, so it is the one driver: a second would panic at start-up.
	_ "github.com/glebarez/go-sqlite"
)

// ErrScan wraps failures of the Syft scan itself.
var ErrScan = errors.New("scan failed")

// Subject is the image the SBOM describes.
type Subject struct {
	Name        string // e.g. ghcr.io/acme/app
	RepoURL     string // registry/repository for the purl; "" for local images without one
	Digest      string // manifest digest, sha256:...
	IndexDigest string // the multi-platform index it belongs to, if any
	OS, Arch    string
	Variant     string
	Tag         string // set when the input was a tag resolved to Digest
}

// Options tune Generate.
type Options struct {
	Subject     Subject
	ToolVersion string    // bom-attest's version
	Timestamp   time.Time // zero: now
	Namespace   string    // property prefix (input property-namespace); required
	// Supplier is who supplies the image and authors its SBOM (the repository owner in
	// Actions), with SupplierURL; empty leaves both out rather than guess.
	Supplier, SupplierURL string
	Parallelism           int // Syft cataloger parallelism; 0: Syft's default
	// SkipModels turns Syft's model catalogers (GGUF, safetensors) off: the model stage
	// (internal/mlbom) owns model components when it runs, so no model file is parsed twice.
	SkipModels bool
	// DeferCPEs leaves generating the packages' CPEs to (*Result).GenerateCPEs, which the
	// caller calls once it has closed the image (see cpe.go); the BOM has no generated CPEs
	// until then.
	DeferCPEs bool
}

// Result is a generated SBOM.
type Result struct {
	// BOM is the document bom-attest attests, in the form later stages enrich: every component,
	// in the attested representation (see Encode and EncodeFull).
	BOM *cyclonedx.BOM
	// Syft is Syft's model of the image, without package-to-file relationships (see Generate)
	// and, once GenerateCPEs has made the deferred CPEs, without the packages' licences (BOM
	// has them) and with only the most specific CPE of the types whose guessed candidates the
	// attested document leaves out (see keepCandidatesAsText).
	Syft *syftsbom.SBOM
	// cpesDeferred is set until GenerateCPEs has made the CPEs Options.DeferCPEs left out.
	cpesDeferred bool
	// pkgs is Syft's packages in Syft's order, read once: each read of Syft's collection
	// deep-copies every package (with reflection), which on a large image is seconds of CPU and
	// hundreds of megabytes to collect.
	pkgs []pkg.Package
	// candidates[i] is the syft:cpe23 values of pkgs[i]'s guessed CPEs that GenerateCPEs took
	// out of the model (keepCandidatesAsText).
	candidates [][]string
}

// packages is r's packages in Syft's order (pkg.Sort).
func (r *Result) packages() []pkg.Package {
	if r.pkgs == nil && r.Syft != nil {
		r.pkgs = r.Syft.Artifacts.Packages.Sorted()
	}
	return r.pkgs
}

// Generate runs one Syft scan of src and builds the CycloneDX document.
func Generate(ctx context.Context, src source.Source, o Options) (*Result, error) {
	if o.Namespace == "" {
		return nil, errors.New("sbom: empty property namespace")
	}
	// Packages, not every file they own: file components multiply the document's size by
	// ten without telling a scanner anything the package purls do not.
	files := filecataloging.DefaultConfig()
	files.Selection = file.NoFilesSelection
	// Package-to-file edges (Syft's "contains" per owned file and "evident-by" per evidence
	// file) go into no document bom-attest writes, and Grype matches without them; on a large
	// image they are tens of megabytes, held while the image is. Ownership overlap, which
	// decides which binaries a distribution package already accounts for, stays as it is.
	rels := cataloging.DefaultRelationshipsConfig().WithPackageFileOwnership(false)
	cfg := syft.DefaultCreateSBOMConfig().
		WithTool("syft", SyftVersion()).
		WithFilesConfig(files).
		WithRelationshipsConfig(rels)
	if o.Parallelism > 0 {
		cfg = cfg.WithParallelism(o.Parallelism)
	}
	if o.DeferCPEs {
		cfg = cfg.WithDataGenerationConfig(cfg.DataGeneration.WithGenerateCPEs(false))
	}
	if o.SkipModels {
		// Syft tags every model cataloger "model"; removing the tag keeps the defaults for the
		// source (image or directory) and takes out the model catalogers, present and future.
		cfg = cfg.WithCatalogerSelection(cataloging.NewSelectionRequest().WithRemovals("model"))
	}
	// Syft's catalogers ask the resolver for files by basename glob, once per package for dpkg;
	// the indexed resolver answers those from an index instead of a scan of every basename.
	s, err := syft.CreateSBOM(ctx, fileindex.Source(src), cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScan, err)
	}
	s.Relationships = slices.DeleteFunc(s.Relationships, func(r artifact.Relationship) bool {
		return r.Type == artifact.EvidentByRelationship
	})
	// Each relationship holds the packages it names as whole copies, which keep Syft's first
	// model of them alive beside the one read below: their locations, licences and metadata.
	// Nothing after the scan reads more of them than the ID and purl (CycloneDX dependencies
	// name packages by both, Syft's JSON for Grype by the ID).
	for i := range s.Relationships {
		s.Relationships[i].From = namesOnly(s.Relationships[i].From)
		s.Relationships[i].To = namesOnly(s.Relationships[i].To)
	}
	r := &Result{Syft: s, cpesDeferred: o.DeferCPEs}
	// Reading the packages copied them; the collection now holds the copies, so the model is
	// held once.
	s.Artifacts.Packages = pkg.NewCollection(r.packages()...)
	r.BOM = toFormatModel(s, r.packages())
	packageRefs(r.BOM, r.packages())
	shape(r.BOM, o)
	return r, nil
}

// namesOnly is x, if it is a package, without its locations, licences, metadata and CPEs: its
// ID (which a copy keeps), purl, name, version and type stay.
func namesOnly(x artifact.Identifiable) artifact.Identifiable {
	p, ok := x.(pkg.Package)
	if !ok {
		return x
	}
	p.Locations, p.Licenses, p.Metadata, p.CPEs = file.NewLocationSet(), pkg.NewLicenseSet(), nil, nil
	return p
}

// WithLicenseScanner returns ctx carrying the license scanner Generate's scan would build;
// Generate uses the one ctx carries instead of building its own. Building it takes most of a
// second and allocates over 300 MB: done ahead, while the image is being read, that is on a
// core the read leaves idle, and collected before the scan holds the image's file trees, when
// every collection costs the most.
func WithLicenseScanner(ctx context.Context) (context.Context, error) {
	ctx, err := syft.SetContextLicenseScanner(ctx, syft.DefaultCreateSBOMConfig().Licenses)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScan, err)
	}
	return ctx, nil
}

// SyftVersion is the version of the Syft library compiled in, from the build info, so the SBOM
// names the scanner that really ran.
func SyftVersion() string { return ModuleVersion("github.com/anchore/syft") }

// ModuleVersion is the version of a module compiled into this binary, from the build info;
// "unknown" when the binary carries none.
func ModuleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

func shape(bom *cyclonedx.BOM, o Options) {
	ts := o.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	bom.SerialNumber = uuid.New().URN()
	md := bom.Metadata
	if md == nil {
		md = &cyclonedx.Metadata{}
		bom.Metadata = md
	}
	md.Timestamp = ts.UTC().Format(time.RFC3339)
	md.Lifecycles = &[]cyclonedx.Lifecycle{{Phase: cyclonedx.LifecyclePhasePostBuild}}
	md.Tools = &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{
		{
			Type:     cyclonedx.ComponentTypeApplication,
			Name:     "bom-attest",
			Version:  o.ToolVersion,
			Supplier: &cyclonedx.OrganizationalEntity{Name: "bom-attest"},
		},
		{
			// Syft's own encoder stamps every tool "author: anchore"; say who made Syft, and
			// which build of it ran, in fields that are not deprecated.
			Type:       cyclonedx.ComponentTypeLibrary,
			Group:      "github.com/anchore",
			Name:       "syft",
			Version:    SyftVersion(),
			Supplier:   &cyclonedx.OrganizationalEntity{Name: "Anchore, Inc.", URL: &[]string{"https://anchore.com"}},
			PackageURL: "pkg:golang/github.com/anchore/syft@" + SyftVersion(),
		},
	}}
	if o.Supplier != "" {
		md.Supplier = &cyclonedx.OrganizationalEntity{Name: o.Supplier}
		if o.SupplierURL != "" {
			md.Supplier.URL = &[]string{o.SupplierURL}
		}
		md.Authors = &[]cyclonedx.OrganizationalContact{{Name: o.Supplier}}
	}
	img := ImageComponent(o.Subject, o.Namespace)
	md.Component = &img
	// Syft names the source after the scan input; the image component already says all of it.
	md.Properties = nil
	rootDependencies(bom, img.BOMRef)
}

// ImageComponent is the container component that stands for the subject in every document
// bom-attest writes (SBOM, ML-BOM), so both point at the same bom-ref.
func ImageComponent(s Subject, ns string) cyclonedx.Component {
	p := ImagePURL(s)
	c := cyclonedx.Component{
		BOMRef:     p,
		Type:       cyclonedx.ComponentTypeContainer,
		Name:       s.Name,
		Version:    s.Digest,
		PackageURL: p,
	}
	if hex, ok := strings.CutPrefix(s.Digest, "sha256:"); ok {
		c.Hashes = &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: hex}}
	}
	var props []cyclonedx.Property
	add := func(k, v string) {
		if v != "" {
			props = append(props, cyclonedx.Property{Name: ns + ":image:" + k, Value: v})
		}
	}
	platform := s.OS + "/" + s.Arch
	if s.Variant != "" {
		platform += "/" + s.Variant
	}
	if s.OS != "" {
		add("platform", platform)
	}
	add("index-digest", s.IndexDigest)
	add("resolved-tag", s.Tag)
	if len(props) > 0 {
		c.Properties = &props
	}
	return c
}

// ImagePURL is pkg:oci/NAME@DIGEST?arch=…&repository_url=… as the purl spec's oci type defines it:
// the name is the last path segment, the repository goes in a qualifier.
func ImagePURL(s Subject) string {
	name := s.Name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	var q packageurl.Qualifiers
	if s.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: s.Arch})
	}
	if s.RepoURL != "" {
		q = append(q, packageurl.Qualifier{Key: "repository_url", Value: s.RepoURL})
	}
	return packageurl.NewPackageURL("oci", "", strings.ToLower(name), s.Digest, q, "").ToString()
}

// packageRefs makes each package's bom-ref its Syft package ID, where Syft writes its purl with
// the ID as a qualifier: the purl is the component's own field already, and a bom-ref is
// repeated in every dependency that names it — on a large image the long form made a quarter
// of the attested document. Syft's CycloneDX decoder takes a bom-ref as the package ID, so the
// IDs read back as they were. A ref that would clash with another stays as it is.
func packageRefs(bom *cyclonedx.BOM, pkgs []pkg.Package) {
	if bom.Components == nil {
		return
	}
	ids := make(map[artifact.ID]bool, len(pkgs))
	for i := range pkgs {
		ids[pkgs[i].ID()] = true
	}
	used := map[string]bool{}
	for _, c := range *bom.Components {
		used[c.BOMRef] = true
	}
	rename := map[string]string{}
	for i := range *bom.Components {
		c := &(*bom.Components)[i]
		if !strings.HasPrefix(c.BOMRef, "pkg:") {
			continue
		}
		p, err := packageurl.FromString(c.BOMRef)
		if err != nil {
			continue
		}
		id := p.Qualifiers.Map()["package-id"]
		if id == "" || used[id] || !ids[artifact.ID(id)] {
			continue
		}
		rename[c.BOMRef] = id
		used[id] = true
		c.BOMRef = id
	}
	if bom.Dependencies == nil {
		return
	}
	for i := range *bom.Dependencies {
		d := &(*bom.Dependencies)[i]
		if r, ok := rename[d.Ref]; ok {
			d.Ref = r
		}
		if d.Dependencies != nil {
			for j, ref := range *d.Dependencies {
				if r, ok := rename[ref]; ok {
					(*d.Dependencies)[j] = r
				}
			}
		}
	}
}

// rootDependencies hangs every top-level component (one nothing else depends on) under the image,
// so the graph has one root as CycloneDX consumers expect.
func rootDependencies(bom *cyclonedx.BOM, root string) {
	var deps []cyclonedx.Dependency
	if bom.Dependencies != nil {
		deps = *bom.Dependencies
	}
	dependedOn := map[string]bool{}
	for _, d := range deps {
		if d.Dependencies != nil {
			for _, r := range *d.Dependencies {
				dependedOn[r] = true
			}
		}
	}
	var top []string
	if bom.Components != nil {
		for _, c := range *bom.Components {
			if c.BOMRef != "" && !dependedOn[c.BOMRef] && c.Type != cyclonedx.ComponentTypeFile {
				top = append(top, c.BOMRef)
			}
		}
	}
	sort.Strings(top)
	deps = append(deps, cyclonedx.Dependency{Ref: root, Dependencies: &top})
	for _, d := range deps {
		if d.Dependencies != nil {
			sort.Strings(*d.Dependencies)
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Ref < deps[j].Ref })
	bom.Dependencies = &deps
}
