package blob

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

const (
	// MaxManifestBytes is what registries accept for a manifest or index (distribution's limit).
	MaxManifestBytes = 4 << 20
	// MaxConfigBytes bounds an image config; real ones are kilobytes, a long history a few hundred.
	MaxConfigBytes = 8 << 20
)

// An image archive holds a few entries per blob or layer, under short paths (blobs/sha256/<hex>,
// <id>/layer.tar); go-containerregistry rereads a docker archive once per layer.
const (
	maxArchiveEntries = 10_000
	maxArchiveName    = 256
	maxArchiveDepth   = 8
)

// Untar unpacks an OCI archive into dir. It writes only directories and regular files, only
// below dir, and no more bytes than the archive itself holds (sparse entries cannot expand).
func Untar(ctx context.Context, r io.Reader, size int64, dir string) error {
	return untar(ctx, r, size, dir, maxArchiveEntries)
}

func untar(ctx context.Context, r io.Reader, size int64, dir string, maxEntries int) error {
	// Every write goes through an os.Root: even a name the checks below missed cannot leave dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	left := size
	made := map[string]bool{}
	return eachEntry(localfile.Reader(ctx, r), maxEntries, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag == tar.TypeXGlobalHeader {
			return nil
		}
		rel, err := archivePath(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			return mkdirs(root, rel, made)
		case tar.TypeReg:
			if h.Size > left {
				return fmt.Errorf("%w: entry %s claims %d bytes, more than the archive holds", ErrBadArchive, Quote(h.Name), h.Size)
			}
			left -= h.Size
			if err := mkdirs(root, path.Dir(rel), made); err != nil {
				return err
			}
			return writeEntry(root, rel, r)
		default:
			return fmt.Errorf("%w: entry %s is of type %q; an OCI archive holds only files and directories", ErrBadArchive, Quote(h.Name), h.Typeflag)
		}
	})
}

// archivePath is an entry name as a path inside the archive's directory, or an error for a name
// that would reach outside it.
func archivePath(n string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(n, "./"))
	switch {
	case n == "" || strings.HasPrefix(n, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(n, 0) || strings.Contains(n, `\`):
		return "", fmt.Errorf("%w: entry %s is not a path inside the archive", ErrBadArchive, Quote(n))
	case len(n) > maxArchiveName || strings.Count(clean, "/") >= maxArchiveDepth:
		return "", fmt.Errorf("%w: entry %s is a longer path than an image archive has", ErrBadArchive, Quote(n))
	}
	return clean, nil
}

// mkdirs makes dir and its parents under root, once.
func mkdirs(root *os.Root, dir string, made map[string]bool) error {
	if made[dir] || dir == "." {
		return nil
	}
	if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
		return err
	}
	made[dir] = true
	return nil
}

func writeEntry(root *os.Root, name string, r io.Reader) error {
	// O_EXCL: a name given twice is refused rather than rewritten.
	out, err := root.OpenFile(filepath.FromSlash(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s appears twice", ErrBadArchive, Quote(name))
		}
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// DockerArchive is a `docker save` tarball held open, so every read sees the file that was
// checked, however often go-containerregistry reopens it.
type DockerArchive struct {
	Manifest tarball.Manifest // its manifest.json, of at least one image
	f        *os.File
	size     int64
	ctx      context.Context
}

// sectionReader is one pass over the archive. It seeks (tar skips entries without reading
// them) and stops when the resolve's context is done.
type sectionReader struct {
	*io.SectionReader
	ctx context.Context
}

func (s sectionReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.SectionReader.Read(p)
}

func (sectionReader) Close() error { return nil }

// Open is a tarball.Opener: one pass over the archive.
func (a *DockerArchive) Open() (io.ReadCloser, error) {
	return sectionReader{SectionReader: io.NewSectionReader(a.f, 0, a.size), ctx: a.ctx}, nil
}

func (a *DockerArchive) Close() error { return a.f.Close() }

// OpenDockerArchive opens a docker archive and checks what go-containerregistry would read
// whole: manifest.json and the config it names must be small, and no entry may be sparse.
// Reads of it stop when ctx is done.
func OpenDockerArchive(ctx context.Context, p string) (*DockerArchive, error) {
	f, st, err := localfile.Open(p)
	if err != nil {
		return nil, err
	}
	a := &DockerArchive{f: f, size: st.Size(), ctx: ctx}
	if a.Manifest, err = a.check(maxArchiveEntries); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func (a *DockerArchive) check(maxEntries int) (tarball.Manifest, error) {
	var m tarball.Manifest
	err := a.walk(maxEntries, func(h *tar.Header, r io.Reader) error {
		if path.Clean(h.Name) != "manifest.json" || m != nil {
			return nil
		}
		if h.Size > MaxManifestBytes {
			return fmt.Errorf("%w: manifest.json has %d bytes, more than %d", ErrLimit, h.Size, MaxManifestBytes)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest.json: %w", err)
		}
		if m == nil {
			m = tarball.Manifest{}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no image", ErrBadArchive)
	}
	// go-containerregistry reads the config whole, following links inside the archive.
	cfg := path.Clean(m[0].Config)
	for hops := 0; ; hops++ {
		var found *tar.Header
		err := a.walk(maxEntries, func(h *tar.Header, _ io.Reader) error {
			if found == nil && path.Clean(h.Name) == cfg {
				found = h
			}
			return nil
		})
		switch {
		case err != nil:
			return nil, err
		case found == nil:
			return nil, fmt.Errorf("config %s not in the archive", Quote(cfg))
		case found.Typeflag == tar.TypeSymlink || found.Typeflag == tar.TypeLink:
			if hops == 8 {
				return nil, fmt.Errorf("%w: config %s is a chain of links", ErrBadArchive, Quote(m[0].Config))
			}
			cfg = path.Join(path.Dir(cfg), path.Clean(found.Linkname))
		case found.Size > MaxConfigBytes:
			return nil, fmt.Errorf("%w: config %s has %d bytes, more than %d", ErrLimit, Quote(m[0].Config), found.Size, MaxConfigBytes)
		default:
			return m, nil
		}
	}
}

// walk visits every entry of the archive, refusing sparse entries, which expand beyond the
// bytes the archive holds.
func (a *DockerArchive) walk(maxEntries int, visit func(*tar.Header, io.Reader) error) error {
	rc, _ := a.Open()
	return eachEntry(rc, maxEntries, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag == tar.TypeGNUSparse || hasSparseRecords(h) {
			return fmt.Errorf("%w: entry %s is sparse", ErrBadArchive, Quote(h.Name))
		}
		return visit(h, r)
	})
}

// eachEntry calls visit with each entry of an archive and its content, refusing more than
// maxEntries of them.
func eachEntry(r io.Reader, maxEntries int, visit func(*tar.Header, io.Reader) error) error {
	tr := tar.NewReader(r)
	for entries := 1; ; entries++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if entries > maxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrBadArchive, maxEntries)
		}
		if err := visit(h, tr); err != nil {
			return err
		}
	}
}

func hasSparseRecords(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
