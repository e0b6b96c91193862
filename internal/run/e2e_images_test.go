package run_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
)

// blobCountingProxy stands in front of the tests' registry and counts the blob GETs it
// forwards, by digest: how often the binary pulled each layer.
type blobCountingProxy struct {
	Host string
	mu   sync.Mutex
	gets map[string]int
}

func startBlobCountingProxy(t *testing.T, reg *testserver.Registry) *blobCountingProxy {
	t.Helper()
	p := &blobCountingProxy{gets: map[string]int{}}
	target, _ := url.Parse("http://" + reg.Host)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.LastIndex(r.URL.Path, "/blobs/"); i >= 0 && r.Method == http.MethodGet {
			p.mu.Lock()
			p.gets[r.URL.Path[i+len("/blobs/"):]]++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (p *blobCountingProxy) count(d v1.Hash) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[d.String()]
}

// withOwnLayer is img with one more layer, holding a file that names it.
func withOwnLayer(t *testing.T, img v1.Image, label string) v1.Image {
	t.Helper()
	l, err := testimage.Layer(testimage.File{Path: "/srv/" + label + ".txt", Body: []byte(label)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// severalImages pushes three images to reg: one (a single manifest), two (a two-platform index
// whose amd64 image has one's base layers) and three (one's base and a layer of its own), and
// returns their repositories (as the proxy serves them), subject digests, and the layers one,
// two and three share.
type severalImages struct {
	repos, digests []string
	platforms      []v1.Hash // two's platform manifests
	shared         []v1.Hash // layers of the Debian base every amd64 image has
	threeOwn       v1.Hash   // three's own layer
}

func pushSeveralImages(t *testing.T, reg *testserver.Registry, host string) severalImages {
	t.Helper()
	base := debImage(t, "amd64", "")
	var s severalImages
	layers, _ := base.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		s.shared = append(s.shared, d)
	}
	one := withOwnLayer(t, base, "one")
	idx, err := testimage.Index(withOwnLayer(t, base, "two"), debImage(t, "arm64", "v8"))
	if err != nil {
		t.Fatal(err)
	}
	three := withOwnLayer(t, base, "three")
	tl, _ := three.Layers()
	s.threeOwn, _ = tl[len(tl)-1].Digest()
	for _, img := range []struct {
		repo string
		push func(name.Tag) error
		dig  func() (v1.Hash, error)
	}{
		{"acme/one", func(tag name.Tag) error { return remote.Write(tag, one) }, one.Digest},
		{"acme/two", func(tag name.Tag) error { return remote.WriteIndex(tag, idx) }, idx.Digest},
		{"acme/three", func(tag name.Tag) error { return remote.Write(tag, three) }, three.Digest},
	} {
		tag, _ := name.NewTag(reg.Host+"/"+img.repo+":main", name.Insecure)
		if err := img.push(tag); err != nil {
			t.Fatal(err)
		}
		d, _ := img.dig()
		s.repos = append(s.repos, host+"/"+img.repo)
		s.digests = append(s.digests, d.String())
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		s.platforms = append(s.platforms, m.Digest)
	}
	return s
}

// deleteBlob removes a blob from a repository of the registry: the image that needs it can no
// longer be pulled.
func deleteBlob(t *testing.T, reg *testserver.Registry, repo string, d v1.Hash) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/"+repo+"/blobs/"+d.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE blob %s: %s", d, resp.Status)
	}
}

