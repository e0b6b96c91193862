package blob

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"path"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
)

// unitsPerEntry: entries are counted in eighths, to weigh the layers above and long names.
const unitsPerEntry = 8

// Budget is what the layers of one image may spend and have spent: the uncompressed bytes
// (max-image-bytes), which stereoscope writes to the temporary directory, and the file entries
// (max-image-entries) stereoscope and Syft will hold, about 4 KB each. Layers are read
// concurrently.
type Budget struct {
	maxBytes, maxEntries int64
	bytes, units         atomic.Int64
	disk                 string // the temporary directory, when its free space bounds the bytes
	diskFree, diskBytes  int64
}

// NewBudget is a budget of maxBytes uncompressed bytes and maxEntries entries.
func NewBudget(maxBytes, maxEntries int64) *Budget {
	return &Budget{maxBytes: maxBytes, maxEntries: maxEntries}
}

// LimitDisk bounds the bytes also by the free space of dir, where the layers are unpacked:
// reading stops while a tenth of it, at most 1 GiB, is left, rather than when the disk is full
// and later steps of the job fail too.
func (b *Budget) LimitDisk(dir string, free int64) {
	b.disk, b.diskFree, b.diskBytes = dir, free, free-min(free/10, 1<<30)
}

func (b *Budget) addBytes(n int64) error {
	total := b.bytes.Add(n)
	if total > b.maxBytes {
		return fmt.Errorf("%w: the image's layers expand to more than %d bytes; raise max-image-bytes to read it", ErrLimit, b.maxBytes)
	}
	if b.disk != "" && total > b.diskBytes {
		return fmt.Errorf("%w: the image's layers expand to more than the %d bytes %s can take (%d were free); free space there, or set TMPDIR to a larger disk", ErrLimit, b.diskBytes, b.disk, b.diskFree)
	}
	return nil
}

func (b *Budget) addEntry(units int64) error {
	if b.units.Add(units) > b.maxEntries*unitsPerEntry {
		return fmt.Errorf("%w: the image's layers hold more than %d file entries (one under many layers, with long names or with parent directories the layer does not list counts as more); raise max-image-entries to read it", ErrLimit, b.maxEntries)
	}
	return nil
}

// layerCost charges the entries of one layer's tar stream as stereoscope will hold them: one
// entry each, an eighth more per layer above (each keeps a merged copy of the tree), an eighth
// more per 128 bytes of names and PAX records (kept in the file index), and the same again
// for every parent directory the layer has not named yet, which stereoscope adds as a node
// named by its full path: a deep path is thousands of nodes.
type layerCost struct {
	above int
	seed  maphash.Seed
	dirs  map[uint64]struct{} // the layer's directories so far, by hash of their path
}

func newLayerCost(above int) *layerCost {
	return &layerCost{above: above, seed: maphash.MakeSeed(), dirs: map[uint64]struct{}{}}
}

func (c *layerCost) units(h *tar.Header) int64 {
	meta := len(h.Name) + len(h.Linkname) + len(h.Uname) + len(h.Gname)
	for k, v := range h.PAXRecords {
		meta += len(k) + len(v)
	}
	units := unitsPerEntry + int64(c.above) + int64(meta/128)
	// One pass over the path, hashing each parent as it ends: a path of a megabyte costs
	// a megabyte of hashing, not a megabyte per parent.
	p := path.Clean("/" + h.Name)
	var hh maphash.Hash
	hh.SetSeed(c.seed)
	from := 0
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if i == len(p) && h.Typeflag != tar.TypeDir {
			break
		}
		hh.WriteString(p[from:i])
		from = i
		k := hh.Sum64()
		if _, seen := c.dirs[k]; seen {
			continue
		}
		c.dirs[k] = struct{}{}
		if i < len(p) {
			units += unitsPerEntry + int64(c.above) + int64(i/128)
		}
	}
	return units
}

// Layer is a layer stream to read and what to check it against.
type Layer struct {
	Open       func() (io.ReadCloser, error)
	Compressed bool    // Open gives the blob as stored (gzip, zstd or plain tar)
	DiffID     v1.Hash // what the tar stream must hash to
	Above      int     // layers above this one in the image
	What       string  // names the layer in errors
}

