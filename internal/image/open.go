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

// Open reads t's layers once (pulling them when t comes from a registry) and returns it as a
// Syft source. close releases the unpacked layers. Each layer is checked against the config's
// diff_id as it is read and counted against t.Limits; an error names the layer at fault.
func Open(ctx context.Context, t Target) (src source.Source, close func() error, err error) {
	gen := stfile.NewTempDirGenerator("bom-attest")
	dir, err := gen.NewDirectory("image")
	if err != nil {
		return nil, nil, fmt.Errorf("image: temp dir: %w", err)
	}
	guarded, err := guard(ctx, t, dir)
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
	return src, func() error { return errors.Join(img.Cleanup(), gen.Cleanup()) }, nil
}
