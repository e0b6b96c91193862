package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// testRegistry is a real registry on loopback; api says whether it serves the referrers API.
type testRegistry struct {
	name string
	host string
	api  bool
}

// registries starts the two registries the referrers code must work against:
// go-containerregistry's in-memory one (referrers API) and Debian's docker-registry
// (distribution 2.8: no referrers API, so the tag schema).
func registries(t *testing.T) []testRegistry {
	t.Helper()
	mem := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(mem.Close)
	dist := testserver.StartRegistry(t)
	return []testRegistry{
		{name: "ggcr-memory", host: strings.TrimPrefix(mem.URL, "http://"), api: true},
		{name: "distribution-2.8", host: dist.Host, api: false},
	}
}

// pushImage pushes a small real image and returns it by digest.
func pushImage(t *testing.T, host, repo, content string) name.Digest {
	t.Helper()
	d := store.PushTestImage(t, host, repo, content)
	// Parsed as a user's reference would be: store itself decides loopback means plain HTTP.
	ref, err := name.NewDigest(host + "/" + repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

var created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func opts(mode store.ReferrersMode) store.ReferrerOptions {
	return store.ReferrerOptions{Mode: mode, UserAgent: testUA, Now: func() time.Time { return created }}
}

// tagExists reports whether the referrers tag of subject is there.
func tagExists(t *testing.T, subject name.Digest) bool {
	t.Helper()
	tag := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	_, err := remote.Head(tag)
	return err == nil
}

func TestPushReferrerAndFind(t *testing.T) {
	for _, reg := range registries(t) {
		for _, mode := range []store.ReferrersMode{"", store.ModeAuto, store.ModeAPI, store.ModeTag} {
			t.Run(reg.name+"/"+string(mode), func(t *testing.T) {
				subject := pushImage(t, reg.host, "app/"+strings.ToLower(reg.name)+"/mode"+string(mode), "mode "+string(mode))
				bundle := shapeBundle(t, subject.DigestStr()[len("sha256:"):], "https://cyclonedx.org/bom")

				got, err := store.PushReferrer(context.Background(), subject, bundle, "https://cyclonedx.org/bom", opts(mode))
				if mode == store.ModeAPI && !reg.api {
					if !errors.Is(err, store.ErrNoReferrersAPI) {
						t.Fatalf("PushReferrer() error = %v, want ErrNoReferrersAPI", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("PushReferrer: %v", err)
				}

				// The tag schema is used exactly when the registry has no API or it is asked for.
				wantTag := mode == store.ModeTag || !reg.api
				if tagExists(t, subject) != wantTag {
					t.Errorf("referrers tag present = %v, want %v", !wantTag, wantTag)
				}

				checkReferrerManifest(t, subject, got)

				found, err := store.FindBundles(context.Background(), subject, opts(mode))
				if err != nil {
					t.Fatalf("FindBundles: %v", err)
				}
				if len(found) != 1 {
					t.Fatalf("found %d bundles, want 1", len(found))
				}
				if found[0].Digest != got || string(found[0].Bundle) != string(bundle) || found[0].PredicateType != "https://cyclonedx.org/bom" {
					t.Errorf("found %+v, want digest %s and the pushed bundle", found[0], got)
				}

				// Pushing the same bundle again adds no second entry.
				again, err := store.PushReferrer(context.Background(), subject, bundle, "https://cyclonedx.org/bom", opts(mode))
				if err != nil || again != got {
					t.Fatalf("second push = %s, %v; want %s", again, err, got)
				}
				found, err = store.FindBundles(context.Background(), subject, opts(mode))
				if err != nil || len(found) != 1 {
					t.Errorf("after a repeated push found %d bundles (%v), want 1", len(found), err)
				}
			})
		}
	}
}

// checkReferrerManifest reads the referrer back as a verifier would and checks its shape.
func checkReferrerManifest(t *testing.T, subject name.Digest, d v1.Hash) {
	t.Helper()
	desc, err := remote.Get(subject.Context().Digest(d.String()))
	if err != nil {
		t.Fatalf("get referrer: %v", err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	subjDesc, err := remote.Head(subject)
	if err != nil {
		t.Fatal(err)
	}
	problems := []string{}
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(desc.MediaType == types.OCIManifestSchema1, "mediaType %s", desc.MediaType)
	check(m.ArtifactType == "application/vnd.dev.sigstore.bundle.v0.3+json", "artifactType %q", m.ArtifactType)
	check(m.Config.MediaType == types.OCIEmptyJSON && m.Config.Size == 2 &&
		m.Config.Digest.String() == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "config %+v", m.Config)
	check(len(m.Layers) == 1 && m.Layers[0].MediaType == "application/vnd.dev.sigstore.bundle.v0.3+json", "layers %+v", m.Layers)
	check(m.Subject != nil && m.Subject.Digest == subjDesc.Digest && m.Subject.Size == subjDesc.Size && m.Subject.MediaType == subjDesc.MediaType, "subject %+v, want %+v", m.Subject, subjDesc)
	check(m.Annotations["dev.sigstore.bundle.content"] == "dsse-envelope", "content annotation %q", m.Annotations["dev.sigstore.bundle.content"])
	check(m.Annotations["dev.sigstore.bundle.predicateType"] == "https://cyclonedx.org/bom", "predicateType annotation %q", m.Annotations["dev.sigstore.bundle.predicateType"])
	check(m.Annotations["org.opencontainers.image.created"] == "2025-03-04T05:06:07Z", "created annotation %q", m.Annotations["org.opencontainers.image.created"])
	for _, p := range problems {
		t.Errorf("referrer manifest: %s", p)
	}
}

// TestConcurrentPushes pushes many bundles to one subject at once; every one must stay listed,
// including on the registry where they all share one referrers tag.
func TestConcurrentPushes(t *testing.T) {
	const n = 8
	for _, reg := range registries(t) {
		t.Run(reg.name, func(t *testing.T) {
			subject := pushImage(t, reg.host, "app/concurrent", "concurrent")
			hex := subject.DigestStr()[len("sha256:"):]
			var wg sync.WaitGroup
			pushed := make([]v1.Hash, n)
			errs := make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					pt := fmt.Sprintf("https://example.com/predicate/%d", i)
					pushed[i], errs[i] = store.PushReferrer(context.Background(), subject, shapeBundle(t, hex, pt), pt, opts(store.ModeAuto))
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
			}
			found, err := store.FindBundles(context.Background(), subject, opts(store.ModeAuto))
			if err != nil {
				t.Fatalf("FindBundles: %v", err)
			}
			got := map[v1.Hash]string{}
			for _, f := range found {
				got[f.Digest] = f.PredicateType
			}
			for i, d := range pushed {
				if got[d] != fmt.Sprintf("https://example.com/predicate/%d", i) {
					t.Errorf("push %d (%s) is not listed; found %d of %d", i, d, len(found), n)
				}
			}
		})
	}
}

func TestReferrerOptionsRefused(t *testing.T) {
	loop, err := name.NewDigest("127.0.0.1:5000/app@sha256:" + subjectHex)
	if err != nil {
		t.Fatal(err)
	}
	remoteHost, err := name.NewDigest("registry.example.com/app@sha256:"+subjectHex, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	private, err := name.NewDigest("10.1.2.3:5000/app@sha256:" + subjectHex)
	if err != nil {
		t.Fatal(err)
	}
	bundle := shapeBundle(t, subjectHex, "x")
	tests := []struct {
		name    string
		subject name.Digest
		bundle  []byte
		err     error
	}{
		{name: "insecure name off loopback", subject: remoteHost, bundle: bundle, err: store.ErrInsecure},
		{name: "private address over plain HTTP", subject: private, bundle: bundle, err: store.ErrInsecure},
		{name: "not a bundle", subject: loop, bundle: []byte(`{"mediaType":"application/json"}`), err: store.ErrBadBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.PushReferrer(context.Background(), tt.subject, tt.bundle, "x", store.ReferrerOptions{})
			if !errors.Is(err, tt.err) {
				t.Fatalf("PushReferrer() error = %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := store.FindBundles(context.Background(), loop, store.ReferrerOptions{Mode: "sometimes"}); err == nil || !strings.Contains(err.Error(), "referrers-mode") {
		t.Errorf("FindBundles with a bad mode: %v, want an error naming referrers-mode", err)
	}
}

// TestFindBundlesSkipsOthers: other artifacts and entries for another image under the same
// referrers tag are not returned as this image's bundles.
func TestFindBundlesSkipsOthers(t *testing.T) {
	dist := testserver.StartRegistry(t)
	subject := pushImage(t, dist.Host, "app/others", "a")
	other := pushImage(t, dist.Host, "app/others", "b")
	hex := subject.DigestStr()[len("sha256:"):]
	mine, err := store.PushReferrer(context.Background(), subject, shapeBundle(t, hex, "mine"), "mine", opts(store.ModeTag))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := store.PushReferrer(context.Background(), other, shapeBundle(t, hex, "theirs"), "theirs", opts(store.ModeTag))
	if err != nil {
		t.Fatal(err)
	}
	// Graft the other image's referrer into this image's referrers tag, as a careless or hostile writer could.
	tag := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	idx, err := remote.Index(tag)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	otherIdx, err := remote.Index(other.Context().Tag(strings.Replace(other.DigestStr(), ":", "-", 1)))
	if err != nil {
		t.Fatal(err)
	}
	oim, err := otherIdx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	im.Manifests = append(im.Manifests, oim.Manifests...)
	if err := remote.Put(tag, rawIndex{im}); err != nil {
		t.Fatal(err)
	}
	found, err := store.FindBundles(context.Background(), subject, opts(store.ModeAuto))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Digest != mine {
		t.Errorf("found %v, want only %s (not %s)", found, mine, theirs)
	}
}

type rawIndex struct{ im *v1.IndexManifest }

func (r rawIndex) RawManifest() ([]byte, error) {
	return json.Marshal(r.im)
}

func (r rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
