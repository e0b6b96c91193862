package image

import (
	"context"
	"errors"
	"fmt"

	stfile "github.com/anchore/stereoscope/pkg/file"
	stimage "github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"

	"github.com/bom-attest/bom-attest/internal/image/blob"
)

// OpenOption tunes Open.
type OpenOption func(*openOptions)

type openOptions struct {
	cache *LayerCache
}

// WithLayerCache has Open read the layers c keeps from disk, and keep those a later target
// will read too.
func WithLayerCache(c *LayerCache) OpenOption {
	return func(o *openOptions) { o.cache = c }
}

// Open reads t's layers once (pulling them when t comes from a registry) and returns it as a
// Syft source. close releases the unpacked layers. Each layer is checked against the config's
// diff_id as it is read and counted against t.Limits; an error names the layer at fault.
func Open(ctx context.Context, t Target, opts ...OpenOption) (src source.Source, close func() error, err error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.cache != nil {
		// Once this target is read, or failed to be, what only it still needed goes.
		defer func() {
			if err != nil {
				o.cache.release(t)
			}
		}()
	}
	gen := stfile.NewTempDirGenerator("bom-attest")
	dir, err := gen.NewDirectory("image")
	if err != nil {
		return nil, nil, fmt.Errorf("image: temp dir: %w", err)
	}
	guarded, err := guard(ctx, t, dir, o.cache)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("image: %w", err), gen.Cleanup())
	}
	meta := []stimage.AdditionalMetadata{
		stimage.WithManifestDigest(t.Digest.String()),
		stimage.WithManifest(t.Raw),
		stimage.WithArchitecture(t.Platform.Architecture, t.Platform.Variant),
		stimage.WithOS(t.Platform.OS),
	}
	ref := t.Name + "@" + t.Digest.String()
	if t.RepoURL != "" {
		meta = append(meta, stimage.WithRepoDigests(t.RepoURL+"@"+t.Digest.String()))
	}
	img := stimage.New(guarded, gen, dir, meta...)
	if err := img.Read(ctx); err != nil {
		// stereoscope's own wording adds the temporary path it was writing to; the layer at
		// fault and what is wrong with it is what the user needs.
		var be *blob.Error
		if errors.As(err, &be) {
			err = be
		}
		return nil, nil, errors.Join(fmt.Errorf("image: read %s (%s): %w", ref, t.PlatformString(), err), img.Cleanup(), gen.Cleanup())
	}
	squashedOnly(img)
	src = squashedSource{stereoscopesource.New(img, stereoscopesource.ImageConfig{
		Reference: ref,
		Alias:     source.Alias{Name: t.Name, Version: t.Digest.String()},
	})}
	if o.cache != nil {
		o.cache.release(t)
	}
	return src, func() error { return errors.Join(img.Cleanup(), gen.Cleanup()) }, nil
}

// squashedOnly lets go of what only a scan of every layer reads: each layer's own tree and
// search context, and the squash of the layers below the top one. Syft scans the squashed image
// (its default scope) and so does every stage here; stereoscope keeps a copy of the file tree
// for each layer and another for each layer's squash: on the 12,500-package bench image (one
// layer) the one copy let go is 8% of the heap at its peak, marked by every collection.
func squashedOnly(img *stimage.Image) {
	for i, l := range img.Layers {
		l.Tree, l.SearchContext = nil, nil
		if i < len(img.Layers)-1 {
			l.SquashedTree, l.SquashedSearchContext = nil, nil
		}
	}
}

// squashedSource is an image source whose only file resolver is the squashed image's, the one
// squashedOnly keeps.
type squashedSource struct{ source.Source }

func (s squashedSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	if scope != source.SquashedScope {
		return nil, fmt.Errorf("image: only the squashed image is kept, not the %s scope", scope)
	}
	return s.Source.FileResolver(scope)
}