// Open is l's tar stream. A read fails, naming the layer, when the stream does not hash to the
// diff_id, breaks the budget, is not a tar stream, or ctx is done: a layer that breaks the
// budget fails as it does so, before stereoscope has unpacked or indexed the rest of it.
func (b *Budget) Open(ctx context.Context, l Layer) (io.ReadCloser, error) {
	src, err := openCtx(ctx, l.Open)
	if err != nil {
		return nil, Named(l.What, err)
	}
	var rc io.ReadCloser = newAsyncReader(ctx, src)
	if l.Compressed {
		if rc, err = Decompress(rc); err != nil {
			return nil, Named(l.What, err)
		}
	}
	h, err := v1.Hasher(l.DiffID.Algorithm)
	if err != nil {
		rc.Close()
		return nil, Named(l.What, fmt.Errorf("diff_id %s: %w", l.DiffID, err))
	}
	pr, pw := io.Pipe()
	r := &layerReader{l: l, b: b, src: rc, h: h, pw: pw, counted: make(chan error, 1),
		tee: make(chan []byte, teeDepth), free: make(chan []byte, teeDepth+1), teeDone: make(chan error, 1), teeFailed: make(chan error, 1)}
	go r.countEntries(pr)
	go r.teeLoop()
	return r, nil
}

// teeDepth is how many chunks of the stream the hash and the entry count may be behind the
// reader.
const teeDepth = 8

// layerReader passes a layer's tar stream through. A goroutine of its own hashes what passed and
// hands it to countEntries, so that work runs beside the decompression (and stereoscope's write
// of the stream) instead of in turn with it: on a large layer the read is the longest serial
// step of a run. Its verdict is in before the end of the stream is passed on.
type layerReader struct {
	l       Layer
	b       *Budget
	src     io.ReadCloser
	h       hash.Hash
	pw      *io.PipeWriter
	counted chan error
	err     error
	eof     bool

	tee       chan []byte // chunks for teeLoop, in order
	free      chan []byte // chunks teeLoop is done with
	teeClosed bool
	teeDone   chan error // teeLoop's end: nil, or why the stream fails
	teeFailed chan error // the first failure, as soon as teeLoop sees it
}

func (r *layerReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.eof {
		return 0, io.EOF
	}
	select {
	case e := <-r.teeFailed:
		// The entry count broke the budget or found no tar stream: stop now, not at the end.
		return 0, r.fail(e)
	default:
	}
	n, err := r.src.Read(p)
	if n > 0 {
		if e := r.b.addBytes(int64(n)); e != nil {
			return 0, r.fail(e)
		}
		var buf []byte
		select {
		case buf = <-r.free:
		default:
		}
		if cap(buf) < n {
			buf = make([]byte, max(n, 32<<10))
		}
		r.tee <- append(buf[:0], p[:n]...)
	}
	switch {
	case err == io.EOF:
		r.closeTee()
		if e := <-r.teeDone; e != nil {
			return 0, r.fail(e)
		}
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.l.DiffID.Hex {
			return 0, r.fail(fmt.Errorf("%w: its content hashes to %s:%s, its diff_id is %s", ErrDigest, r.l.DiffID.Algorithm, got, r.l.DiffID))
		}
		r.eof = true
	case err != nil:
		return n, r.fail(err)
	}
	return n, err
}

// teeLoop hashes each chunk and passes it to countEntries, in order, until the reader closes
// tee; then it waits for the count. After a failure it only takes the chunks back, so the
// reader never blocks on it.
func (r *layerReader) teeLoop() {
	var failed error
	for buf := range r.tee {
		if failed == nil {
			r.h.Write(buf)
			if _, err := r.pw.Write(buf); err != nil {
				failed = err
				r.teeFailed <- err
			}
		}
		select {
		case r.free <- buf:
		default:
		}
	}
	if failed == nil {
		r.pw.Close()
		failed = <-r.counted
	}
	r.teeDone <- failed
}

func (r *layerReader) closeTee() {
	if !r.teeClosed {
		r.teeClosed = true
		close(r.tee)
	}
}

