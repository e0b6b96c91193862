package run_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// ownCommands are the workflow commands bom-attest itself writes.
var ownCommands = map[string]bool{"add-mask": true, "group": true, "endgroup": true, "notice": true, "warning": true, "error": true}

// injected is the mark every hostile string below carries right after its command, so a line
// the runner would take as that command is told from the action's own.
const injected = "PWNED"

// assertNoInjectedCommands fails the test on every line injectedLines finds in stdout.
func assertNoInjectedCommands(t *testing.T, stdout string) {
	t.Helper()
	for _, l := range injectedLines(stdout) {
		t.Errorf("hostile text steers the runner: %q", l)
	}
}

// injectedLines reads stdout as the runner does — lines end at CR or LF, leading white space is
// skipped, "::" starts a command and "##[" anywhere starts an old-style one — and returns the
// lines that are not the action's own: another command, a command carrying hostile text, an
// old-style command, or a line that starts with hostile text.
func injectedLines(stdout string) []string {
	var bad []string
	for _, line := range strings.FieldsFunc(stdout, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l := strings.TrimLeftFunc(line, unicode.IsSpace)
		rest, isCommand := strings.CutPrefix(l, "::")
		info, data, _ := strings.Cut(rest, "::")
		cmd, _, _ := strings.Cut(info, " ")
		switch {
		case strings.Contains(line, "##["), strings.HasPrefix(l, injected):
		case isCommand && (!ownCommands[cmd] || strings.HasPrefix(data, injected) || strings.Contains(info, injected)):
		default:
			continue
		}
		bad = append(bad, line)
	}
	return bad
}

// TestInjectedLines checks the checker on what the log looked like before escaping.
func TestInjectedLines(t *testing.T) {
	log := "::add-mask::x\n::group::resolve oci-dir:/w/x\n::stop-commands::PWNED-dir\r::warning::PWNED%0A\n" +
		"wrote a ##[error]PWNED\n  PWNED\n::warning::image is a tag ::PWNED\n::endgroup::\n"
	got := injectedLines(log)
	want := []string{"::stop-commands::PWNED-dir", "::warning::PWNED%0A", "wrote a ##[error]PWNED", "  PWNED"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("injectedLines = %q, want %q", got, want)
	}
}

// hostileText is what an image, a file name or a path could carry, every variant marked.
func hostileText(where string) string {
	return "x\n::stop-commands::" + injected + "-" + where + "\r::warning::" + injected + "%0A::set-output name=a::" + injected + " ##[error]" + injected
}

// TestHostileTextNeverStartsALine feeds hostile text to the binary by every road it has into
// the log — directory and file names, output-dir, the image's platform and annotations, a
// license in the image — and reads stdout as the runner would.
func TestHostileTextNeverStartsALine(t *testing.T) {
	sample, _ := filepath.Abs("../../testdata/sample-image")

	t.Run("paths and file names", func(t *testing.T) {
		r := newRunner(t)
		// An oci-dir: whose directory name, and so the image's fallback name, is hostile.
		imgDir := filepath.Join(r.workspace, hostileText("dir"))
		if err := os.Symlink(sample, imgDir); err != nil {
			t.Fatal(err)
		}
		seed, err := os.ReadFile("../modelmanifest/testdata/good/seed.yaml")
		if err != nil {
			t.Fatal(err)
		}
		manifest := hostileText("manifest") + ".yaml"
		os.WriteFile(filepath.Join(r.workspace, manifest), seed, 0o644)
		res := r.run(map[string]string{"image": "oci-dir:" + imgDir, "model-manifest": manifest, "output-dir": hostileText("out")})
		assertNoInjectedCommands(t, res.stdout)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		if !strings.Contains(res.outputs["sbom-path"], "::stop-commands::"+injected+"-out") {
			t.Errorf("sbom-path = %q, want the output-dir as given", res.outputs["sbom-path"])
		}
	})

	t.Run("a bad manifest's file name", func(t *testing.T) {
		r := newRunner(t)
		manifest := hostileText("bad-manifest") + ".yaml"
		os.WriteFile(filepath.Join(r.workspace, manifest), []byte("models: [\n"), 0o644)
		res := r.run(map[string]string{"image": "oci-dir:" + sample, "model-manifest": manifest})
		assertNoInjectedCommands(t, res.stdout)
		if res.code != 1 || !strings.Contains(res.stdout, "::error::model-manifest: ") {
			t.Fatalf("exit %d, want an error naming model-manifest:\n%s", res.code, res.stdout)
		}
	})

	t.Run("the image's platform and annotations", func(t *testing.T) {
		r := newRunner(t)
		layer, err := testimage.Layer(testimage.OSRelease("12", "bookworm"))
		if err != nil {
			t.Fatal(err)
		}
		// The image stage may refuse such a platform outright; either way no line may carry it.
		img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: "amd64" + hostileText("arch"), Variant: hostileText("variant")}, layer)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(r.workspace, "layout")
		if err := testimage.WriteLayout(dir, img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": "ghcr.io/acme/app:1" + hostileText("ref"),
			"org.opencontainers.image.title":    hostileText("title"),
		})); err != nil {
			t.Fatal(err)
		}
		res := r.run(map[string]string{"image": "oci-dir:" + dir})
		assertNoInjectedCommands(t, res.stdout)
		if res.code != 0 && (res.code != 1 || !strings.Contains(res.stdout, "::error::image: ")) {
			t.Fatalf("exit %d, want success or an error naming image:\n%s", res.code, res.stdout)
		}
	})

	t.Run("the image's contents", func(t *testing.T) {
		r := newRunner(t)
		dir := filepath.Join(r.workspace, "layout")
		if err := testimage.WriteOneLayer(dir, append([]testimage.File{testimage.OSRelease("12", "bookworm")},
			testimage.DistInfo("/usr/lib/python3/dist-packages", testimage.PythonPackage{Name: "evil", Version: "1.0",
				License: "MIT [click](https://evil.example/x) ![t](https://evil.example/p.png) <img src=https://evil.example/q.png> " + hostileText("license")})...)...); err != nil {
			t.Fatal(err)
		}
		res := r.run(map[string]string{"image": "oci-dir:" + dir})
		assertNoInjectedCommands(t, res.stdout)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		if !strings.Contains(res.summary, "evil.example") {
			t.Fatalf("the license did not reach the summary:\n%s", res.summary)
		}
		var html bytes.Buffer
		if err := goldmark.New(goldmark.WithExtensions(extension.GFM)).Convert([]byte(res.summary), &html); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{`href="https://evil.example`, "<img"} {
			if strings.Contains(html.String(), bad) {
				t.Errorf("the summary renders %s from the image:\n%s", bad, res.summary)
			}
		}
	})
}

