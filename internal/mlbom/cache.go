package mlbom

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	stfile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/syft/syft/file"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/modelfile"
)

// HashCache remembers what reading each weight file gave — size, digests and header — by the
// layer it comes from and its path in that layer, so a run reads a model once however many
// platforms share the layer that holds it. The zero value is ready to use, and it is safe for
// concurrent use.
type HashCache struct {
	mu    sync.Mutex
	files map[fileKey]*readResult
}

// fileKey names a file's content: a layer digest is the digest of the layer's bytes, so the
// same path in the same layer is the same file in every image that has the layer.
type fileKey struct{ layer, path string }

type readResult struct {
	size           int64
	sha256, sha512 string
	header         modelfile.Header
	perr           error
}

// read hashes the file at l and reads its header with read (nil: none), or returns what an
// earlier read of the same layer and path gave. err is a failure to read the image, which is
// not remembered; perr is a header that did not parse.
func (c *HashCache) read(ctx context.Context, r file.Resolver, l file.Location, read modelfile.Reader) (wf WeightFile, h modelfile.Header, perr, err error) {
	wf = WeightFile{Path: locPath(l), Layer: l.FileSystemID}
	// A directory source has no layer digest, and nothing to share between platforms.
	key := fileKey{layer: l.FileSystemID, path: l.RealPath}
	cacheable := c != nil && key.layer != ""
	if cacheable {
		c.mu.Lock()
		res := c.files[key]
		c.mu.Unlock()
		if res != nil {
			return res.fill(wf), res.header, res.perr, nil
		}
	}
	res, err := hashFile(ctx, r, l, read)
	if err != nil {
		return wf, nil, nil, err
	}
	if cacheable {
		c.mu.Lock()
		if c.files == nil {
			c.files = map[fileKey]*readResult{}
		}
		c.files[key] = res
		c.mu.Unlock()
	}
	return res.fill(wf), res.header, res.perr, nil
}

func (res *readResult) fill(wf WeightFile) WeightFile {
	wf.Size, wf.SHA256, wf.SHA512 = res.size, res.sha256, res.sha512
	return wf
}

// hashFile streams one file once through SHA-256 and SHA-512, letting read take its header from
// the same stream.
func hashFile(ctx context.Context, r file.Resolver, l file.Location, read modelfile.Reader) (*readResult, error) {
	p := locPath(l)
	rc, err := r.FileContentsByLocation(l)
	if err != nil {
		return nil, fmt.Errorf("mlbom: read %s: %w", p, err)
	}
	defer rc.Close()
	h256, h512 := sha256.New(), sha512.New()
	var n countWriter
	sink := io.MultiWriter(h256, h512, &n)
	src := localfile.Reader(ctx, rc)
	res := &readResult{}
	if read != nil {
		res.header, res.perr = read(io.TeeReader(src, sink), fileSize(r, l))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if _, err := io.Copy(sink, src); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, fmt.Errorf("mlbom: read %s: %w", p, err)
	}
	res.size = int64(n)
	res.sha256 = hex.EncodeToString(h256.Sum(nil))
	res.sha512 = hex.EncodeToString(h512.Sum(nil))
	return res, nil
}

// fileSize is the size the image records for the file at l, or -1 when it records none.
func fileSize(r file.Resolver, l file.Location) int64 {
	if md, err := r.FileMetadataByLocation(l); err == nil && md.Type == stfile.TypeRegular && md.FileInfo != nil {
		return md.Size()
	}
	return -1
}

type countWriter uint64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
