package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/plainhttp"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/transport"
)

const (
	// BundleMediaType is the Sigstore bundle v0.3 media type: the referrer's artifactType and its layer's type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// bundleMediaTypePrefix matches every Sigstore bundle version when reading referrers back.
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"

	// Annotations actions/attest puts on its referrers; cosign and Kyverno filter on them.
	AnnotationContent       = "dev.sigstore.bundle.content"
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	AnnotationCreated       = "org.opencontainers.image.created"
)

// ReferrersMode is how referrers are stored (input referrers-mode).
type ReferrersMode string

const (
	ModeAuto ReferrersMode = "auto"
	ModeAPI  ReferrersMode = "api"
	ModeTag  ReferrersMode = "tag"
)

// Sentinel errors of the registry side.
var (
	// ErrNoReferrersAPI: referrers-mode api, but the registry does not serve the OCI 1.1 referrers API.
	ErrNoReferrersAPI = errors.New("registry has no referrers API")
	// ErrNotListed: the registry took the referrer but its referrers list did not show it in time.
	ErrNotListed = errors.New("referrer not listed by the registry")
	// ErrInsecure: plain HTTP would be used for a registry that is not on loopback.
	ErrInsecure = plainhttp.ErrRefused
)

// emptyJSON is the OCI 1.1 empty descriptor's content, the config of an artifact manifest.
var emptyJSON = []byte("{}")

// What is read back from a registry is bounded: each manifest or index page, each bundle, how
// many referrers are looked at and how many bytes of bundles are kept for one subject.
const (
	maxManifest       = 4 << 20
	maxBundle         = 64 << 20
	maxReferrers      = 256
	maxFoundBytes     = 256 << 20
	maxReferrersPages = 16
)

// tagTries bounds the read-merge-write loop on the referrers tag.
const tagTries = 12

// listedWithin bounds how long a pushed referrer may take to appear in a registry's referrers
// list: some registries index referrers asynchronously.
var listedWithin = 20 * time.Second

// ReferrerOptions say how to reach the registry and which referrers scheme to use.
type ReferrerOptions struct {
	// Mode is auto (default when empty), api or tag. auto uses the referrers API when the registry
	// has it and the referrers tag schema otherwise; api requires the API; tag always maintains
	// the sha256-<hex> tag (for verifiers that only read tags).
	Mode ReferrersMode
	// Keychain resolves registry credentials (image.Keychain: docker config, credential helpers,
	// github-token for ghcr.io); the docker config keychain when nil. Loopback registries are
	// reached over plain HTTP, every other one over HTTPS only.
	Keychain authn.Keychain
	// Transport is the project's HTTP transport (transport.New), which names the action, refuses
	// plain HTTP off loopback and retries what is safe to retry; when nil, one is made with UserAgent.
	Transport http.RoundTripper
	// UserAgent names the action when Transport is nil (e.g. bom-attest/1.2.3).
	UserAgent string
	// Now stamps org.opencontainers.image.created; time.Now when nil.
	Now func() time.Time
}

// Found is a Sigstore bundle attached to a subject as an OCI referrer.
type Found struct {
	// Bundle is the Sigstore bundle JSON, checked against the layer digest but not verified.
	Bundle []byte
	// PredicateType is read from the bundle's (unverified) statement, or the referrer's
	// annotation when the statement cannot be read; trust it only after verifying the bundle.
	PredicateType string
	// Digest is the referrer manifest's digest.
	Digest v1.Hash
}

// registry is one repository on one registry, reached through an authenticated transport.
type registry struct {
	subject name.Digest
	repo    name.Repository
	client  *http.Client
	rt      http.RoundTripper
}

func connect(ctx context.Context, subject name.Digest, o ReferrerOptions, scope string) (*registry, error) {
	switch o.Mode {
	case "", ModeAuto, ModeAPI, ModeTag:
	default:
		return nil, fmt.Errorf("referrers-mode %q: want auto, api or tag", o.Mode)
	}
	ref, err := plainhttp.Reference(subject)
	if err != nil {
		return nil, fmt.Errorf("subject %s: %w", subject, err)
	}
	subject = ref.(name.Digest)
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	repo := subject.Context()
	auth, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, fmt.Errorf("registry credentials for %s: %w", repo, err)
	}
	base := o.Transport
	if base == nil {
		base = transport.New(transport.WithUserAgent(o.UserAgent), transport.WithCrossHostReads())
	}
	// Our transport retries reads, PUTs and requests that never left; go-containerregistry adds
	// only authentication on top (a Wrapper is not wrapped again by remote).
	rt, err := ggcrtransport.NewWithContext(ctx, repo.Registry, auth, base, []string{repo.Scope(scope)})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", repo.RegistryStr(), pushHint(repo, err))
	}
	return &registry{subject: subject, repo: repo, client: &http.Client{Transport: rt}, rt: rt}, nil
}

