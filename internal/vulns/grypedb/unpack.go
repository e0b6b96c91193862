package grypedb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	v6 "github.com/anchore/grype/grype/db/v6"
)

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// maxZstdWindow bounds the decoder's memory: Grype packs with `zstd -22 --ultra`, a 128 MiB
// window; an archive asking for more is refused rather than obeyed.
const maxZstdWindow = 256 << 20

// unpack extracts the database file of a Grype archive (tar.zst as Grype publishes it, or
// tar.gz) into dir. Only the regular file vulnerability.db at the top is taken; everything else
// in the archive is read past. Reading stops at limit bytes of unpacked data.
func unpack(ctx context.Context, archive, dir string, limit int64) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	var r io.Reader
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	default:
		return errors.New("not a zstd or gzip archive")
	}
	// One budget for the whole stream, headers and skipped members included.
	budget := &limitedReader{r: r, left: limit, limit: limit, ctx: ctx}
	tr := tar.NewReader(budget)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return budget.wrap(err)
		}
		if path.Clean("/"+h.Name) != "/"+v6.VulnerabilityDBFileName {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s is not a regular file in the archive", h.Name)
		}
		if found {
			return fmt.Errorf("%s appears twice in the archive", h.Name)
		}
		found = true
		if err := writeFile(filepath.Join(dir, v6.VulnerabilityDBFileName), tr, h.Size); err != nil {
			return budget.wrap(err)
		}
	}
	if !found {
		return fmt.Errorf("no %s in the archive", v6.VulnerabilityDBFileName)
	}
	return nil
}

func writeFile(name string, r io.Reader, size int64) error {
	out, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%s: got %d of %d bytes", filepath.Base(name), n, size)
	}
	return err
}

var errTooLarge = errors.New("unpacks to more bytes than allowed")

// limitedReader fails, rather than ending quietly, past its budget, and honours ctx: unpacking
// a large database takes long enough for a cancelled run to notice.
type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
	ctx   context.Context
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if l.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedReader) wrap(err error) error {
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("the archive unpacks to more than %d bytes", l.limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the archive ends early: %v", err)
	}
	return err
}