// TestFailedRunReportsOnlyFinishedWork scans a two-platform image whose second platform cannot
// be read (its layer is gone from the registry), into an output-dir an earlier run left files
// in: nothing from before survives under the action's names, no output reads as success, and
// the summary says which SBOM was written and which was not.
func TestFailedRunReportsOnlyFinishedWork(t *testing.T) {
	reg := testserver.StartRegistry(t)
	repo := reg.Host + "/acme/half"
	arm := debImage(t, "arm64", "v8")
	idx, err := testimage.Index(debImage(t, "amd64", ""), arm)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(repo+":main", name.Insecure)
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	layers, _ := arm.Layers()
	ld, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+reg.Host+"/v2/acme/half/blobs/"+ld.String(), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete the arm64 layer: %v %v", err, resp)
	}
	d, _ := idx.Digest()

	r := newRunner(t)
	out := filepath.Join(r.temp, "bom-attest")
	os.MkdirAll(out, 0o755)
	elsewhere := filepath.Join(r.temp, "elsewhere.json")
	os.WriteFile(elsewhere, []byte("keep"), 0o644)
	stale := map[string]bool{"sbom.linux-arm64-v8.cdx.json": true, "sbom.linux-arm64-v8.intoto.json": true, "notes.txt": false}
	for f := range stale {
		os.WriteFile(filepath.Join(out, f), []byte("from an earlier run"), 0o644)
	}
	os.Symlink(elsewhere, filepath.Join(out, "provenance.intoto.json"))

	res := r.run(map[string]string{"subject-name": repo, "subject-digest": d.String()})
	assertNoInjectedCommands(t, res.stdout)
	if res.code != 1 || !strings.Contains(res.stdout, "::error::") {
		t.Fatalf("exit %d, want a failure\n%s", res.code, res.stdout)
	}
	for f, removed := range stale {
		_, err := os.Stat(filepath.Join(out, f))
		if removed != (err != nil) {
			t.Errorf("%s: removed=%v, want %v", f, err != nil, removed)
		}
		if removed && !strings.Contains(res.stdout, "removed "+f) {
			t.Errorf("the log does not say %s was removed", f)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "provenance.intoto.json")); err != nil || string(b) != "keep" {
		t.Errorf("the link in output-dir or what it points to was touched: %v %q", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "sbom.linux-amd64.cdx.json")); err != nil {
		t.Errorf("the finished platform's SBOM is missing: %v", err)
	}
	for _, o := range []string{"sbom-path", "sbom-paths", "component-count", "model-count", "mlbom-path", "bundle-path", "bundle-paths", "attestation-id", "attestation-ids"} {
		if v, ok := res.outputs[o]; ok {
			t.Errorf("output %s = %q after a failed run", o, v)
		}
	}
	if res.outputs["dry-run"] != "true" || res.outputs["subject-digest"] != d.String() {
		t.Errorf("outputs = %v", res.outputs)
	}
	for _, want := range []string{"**Failed:**", "### Done before the failure",
		"- ✅ done: SBOM for linux/amd64 written: ", "- ❌ not done: SBOM for linux/arm64/v8 (sbom.linux-arm64-v8.cdx.json)",
		"- ❌ not done: sbom.linux-amd64: unsigned statement written"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
}