func (r *layerReader) fail(err error) error {
	r.err = Named(r.l.What, err)
	r.pw.CloseWithError(r.err)
	r.closeTee()
	return r.err
}

func (r *layerReader) Close() error {
	if !r.eof && r.err == nil {
		r.pw.CloseWithError(errors.New("layer closed before its end"))
	}
	r.closeTee()
	return r.src.Close()
}

// countEntries reads the tar headers of a layer as the stream passes, charging each entry to
// the budget, so a layer of a million empty files fails at the limit instead of after
// stereoscope has indexed all of it.
func (r *layerReader) countEntries(pr *io.PipeReader) {
	tr := tar.NewReader(pr)
	cost := newLayerCost(r.l.Above)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = r.b.addEntry(cost.units(h))
		} else {
			err = fmt.Errorf("not a tar stream: %w", err)
		}
		if err != nil {
			pr.CloseWithError(err)
			r.counted <- err
			return
		}
	}
	// What follows the end-of-archive marker is padding; drain it so the writer never blocks.
	_, err := io.Copy(io.Discard, pr)
	r.counted <- err
}

// openCtx opens a layer stream, giving up when ctx is done: opening a registry layer waits for
// the registry to answer.
func openCtx(ctx context.Context, open func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	type opened struct {
		rc  io.ReadCloser
		err error
	}
	res := make(chan opened, 1)
	go func() {
		rc, err := open()
		res <- opened{rc, err}
	}()
	select {
	case o := <-res:
		return o.rc, o.err
	case <-ctx.Done():
		go func() {
			if o := <-res; o.err == nil {
				o.rc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// asyncReader makes reads from a source that may block (a stalled registry, a reader that
// never returns) stop when ctx is done. The read in flight finishes into a buffer of its own,
// which nothing reads after a cancellation.
type asyncReader struct {
	ctx context.Context
	rc  io.ReadCloser
	buf []byte
	res chan readResult
	err error
}

type readResult struct {
	n   int
	err error
}

func newAsyncReader(ctx context.Context, rc io.ReadCloser) *asyncReader {
	return &asyncReader{ctx: ctx, rc: rc, buf: make([]byte, 64<<10), res: make(chan readResult, 1)}
}

func (a *asyncReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if err := a.ctx.Err(); err != nil {
		a.err = err
		return 0, err
	}
	buf := a.buf[:min(len(p), len(a.buf))]
	go func() {
		n, err := a.rc.Read(buf)
		a.res <- readResult{n, err}
	}()
	select {
	case res := <-a.res:
		if res.err != nil && res.err != io.EOF && a.ctx.Err() != nil {
			// The source failed because the run was cancelled (an aborted request): say so.
			res.err = a.ctx.Err()
		}
		return copy(p, buf[:res.n]), res.err
	case <-a.ctx.Done():
		a.err = a.ctx.Err()
		return 0, a.err
	}
}

func (a *asyncReader) Close() error { return a.rc.Close() }

// maxZstdWindow refuses zstd frames that ask for a larger window than any compressor's long
// mode uses, which the decoder would otherwise allocate.
const maxZstdWindow = 128 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress turns a layer blob into its tar stream, by its magic number as container runtimes
// do (media types lie: "compressed" layers are often not). At the end of the tar stream the
// blob is read to its own end, where its digest is checked.
func Decompress(rc io.ReadCloser) (io.ReadCloser, error) {
	br := bufio.NewReader(rc)
	magic, _ := br.Peek(4)
	d := &decompressed{src: br, c: rc}
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, err
		}
		d.r, d.close = zr, zr.Close
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			rc.Close()
			return nil, err
		}
		d.r, d.close = zr, func() error { zr.Close(); return nil }
	default:
		d.r = br
	}
	return d, nil
}

type decompressed struct {
	r     io.Reader
	src   io.Reader
	c     io.Closer
	close func() error
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == io.EOF && d.src != nil {
		if _, derr := io.Copy(io.Discard, d.src); derr != nil {
			return n, derr
		}
		d.src = nil
	}
	return n, err
}

func (d *decompressed) Close() error {
	var err error
	if d.close != nil {
		err = d.close()
	}
	return errors.Join(err, d.c.Close())
}
