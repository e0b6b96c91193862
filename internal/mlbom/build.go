package mlbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/bom-attest/bom-attest/internal/modelfile"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
)

// ErrSpecVersion: Build was asked for a CycloneDX version it does not write.
var ErrSpecVersion = errors.New("unsupported CycloneDX spec version")

// Options shape the ML-BOM.
type Options struct {
	// SpecVersion is the CycloneDX version to write (the SBOM's): 1.5, 1.6 or 1.7. At 1.5,
	// fields it does not have are dropped with a notice.
	SpecVersion cyclonedx.SpecVersion
	// Namespace prefixes every property bom-attest adds (input property-namespace); required.
	Namespace string
}

// Origin says where a model in the ML-BOM comes from.
const (
	OriginDeclared = "declared"       // only in the manifest (a hosted model, or weights not in the image)
	OriginFound    = "found"          // only in the image: undeclared
	OriginBoth     = "declared+found" // declared, and its weights were found and checked
)

// Result is what the job summary and step outputs need from a Build.
type Result struct {
	Models   []ModelRow
	Datasets []string // names of the data set components
	Notices  []string // what was changed or dropped, for the log
	Warnings []string // what the user should look at: undeclared models, unreadable headers, …
}

// ModelRow is one model of the summary table.
type ModelRow struct {
	Name       string
	Version    string
	Origin     string // OriginDeclared, OriginFound or OriginBoth
	External   string // the endpoint of a hosted model, "" otherwise
	HashPrefix string // "sha256:" and the first 12 hex digits of the (first) weight file, "" without weights
	Files      int    // weight files hashed
	Datasets   []string
	License    string
	Path       string // where the weights are in the image
	BOMRef     string
}

// ModelCount is the number of models in the ML-BOM, for the model-count output.
func (r *Result) ModelCount() int {
	if r == nil {
		return 0
	}
	return len(r.Models)
}

// entry is one model of the ML-BOM while it is assembled.
type entry struct {
	decl    *modelmanifest.Model
	declIdx int
	found   []*Found
	files   []WeightFile
	foreign *cyclonedx.Component // a model the SBOM already had that Build did not make, copied as it is
	ref     string
	comp    cyclonedx.Component
	dsNames []string
}

func (e *entry) origin() string {
	switch {
	case e.decl != nil && len(e.found) > 0:
		return OriginBoth
	case e.decl != nil:
		return OriginDeclared
	}
	return OriginFound
}

// dataset is one data set of the ML-BOM while it is assembled.
type dataset struct {
	decl *modelmanifest.Dataset
	name string
	ref  string
}

type builder struct {
	spec     cyclonedx.SpecVersion
	ns       string
	m        *modelmanifest.Manifest
	res      *Result
	refs     map[string]bool
	datasets []*dataset
	dsByName map[string]*dataset
}

// Build makes the ML-BOM from the manifest and the models Discover found, and puts the same model
// components in the SBOM, so that both documents carry the same name, version, hashes, purl and
// bom-ref for every model in the image. The ML-BOM's metadata.component is a copy of the SBOM's
// (the image). m, found and sbomDoc may each be nil. A declared hash that differs from the image,
// or that matches nothing in it, is an error wrapping modelmanifest.ErrHashMismatch; a declared
// path with no examined files is one wrapping modelmanifest.ErrPath.
func Build(sbomDoc *cyclonedx.BOM, m *modelmanifest.Manifest, found []Found, opts Options) (*cyclonedx.BOM, *Result, error) {
	spec, err := checkSpec(opts.SpecVersion)
	if err != nil {
		return nil, nil, err
	}
	if opts.Namespace == "" {
		return nil, nil, fmt.Errorf("mlbom: empty property namespace")
	}
	b := &builder{spec: spec, ns: opts.Namespace, m: m, res: &Result{}, refs: map[string]bool{}, dsByName: map[string]*dataset{}}
	entries, err := b.match(found)
	if err != nil {
		return nil, nil, err
	}
	if sbomDoc != nil {
		collectRefs(sbomDoc, b.refs)
	}
	b.collectDatasets(entries)
	for _, e := range entries {
		e.ref = b.uniqueRef("model:" + nameVersion(e.name(), e.version()))
	}
	for _, ds := range b.datasets {
		version := ""
		if ds.decl != nil {
			version = ds.decl.Version
		}
		ds.ref = b.uniqueRef("dataset:" + nameVersion(ds.name, version))
	}
	for _, e := range entries {
		e.comp = b.modelComponent(e)
	}
	if sbomDoc != nil {
		for _, c := range b.syncSBOM(sbomDoc, entries) {
			e := &entry{foreign: c, ref: c.BOMRef, comp: *c}
			entries = append(entries, e)
			b.res.Warnings = append(b.res.Warnings, fmt.Sprintf("model %q (bom-ref %s) is in the SBOM but was not examined: copied as it is, unhashed", c.Name, c.BOMRef))
		}
	}
	return b.document(sbomDoc, entries), b.res, nil
}