// pushHint says what fixes a registry's refusal: on ghcr.io the workflow's token needs
// `packages: write`; elsewhere the credentials of docker login need push access.
func pushHint(repo name.Repository, err error) error {
	var te *ggcrtransport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden {
		return err
	}
	if repo.RegistryStr() == "ghcr.io" {
		return fmt.Errorf("%w — add `permissions: packages: write` to the job (and give this repository write access to the package %s)", err, repo.RepositoryStr())
	}
	return fmt.Errorf("%w — log in to %s with credentials that may push to %s (docker/login-action; DOCKER_CONFIG inside the workspace)", err, repo.RegistryStr(), repo.RepositoryStr())
}

func (r *registry) url(kind, ref string) string {
	u := url.URL{Scheme: r.repo.Scheme(), Host: r.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/%s/%s", r.repo.RepositoryStr(), kind, ref)}
	return u.String()
}

// remoteOptions reuse the already authenticated transport: a transport.Wrapper is not wrapped or pinged again.
func (r *registry) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.rt)}
}

// PushReferrer attaches a Sigstore bundle to subject as an OCI 1.1 referrer, the way
// actions/attest does: an image manifest with artifactType = the bundle media type, the empty
// config, the bundle as its only layer and subject = the image. It returns the referrer's digest
// once the registry lists it.
//
// When the registry keeps referrers itself (the manifest PUT answers OCI-Subject, or the
// referrers endpoint answers), nothing else is written, and the referrers API is read until it
// lists the referrer (registries may index it a moment later); otherwise (mode auto) or always
// (mode tag) the referrers tag sha256-<hex> is updated and read back.
func PushReferrer(ctx context.Context, subject name.Digest, bundle []byte, predicateType string, o ReferrerOptions) (v1.Hash, error) {
	artifactType, err := bundleMediaType(bundle)
	if err != nil {
		return v1.Hash{}, err
	}
	if predicateType == "" {
		return v1.Hash{}, errors.New("push referrer: empty predicate type")
	}
	r, err := connect(ctx, subject, o, ggcrtransport.PushScope)
	if err != nil {
		return v1.Hash{}, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	desc, ociSubject, err := r.pushArtifact(ctx, bundle, artifactType, predicateType, now())
	if err != nil {
		return v1.Hash{}, pushHint(r.repo, err)
	}
	digest := desc.Digest
	mode := o.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if mode != ModeTag {
		// The OCI-Subject answer is how actions/attest detects the API; registries that index
		// referrers without sending it (go-containerregistry's own) are found by asking.
		list, has, err := r.referrers(ctx)
		if err != nil {
			return v1.Hash{}, err
		}
		if has || ociSubject == r.subject.DigestStr() {
			if err := r.waitListed(ctx, digest, list, has); err != nil {
				return v1.Hash{}, err
			}
			return digest, nil
		}
		if mode == ModeAPI {
			return v1.Hash{}, fmt.Errorf("%w: %s does not serve /v2/<name>/referrers (referrers-mode: api); set referrers-mode to auto or tag", ErrNoReferrersAPI, r.repo.RegistryStr())
		}
	}
	unlock := lockTag(r.repo.Tag(tagFor(r.subject)).String())
	defer unlock()
	if err := r.addToTagIndex(ctx, desc); err != nil {
		return v1.Hash{}, fmt.Errorf("referrers tag %s: %w", tagFor(r.subject), pushHint(r.repo, err))
	}
	return digest, nil
}

// waitListed reads the referrers API until it lists d, for at most listedWithin: a push is done
// when a verifier can find it, not when the registry has accepted it.
func (r *registry) waitListed(ctx context.Context, d v1.Hash, list []v1.Descriptor, has bool) error {
	deadline := time.Now().Add(listedWithin)
	wait := 50 * time.Millisecond
	for {
		if has && slices.ContainsFunc(list, func(x v1.Descriptor) bool { return x.Digest == d }) {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w: %s accepted referrer %s of %s but its referrers API did not list it within %s", ErrNotListed, r.repo.RegistryStr(), d, r.subject.DigestStr(), listedWithin)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 2*time.Second)
		var err error
		if list, has, err = r.referrers(ctx); err != nil {
			return err
		}
	}
}

// pushArtifact uploads the bundle and its referrer manifest; it returns the manifest's descriptor
// (as a referrers index lists it) and the registry's OCI-Subject answer.
func (r *registry) pushArtifact(ctx context.Context, bundle []byte, artifactType, predicateType string, created time.Time) (v1.Descriptor, string, error) {
	subj, err := remote.Head(r.subject, r.remoteOptions(ctx)...)
	if err != nil {
		return v1.Descriptor{}, "", fmt.Errorf("image %s: %w", r.subject, err)
	}
	cfg := static.NewLayer(emptyJSON, types.OCIEmptyJSON)
	layer := static.NewLayer(bundle, types.MediaType(artifactType))
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(r.repo, l, r.remoteOptions(ctx)...); err != nil {
			return v1.Descriptor{}, "", fmt.Errorf("upload bundle to %s: %w", r.repo, err)
		}
	}
	cfgDesc, err := partial.Descriptor(cfg)
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	cfgDesc.Data = emptyJSON
	layerDesc, err := partial.Descriptor(layer)
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	annotations := map[string]string{
		AnnotationContent:       "dsse-envelope",
		AnnotationPredicateType: predicateType,
		AnnotationCreated:       created.UTC().Format(time.RFC3339),
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        *cfgDesc,
		Layers:        []v1.Descriptor{*layerDesc},
		Annotations:   annotations,
		Subject:       &v1.Descriptor{MediaType: subj.MediaType, Size: subj.Size, Digest: subj.Digest},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, "", fmt.Errorf("encode referrer manifest: %w", err)
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	// A PUT by digest is idempotent, so the transport re-sends it after a lost answer.
	ociSubject, err := r.putManifest(ctx, digest.String(), raw, types.OCIManifestSchema1, nil)
	if err != nil {
		return v1.Descriptor{}, "", fmt.Errorf("push referrer for %s: %w", r.subject, err)
	}
	return v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Size:         size,
		Digest:       digest,
		ArtifactType: artifactType,
		Annotations:  annotations,
	}, ociSubject, nil
}

// bundleMediaType reads the bundle's own mediaType, so a future bundle version is labelled as what it is.
func bundleMediaType(bundle []byte) (string, error) {
	var b struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if !strings.HasPrefix(b.MediaType, bundleMediaTypePrefix) {
		return "", fmt.Errorf("%w: mediaType %q is not a Sigstore bundle", ErrBadBundle, b.MediaType)
	}
	return b.MediaType, nil
}

// tagFor is the referrers tag schema's name for a subject: its digest with ':' as '-'.
func tagFor(d name.Digest) string {
	return strings.Replace(d.DigestStr(), ":", "-", 1)
}

// tagLocks serialise read-merge-write on one referrers tag within this process, so the pushes of
// one run (SBOM, ML-BOM, provenance) never race each other even on registries that ignore If-Match.
var tagLocks sync.Map

func lockTag(key string) func() {
	mu, _ := tagLocks.LoadOrStore(key, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}

// putManifest PUTs a manifest and returns the OCI-Subject answer header; header adds conditions.
func (r *registry) putManifest(ctx context.Context, ref string, raw []byte, mt types.MediaType, header http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.url("manifests", ref), bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", string(mt))
	resp, err := r.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusPreconditionFailed {
		return "", errPrecondition
	}
	if err := ggcrtransport.CheckError(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted); err != nil {
		return "", err
	}
	return resp.Header.Get("OCI-Subject"), nil
}

var errPrecondition = errors.New("precondition failed")

// referrers reads the referrers API, following its pages; has is false when the registry does not
// serve it (the answer is not an OCI index).
func (r *registry) referrers(ctx context.Context) (list []v1.Descriptor, has bool, err error) {
	next := r.url("referrers", r.subject.DigestStr())
	for page := 0; next != ""; page++ {
		if page == maxReferrersPages {
			return nil, false, fmt.Errorf("referrers API of %s: more than %d pages", r.repo.RegistryStr(), maxReferrersPages)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, false, err
		}
		req.Header.Set("Accept", string(types.OCIImageIndex))
		resp, err := r.client.Do(req)
		if err != nil {
			return nil, false, fmt.Errorf("referrers API of %s: %w", r.repo.RegistryStr(), err)
		}
		// distribution 2.8 answers 404 for the unknown route; others 400, 405 or 406.
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)) {
			resp.Body.Close()
			if page > 0 {
				return nil, false, fmt.Errorf("referrers API of %s: page %d answered %d", r.repo.RegistryStr(), page+1, resp.StatusCode)
			}
			return nil, false, nil
		}
		b, err := localfile.ReadAll(ctx, resp.Body, -1, maxManifest)
		resp.Body.Close()
		if err != nil {
			return nil, false, fmt.Errorf("referrers API of %s: %w", r.repo.RegistryStr(), err)
		}
		im, err := parseIndex(b)
		if err != nil {
			return nil, false, fmt.Errorf("referrers API of %s: %w", r.repo.RegistryStr(), err)
		}
		list = append(list, im.Manifests...)
		next = nextLink(resp)
	}
	return list, true, nil
}

