package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/image/blob"
	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/plainhttp"
)

// Resolve finds the manifests to scan for an image input of the given kind. Manifests and
// configs are checked against their digests here; ctx also bounds later reads of a registry
// image or docker archive, as the layers are pulled by Open.
func Resolve(ctx context.Context, kind Kind, ref string, o Options) (*Resolved, error) {
	var (
		r   *Resolved
		err error
	)
	switch kind {
	case KindRegistry:
		r, err = resolveRegistry(ctx, ref, o)
	case KindOCIDir:
		r, err = resolveLayout(ref, "oci-dir:"+ref, o)
	case KindOCIArchive:
		r, err = resolveOCIArchive(ctx, ref, o)
	case KindDockerArchive:
		r, err = resolveDockerArchive(ctx, ref, o)
	default:
		return nil, fmt.Errorf("image: unknown kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	if err := r.bind(o.SubjectDigest); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.selectPlatforms(o.Platforms); err != nil {
		r.Close()
		return nil, err
	}
	for i := range r.Targets {
		r.Targets[i].Limits = o.Limits
	}
	return r, nil
}

// bind checks the subject digest. A digest naming one platform manifest of an index narrows the
// scan to that manifest, since that is what the user says they attest.
func (r *Resolved) bind(want string) error {
	if want == "" || r.Subject.String() == want {
		return nil
	}
	for _, t := range r.Targets {
		if t.Digest.String() == want {
			r.Targets, r.Subject, r.IsIndex = []Target{t}, t.Digest, false
			return nil
		}
	}
	return fmt.Errorf("%w: subject-digest is %s but the image's manifest digest is %s", ErrDigestMismatch, want, r.Subject)
}

func (r *Resolved) selectPlatforms(want []string) error {
	if len(want) == 0 {
		return nil
	}
	var keep []Target
	var missing []string
	for _, w := range want {
		found := false
		for _, t := range r.Targets {
			if platformMatches(w, t.Platform) {
				keep = append(keep, t)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		var have []string
		for _, t := range r.Targets {
			have = append(have, t.PlatformString())
		}
		return fmt.Errorf("%w: platforms lists %s; the image has %s", ErrPlatformNotFound, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	r.Targets = keep
	return nil
}

func platformMatches(want string, p v1.Platform) bool {
	parts := strings.Split(want, "/")
	if len(parts) < 2 || parts[0] != p.OS || parts[1] != p.Architecture {
		return false
	}
	return len(parts) < 3 || parts[2] == p.Variant
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// RemoteOptions are the options every registry call of bom-attest uses.
func RemoteOptions(ctx context.Context, o Options) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	if o.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(o.UserAgent))
	}
	return opts
}

func resolveRegistry(ctx context.Context, s string, o Options) (*Resolved, error) {
	ref, err := plainhttp.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	opts := RemoteOptions(ctx, o)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("image: fetch manifest of %s: %w", ref, err)
	}
	repo := ref.Context()
	r := &Resolved{Subject: desc.Digest}
	if _, isTag := ref.(name.Tag); isTag {
		r.ResolvedTag = ref.String()
		r.Warnings = append(r.Warnings, fmt.Sprintf("image %s is a tag; it was resolved once to %s and scanned by digest. Attesting a tag is racy: pass subject-digest from your build step.", ref, desc.Digest))
	}
	subject := o.SubjectName
	if subject == "" {
		subject = strings.ToLower(repo.Name())
	}
	base := Target{Name: subject, RepoURL: strings.ToLower(repo.Name()), remote: true}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("image: read index %s: %w", desc.Digest, err)
		}
		if err := r.fromIndex(idx, base); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		return r, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("image: read image %s: %w", desc.Digest, err)
	}
	t, err := target(img, base, nil)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	r.Targets = []Target{t}
	return r, nil
}

// fromIndex adds one target per runnable platform. Build tools store provenance and SBOM
// attestations in the index as manifests for platform unknown/unknown; those are not images.
func (r *Resolved) fromIndex(idx v1.ImageIndex, base Target) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read index %s: %w", d, err)
	}
	r.IsIndex, r.Subject = true, d
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
			(m.Platform != nil && m.Platform.OS == "unknown") {
			continue
		}
		what := "manifest " + m.Digest.String()
		if m.Platform != nil {
			if err := checkPlatform(*m.Platform); err != nil {
				return fmt.Errorf("index %s: %w", d, blob.Named(what, err))
			}
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return fmt.Errorf("index %s: %w", d, blob.Named(what, err))
		}
		t, err := target(img, base, &d)
		if err != nil {
			return err
		}
		r.Targets = append(r.Targets, t)
	}
	if len(r.Targets) == 0 {
		return fmt.Errorf("%w: index %s lists no runnable platform", ErrNoImage, d)
	}
	return nil
}

