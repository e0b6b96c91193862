package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// tagProxy sits in front of a real docker-registry and intercepts writes of one referrers tag.
type tagProxy struct {
	backend string
	rp      *httputil.ReverseProxy
	tagPath string

	// onPut decides a PUT of the tag; nil forwards it.
	onPut func(w http.ResponseWriter, r *http.Request) bool

	// The first `hold` GETs of the tag wait for each other, so every writer reads the same version.
	mu      sync.Mutex
	hold    int
	arrived int
	release chan struct{}
}

func startTagProxy(t *testing.T, backend string) (*tagProxy, string) {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: backend}
	p := &tagProxy{backend: backend, rp: httputil.NewSingleHostReverseProxy(u), release: make(chan struct{})}
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		t.Logf("proxy: %s %s: %v", r.Method, r.URL.Path, err)
		w.WriteHeader(http.StatusBadGateway)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, strings.TrimPrefix(srv.URL, "http://")
}

func (p *tagProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == p.tagPath {
		switch r.Method {
		case http.MethodGet:
			p.mu.Lock()
			wait := p.arrived < p.hold
			p.arrived++
			if p.arrived == p.hold {
				close(p.release)
			}
			p.mu.Unlock()
			if wait {
				select {
				case <-p.release:
				case <-time.After(5 * time.Second):
				}
			}
		case http.MethodPut:
			if p.onPut != nil && p.onPut(w, r) {
				return
			}
		}
	}
	p.rp.ServeHTTP(w, r)
}

// current is the tag's ETag on the backend, "" when the tag does not exist.
func (p *tagProxy) current(t *testing.T) string {
	req, _ := http.NewRequest(http.MethodHead, "http://"+p.backend+p.tagPath, nil)
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	return `"` + resp.Header.Get("Docker-Content-Digest") + `"`
}

func testBundle(i int) []byte {
	st := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://example.com/p/%d","predicate":{}}`, i)
	b, _ := json.Marshal(map[string]any{
		"mediaType":    BundleMediaType,
		"dsseEnvelope": map[string]any{"payload": st, "payloadType": "application/vnd.in-toto+json"},
	})
	return b
}

// setup pushes an image to a real docker-registry and n referrer manifests for it, reached
// through a tagProxy; it returns the proxy and a registry handle whose addToTagIndex is
// called directly, without the in-process lock, as separate processes would.
func setup(t *testing.T, n int) (*tagProxy, *registry, []v1.Descriptor) {
	t.Helper()
	dist := testserver.StartRegistry(t)
	d := PushTestImage(t, dist.Host, "app/cas", t.Name())
	proxy, host := startTagProxy(t, dist.Host)
	subject, err := name.NewDigest(host+"/app/cas@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	proxy.tagPath = "/v2/app/cas/manifests/" + tagFor(subject)
	ctx := context.Background()
	r, err := connect(ctx, subject, ReferrerOptions{}, transport.PushScope)
	if err != nil {
		t.Fatal(err)
	}
	var descs []v1.Descriptor
	for i := range n {
		desc, _, err := r.pushArtifact(ctx, testBundle(i), BundleMediaType, fmt.Sprintf("https://example.com/p/%d", i), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, desc)
	}
	return proxy, r, descs
}

func listed(t *testing.T, r *registry) map[v1.Hash]bool {
	t.Helper()
	im, _, _, err := r.getTagIndex(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		m[d.Digest] = true
	}
	return m
}

// TestTagIndexConditionalWrites: on a registry that honours If-Match / If-None-Match (emulated by
// the proxy, since distribution 2.8 ignores them), writers that all read the same version lose
// the race with 412, re-read and merge, and every entry survives.
func TestTagIndexConditionalWrites(t *testing.T) {
	const n = 6
	proxy, r, descs := setup(t, n)
	var refused atomic.Int32
	var serial sync.Mutex
	proxy.onPut = func(w http.ResponseWriter, req *http.Request) bool {
		serial.Lock()
		defer serial.Unlock()
		cur := proxy.current(t)
		ifMatch, ifNone := req.Header.Get("If-Match"), req.Header.Get("If-None-Match")
		switch {
		case ifMatch == "" && ifNone == "":
			w.WriteHeader(http.StatusPreconditionRequired)
			return true
		case ifMatch != "" && ifMatch != cur, ifNone == "*" && cur != "":
			refused.Add(1)
			w.WriteHeader(http.StatusPreconditionFailed)
			return true
		}
		proxy.rp.ServeHTTP(w, req) // under serial, so check and write are one step
		return true
	}
	proxy.hold = n

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.addToTagIndex(context.Background(), descs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	got := listed(t, r)
	for i, d := range descs {
		if !got[d.Digest] {
			t.Errorf("entry %d lost", i)
		}
	}
	if refused.Load() < n-1 {
		t.Errorf("only %d writes were refused; the writers did not race (want at least %d)", refused.Load(), n-1)
	}
}

// TestTagIndexReadBack: on a registry that ignores conditions, a writer whose index is replaced
// right after its write (by a racer that read earlier) finds its entry gone and writes it again.
func TestTagIndexReadBack(t *testing.T) {
	proxy, r, descs := setup(t, 2)
	mine, theirs := descs[0], descs[1]
	var once sync.Once
	proxy.onPut = func(w http.ResponseWriter, req *http.Request) bool {
		body := new(bytes.Buffer)
		body.ReadFrom(req.Body)
		req.Body.Close()
		fwd := func(b []byte) *http.Response {
			out, _ := http.NewRequest(http.MethodPut, "http://"+proxy.backend+proxy.tagPath, bytes.NewReader(b))
			out.Header.Set("Content-Type", string(types.OCIImageIndex))
			resp, err := http.DefaultClient.Do(out)
			if err != nil {
				t.Error(err)
				return nil
			}
			resp.Body.Close()
			return resp
		}
		resp := fwd(body.Bytes())
		once.Do(func() {
			// The racer's stale write lands after ours: an index with only its own entry.
			stale, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{theirs}})
			fwd(stale)
		})
		if resp != nil {
			w.Header().Set("Docker-Content-Digest", resp.Header.Get("Docker-Content-Digest"))
			w.WriteHeader(resp.StatusCode)
		}
		return true
	}
	if err := r.addToTagIndex(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	got := listed(t, r)
	if !got[mine.Digest] || !got[theirs.Digest] {
		t.Errorf("index lists %v; want both %s (ours, re-added) and %s (the racer's)", got, mine.Digest, theirs.Digest)
	}
}

// referrersProxy sits in front of go-containerregistry's in-memory registry (which serves the
// referrers API) and changes what the referrers endpoint answers: hide answers an empty list
// to the first hide reads, as a registry that indexes referrers asynchronously does; paged
// answers one referrer per page, linked with Link rel="next".
type referrersProxy struct {
	mem   http.Handler
	hide  int32
	paged bool
	reads atomic.Int32
}

func (p *referrersProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/referrers/") || r.Method != http.MethodGet {
		p.mem.ServeHTTP(w, r)
		return
	}
	n := p.reads.Add(1)
	rec := httptest.NewRecorder()
	page := r.URL.Query().Get("page")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = ""
	p.mem.ServeHTTP(rec, r2)
	im, err := v1.ParseIndexManifest(rec.Body)
	if rec.Code != http.StatusOK || err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	switch {
	case p.hide < 0 || n <= p.hide:
		im.Manifests = nil
	case p.paged:
		// The in-memory registry lists from a map: sort, so pages are stable.
		slices.SortFunc(im.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
		i := 0
		fmt.Sscan(page, &i)
		if i+1 < len(im.Manifests) {
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, i+1))
		}
		if i < len(im.Manifests) {
			im.Manifests = im.Manifests[i : i+1]
		}
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	json.NewEncoder(w).Encode(im)
}

