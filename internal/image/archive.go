package image

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bom-attest/bom-attest/internal/image/blob"
)

// digestName matches the names a config gets in a docker archive: <hex>.json (docker save),
// blobs/sha256/<hex> (docker 25 and later), sha256:<hex> (go-containerregistry).
var digestName = regexp.MustCompile(`(?:^|/|sha256:)([0-9a-f]{64})(?:\.json)?$`)

func resolveDockerArchive(ctx context.Context, p string, o Options) (*Resolved, error) {
	a, err := blob.OpenDockerArchive(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("image: docker-archive:%s: %w", p, err)
	}
	r, err := dockerTarget(a, p, o)
	if err != nil {
		a.Close()
		return nil, err
	}
	r.cleanup = append(r.cleanup, a.Close)
	return r, nil
}

func dockerTarget(a *blob.DockerArchive, p string, o Options) (*Resolved, error) {
	m := a.Manifest
	img, err := tarball.Image(a.Open, nil)
	if err != nil {
		return nil, fmt.Errorf("image: docker-archive:%s: %w", p, err)
	}
	// The archive's manifest is made up by go-containerregistry from the config and the layers,
	// so it binds them by construction; the config's file name is the one claim left to check.
	if sub := digestName.FindStringSubmatch(path.Clean(m[0].Config)); sub != nil {
		got, err := img.ConfigName()
		if err != nil {
			return nil, fmt.Errorf("image: docker-archive:%s: %w", p, err)
		}
		if got.Hex != sub[1] {
			return nil, fmt.Errorf("image: docker-archive:%s: %w", p, blob.Named("config "+blob.Quote(m[0].Config), fmt.Errorf("%w: it hashes to %s", ErrBlobDigest, got)))
		}
	}
	n := o.SubjectName
	if n == "" && len(m[0].RepoTags) > 0 {
		n = strings.ToLower(refName(m[0].RepoTags[0]))
		if n == "" {
			if r, err := name.ParseReference(m[0].RepoTags[0]); err == nil {
				n = r.Context().Name()
			}
		}
	}
	if n == "" {
		n = strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	}
	t, err := target(img, Target{Name: n, RepoURL: repoURL(n), fromUncompressed: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("image: docker-archive:%s: %w", p, err)
	}
	return &Resolved{Subject: t.Digest, Targets: []Target{t}}, nil
}