// TestPublishFailsMidway signs two documents and has the GitHub API store the first and refuse
// the second: the bundles are all written and reported, the attestations are not, and the
// summary says which one was stored.
func TestPublishFailsMidway(t *testing.T) {
	reg := testserver.StartRegistry(t)
	repo := reg.Host + "/acme/app"
	img := debImage(t, "amd64", "")
	tag, _ := name.NewTag(repo+":main", name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
	api.Script(testserver.GitHubAPIReply{Status: http.StatusCreated}, testserver.GitHubAPIReply{Status: http.StatusForbidden})
	r := newRunner(t)
	r.extraEnv = pushEnv(stack, api)
	res := r.run(map[string]string{"subject-name": repo, "subject-digest": digest.String(),
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL})
	assertNoInjectedCommands(t, res.stdout)
	if res.code != 1 || !strings.Contains(res.stdout, "::error::publish provenance: ") {
		t.Fatalf("exit %d, want the second upload refused\n%s", res.code, res.stdout)
	}
	var bundles []string
	if err := json.Unmarshal([]byte(res.outputs["bundle-paths"]), &bundles); err != nil || len(bundles) != 2 {
		t.Errorf("bundle-paths = %q, want both bundles", res.outputs["bundle-paths"])
	}
	if res.outputs["sbom-path"] == "" {
		t.Error("sbom-path not set although the SBOM was written")
	}
	for _, o := range []string{"attestation-id", "attestation-ids", "attestation-url", "attestation-urls"} {
		if v, ok := res.outputs[o]; ok {
			t.Errorf("output %s = %q although not every attestation was stored", o, v)
		}
	}
	if n := len(api.Attestations()); n != 1 {
		t.Errorf("API holds %d attestations, want 1", n)
	}
	for _, want := range []string{"- ✅ done: sbom: stored with the GitHub Attestations API", "- ❌ not done: provenance: stored with the GitHub Attestations API",
		"- ✅ done: provenance: bundle written"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
}

// TestReproducibleDocuments runs the same dry run twice with SOURCE_DATE_EPOCH: the documents
// are the same bytes, serial number included.
func TestReproducibleDocuments(t *testing.T) {
	sample, _ := filepath.Abs("../../testdata/sample-image")
	var docs [2]map[string][]byte
	for i := range docs {
		r := newRunner(t)
		r.extraEnv = map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}
		res := r.run(map[string]string{"image": "oci-dir:" + sample})
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		docs[i] = map[string][]byte{}
		for _, f := range []string{"sbom.cdx.json", "mlbom.cdx.json", "sbom.intoto.json", "mlbom.intoto.json"} {
			b, err := os.ReadFile(filepath.Join(r.temp, "bom-attest", f))
			if err != nil {
				t.Fatal(err)
			}
			docs[i][f] = b
		}
	}
	for f, b := range docs[0] {
		if !bytes.Equal(b, docs[1][f]) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	var sb struct{ SerialNumber string }
	json.Unmarshal(docs[0]["sbom.cdx.json"], &sb)
	if !strings.HasPrefix(sb.SerialNumber, "urn:uuid:") {
		t.Errorf("serialNumber = %q", sb.SerialNumber)
	}
	// The ML-BOM points at the SBOM it was written with: the SBOM's final serial number.
	var ml struct {
		ExternalReferences []struct{ Type, URL string }
	}
	json.Unmarshal(docs[0]["mlbom.cdx.json"], &ml)
	linked := false
	for _, r := range ml.ExternalReferences {
		linked = linked || r.Type == "bom" && r.URL == "urn:cdx:"+strings.TrimPrefix(sb.SerialNumber, "urn:uuid:")+"/1"
	}
	if !linked {
		t.Errorf("ML-BOM references %+v, want the SBOM %s", ml.ExternalReferences, sb.SerialNumber)
	}

	// The serial number is derived from the finished SBOM, models included: the image's model
	// declared with a version gives another SBOM, so another serial number.
	r := newRunner(t)
	r.extraEnv = map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}
	manifest := filepath.Join(r.workspace, "models.yaml")
	os.WriteFile(manifest, []byte("models:\n  - name: voice-intent\n    version: \"2099-01-01\"\n    path: /opt/models/voice-intent\n"), 0o644)
	res := r.run(map[string]string{"image": "oci-dir:" + sample, "model-manifest": manifest})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	b, err := os.ReadFile(filepath.Join(r.temp, "bom-attest", "sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var other struct{ SerialNumber string }
	json.Unmarshal(b, &other)
	if other.SerialNumber == sb.SerialNumber || !bytes.Contains(b, []byte("2099-01-01")) {
		t.Errorf("an SBOM with other model components kept serial number %s", sb.SerialNumber)
	}
}