func startReferrersProxy(t *testing.T, p *referrersProxy) string {
	t.Helper()
	p.mem = ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushTestImage pushes a small real image (one file, etc/motd, holding content) to host/repo
// and returns its digest; exported for the package's external tests.
func PushTestImage(t *testing.T, host, repo, content string) v1.Hash {
	t.Helper()
	layer, err := testimage.Layer(testimage.File{Path: "etc/motd", Body: []byte(content)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, layer)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host+"/"+repo+":latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push image: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readbackSubject pushes an image through a referrersProxy and names it there.
func readbackSubject(t *testing.T, p *referrersProxy) name.Digest {
	t.Helper()
	host := startReferrersProxy(t, p)
	subject, err := name.NewDigest(host+"/app/readback@"+PushTestImage(t, host, "app/readback", t.Name()).String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return subject
}

// TestReferrersReadBack: a push to a registry with the referrers API is done only once the API
// lists the referrer; one that never lists it fails, after a bounded wait, with ErrNotListed.
func TestReferrersReadBack(t *testing.T) {
	defer func(d time.Duration) { listedWithin = d }(listedWithin)
	listedWithin = 2 * time.Second
	tests := []struct {
		name  string
		hide  int32
		reads int32 // at least
		err   error
	}{
		{name: "listed at once", hide: 0, reads: 1},
		{name: "listed after three reads", hide: 3, reads: 4},
		{name: "never listed", hide: -1, reads: 3, err: ErrNotListed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &referrersProxy{hide: tt.hide}
			subject := readbackSubject(t, p)
			start := time.Now()
			_, err := PushReferrer(context.Background(), subject, testBundle(1), "https://example.com/p/1", ReferrerOptions{Mode: ModeAPI})
			if !errors.Is(err, tt.err) {
				t.Fatalf("PushReferrer() error = %v, want %v", err, tt.err)
			}
			if got := p.reads.Load(); got < tt.reads {
				t.Errorf("the referrers API was read %d times, want at least %d", got, tt.reads)
			}
			if d := time.Since(start); d > listedWithin+2*time.Second {
				t.Errorf("took %s, more than the %s bound", d, listedWithin)
			}
		})
	}
}

// TestReferrersPaged: a referrers API that pages its answer is followed to the last page.
func TestReferrersPaged(t *testing.T) {
	p := &referrersProxy{paged: true}
	subject := readbackSubject(t, p)
	want := map[v1.Hash]bool{}
	for i := range 3 {
		d, err := PushReferrer(context.Background(), subject, testBundle(i), fmt.Sprintf("https://example.com/p/%d", i), ReferrerOptions{Mode: ModeAPI})
		if err != nil {
			t.Fatal(err)
		}
		want[d] = true
	}
	found, err := FindBundles(context.Background(), subject, ReferrerOptions{Mode: ModeAPI})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		delete(want, f.Digest)
	}
	if len(found) != 3 || len(want) != 0 {
		t.Errorf("found %d bundles; not found: %v", len(found), want)
	}
}
