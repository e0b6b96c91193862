package mlbom

import (
	"context"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/anchore/syft/syft/file"

	"github.com/bom-attest/bom-attest/internal/testimage"
)

// countingResolver counts the reads of each file's contents.
type countingResolver struct {
	file.Resolver
	mu    sync.Mutex
	reads map[string]int // by real path
}

func (c *countingResolver) FileContentsByLocation(l file.Location) (io.ReadCloser, error) {
	c.mu.Lock()
	c.reads[l.RealPath]++
	c.mu.Unlock()
	return c.Resolver.FileContentsByLocation(l)
}

// TestHashCacheSharedLayer discovers the models of three platforms of one image: two share the
// layer that holds the models, the third has its own. The shared layer's weight files are read
// once for both; the third's are read again, and so is everything without a cache.
func TestHashCacheSharedLayer(t *testing.T) {
	models := append(sentimentFiles(), testimage.File{Path: "/opt/models/llm/tinyllama-q8_0.gguf", Body: ggufQ8})
	changed := append(sentimentFiles(), testimage.File{Path: "/opt/models/llm/tinyllama-q8_0.gguf", Body: ggufQ4})
	amd64 := &testImage{layers: [][]testimage.File{baseLayer(), models}}
	arm64 := &testImage{layers: [][]testimage.File{{testimage.OSRelease("12", "bookworm")}, models}}
	other := &testImage{layers: [][]testimage.File{baseLayer(), changed}}
	for _, img := range []*testImage{amd64, arm64, other} {
		t.Cleanup(func() { os.RemoveAll(img.dir) })
	}
	_, amdDiffs := amd64.layout(t)
	_, armDiffs := arm64.layout(t)
	if amdDiffs[1] != armDiffs[1] || amdDiffs[0] == armDiffs[0] {
		t.Fatalf("test images do not share exactly the model layer: %v, %v", amdDiffs, armDiffs)
	}
	weights := []string{"/opt/models/sentiment-ft/model.safetensors", "/opt/models/llm/tinyllama-q8_0.gguf"}

	var cache HashCache
	discover := func(img *testImage, cache *HashCache) ([]Found, map[string]int) {
		t.Helper()
		r := &countingResolver{Resolver: img.resolver(t), reads: map[string]int{}}
		found, err := Discover(context.Background(), r, nil, DiscoverOptions{Scan: true, Hashes: cache})
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 2 {
			t.Fatalf("found %d models, want 2", len(found))
		}
		return found, r.reads
	}
	first, reads := discover(amd64, &cache)
	for _, p := range weights {
		if reads[p] != 1 {
			t.Errorf("first platform read %s %d times, want 1", p, reads[p])
		}
	}
	second, reads := discover(arm64, &cache)
	for _, p := range weights {
		if reads[p] != 0 {
			t.Errorf("second platform, same model layer, read %s %d times, want 0", p, reads[p])
		}
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("the cached discovery differs:\n%+v\n%+v", first, second)
	}
	third, reads := discover(other, &cache)
	for _, p := range weights {
		if reads[p] != 1 {
			t.Errorf("other model layer: read %s %d times, want 1", p, reads[p])
		}
	}
	if third[0].Files[0].SHA256 == first[0].Files[0].SHA256 {
		t.Errorf("a different layer's file got the first layer's hash %s", first[0].Files[0].SHA256)
	}
	if _, reads := discover(arm64, nil); reads[weights[0]] != 1 {
		t.Errorf("without a cache, read %s %d times, want 1", weights[0], reads[weights[0]])
	}
}
