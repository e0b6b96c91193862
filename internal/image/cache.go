package image

import (
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerCache keeps, on disk, the blobs of registry layers that more than one target of a run
// reads — a base layer several images share — so each is pulled once. A blob is kept only when
// another target still to be read uses it, only once it was read whole and is the content its
// digest and size name, and only while the blobs kept stay within the bytes the cache was made
// with (max-image-bytes: what one image may cost); a blob no target still needs is removed at
// once, and Close removes the rest. What is read from the cache goes through Open's checks as
// a pulled layer does: its diff_id, the image's limits.
type LayerCache struct {
	max int64

	mu      sync.Mutex
	dir     string            // made at the first blob kept
	pending map[v1.Hash]int   // reads of each blob still to come, one per layer of a target
	kept    map[v1.Hash]int64 // blobs on disk, and their sizes
	filling map[v1.Hash]bool  // blobs being written
	size    int64             // bytes kept or being written
	reused  int               // layers read from disk
	saved   int64             // their bytes
}

// NewLayerCache is a cache for the layers of targets, to be read in turn with Open, keeping
// at most maxBytes of blobs at a time.
func NewLayerCache(maxBytes int64, targets ...Target) *LayerCache {
	c := &LayerCache{max: maxBytes, pending: map[v1.Hash]int{}, kept: map[v1.Hash]int64{}, filling: map[v1.Hash]bool{}}
	for _, t := range targets {
		for _, d := range cachedLayers(t) {
			c.pending[d.Digest]++
		}
	}
	return c
}

// cachedLayers are the layers of t the cache may serve: those pulled from a registry. A local
// image's layers are files already.
func cachedLayers(t Target) []v1.Descriptor {
	if !t.remote || t.fromUncompressed {
		return nil
	}
	m, err := t.Image.Manifest()
	if err != nil {
		return nil
	}
	return m.Layers
}

// Reused reports how many layers, and how many bytes of blobs, were read from disk instead of
// pulled again.
func (c *LayerCache) Reused() (layers int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reused, c.saved
}

// Close removes every blob kept.
func (c *LayerCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	err := os.RemoveAll(c.dir)
	c.dir, c.kept, c.size = "", map[v1.Hash]int64{}, 0
	return err
}

// release is called once t's layers are read (or their reading failed): blobs no target still
// to come needs are removed.
func (c *LayerCache) release(t Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range cachedLayers(t) {
		c.pending[d.Digest]--
		if c.pending[d.Digest] > 0 {
			continue
		}
		delete(c.pending, d.Digest)
		if n, ok := c.kept[d.Digest]; ok {
			os.Remove(c.path(d.Digest))
			delete(c.kept, d.Digest)
			c.size -= n
		}
	}
}

func (c *LayerCache) path(d v1.Hash) string { return filepath.Join(c.dir, d.Algorithm+"-"+d.Hex) }

// opener wraps open, which pulls the blob d names, so that it reads the blob from disk when it
// is kept, and keeps it as it is pulled when another target will read it too.
func (c *LayerCache) opener(d v1.Descriptor, open func() (io.ReadCloser, error)) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		c.mu.Lock()
		if _, ok := c.kept[d.Digest]; ok {
			if f, err := os.Open(c.path(d.Digest)); err == nil {
				c.reused++
				c.saved += d.Size
				c.mu.Unlock()
				return f, nil
			}
		}
		keep := c.pending[d.Digest] > 1 && !c.filling[d.Digest] && d.Size > 0 && c.size+d.Size <= c.max
		var tmp *os.File
		if keep {
			var err error
			if tmp, err = c.tempFile(); err != nil {
				keep = false
			}
		}
		if keep {
			c.filling[d.Digest] = true
			c.size += d.Size
		}
		c.mu.Unlock()
		rc, err := open()
		if !keep {
			return rc, err
		}
		h, herr := v1.Hasher(d.Digest.Algorithm)
		if err != nil || herr != nil {
			c.abandon(d, tmp)
			return rc, err
		}
		return &keeper{c: c, d: d, src: rc, tmp: tmp, h: h}, nil
	}
}

func (c *LayerCache) tempFile() (*os.File, error) {
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "bom-attest-layers-")
		if err != nil {
			return nil, err
		}
		c.dir = dir
	}
	return os.CreateTemp(c.dir, ".partial-")
}

// abandon gives up keeping d: its partial file goes.
func (c *LayerCache) abandon(d v1.Descriptor, tmp *os.File) {
	tmp.Close()
	os.Remove(tmp.Name())
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.filling, d.Digest)
	c.size -= d.Size
}

// commit keeps d, read whole and checked, for the targets still to come, unless none is left
// (the last one failed before reading it) or Close has run.
func (c *LayerCache) commit(d v1.Descriptor, tmp *os.File) {
	if err := tmp.Close(); err != nil {
		c.abandon(d, tmp)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.filling, d.Digest)
	if c.dir == "" || c.pending[d.Digest] <= 1 || os.Rename(tmp.Name(), c.path(d.Digest)) != nil {
		os.Remove(tmp.Name())
		c.size -= d.Size
		return
	}
	c.kept[d.Digest] = d.Size
}

// keeper passes a pulled blob through and writes it to the cache as it goes; at the blob's end
// it keeps the copy when the bytes are the size and digest the manifest names.
type keeper struct {
	c   *LayerCache
	d   v1.Descriptor
	src io.ReadCloser

	mu   sync.Mutex
	tmp  *os.File
	h    hash.Hash
	n    int64
	done bool
}

func (k *keeper) Read(p []byte) (int, error) {
	n, err := k.src.Read(p)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return n, err
	}
	if n > 0 {
		k.h.Write(p[:n])
		k.n += int64(n)
		if _, werr := k.tmp.Write(p[:n]); werr != nil || k.n > k.d.Size {
			k.finish(false)
			return n, err
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		k.finish(k.n == k.d.Size && hex.EncodeToString(k.h.Sum(nil)) == k.d.Digest.Hex)
	case err != nil:
		k.finish(false)
	}
	return n, err
}

func (k *keeper) finish(ok bool) {
	k.done = true
	if ok {
		k.c.commit(k.d, k.tmp)
	} else {
		k.c.abandon(k.d, k.tmp)
	}
}

// Close closes the pulled blob first: a read blocked on it returns, and the copy is given up
// unless the blob's end was reached.
func (k *keeper) Close() error {
	err := k.src.Close()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.done {
		k.finish(false)
	}
	return err
}
