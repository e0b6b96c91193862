package pkgdb

import (
	"context"
	"strings"

	"github.com/anchore/packageurl-go"
)

// Record is what the image records about one SBOM component, found by its package URL.
type Record struct {
	Type    string // purl type: deb, pypi, npm
	Name    string // for npm, with its scope: @types/node
	Version string
	Arch    string // deb
	Distro  string // deb: the purl's namespace (debian, ubuntu)
	// Deb is the component's own index in Dpkg.Packages (-1 for none); Owner, for a Python or
	// npm component, the index of the .deb that installed it (-1 for none).
	Deb, Owner int
	Dist       *PythonDist // pypi
	NpmDir     string      // npm: the directory of its package.json
}

// Debian is the dpkg package of the record (its own, or the one that installed it); nil when
// neither.
func (r Record) Debian(im *Image) *DebPackage {
	switch {
	case im.Dpkg == nil:
		return nil
	case r.Deb >= 0:
		return &im.Dpkg.Packages[r.Deb]
	case r.Owner >= 0:
		return &im.Dpkg.Packages[r.Owner]
	}
	return nil
}

// Find matches a component (its package URL, and the path Syft found it at, "" when unknown)
// to what the image records. ok is false for a package type bom-attest does not read (only deb,
// pypi and npm); a record of a known type may still have found nothing (Deb < 0, Dist nil).
func (im *Image) Find(ctx context.Context, purl, location string) (Record, bool) {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return Record{}, false
	}
	im.indexOnce.Do(im.index)
	r := Record{Type: p.Type, Name: p.Name, Version: p.Version, Deb: -1, Owner: -1}
	switch p.Type {
	case packageurl.TypeDebian:
		r.Distro, r.Arch = p.Namespace, p.Qualifiers.Map()["arch"]
		if i, ok := im.debs[DebKey{Name: p.Name, Version: p.Version, Arch: r.Arch}]; ok {
			r.Deb = i
		}
	case packageurl.TypePyPi:
		if d := im.distsAt[distDir(location)]; d != nil {
			r.Dist = d
		} else if ds := im.distsByName[NormalizeName(p.Name)+"@"+p.Version]; len(ds) == 1 {
			r.Dist = ds[0]
		}
		if r.Dist != nil {
			meta := r.Dist.Dir + "/METADATA"
			if r.Dist.EggInfo {
				meta = r.Dist.Dir + "/PKG-INFO"
			}
			if o, ok := im.Owner(ctx, meta); ok {
				r.Owner = o
			}
		}
	case packageurl.TypeNPM:
		if p.Namespace != "" {
			r.Name = p.Namespace + "/" + p.Name
		}
		if dir, ok := strings.CutSuffix(location, "/package.json"); ok {
			r.NpmDir = dir
			if o, ok := im.Owner(ctx, location); ok {
				r.Owner = o
			}
		}
	default:
		return Record{}, false
	}
	return r, true
}

func (im *Image) index() {
	im.debs = map[DebKey]int{}
	if im.Dpkg != nil {
		for i, p := range im.Dpkg.Packages {
			im.debs[DebKey{Name: p.Name, Version: p.Version, Arch: p.Arch}] = i
		}
	}
	im.distsAt, im.distsByName = map[string]*PythonDist{}, map[string][]*PythonDist{}
	for _, d := range im.Python {
		im.distsAt[d.Dir] = d
		k := NormalizeName(d.Name) + "@" + d.Version
		im.distsByName[k] = append(im.distsByName[k], d)
	}
}

// distDir is the dist-info directory of a path Syft recorded for a Python package.
func distDir(location string) string {
	for _, suffix := range []string{"/METADATA", "/PKG-INFO", "/RECORD", "/top_level.txt"} {
		if d, ok := strings.CutSuffix(location, suffix); ok {
			return d
		}
	}
	return ""
}