func checkSpec(v cyclonedx.SpecVersion) (cyclonedx.SpecVersion, error) {
	switch v {
	case cyclonedx.SpecVersion1_5, cyclonedx.SpecVersion1_6, cyclonedx.SpecVersion1_7:
		return v, nil
	}
	return 0, fmt.Errorf("mlbom: %w %q (want 1.5, 1.6 or 1.7)", ErrSpecVersion, v)
}

func (e *entry) name() string {
	if e.decl != nil {
		return e.decl.Name
	}
	if len(e.found) > 0 {
		return e.found[0].Name
	}
	return e.comp.Name
}

func (e *entry) version() string {
	if e.decl != nil && e.decl.Version != "" {
		return e.decl.Version
	}
	if len(e.found) > 0 {
		return e.found[0].Version
	}
	return e.comp.Version
}

func nameVersion(name, version string) string {
	if version == "" {
		return name
	}
	return name + "@" + version
}

func (b *builder) uniqueRef(ref string) string {
	out := ref
	for i := 2; b.refs[out]; i++ {
		out = fmt.Sprintf("%s#%d", ref, i)
	}
	b.refs[out] = true
	return out
}

// match pairs manifest entries with found models: by path first, then by hash. Every model the
// image holds ends up in exactly one entry; a found model no entry claims is undeclared.
func (b *builder) match(found []Found) ([]*entry, error) {
	owner := make([]int, len(found))
	for i := range owner {
		owner[i] = -1
	}
	var entries []*entry
	if m := b.m; m != nil {
		for i := range m.Models {
			md := &m.Models[i]
			e := &entry{decl: md, declIdx: i}
			var idx []int
			switch {
			case md.Path != "":
				for j := range found {
					if foundAt(&found[j], md.Path) {
						idx = append(idx, j)
					}
				}
				if len(idx) == 0 {
					return nil, m.Errorf(fmt.Sprintf("models[%d].path", i), modelmanifest.ErrPath, "%s: no model files there were examined; is it in the image?", md.Path)
				}
			case len(md.Hashes) > 0:
				for j := range found {
					if anyHashMatches(md.Hashes, found[j].Files) {
						idx = append(idx, j)
					}
				}
				if len(idx) == 0 {
					// Declaring a hash says the image carries exactly those weights; a hash
					// that finds nothing is a model that is not there, or not those weights.
					h := md.Hashes[0]
					return nil, m.Errorf(fmt.Sprintf("models[%d].hashes", i), modelmanifest.ErrHashMismatch,
						"%q: %s %s matches no weight file found in the image; give the model's path, or check the hash (with scan-models off, only declared paths are hashed)", md.Name, h.Alg, h.Content)
				}
			}
			for _, j := range idx {
				if owner[j] >= 0 {
					return nil, m.Errorf(fmt.Sprintf("models[%d]", i), modelmanifest.ErrConflict, "claims the model at %s, which models[%d] already describes", found[j].Dir, owner[j])
				}
				owner[j] = i
				e.found = append(e.found, &found[j])
				e.files = append(e.files, found[j].Files...)
			}
			if len(e.found) > 0 {
				if err := b.verifyHashes(e); err != nil {
					return nil, err
				}
			}
			entries = append(entries, e)
		}
	}
	for j := range found {
		if owner[j] >= 0 {
			continue
		}
		f := &found[j]
		entries = append(entries, &entry{found: []*Found{f}, files: f.Files})
		if b.m != nil {
			b.res.Warnings = append(b.res.Warnings, fmt.Sprintf("model %q at %s is in the image but not in %s: listed as undeclared", f.Name, f.Dir, modelmanifest.Input))
		}
	}
	for _, e := range entries {
		for _, f := range e.found {
			b.res.Warnings = append(b.res.Warnings, f.Problems...)
		}
	}
	return entries, nil
}