// nextLink is the Link rel="next" of an answer, resolved against its URL and kept on the same
// host: the referrers API pages this way.
func nextLink(resp *http.Response) string {
	for _, link := range resp.Header.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			target, params, ok := strings.Cut(part, ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			u, err := resp.Request.URL.Parse(target[1 : len(target)-1])
			if err != nil || u.Host != resp.Request.URL.Host || u.Scheme != resp.Request.URL.Scheme {
				return ""
			}
			return u.String()
		}
	}
	return ""
}

// getTagIndex reads the referrers tag; a missing tag is an empty index with no ETag.
func (r *registry) getTagIndex(ctx context.Context) (*v1.IndexManifest, string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("manifests", tagFor(r.subject)), nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}, "", false, nil
	}
	if err := ggcrtransport.CheckError(resp, http.StatusOK); err != nil {
		return nil, "", false, err
	}
	b, err := localfile.ReadAll(ctx, resp.Body, -1, maxManifest)
	if err != nil {
		return nil, "", false, err
	}
	im, err := parseIndex(b)
	if err != nil {
		return nil, "", false, err
	}
	return im, resp.Header.Get("ETag"), true, nil
}

// addToTagIndex adds desc to the referrers tag index by read-merge-write. Each write is
// conditional (If-Match on the ETag read, If-None-Match: * when creating), so a registry that
// honours conditions refuses a write based on a stale read with 412 and the loop re-reads. Each
// write is also read back: a registry that ignores conditions (distribution 2.8 does) may let a
// concurrent writer replace our index, and the read-back puts our entry in again. Across processes
// on such a registry a writer can still lose an entry to a slower one; only the registry can close
// that window, which is why mode auto prefers the referrers API whenever the registry has it.
func (r *registry) addToTagIndex(ctx context.Context, desc v1.Descriptor) error {
	var last error
	for try := 0; try < tagTries; try++ {
		im, etag, exists, err := r.getTagIndex(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(im.Manifests, func(d v1.Descriptor) bool { return d.Digest == desc.Digest }) {
			if try == 0 {
				return nil
			}
			// Confirm on a second read that the entry is not about to be overwritten by a racer that read before us.
			if ok, err := r.settled(ctx, desc.Digest); err != nil || ok {
				return err
			}
			continue
		}
		im.Manifests = append(im.Manifests, desc)
		slices.SortFunc(im.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
		raw, err := json.Marshal(im)
		if err != nil {
			return err
		}
		h := http.Header{}
		switch {
		case etag != "":
			h.Set("If-Match", etag)
		case !exists:
			h.Set("If-None-Match", "*")
		}
		if _, err := r.putManifest(ctx, tagFor(r.subject), raw, types.OCIImageIndex, h); err != nil {
			// Lost the race (412): the next read shows what the tag holds. Anything else the
			// transport has already retried as far as it is worth it.
			if !errors.Is(err, errPrecondition) {
				return err
			}
			last = err
			backoff(ctx, try)
		}
	}
	if last == nil {
		last = errors.New("the entry kept disappearing after each write")
	}
	return fmt.Errorf("the tag kept changing under us: gave up after %d tries (last: %v)", tagTries, last)
}

// settled waits a moment and reads the tag again: true if desc is still listed.
func (r *registry) settled(ctx context.Context, d v1.Hash) (bool, error) {
	backoff(ctx, 0)
	im, _, _, err := r.getTagIndex(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(im.Manifests, func(x v1.Descriptor) bool { return x.Digest == d }), nil
}

func backoff(ctx context.Context, try int) {
	sleep(ctx, time.Duration(10<<min(try, 6))*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// FindBundles lists the Sigstore bundles attached to subject as OCI referrers (referrers API
// in mode api, the referrers tag in mode tag, the API when the registry has it in mode auto) and
// fetches each, checking the layer digest. The bundles are not verified here.
func FindBundles(ctx context.Context, subject name.Digest, o ReferrerOptions) ([]Found, error) {
	r, err := connect(ctx, subject, o, ggcrtransport.PullScope)
	if err != nil {
		return nil, err
	}
	var list []v1.Descriptor
	mode := o.Mode
	if mode == "" {
		mode = ModeAuto
	}
	if mode != ModeTag {
		l, ok, err := r.referrers(ctx)
		switch {
		case err != nil:
			return nil, fmt.Errorf("referrers of %s: %w", r.subject, err)
		case ok:
			list = l
		case mode == ModeAPI:
			return nil, fmt.Errorf("%w: %s does not serve /v2/<name>/referrers (referrers-mode: api)", ErrNoReferrersAPI, r.repo.RegistryStr())
		default:
			mode = ModeTag
		}
	}
	if mode == ModeTag {
		im, _, _, err := r.getTagIndex(ctx)
		if err != nil {
			return nil, fmt.Errorf("referrers tag %s: %w", tagFor(r.subject), err)
		}
		list = im.Manifests
	}

	list = bundleCandidates(list)
	if len(list) > maxReferrers {
		return nil, fmt.Errorf("referrers of %s: %d candidate bundles, more than the %d read", r.subject, len(list), maxReferrers)
	}
	var found []Found
	kept := 0
	for _, d := range list {
		f, ok, err := r.fetchBundle(ctx, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if kept += len(f.Bundle); kept > maxFoundBytes {
			return nil, fmt.Errorf("referrers of %s: bundles larger than %d bytes in all", r.subject, maxFoundBytes)
		}
		found = append(found, f)
	}
	return found, nil
}

// fetchBundle reads one referrer manifest and its bundle layer; ok is false for non-bundle artifacts.
func (r *registry) fetchBundle(ctx context.Context, d v1.Descriptor) (Found, bool, error) {
	raw, err := r.getVerified(ctx, "manifests", d.Digest, maxManifest, string(types.OCIManifestSchema1))
	if err != nil {
		return Found{}, false, fmt.Errorf("referrer %s: %w", d.Digest, err)
	}
	layer, annotated, ok, err := parseReferrer(raw, r.subject.DigestStr())
	if err != nil {
		return Found{}, false, fmt.Errorf("referrer %s: %w", d.Digest, err)
	}
	if !ok {
		return Found{}, false, nil
	}
	bundle, err := r.getVerified(ctx, "blobs", layer, maxBundle, "")
	if err != nil {
		return Found{}, false, fmt.Errorf("bundle %s of referrer %s: %w", layer, d.Digest, err)
	}
	pt := statement.BundlePredicateType(bundle)
	if pt == "" {
		pt = annotated
	}
	return Found{Bundle: bundle, PredicateType: pt, Digest: d.Digest}, true, nil
}

// getVerified GETs content by digest and checks the bytes hash to it.
func (r *registry) getVerified(ctx context.Context, kind string, d v1.Hash, limit int64, accept string) ([]byte, error) {
	if d.Algorithm != "sha256" {
		return nil, fmt.Errorf("unsupported digest algorithm %q", d.Algorithm)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(kind, d.String()), nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := ggcrtransport.CheckError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	b, err := localfile.ReadAll(ctx, resp.Body, -1, limit)
	if err != nil {
		return nil, err
	}
	if got, _, err := v1.SHA256(bytes.NewReader(b)); err != nil || got != d {
		return nil, fmt.Errorf("content does not match digest %s", d)
	}
	return b, nil
}
