package pkgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/anchore/syft/syft/file"
	"github.com/bmatcuk/doublestar/v4"
)

// ErrTooLarge marks a file from the image larger than bom-attest reads of its kind.
var ErrTooLarge = errors.New("too large")

// Files is read access to the squashed file system of one image. Paths are absolute and
// symbolic links are followed.
type Files interface {
	// Stat describes the file at path; fs.ErrNotExist when there is none (a directory counts
	// as none: only files are asked for).
	Stat(path string) (Info, error)
	// Open opens the regular file at path.
	Open(path string) (io.ReadCloser, error)
	// Glob lists the paths of the files matching a doublestar pattern (e.g. "/**/*.dist-info/METADATA").
	Glob(pattern string) ([]string, error)
	// Under lists the paths of the regular files below dir, at any depth, sorted.
	Under(ctx context.Context, dir string) ([]string, error)
}

// Info is what Stat tells about a file.
type Info struct {
	Mode fs.FileMode
	Size int64
	// Real is the path the file really is at, after symbolic links ("" when the same): paths
	// with one Real are one file, read once.
	Real string

	// loc is where ResolverFiles.Stat found the file, so OpenStat opens it without looking
	// the path up again (each lookup walks the squashed tree, symbolic links and all).
	loc *file.Location
}

// Regular reports whether the file is a regular file (not a device, FIFO or socket).
func (i Info) Regular() bool { return i.Mode.IsRegular() }

// ReadFile reads the regular file at path whole, refusing more than limit bytes.
func ReadFile(f Files, path string, limit int64) ([]byte, error) {
	rc, err := openRegular(f, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrTooLarge, limit)
	}
	return b, nil
}

// openRegular opens path when it is a regular file, so a device or FIFO in a hostile image is
// never read.
func openRegular(f Files, path string) (io.ReadCloser, error) {
	info, err := f.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Regular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return OpenStat(f, path, info)
}

// OpenStat opens the file at path that f.Stat(path) described as info: as f.Open(path) does,
// but without finding the path again when info says where the file is.
func OpenStat(f Files, path string, info Info) (io.ReadCloser, error) {
	if rf, ok := f.(*ResolverFiles); ok && info.loc != nil {
		return rf.openAt(path, *info.loc)
	}
	return f.Open(path)
}

// limitedReader fails, instead of ending early, when a stream is longer than its limit, so a
// truncated read is never taken for the whole file.
type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
	what  string
}

// LimitReader reads at most limit bytes of r and fails with ErrTooLarge, naming what, when r
// has more.
func LimitReader(r io.Reader, limit int64, what string) io.Reader {
	return newLimitedReader(r, limit, what)
}

func newLimitedReader(r io.Reader, limit int64, what string) *limitedReader {
	return &limitedReader{r: r, left: limit, limit: limit, what: what}
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(l.r, one[:]); n > 0 {
			return 0, fmt.Errorf("%s: %w: larger than %d bytes", l.what, ErrTooLarge, l.limit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// MapFiles is Files over an in-memory map from path to content, every file regular with mode
// 0644 unless Modes says otherwise. It serves tests and small fixtures.
type MapFiles struct {
	Data  map[string][]byte
	Modes map[string]fs.FileMode
}

// Stat implements Files.
func (m MapFiles) Stat(path string) (Info, error) {
	b, ok := m.Data[path]
	if !ok {
		return Info{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	mode, ok := m.Modes[path]
	if !ok {
		mode = 0o644
	}
	return Info{Mode: mode, Size: int64(len(b))}, nil
}

// Open implements Files.
func (m MapFiles) Open(path string) (io.ReadCloser, error) {
	b, ok := m.Data[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// Glob implements Files.
func (m MapFiles) Glob(pattern string) ([]string, error) {
	var out []string
	for p := range m.Data {
		if ok, err := doublestar.Match(pattern, p); err != nil {
			return nil, err
		} else if ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Under implements Files.
func (m MapFiles) Under(_ context.Context, dir string) ([]string, error) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for p := range m.Data {
		if strings.HasPrefix(p, prefix) {
			if mode, ok := m.Modes[p]; !ok || mode.IsRegular() {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