func target(img v1.Image, base Target, index *v1.Hash) (Target, error) {
	d, err := img.Digest()
	if err != nil {
		return Target{}, fmt.Errorf("digest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Target{}, blob.Named("manifest "+d.String(), err)
	}
	if len(m.Layers) > maxLayers {
		return Target{}, blob.Named("manifest "+d.String(), fmt.Errorf("%w: %d layers; an image has at most %d", ErrLimit, len(m.Layers), maxLayers))
	}
	cfgWhat := fmt.Sprintf("config %s of manifest %s", m.Config.Digest, d)
	if m.Config.Size > blob.MaxConfigBytes {
		// Checked before the read: a registry would otherwise be asked for all of it.
		return Target{}, blob.Named(cfgWhat, fmt.Errorf("%w: it claims %d bytes, more than the %d a config may have", ErrLimit, m.Config.Size, blob.MaxConfigBytes))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Target{}, blob.Named(cfgWhat, err)
	}
	// Each layer is checked against its diff_id as it is read; a config that does not list one
	// per layer leaves layers unchecked.
	if n := len(cf.RootFS.DiffIDs); n != len(m.Layers) {
		return Target{}, blob.Named(cfgWhat, fmt.Errorf("%w: it lists %d diff_ids for the manifest's %d layers", ErrBlobDigest, n, len(m.Layers)))
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if err := checkPlatform(p); err != nil {
		return Target{}, blob.Named(cfgWhat, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Target{}, blob.Named("manifest "+d.String(), err)
	}
	base.Image, base.Digest, base.IndexDigest, base.Raw, base.Platform = img, d, index, raw, p
	return base, nil
}

// maxLayers is far above what runs: overlayfs stacks at most 128 layers, docker 127.
const maxLayers = 1000

// platformToken is what an os, architecture or variant looks like (linux, arm64, v8, ppc64le):
// these strings end up in file names, log lines and stage names.
var platformToken = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

func checkPlatform(p v1.Platform) error {
	for _, f := range []struct{ field, v string }{{"os", p.OS}, {"architecture", p.Architecture}, {"variant", p.Variant}} {
		if f.v == "" && f.field == "variant" {
			continue
		}
		if !platformToken.MatchString(f.v) {
			return fmt.Errorf("%w: %s %s is not a platform token (up to 32 lower-case letters, digits, '.', '_' or '-')", ErrPlatform, f.field, blob.Quote(f.v))
		}
	}
	return nil
}

// resolveLayout reads the layout at dir; label is how the user named it (oci-dir:PATH).
func resolveLayout(dir, label string, o Options) (*Resolved, error) {
	idx, err := openLayout(dir)
	if err != nil {
		return nil, fmt.Errorf("image: %s is not an OCI image layout: %w", label, err)
	}
	im, _ := idx.IndexManifest()
	base := Target{Name: o.SubjectName}
	if base.Name == "" && len(im.Manifests) > 0 {
		// Tools that write layouts (skopeo, buildx, ours) record the reference they came from.
		base.Name = strings.ToLower(refName(im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]))
	}
	if base.Name == "" {
		base.Name = filepath.Base(filepath.Clean(dir))
	}
	base.RepoURL = repoURL(base.Name)
	r := &Resolved{}
	switch {
	case len(im.Manifests) == 0:
		return nil, fmt.Errorf("%w: %s has no manifests", ErrNoImage, label)
	case len(im.Manifests) == 1 && im.Manifests[0].MediaType.IsIndex():
		child, err := idx.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", label, err)
		}
		if err := r.fromIndex(child, base); err != nil {
			return nil, fmt.Errorf("image: %s: %w", label, err)
		}
		return r, nil
	case len(im.Manifests) == 1:
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", label, err)
		}
		t, err := target(img, base, nil)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", label, err)
		}
		r.Subject, r.Targets = t.Digest, []Target{t}
		return r, nil
	default:
		// index.json itself is not content-addressed, so several top-level images have no common
		// digest: each is attested by its own.
		if err := r.fromIndex(idx, base); err != nil {
			return nil, fmt.Errorf("image: %s: %w", label, err)
		}
		r.IsIndex = false
		r.Subject = r.Targets[0].Digest
		for i := range r.Targets {
			r.Targets[i].IndexDigest = nil
		}
		if o.SubjectDigest == "" && len(r.Targets) > 1 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s holds %d images without an index; each is scanned and attested by its own digest", label, len(r.Targets)))
		}
		return r, nil
	}
}

// refName turns a layout's ref.name annotation into a repository name; a bare tag is no name.
func refName(s string) string {
	if s == "" || !strings.ContainsAny(s, "/.") {
		return ""
	}
	if r, err := name.ParseReference(s); err == nil {
		return r.Context().Name()
	}
	return ""
}

func repoURL(n string) string {
	if r, err := name.NewRepository(n); err == nil && strings.Contains(n, "/") {
		return r.Name()
	}
	return ""
}

func resolveOCIArchive(ctx context.Context, path string, o Options) (*Resolved, error) {
	f, st, err := localfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: oci-archive:%s: %w", path, err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "bom-attest-oci-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := blob.Untar(ctx, f, st.Size(), dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("image: oci-archive:%s: %w", path, err)
	}
	if o.SubjectName == "" {
		o.SubjectName = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	r, err := resolveLayout(dir, "oci-archive:"+path, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.cleanup = append(r.cleanup, func() error { return os.RemoveAll(dir) })
	return r, nil
}