// foundAt reports whether f is the model at the declared path p (a weight file or a directory
// holding its weights).
func foundAt(f *Found, p string) bool {
	if f.Declared == p {
		return true
	}
	for _, wf := range f.Files {
		if wf.Path == p || within(wf.Path, p) {
			return true
		}
	}
	return false
}

func anyHashMatches(hashes []modelmanifest.Hash, files []WeightFile) bool {
	for _, h := range hashes {
		for _, wf := range files {
			if fileHash(wf, h.Alg) == h.Content {
				return true
			}
		}
	}
	return false
}

func fileHash(wf WeightFile, alg string) string {
	switch alg {
	case "SHA-256":
		return wf.SHA256
	case "SHA-512":
		return wf.SHA512
	}
	return ""
}

// verifyHashes checks every declared hash against the weight files found for the entry: the
// point of declaring one is that the image must carry exactly those weights.
func (b *builder) verifyHashes(e *entry) error {
	for k, h := range e.decl.Hashes {
		if anyHashMatches([]modelmanifest.Hash{h}, e.files) {
			continue
		}
		where := e.found[0].Dir
		if e.decl.Path != "" {
			where = e.decl.Path
		}
		have := make([]string, 0, len(e.files))
		for _, wf := range e.files {
			have = append(have, fmt.Sprintf("%s %s", wf.Path, fileHash(wf, h.Alg)))
		}
		return b.m.Errorf(fmt.Sprintf("models[%d].hashes[%d]", e.declIdx, k), modelmanifest.ErrHashMismatch,
			"%s %s does not match the weights at %s; the image has %s", h.Alg, h.Content, where, strings.Join(have, ", "))
	}
	return nil
}

// collectDatasets lists the declared data sets, then the ones model cards and GGUF headers name
// that the manifest does not declare.
func (b *builder) collectDatasets(entries []*entry) {
	add := func(ds *dataset) {
		b.datasets = append(b.datasets, ds)
		b.dsByName[ds.name] = ds
	}
	if b.m != nil {
		for i := range b.m.Datasets {
			add(&dataset{decl: &b.m.Datasets[i], name: b.m.Datasets[i].Name})
		}
	}
	for _, e := range entries {
		if e.decl != nil && e.decl.ModelCard != nil && len(e.decl.ModelCard.Datasets) > 0 {
			e.dsNames = e.decl.ModelCard.Datasets
			continue
		}
		var names []string
		for _, f := range e.found {
			if card := firstOf[*modelfile.ModelCard](f); card != nil {
				names = append(names, card.Datasets...)
			}
			for _, h := range headersOf[*modelfile.GGUF](f) {
				names = append(names, h.Datasets...)
			}
		}
		e.dsNames = uniq(names)
		for _, n := range e.dsNames {
			if b.dsByName[n] == nil {
				add(&dataset{name: n})
			}
		}
	}
}

func (b *builder) prop(name, value string) cyclonedx.Property {
	return cyclonedx.Property{Name: b.ns + ":" + name, Value: value}
}

// LinkSBOM gives the ML-BOM its serial number and its external reference (type bom) to the SBOM
// it goes with. The serial number is derived from the SBOM's, not random, so the same SBOM
// always gets the same ML-BOM serial number. Build calls it; this is the one place the serial
// number is set, so a caller that changes the SBOM's serial number after Build (to one derived
// from the final content) calls it again.
func LinkSBOM(ml, sbomDoc *cyclonedx.BOM) {
	var refs []cyclonedx.ExternalReference
	if ml.ExternalReferences != nil {
		for _, r := range *ml.ExternalReferences {
			if r.Type != cyclonedx.ERTypeBOM {
				refs = append(refs, r)
			}
		}
	}
	seed := ""
	if sbomDoc != nil {
		seed = sbomDoc.SerialNumber
		if c := sbomDoc.Metadata; seed == "" && c != nil && c.Component != nil {
			seed = c.Component.BOMRef + "|" + c.Component.Name + "|" + c.Component.Version
		}
		if serial, ok := strings.CutPrefix(sbomDoc.SerialNumber, "urn:uuid:"); ok {
			refs = append(refs, cyclonedx.ExternalReference{
				Type: cyclonedx.ERTypeBOM, URL: fmt.Sprintf("urn:cdx:%s/%d", serial, max(sbomDoc.Version, 1)), Comment: "SBOM of the same image",
			})
		}
	}
	ml.ExternalReferences = nil
	if len(refs) > 0 {
		ml.ExternalReferences = &refs
	}
	if seed != "" {
		ml.SerialNumber = uuid.NewSHA1(uuid.NameSpaceURL, []byte("bom-attest:mlbom:"+seed)).URN()
	} else {
		ml.SerialNumber = uuid.New().URN()
	}
}

