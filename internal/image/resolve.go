package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
)

// Sentinel errors callers branch on.
var (
	ErrDigestMismatch   = errors.New("image digest does not match subject-digest")
	ErrPlatformNotFound = errors.New("platform not in image")
	ErrNoImage          = errors.New("no image found")
)

// Kind is where an image comes from, as in the image input's prefixes.
type Kind string

const (
	KindRegistry      Kind = "registry"
	KindOCIDir        Kind = "oci-dir"
	KindOCIArchive    Kind = "oci-archive"
	KindDockerArchive Kind = "docker-archive"
)

// LocalKinds are the kinds read from a path, in the order the image input's prefixes are tried.
var LocalKinds = []Kind{KindOCIDir, KindOCIArchive, KindDockerArchive}

// Options tune Resolve.
type Options struct {
	Keychain      authn.Keychain    // nil: the docker config keychain
	Transport     http.RoundTripper // nil: http.DefaultTransport
	UserAgent     string
	Platforms     []string // nil: every platform
	SubjectDigest string   // "" or sha256:...; what was scanned must be this
	SubjectName   string   // name the subject is known by; defaults to the reference's repository
	TempDir       string   // where archives are unpacked; "" = os.TempDir()
}

// Target is one image manifest to scan.
type Target struct {
	Image       v1.Image
	Digest      v1.Hash     // manifest digest of this image
	IndexDigest *v1.Hash    // the index it was picked from, if any
	Platform    v1.Platform // from the image config
	Name        string      // subject name, e.g. ghcr.io/acme/app
	RepoURL     string      // registry/repository for purls; "" for local images without a name
	Raw         []byte      // raw manifest
}

// PlatformString is os/arch[/variant].
func (t Target) PlatformString() string { return platformString(t.Platform) }

// FileSuffix names per-platform files: linux-amd64, linux-arm64-v8.
func (t Target) FileSuffix() string { return strings.ReplaceAll(t.PlatformString(), "/", "-") }

// Resolved is what Resolve found.
type Resolved struct {
	Subject     v1.Hash // digest the attestations bind to: the index's, or the image's
	IsIndex     bool
	Targets     []Target
	ResolvedTag string   // the tag that was resolved to Subject, when the input had no digest
	Warnings    []string // for the job summary
	cleanup     []func() error
}

// Close removes anything Resolve unpacked.
func (r *Resolved) Close() error {
	var errs []error
	for _, f := range r.cleanup {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// Resolve finds the manifests to scan for an image input of the given kind.
func Resolve(ctx context.Context, kind Kind, ref string, o Options) (*Resolved, error) {
	var (
		r   *Resolved
		err error
	)
	switch kind {
	case KindRegistry:
		r, err = resolveRegistry(ctx, ref, o)
	case KindOCIDir:
		r, err = resolveLayout(ref, o)
	case KindOCIArchive:
		r, err = resolveOCIArchive(ref, o)
	case KindDockerArchive:
		r, err = resolveDockerArchive(ref, o)
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
	base := Target{Name: subject, RepoURL: strings.ToLower(repo.Name())}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("image: read index %s: %w", desc.Digest, err)
		}
		return r, r.fromIndex(idx, base)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("image: read image %s: %w", desc.Digest, err)
	}
	t, err := target(img, base, nil)
	if err != nil {
		return nil, err
	}
	r.Targets = []Target{t}
	return r, nil
}

// fromIndex adds one target per runnable platform. Build tools store provenance and SBOM
// attestations in the index as manifests for platform unknown/unknown; those are not images.
func (r *Resolved) fromIndex(idx v1.ImageIndex, base Target) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("image: read index: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	r.IsIndex, r.Subject = true, d
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() || m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
			(m.Platform != nil && m.Platform.OS == "unknown") {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return fmt.Errorf("image: read manifest %s of index %s: %w", m.Digest, d, err)
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
		return Target{}, fmt.Errorf("image: digest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Target{}, fmt.Errorf("image: config of %s: %w", d, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Target{}, fmt.Errorf("image: manifest of %s: %w", d, err)
	}
	base.Image, base.Digest, base.IndexDigest, base.Raw = img, d, index, raw
	base.Platform = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	return base, nil
}

func resolveLayout(dir string, o Options) (*Resolved, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("image: oci-dir:%s is not an OCI image layout: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: oci-dir:%s: %w", dir, err)
	}
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
		return nil, fmt.Errorf("%w: oci-dir:%s has no manifests", ErrNoImage, dir)
	case len(im.Manifests) == 1 && im.Manifests[0].MediaType.IsIndex():
		child, err := idx.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("image: oci-dir:%s: %w", dir, err)
		}
		return r, r.fromIndex(child, base)
	case len(im.Manifests) == 1:
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("image: oci-dir:%s: %w", dir, err)
		}
		t, err := target(img, base, nil)
		if err != nil {
			return nil, err
		}
		r.Subject, r.Targets = t.Digest, []Target{t}
		return r, nil
	default:
		// index.json itself is not content-addressed, so several top-level images have no common
		// digest: each is attested by its own.
		if err := r.fromIndex(idx, base); err != nil {
			return nil, err
		}
		r.IsIndex = false
		r.Subject = r.Targets[0].Digest
		for i := range r.Targets {
			r.Targets[i].IndexDigest = nil
		}
		if o.SubjectDigest == "" && len(r.Targets) > 1 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("oci-dir:%s holds %d images without an index; each is scanned and attested by its own digest", dir, len(r.Targets)))
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

func resolveOCIArchive(path string, o Options) (*Resolved, error) {
	dir, err := os.MkdirTemp(o.TempDir, "bom-attest-oci-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := untar(path, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("image: oci-archive:%s: %w", path, err)
	}
	if o.SubjectName == "" {
		o.SubjectName = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	r, err := resolveLayout(dir, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (unpacked from oci-archive:%s)", err, path)
	}
	r.cleanup = append(r.cleanup, func() error { return os.RemoveAll(dir) })
	return r, nil
}

func resolveDockerArchive(path string, o Options) (*Resolved, error) {
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return nil, fmt.Errorf("image: docker-archive:%s: %w", path, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	n := o.SubjectName
	if err == nil && len(m) > 0 && len(m[0].RepoTags) > 0 && n == "" {
		n = strings.ToLower(refName(m[0].RepoTags[0]))
		if n == "" {
			if r, err := name.ParseReference(m[0].RepoTags[0]); err == nil {
				n = r.Context().Name()
			}
		}
	}
	if n == "" {
		n = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	t, err := target(img, Target{Name: n, RepoURL: repoURL(n)}, nil)
	if err != nil {
		return nil, err
	}
	return &Resolved{Subject: t.Digest, Targets: []Target{t}}, nil
}

// untar unpacks an OCI archive, refusing entries that would land outside dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
