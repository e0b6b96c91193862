package fileindex

import (
	"context"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/becheran/wildmatch-go"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
)

// Source returns src with its squashed-scope resolver indexed (see Resolver); everything else,
// including the source's identity and description, is src's own, so the SBOM is the same.
func Source(src source.Source) source.Source {
	return indexedSource{src}
}

type indexedSource struct{ source.Source }

func (s indexedSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	r, err := s.Source.FileResolver(scope)
	if err != nil || scope != source.SquashedScope {
		return r, err
	}
	if _, ok := r.(file.OCIMediaTypeResolver); ok {
		// Catalogers look for this optional interface; a wrapper would hide it.
		return r, nil
	}
	return NewResolver(r), nil
}

// Resolver is a file.Resolver for one squashed image tree that answers FilesByGlob patterns of
// the form DIR/BASENAME-GLOB (a literal directory, a basename with * or ? after a literal
// prefix) from an index of the tree's basenames. It finds what the resolver it wraps finds for
// such a pattern: a path DIR/B, for each basename B in the tree that the glob matches, resolved
// by the wrapped resolver's FilesByPath exactly as its FilesByGlob resolves each hit, in the
// same order (paths that are not reached through a link first, each group by path) and with
// the same de-duplication. Other patterns and every other method go to the wrapped resolver.
type Resolver struct {
	file.Resolver

	once     sync.Once
	names    []string            // sorted, unique basenames of every path in the tree
	children map[string][]string // real directory -> sorted, unique basenames in it
}

// NewResolver indexes r lazily: the tree is read on the first pattern that needs it.
func NewResolver(r file.Resolver) *Resolver {
	return &Resolver{Resolver: r}
}

// FilesByGlob answers each pattern from the index when it can, else from the wrapped resolver,
// and merges the answers as the wrapped resolver merges its own: in pattern order, each file once.
func (r *Resolver) FilesByGlob(patterns ...string) ([]file.Location, error) {
	out := make([]file.Location, 0)
	seen := map[uint64]bool{}
	for _, p := range patterns {
		locs, err := r.filesByGlob(p)
		if err != nil {
			return nil, err
		}
		for _, l := range locs {
			ref := l.Reference()
			id := uint64(ref.ID())
			if !seen[id] {
				seen[id] = true
				out = append(out, l)
			}
		}
	}
	return out, nil
}

func (r *Resolver) filesByGlob(pattern string) ([]file.Location, error) {
	if dir, base, ok := basenameGlob(pattern); ok {
		r.once.Do(r.index)
		prefix := base[:strings.IndexAny(base, "*?")]
		lo := sort.SearchStrings(r.names, prefix)
		hi := lo
		for hi < len(r.names) && strings.HasPrefix(r.names[hi], prefix) {
			hi++
		}
		return r.lookUp(pattern, dir, r.names[lo:hi], wildmatch.NewWildMatch(base).IsMatch)
	}
	if dir, ok := dirGlob(pattern); ok {
		// DIR/* (Syft's search for licence files next to a package's manifest): stereoscope
		// matches every basename in the image against *, then their directories against DIR.
		// A directory that is its own real path holds every name DIR/B can resolve through.
		r.once.Do(r.index)
		if names, ok := r.children[dir]; ok {
			return r.lookUp(pattern, dir, names, func(string) bool { return true })
		}
		// Not a real directory (reached through a link) or none at all: the wrapped resolver
		// knows what a link on the way means.
	}
	return r.Resolver.FilesByGlob(pattern)
}

// lookUp is what a glob of dir and a basename finds: dir/name for each of names (sorted) that
// match accepts, resolved as stereoscope resolves each hit of its own search.
func (r *Resolver) lookUp(pattern, dir string, names []string, match func(string) bool) ([]file.Location, error) {
	var direct, linked []file.Location
	for _, name := range names {
		if !match(name) {
			continue
		}
		if strings.ContainsAny(name, "*?[]{}\\") {
			// Not a literal path to look up: leave the pattern to the wrapped resolver.
			return r.Resolver.FilesByGlob(pattern)
		}
		// stereoscope then checks the whole path against the pattern; with a literal directory
		// that is the basename check just made.
		locs, err := r.Resolver.FilesByPath(dir + "/" + name)
		if err != nil {
			return nil, err
		}
		for _, l := range locs {
			// stereoscope sorts what a glob finds: files at their own path first, then those
			// reached through a link, each group by the path asked for.
			if l.RealPath == l.AccessPath {
				direct = append(direct, l)
			} else {
				linked = append(linked, l)
			}
		}
	}
	return append(direct, linked...), nil
}

// index reads every path of the tree once: the basenames, and the names in each directory.
func (r *Resolver) index() {
	seen := map[string]bool{}
	r.children = map[string][]string{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for l := range r.Resolver.AllLocations(ctx) {
		dir, name := path.Split(l.RealPath)
		if name == "" || name == "." {
			continue
		}
		if !seen[name] {
			seen[name] = true
			r.names = append(r.names, name)
		}
		dir = strings.TrimSuffix(dir, "/")
		r.children[dir] = append(r.children[dir], name)
	}
	slices.Sort(r.names)
	for dir, names := range r.children {
		slices.Sort(names)
		r.children[dir] = slices.Compact(names)
	}
}

// dirGlob reports whether pattern is DIR/* for an absolute, clean, literal DIR other than the
// root, and returns DIR. (stereoscope's search finds nothing for /*: left to it.)
func dirGlob(pattern string) (string, bool) {
	dir, ok := strings.CutSuffix(pattern, "/*")
	if !ok || !strings.HasPrefix(dir, "/") || path.Clean(dir) != dir || strings.ContainsAny(dir, "*?[]{}\\") {
		return "", false
	}
	return dir, true
}

// basenameGlob splits a pattern the index can answer into its directory and basename glob:
// an absolute, clean, literal directory and a basename that stereoscope would look up with a
// basename glob — * or ? after a literal prefix, no classes, alternatives or escapes, not a
// bare extension ("*.py", which stereoscope answers from an index of its own) or all
// wildcards. A pattern that matches a name holding glob characters itself is left to the
// wrapped resolver too (see filesByGlob), so every path asked of FilesByPath is literal.
func basenameGlob(pattern string) (dir, base string, ok bool) {
	i := strings.LastIndex(pattern, "/")
	if i < 0 || !strings.HasPrefix(pattern, "/") {
		return "", "", false
	}
	dir, base = pattern[:i], pattern[i+1:]
	if strings.ContainsAny(dir, "*?[]{}\\") || (dir != "" && path.Clean(dir) != dir) {
		return "", "", false
	}
	if strings.ContainsAny(base, "[]{}\\") || strings.Contains(base, "**") || strings.TrimSpace(base) != base {
		return "", "", false
	}
	w := strings.IndexAny(base, "*?")
	if w <= 0 {
		// No wildcard (a path lookup), or none of the literal prefix the index is sorted by.
		return "", "", false
	}
	return dir, base, true
}
