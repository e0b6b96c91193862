package hashes

import (
	"context"
	"sort"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// Kind says where a hash comes from.
type Kind string

const (
	// KindRecorded is the deployable form's hash as the image records it.
	KindRecorded Kind = "recorded"
	// KindResolved is the deployable form's hash as its registry gives it.
	KindResolved Kind = "resolved"
	// KindInstalledFiles is the digest of the component's files as they are in the image.
	KindInstalledFiles Kind = "installed-files"
)

// Artifact is a component's deployable form: the file it was distributed as.
type Artifact struct {
	Kind      Kind
	From      string // where the hash was read: "apt lists", "direct_url.json", "PyPI", "Debian archive"
	URL       string // where the file is distributed; "" when not known
	Filename  string // the file's own name, e.g. libc6_2.36-9+deb12u10_amd64.deb
	SHA256    string // hex
	SHA512    string // hex, "" unless the index records it or the file was downloaded
	Size      int64  // bytes, 0 when not known
	SourceURL string // the source distribution (Debian .dsc, Python sdist), "" when not known
	// Via names the Debian package whose .deb delivered a Python or npm component, "" when the
	// artifact is the component's own.
	Via string
}

// Installed is the digest of a component's files as they are in the image.
type Installed struct {
	// SHA256 is the SHA-256 of the manifest "<sha256 of the file>  <path>\n" over the
	// component's regular files sorted by path (the format sha256sum prints), so anyone can
	// recompute it from the image.
	SHA256 string
	Files  int
	// Missing counts paths the package database lists that the image does not hold (removed
	// by a later layer).
	Missing int
	// Executable is true when one of the files is an ELF file or has an execute bit.
	Executable bool
}

// Component is what this package needs to know about an SBOM component.
type Component struct {
	Ref      string // bom-ref
	PURL     string
	Location string // a path Syft found the package at (its METADATA, package.json), "" unknown
}

// Result is what was found for one component.
type Result struct {
	// Record is what the image records about the component (pkgdb.Image.Find), so later
	// stages need not match it again.
	Record    pkgdb.Record
	Artifact  *Artifact
	Installed *Installed
	// NoArtifact and NoInstalled say why either is missing, in a sentence naming what the user
	// can do about it.
	NoArtifact, NoInstalled string
}

// Options tune Compute.
type Options struct {
	// Resolver looks up what the image does not record; nil keeps Compute off the network.
	Resolver *Resolver
	// Examine also looks at the files of components that have an artifact, for
	// Installed.Executable (BSI's executable property), without a digest.
	Examine bool
	// Workers hash files in parallel; 0 means one per CPU.
	Workers int
}

// Stats counts what Compute did, for the log and the report.
type Stats struct {
	Components int
	ByKind     map[Kind]int
	Files      int   // files hashed
	Bytes      int64 // bytes hashed
	Failures   []Failure
}

// Failure is one lookup or download that did not succeed; never fatal.
type Failure struct {
	Component string // name@version
	What      string
}

func (f Failure) String() string { return f.Component + ": " + f.What }

// target is a component matched to what the image records about it.
type target struct {
	c   Component
	rec pkgdb.Record
	res *Result
}

func (t *target) label() string { return t.rec.Name + "@" + t.rec.Version }

// Compute gives each component of comps the hashes the image and, with a Resolver, its
// registry allow. Only a cancelled ctx is an error.
func Compute(ctx context.Context, im *pkgdb.Image, comps []Component, o Options) (map[string]*Result, Stats, error) {
	st := Stats{ByKind: map[Kind]int{}}
	targets := match(ctx, im, comps)
	recorded(im, targets)
	if o.Resolver != nil {
		fails, err := o.Resolver.resolve(ctx, im, targets)
		if err != nil {
			return nil, st, err
		}
		st.Failures = append(st.Failures, fails...)
	}
	files, bytes, err := installed(ctx, im, targets, o)
	if err != nil {
		return nil, st, err
	}
	st.Files, st.Bytes = files, bytes
	out := make(map[string]*Result, len(targets))
	for _, t := range targets {
		out[t.c.Ref] = t.res
		st.Components++
		switch {
		case t.res.Artifact != nil:
			st.ByKind[t.res.Artifact.Kind]++
		case t.res.Installed != nil:
			st.ByKind[KindInstalledFiles]++
		}
	}
	sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].String() < st.Failures[j].String() })
	return out, st, nil
}

// match finds, for each component of a type bom-attest knows (deb, pypi, npm), the records the
// image keeps about it.
func match(ctx context.Context, im *pkgdb.Image, comps []Component) []*target {
	var out []*target
	for _, c := range comps {
		rec, ok := im.Find(ctx, c.PURL, c.Location)
		if !ok {
			continue
		}
		t := &target{c: c, rec: rec, res: &Result{Record: rec}}
		switch {
		case rec.Type == "deb" && rec.Deb < 0:
			t.res.NoArtifact = "not in the image's dpkg database"
			t.res.NoInstalled = t.res.NoArtifact
		case rec.Type == "pypi" && rec.Dist == nil:
			t.res.NoInstalled = "its dist-info directory was not found (or several match and the SBOM does not say which)"
		case rec.Type == "npm" && rec.NpmDir == "":
			t.res.NoInstalled = "the SBOM does not say where its package.json is"
		}
		out = append(out, t)
	}
	return out
}
