package image

import (
	"context"
	"errors"
	"fmt"

	stfile "github.com/anchore/stereoscope/pkg/file"
	stimage "github.com/anchore/stereoscope/pkg/image"
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
	src = stereoscopesource.New(img, stereoscopesource.ImageConfig{
		Reference: ref,
		Alias:     source.Alias{Name: t.Name, Version: t.Digest.String()},
	})
	if o.cache != nil {
		o.cache.release(t)
	}
	return src, func() error { return errors.Join(img.Cleanup(), gen.Cleanup()) }, nil
}
