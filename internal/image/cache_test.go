package image_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

// blobCounter is a registry that counts the blob GETs it answers, by digest, and can serve
// other bytes for one blob the first time it is asked for it.
type blobCounter struct {
	mu      sync.Mutex
	gets    map[string]int
	corrupt string // digest whose first GET is answered with other bytes
}

func (c *blobCounter) count(d v1.Hash) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[d.String()]
}

func countingRegistry(t *testing.T, c *blobCounter) string {
	c.gets = map[string]int{}
	return fakeRegistry(t, func(w http.ResponseWriter, r *http.Request, reg http.Handler) bool {
		i := strings.LastIndex(r.URL.Path, "/blobs/")
		if r.Method != http.MethodGet || i < 0 {
			return false
		}
		d := r.URL.Path[i+len("/blobs/"):]
		c.mu.Lock()
		c.gets[d]++
		corrupt := d == c.corrupt && c.gets[d] == 1
		c.mu.Unlock()
		if !corrupt {
			return false
		}
		rec := &bufferedResponse{header: http.Header{}}
		reg.ServeHTTP(rec, r)
		body := append([]byte(nil), rec.body.Bytes()...)
		body[len(body)/2] ^= 0xff
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(body)
		return true
	})
}

type bufferedResponse struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }

// sharedBase pushes two images that share the Debian base layer, each with a layer of its own,
// to two repositories, and returns their references and the shared layer's digest.
func sharedBase(t *testing.T, host string) (refs []string, shared, own v1.Hash) {
	t.Helper()
	base := platformImage(t, "amd64", "")
	layers, _ := base.Layers()
	shared, _ = layers[0].Digest()
	for i, repo := range []string{"acme/one", "acme/two"} {
		l, err := testimage.Layer(testimage.File{Path: "/srv/" + repo, Body: []byte(repo)})
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, l)
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(host+"/"+repo+":1", name.Insecure)
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		refs = append(refs, tag.Context().Name()+"@"+d.String())
		if i == 0 {
			own, _ = l.Digest()
		}
	}
	return refs, shared, own
}

func resolveAll(t *testing.T, refs []string) []image.Target {
	t.Helper()
	var targets []image.Target
	for _, ref := range refs {
		r, err := image.Resolve(context.Background(), image.KindRegistry, ref, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		targets = append(targets, r.Targets...)
	}
	return targets
}

// cacheDirs are the cache's directories under TMPDIR.
func cacheDirs(t *testing.T) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "bom-attest-layers-*"))
	return dirs
}

// cacheRun is two images sharing a layer, behind a counting registry, with a cache of max
// bytes for their targets. corrupt, when set, is answered wrongly the first time.
type cacheRun struct {
	reg         *blobCounter
	targets     []image.Target
	cache       *image.LayerCache
	shared, own v1.Hash
}

func newCacheRun(t *testing.T, max int64, corrupt bool) *cacheRun {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	r := &cacheRun{reg: &blobCounter{}}
	host := countingRegistry(t, r.reg)
	refs, shared, own := sharedBase(t, host)
	r.shared, r.own = shared, own
	if corrupt {
		r.reg.corrupt = shared.String()
	}
	r.targets = resolveAll(t, refs)
	r.cache = image.NewLayerCache(max, r.targets...)
	t.Cleanup(func() { r.cache.Close() })
	return r
}

// open reads target i through the cache.
func (r *cacheRun) open(i int) error {
	_, closeSrc, err := image.Open(context.Background(), r.targets[i], image.WithLayerCache(r.cache))
	if err == nil {
		closeSrc()
	}
	return err
}

// A layer two images share is pulled once; what only one image has is pulled by it alone; the
// cache is empty once the last image that needs a blob is read, and gone after Close.
func TestLayerCacheSharedLayerPulledOnce(t *testing.T) {
	r := newCacheRun(t, image.DefaultMaxBytes, false)
	for i := range r.targets {
		if err := r.open(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.reg.count(r.shared); n != 1 {
		t.Errorf("the shared layer was pulled %d times, want once", n)
	}
	if n := r.reg.count(r.own); n != 1 {
		t.Errorf("the first image's own layer was pulled %d times", n)
	}
	if layers, bytes := r.cache.Reused(); layers != 1 || bytes <= 0 {
		t.Errorf("Reused = %d layers, %d bytes; want the shared layer", layers, bytes)
	}
	for _, d := range cacheDirs(t) {
		if left, _ := os.ReadDir(d); len(left) != 0 {
			t.Errorf("blobs left in the cache after the last image was read: %v", left)
		}
	}
	if err := r.cache.Close(); err != nil {
		t.Fatal(err)
	}
	if d := cacheDirs(t); len(d) != 0 {
		t.Errorf("cache directories left after Close: %v", d)
	}
}

// What the cache may not keep is pulled again: a blob that broke its digest on the way (the
// first image's read fails, the second pulls it afresh and succeeds), a blob over the cache's
// bytes, and a cached blob altered on disk is caught by the layer's diff_id as a pulled one is.
func TestLayerCacheKeepsOnlyWhatItMay(t *testing.T) {
	t.Run("corrupt on the wire", func(t *testing.T) {
		r := newCacheRun(t, image.DefaultMaxBytes, true)
		if err := r.open(0); err == nil {
			t.Fatal("a corrupt layer was read")
		}
		if err := r.open(1); err != nil {
			t.Fatalf("the second image, pulled afresh: %v", err)
		}
		if n := r.reg.count(r.shared); n != 2 {
			t.Errorf("the shared layer was pulled %d times, want twice", n)
		}
	})
	t.Run("over the cache's bytes", func(t *testing.T) {
		r := newCacheRun(t, 10, false)
		for i := range r.targets {
			if err := r.open(i); err != nil {
				t.Fatal(err)
			}
		}
		if n := r.reg.count(r.shared); n != 2 {
			t.Errorf("the shared layer was pulled %d times, want twice", n)
		}
	})
	t.Run("altered on disk", func(t *testing.T) {
		r := newCacheRun(t, image.DefaultMaxBytes, false)
		if err := r.open(0); err != nil {
			t.Fatal(err)
		}
		dirs := cacheDirs(t)
		if len(dirs) != 1 {
			t.Fatalf("cache directories %v", dirs)
		}
		kept := filepath.Join(dirs[0], "sha256-"+r.shared.Hex)
		// The gzip stream of another tar: a valid blob, not the layer's.
		other, _ := testimage.Layer(testimage.File{Path: "/etc/evil", Body: []byte("x")})
		rc, _ := other.Compressed()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		if err := os.WriteFile(kept, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		err := r.open(1)
		if !errors.Is(err, image.ErrBlobDigest) || !strings.Contains(err.Error(), r.shared.String()) {
			t.Errorf("err = %v, want the altered layer named with %v", err, image.ErrBlobDigest)
		}
	})
}
