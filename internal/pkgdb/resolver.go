package pkgdb

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"

	stfile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/syft/syft/file"
)

// ResolverFiles is Files over a Syft file resolver: the image as Syft's catalogers saw it, read
// from the layers already unpacked for the scan.
type ResolverFiles struct {
	r file.Resolver

	once  sync.Once
	all   []string // every regular file's path, sorted; built on the first Under
	allEr error
}

// FromResolver wraps r (the squashed scope of an image source).
func FromResolver(r file.Resolver) *ResolverFiles { return &ResolverFiles{r: r} }

func (f *ResolverFiles) locate(path string) (file.Location, error) {
	locs, err := f.r.FilesByPath(path)
	if err != nil {
		return file.Location{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(locs) == 0 {
		return file.Location{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return locs[0], nil
}

// Stat implements Files.
func (f *ResolverFiles) Stat(path string) (Info, error) {
	loc, err := f.locate(path)
	if err != nil {
		return Info{}, err
	}
	md, err := f.r.FileMetadataByLocation(loc)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	var mode fs.FileMode
	if md.FileInfo != nil {
		mode = md.Mode()
	}
	if md.Type != stfile.TypeRegular {
		// The resolver follows links; anything else (a device, a FIFO) is not a regular file
		// whatever its mode says.
		mode = mode&fs.ModePerm | fs.ModeIrregular
	}
	var size int64
	if md.FileInfo != nil {
		size = md.Size()
	}
	info := Info{Mode: mode, Size: size, loc: &loc}
	if loc.RealPath != path {
		info.Real = loc.RealPath
	}
	return info, nil
}

// Open implements Files.
func (f *ResolverFiles) Open(path string) (io.ReadCloser, error) {
	loc, err := f.locate(path)
	if err != nil {
		return nil, err
	}
	return f.openAt(path, loc)
}

// openAt opens the file found at loc for path.
func (f *ResolverFiles) openAt(path string, loc file.Location) (io.ReadCloser, error) {
	rc, err := f.r.FileContentsByLocation(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rc, nil
}

// Glob implements Files.
func (f *ResolverFiles) Glob(pattern string) ([]string, error) {
	locs, err := f.r.FilesByGlob(pattern)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range locs {
		p := l.RealPath
		if l.AccessPath != "" {
			p = l.AccessPath
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Under implements Files. The first call lists the image's files once; later calls are binary
// searches of that list, so asking for the files of thousands of packages costs one walk.
func (f *ResolverFiles) Under(ctx context.Context, dir string) ([]string, error) {
	f.once.Do(func() { f.all, f.allEr = f.list(ctx) })
	if f.allEr != nil {
		return nil, f.allEr
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	i := sort.SearchStrings(f.all, prefix)
	var out []string
	for ; i < len(f.all) && strings.HasPrefix(f.all[i], prefix); i++ {
		out = append(out, f.all[i])
	}
	return out, nil
}

func (f *ResolverFiles) list(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []string
	for l := range f.r.AllLocations(ctx) {
		md, err := f.r.FileMetadataByLocation(l)
		if err != nil || md.Type != stfile.TypeRegular {
			continue
		}
		out = append(out, l.RealPath)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