// document assembles the ML-BOM: metadata from the SBOM, model and data components, and the
// dependency graph image → models → data sets.
func (b *builder) document(sbomDoc *cyclonedx.BOM, entries []*entry) *cyclonedx.BOM {
	bom := cyclonedx.NewBOM()
	bom.SpecVersion = b.spec
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-" + b.spec.String() + ".schema.json"
	md := &cyclonedx.Metadata{}
	imageRef := ""
	if sbomDoc != nil && sbomDoc.Metadata != nil {
		sm := sbomDoc.Metadata
		md.Timestamp = sm.Timestamp
		md.Lifecycles = deepCopy(sm.Lifecycles)
		md.Tools = deepCopy(sm.Tools)
		md.Authors = deepCopy(sm.Authors)
		md.Supplier = deepCopy(sm.Supplier)
		md.Manufacturer = deepCopy(sm.Manufacturer)
		md.Component = deepCopy(sm.Component)
		if sm.Component != nil {
			imageRef = sm.Component.BOMRef
		}
	}
	LinkSBOM(bom, sbomDoc)
	if *md != (cyclonedx.Metadata{}) {
		bom.Metadata = md
	}

	comps := make([]cyclonedx.Component, 0, len(entries)+len(b.datasets))
	var deps []cyclonedx.Dependency
	var modelRefs []string
	for _, e := range entries {
		comps = append(comps, e.comp)
		modelRefs = append(modelRefs, e.ref)
		dep := cyclonedx.Dependency{Ref: e.ref}
		var dsRefs, dsNames []string
		for _, n := range e.dsNames {
			dsRefs = append(dsRefs, b.dsByName[n].ref)
			dsNames = append(dsNames, n)
		}
		if len(dsRefs) > 0 {
			dep.Dependencies = &dsRefs
		}
		deps = append(deps, dep)
		b.res.Models = append(b.res.Models, b.row(e, dsNames))
	}
	for _, ds := range b.datasets {
		comps = append(comps, b.datasetComponent(ds))
		deps = append(deps, cyclonedx.Dependency{Ref: ds.ref})
		b.res.Datasets = append(b.res.Datasets, ds.name)
	}
	if imageRef != "" && len(modelRefs) > 0 {
		deps = append([]cyclonedx.Dependency{{Ref: imageRef, Dependencies: &modelRefs}}, deps...)
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}
	if len(deps) > 0 {
		bom.Dependencies = &deps
	}
	return bom
}

func (b *builder) row(e *entry, datasets []string) ModelRow {
	r := ModelRow{Name: e.comp.Name, Version: e.comp.Version, Origin: e.origin(), Files: len(e.files), Datasets: datasets, BOMRef: e.ref}
	if e.foreign != nil {
		r.Origin = OriginFound
	}
	if e.decl != nil && e.decl.External != nil {
		r.External = e.decl.External.Endpoint
	}
	if len(e.files) > 0 {
		r.HashPrefix = "sha256:" + e.files[0].SHA256[:12]
		r.Path = e.found[0].Dir
		if e.decl != nil && e.decl.Path != "" {
			r.Path = e.decl.Path
		}
	}
	if l := e.comp.Licenses; l != nil {
		var names []string
		for _, lc := range *l {
			switch {
			case lc.Expression != "":
				names = append(names, lc.Expression)
			case lc.License != nil && lc.License.ID != "":
				names = append(names, lc.License.ID)
			case lc.License != nil:
				names = append(names, lc.License.Name)
			}
		}
		r.License = strings.Join(names, ", ")
	}
	return r
}

// deepCopy gives the ML-BOM its own copy of SBOM metadata, so later edits to one document do not
// show up in the other.
func deepCopy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mlbom: copy %T: %v", v, err)) // cyclonedx types always marshal
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		panic(fmt.Sprintf("mlbom: copy %T: %v", v, err))
	}
	return out
}