// results reads the results output.
func resultsOf(t *testing.T, res result) map[string]map[string]any {
	t.Helper()
	var out map[string]map[string]any
	if err := json.Unmarshal([]byte(res.outputs["results"]), &out); err != nil {
		t.Fatalf("results %q: %v", res.outputs["results"], err)
	}
	return out
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestSeveralImages attests three images in one step, as a push workflow would, with the
// signing stack, the GitHub API fake and a real registry behind a proxy that counts blob pulls.
// Three's own layer is gone from the registry: one and two are attested all the same — each with
// its own files in its own directory, outputs, summary part, attestations, referrers, image
// signature, Kyverno policy and storage records — nothing is attested for three, the layers the
// three images share are pulled once, and the step exits 1 naming three and why.
func TestSeveralImages(t *testing.T) {
	reg := testserver.StartRegistry(t)
	proxy := startBlobCountingProxy(t, reg)
	imgs := pushSeveralImages(t, reg, proxy.Host)
	deleteBlob(t, reg, "acme/three", imgs.threeOwn)
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
	r := newRunner(t)
	r.extraEnv = pushEnv(stack, api)
	keys := make([]string, 3)
	for i := range keys {
		keys[i] = imgs.repos[i] + "@" + imgs.digests[i]
	}
	res := r.run(map[string]string{
		"images": strings.Join(keys, "\n"), "push-to-registry": "true", "kyverno-policy": "image-validating",
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
	})
	assertNoInjectedCommands(t, res.stdout)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 for the image that failed\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "::error::1 of 3 images failed\n::error::"+keys[2]+": image: read ") || !strings.Contains(res.stdout, imgs.threeOwn.String()) {
		t.Errorf("the error does not name three and its missing layer:\n%s", res.stdout)
	}
	for _, d := range imgs.shared {
		if n := proxy.count(d); n != 1 {
			t.Errorf("shared layer %s was pulled %d times, want once", d, n)
		}
	}
	for _, want := range []string{"::group::one: pull linux/amd64", "::group::two: scan linux/arm64/v8", "::group::three: pull linux/amd64", "were pulled once"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	out := filepath.Join(r.temp, "bom-attest")
	files := map[string][]string{
		"one": {"sbom.cdx.json", "sbom.sigstore.json", "provenance.sigstore.json", "image-signature.sigstore.json", "kyverno-policy.yaml"},
		"two": {"sbom.linux-amd64.cdx.json", "sbom.linux-arm64-v8.cdx.json", "sbom.linux-amd64.sigstore.json", "sbom.linux-arm64-v8.sigstore.json",
			"provenance.sigstore.json", "image-signature.sigstore.json", "kyverno-policy.yaml"},
	}
	for dir, names := range files {
		for _, f := range names {
			if _, err := os.Stat(filepath.Join(out, dir, f)); err != nil {
				t.Errorf("%s/%s: %v", dir, f, err)
			}
		}
	}
	doc := readBOM(t, filepath.Join(out, "one", "sbom.cdx.json"))
	if !strings.Contains(fmt.Sprint(doc["metadata"]), imgs.digests[0]) {
		t.Errorf("one's SBOM does not name one's digest")
	}
	if left, _ := filepath.Glob(filepath.Join(out, "three", "*.json")); len(left) != 0 {
		t.Errorf("files written for the image that failed: %v", left)
	}

	results := resultsOf(t, res)
	if len(results) != 3 {
		t.Fatalf("results has %d images: %v", len(results), results)
	}
	wantDocs := [][]string{{"sbom", "provenance"}, {"sbom.linux-amd64", "sbom.linux-arm64-v8", "provenance"}}
	for i, dir := range []string{"one", "two"} {
		got := results[keys[i]]
		if got["error"] != nil || got["subject-digest"] != imgs.digests[i] {
			t.Errorf("results[%s] = %v", keys[i], got)
		}
		bundles, ids := strs(got["bundle-paths"]), strs(got["attestation-ids"])
		if len(bundles) != len(wantDocs[i]) || len(ids) != len(wantDocs[i]) {
			t.Fatalf("results[%s]: bundles %v, attestation ids %v; want one per %v", keys[i], bundles, ids, wantDocs[i])
		}
		for j, d := range wantDocs[i] {
			if bundles[j] != filepath.Join(out, dir, d+".sigstore.json") {
				t.Errorf("results[%s] bundle %d = %s", keys[i], j, bundles[j])
			}
		}
		if got["kyverno-policy-path"] != filepath.Join(out, dir, admission.File) || got["image-signature-bundle-path"] != filepath.Join(out, dir, "image-signature.sigstore.json") {
			t.Errorf("results[%s] = %v", keys[i], got)
		}
	}
	three := results[keys[2]]
	if e, _ := three["error"].(string); !strings.Contains(e, imgs.threeOwn.String()) || three["sbom-path"] != nil || three["attestation-ids"] != nil {
		t.Errorf("results[three] = %v", three)
	}
	// The outputs of a run of one image are the first image's.
	for _, o := range []string{"sbom-path", "subject-digest", "bundle-paths", "attestation-ids", "kyverno-policy-path"} {
		want, _ := json.Marshal(results[keys[0]][o])
		if o == "sbom-path" || o == "subject-digest" || o == "kyverno-policy-path" {
			want = []byte(results[keys[0]][o].(string))
		}
		if res.outputs[o] != string(want) {
			t.Errorf("output %s = %s, want the first image's %s", o, res.outputs[o], want)
		}
	}

	// The GitHub API holds each attested image's attestations, about its digests; none about three's.
	about := map[string]int{}
	for _, a := range api.Attestations() {
		for _, d := range a.SubjectDigests {
			about[d]++
		}
	}
	wantAbout := map[string]int{imgs.digests[0]: 2, imgs.platforms[0].String(): 1, imgs.platforms[1].String(): 1, imgs.digests[1]: 1}
	if len(about) != len(wantAbout) {
		t.Errorf("attestations about %v, want %v", about, wantAbout)
	}
	for d, n := range wantAbout {
		if about[d] != n {
			t.Errorf("%d attestations about %s, want %d", about[d], d, n)
		}
	}
	var recorded []string
	for _, rec := range api.StorageRecords() {
		recorded = append(recorded, rec.Name+"@"+rec.Digest)
	}
	slices.Sort(recorded)
	wantRecorded := []string{keys[0], imgs.repos[1] + "@" + imgs.digests[1], imgs.repos[1] + "@" + imgs.platforms[0].String(), imgs.repos[1] + "@" + imgs.platforms[1].String()}
	slices.Sort(wantRecorded)
	if !slices.Equal(recorded, wantRecorded) {
		t.Errorf("storage records %v, want %v", recorded, wantRecorded)
	}

	// What was pushed is found again and verifies; each image's policy admits it.
	for _, ref := range []string{keys[0], imgs.repos[1] + "@" + imgs.platforms[0].String(), imgs.repos[1] + "@" + imgs.platforms[1].String()} {
		if out, err := verifyCmd("--from-registry", ref, "--trusted-root", stack.TrustedRootPath, "--owner", "acme",
			"--cert-oidc-issuer", stack.OIDC.URL, "--predicate-type", "https://cyclonedx.org/bom"); err != nil || !strings.Contains(out, "verified") {
			t.Errorf("verify --from-registry %s: %v\n%s", ref, err, out)
		}
	}
	for i, dir := range []string{"one", "two"} {
		if out, err := verifyCmd("--policy", filepath.Join(out, dir, admission.File), keys[i]); err != nil || !strings.Contains(out, "✓ admitted") {
			t.Errorf("%s's policy does not admit it: %v\n%s", dir, err, out)
		}
	}
	if out, err := verifyCmd("--from-registry", keys[2], "--trusted-root", stack.TrustedRootPath, "--owner", "acme", "--cert-oidc-issuer", stack.OIDC.URL); err == nil {
		t.Errorf("three has attestations in the registry:\n%s", out)
	}

	for _, want := range []string{
		"## bom-attest: 3 images", "**Failed:** 1 of 3 images failed:",
		"| `" + imgs.repos[0] + "` | `" + imgs.digests[0][:19] + "…` | ✅ written, signed and published |",
		"| `" + imgs.repos[2] + "` | `" + imgs.digests[2][:19] + "…` | ❌ image",
		"## " + imgs.repos[1] + "\n", "| linux/arm64/v8 |", "`" + filepath.Join(out, "two", "sbom.linux-arm64-v8.cdx.json") + "`",
		"### Kyverno admission policy", "### Image signature",
		"## " + imgs.repos[2] + "\n\n> [!CAUTION]\n> **Failed:** image: read " + keys[2],
		"- ❌ not done: SBOM for linux/amd64 (three/sbom.cdx.json)",
	} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
	if strings.Count(res.summary, "### Attestations") != 2 {
		t.Errorf("summary has %d attestation tables, want one per attested image", strings.Count(res.summary, "### Attestations"))
	}
}

// TestSeveralImagesDryRun: two images in a pull request's dry run with the vulnerability scan
// and a gate every image fails: each image's statements and report are written in its own
// directory, nothing is sent anywhere, and the step exits 2 — only gates failed. A second run
// removes what the first left in the image directories.
func TestSeveralImagesDryRun(t *testing.T) {
	reg := testserver.StartRegistry(t)
	imgs := pushSeveralImages(t, reg, reg.Host)
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
	db := grypedbtest.Start(t, grypedbtest.Options{Built: time.Now().Add(-time.Hour)})
	r := newRunner(t)
	r.extraEnv = signingEnv(stack, api)
	r.extraEnv["GITHUB_WORKFLOW_REF"] = "acme/app/.github/workflows/ci.yml@refs/pull/7/merge"
	keys := []string{imgs.repos[0] + "@" + imgs.digests[0], imgs.repos[1] + "@" + imgs.digests[1]}
	with := map[string]string{
		"images": keys[0] + ", " + keys[1], "dry-run": "true", "push-to-registry": "true", "kyverno-policy": "cluster-policy",
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
		"vulnerability-scan": "true", "grype-db-url": db.URL, "fail-on-severity": "negligible",
		"compliance": "cisa", "compliance-fail-under": "100",
	}
	out := filepath.Join(r.temp, "bom-attest")
	// What a run of one image left directly in output-dir goes, as always.
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "sbom.cdx.json"), []byte("old"), 0o644)

	res := r.run(with)
	assertNoInjectedCommands(t, res.stdout)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2: only gates failed\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "::error::2 of 2 images failed\n::error::"+keys[0]+": ") || !strings.Contains(res.stdout, "removed sbom.cdx.json") {
		t.Errorf("log:\n%s", res.stdout)
	}
	sent := map[string]int{"OIDC": stack.OIDC.Faults.Requests(), "Fulcio": stack.Fulcio.Requests(), "Rekor": stack.Rekor.Requests(), "GitHub API": len(api.Requests())}
	for server, n := range sent {
		if n != 0 {
			t.Errorf("dry run sent %d requests to %s", n, server)
		}
	}
	files := map[string][]string{
		"one": {"sbom.cdx.json", "sbom.intoto.json", "vulnerabilities.cdx.json", "vulnerabilities.intoto.json", "image-signature.intoto.json", "kyverno-policy.yaml", "compliance.json"},
		"two": {"sbom.linux-amd64.cdx.json", "sbom.linux-arm64-v8.intoto.json", "vulnerabilities.linux-arm64-v8.cdx.json", "image-signature.intoto.json", "kyverno-policy.yaml", "compliance.json"},
	}
	for dir, names := range files {
		for _, f := range names {
			if _, err := os.Stat(filepath.Join(out, dir, f)); err != nil {
				t.Errorf("%s/%s: %v", dir, f, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "sbom.cdx.json")); err == nil {
		t.Error("the earlier run's file in output-dir stays")
	}
	results := resultsOf(t, res)
	for i, dir := range []string{"one", "two"} {
		got := results[keys[i]]
		// Each image's gates, both of them, in its own error.
		if e, _ := got["error"].(string); !strings.Contains(e, "negligible") || !strings.Contains(e, "compliance-fail-under") {
			t.Errorf("results[%s] error = %v, want both gates", keys[i], got["error"])
		}
		if s, _ := got["compliance-score"].(string); s == "" {
			t.Errorf("results[%s] has no compliance-score: %v", keys[i], got)
		}
		counts, _ := got["vulnerability-counts"].(map[string]any)
		if counts["negligible"] != float64(1) || len(strs(got["vulnerability-report-paths"])) == 0 || !strings.HasPrefix(strs(got["sbom-paths"])[0], filepath.Join(out, dir)) {
			t.Errorf("results[%s] = %v", keys[i], got)
		}
	}
	if res.outputs["sbom-path"] != filepath.Join(out, "one", "sbom.cdx.json") || res.outputs["dry-run"] != "true" {
		t.Errorf("outputs = %v", res.outputs)
	}
	for _, want := range []string{"## bom-attest: 2 images", "Attestations (dry run", "### Vulnerabilities", "## " + imgs.repos[1] + "\n"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}

	// The next run removes what this one left in the image directories, and names each file.
	with["images"] = keys[1]
	res = r.run(with)
	if res.code != 2 {
		t.Fatalf("second run: exit %d\n%s", res.code, res.stdout)
	}
	for _, f := range []string{"one/sbom.intoto.json", "two/kyverno-policy.yaml"} {
		if !strings.Contains(res.stdout, "removed "+f) {
			t.Errorf("the second run's log does not say %s was removed", f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "one")); err == nil {
		t.Error("the first run's image directory stays")
	}
	// A run of one image writes its files directly in output-dir, as it always did.
	if _, err := os.Stat(filepath.Join(out, "sbom.linux-amd64.cdx.json")); err != nil {
		t.Errorf("a run of one image: %v", err)
	}
}

// verifyCmd runs `bom-attest verify` with args.
func verifyCmd(args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"verify"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
