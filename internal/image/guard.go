package image

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bom-attest/bom-attest/internal/image/blob"
)

// guard wraps t's image so that each layer, as stereoscope reads it, is checked against the
// config's diff_id, counted against t.Limits and the free space of dir, where it is unpacked,
// and stopped when ctx is done; cache, when not nil, serves and keeps the layers' blobs.
func guard(ctx context.Context, t Target, dir string, cache *LayerCache) (v1.Image, error) {
	m, err := t.Image.Manifest()
	if err != nil {
		return nil, err
	}
	cf, err := t.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := t.Image.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(m.Layers) || len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, blob.Named("manifest "+t.Digest.String(), fmt.Errorf("%w: %d layers, %d in the manifest, %d diff_ids in the config", ErrBlobDigest, len(layers), len(m.Layers), len(cf.RootFS.DiffIDs)))
	}
	lim := t.Limits.withDefaults()
	b := blob.NewBudget(lim.MaxBytes, lim.MaxEntries)
	if free, err := blob.DiskFree(dir); err == nil {
		b.LimitDisk(dir, free)
	}
	g := &guardedImage{Image: t.Image}
	cached := cache != nil && len(cachedLayers(t)) > 0
	for i, l := range layers {
		open := l.Compressed
		if t.fromUncompressed {
			open = l.Uncompressed
		}
		if cached {
			open = cache.opener(m.Layers[i], open)
		}
		g.layers = append(g.layers, &guardedLayer{
			Layer: l, ctx: ctx, budget: b, open: open,
			digest: m.Layers[i].Digest, diffID: cf.RootFS.DiffIDs[i], above: len(layers) - 1 - i,
			what:             layerWhat(i, m.Layers[i].Digest, t.Digest),
			fromUncompressed: t.fromUncompressed,
		})
	}
	return g, nil
}

type guardedImage struct {
	v1.Image
	layers []v1.Layer
}

func (g *guardedImage) Layers() ([]v1.Layer, error) { return g.layers, nil }
func (g *guardedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return findLayer(g.layers, h, v1.Layer.Digest)
}
func (g *guardedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	return findLayer(g.layers, h, v1.Layer.DiffID)
}

type guardedLayer struct {
	v1.Layer
	open             func() (io.ReadCloser, error) // the blob as stored, or the tar of an uncompressed one
	ctx              context.Context
	budget           *blob.Budget
	digest, diffID   v1.Hash
	above            int
	what             string
	fromUncompressed bool
}

func (l *guardedLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *guardedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Uncompressed is the layer's tar stream, checked against the config's diff_id and charged to
// the image's budget as it is read.
func (l *guardedLayer) Uncompressed() (io.ReadCloser, error) {
	return l.budget.Open(l.ctx, blob.Layer{Open: l.open, Compressed: !l.fromUncompressed, DiffID: l.diffID, Above: l.above, What: l.what})
}
