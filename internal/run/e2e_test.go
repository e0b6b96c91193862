package run_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// binary is bom-attest built once for every end-to-end test, as the action image builds it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bom-attest-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bom-attest")
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "-ldflags", "-s -w -X github.com/bom-attest/bom-attest/internal/version.Version=v0.0.0-e2e", "../..")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bom-attest: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const fakeToken = "ghs_e2eSecretTokenThatMustNeverBePrinted0123"

// runner mimics what GitHub's runner gives a container action: an INPUT_* variable for every
// input of action.yml (its default unless the step's `with:` sets it, names upper-cased with
// hyphens kept), the file-command paths, the workspace as working directory — and, on a pull
// request from a fork, no ACTIONS_ID_TOKEN_REQUEST_URL.
type runner struct {
	t                          *testing.T
	workspace, temp, out, summ string
	extraEnv                   map[string]string
}

func newRunner(t *testing.T) *runner {
	base := t.TempDir()
	r := &runner{t: t, workspace: filepath.Join(base, "workspace"), temp: filepath.Join(base, "runner_temp"),
		out: filepath.Join(base, "file_commands", "set_output"), summ: filepath.Join(base, "file_commands", "step_summary")}
	for _, d := range []string{r.workspace, r.temp, filepath.Dir(r.out)} {
		os.MkdirAll(d, 0o755)
	}
	return r
}

type result struct {
	code    int
	stdout  string
	outputs map[string]string
	summary string
}

func (r *runner) run(with map[string]string) result {
	t := r.t
	t.Helper()
	raw, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(raw, &action); err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(r.temp, "event.json")
	os.WriteFile(event, []byte(`{"repository":{"visibility":"public","full_name":"acme/voice-agent"}}`), 0o644)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(r.temp, "_github_home"),
		"GITHUB_ACTIONS=true", "CI=true",
		"GITHUB_OUTPUT=" + r.out, "GITHUB_STEP_SUMMARY=" + r.summ,
		"GITHUB_WORKSPACE=" + r.workspace, "RUNNER_TEMP=" + r.temp,
		"GITHUB_REPOSITORY=acme/voice-agent", "GITHUB_SERVER_URL=https://github.com", "GITHUB_API_URL=https://api.github.com",
		"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + event, "GITHUB_ACTOR=fork-contributor",
		"GITHUB_WORKFLOW_REF=acme/voice-agent/.github/workflows/ci.yml@refs/pull/7/merge",
	}
	for k, v := range r.extraEnv {
		env = append(env, k+"="+v)
	}
	for in, spec := range action.Inputs {
		v := spec.Default
		if v == "${{ github.token }}" {
			v = fakeToken
		}
		if w, ok := with[in]; ok {
			v = w
		}
		env = append(env, "INPUT_"+strings.ToUpper(in)+"="+v)
	}
	os.WriteFile(r.out, nil, 0o644)
	os.WriteFile(r.summ, nil, 0o644)
	cmd := exec.Command(binary)
	cmd.Env, cmd.Dir = env, r.workspace
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	err = cmd.Run()
	res := result{stdout: stdout.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	outs, _ := os.ReadFile(r.out)
	res.outputs = parseOutputs(t, string(outs))
	summ, _ := os.ReadFile(r.summ)
	res.summary = string(summ)
	// The token reaches the process and must go no further than the mask command.
	for what, text := range map[string]string{"log": strings.Replace(res.stdout, "::add-mask::"+fakeToken, "", 1), "outputs": string(outs), "summary": res.summary} {
		if strings.Contains(text, fakeToken) {
			t.Errorf("github-token leaked into the %s", what)
		}
	}
	return res
}

var heredoc = regexp.MustCompile(`(?s)([a-z-]+)<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n(ghadelimiter_[0-9a-f]{32})\n`)

func parseOutputs(t *testing.T, s string) map[string]string {
	out := map[string]string{}
	for _, m := range heredoc.FindAllStringSubmatch(s, -1) {
		if m[2] != m[4] {
			t.Fatalf("heredoc delimiters differ: %s %s", m[2], m[4])
		}
		out[m[1]] = m[3]
	}
	if rest := heredoc.ReplaceAllString(s, ""); strings.TrimSpace(rest) != "" {
		t.Fatalf("GITHUB_OUTPUT has lines outside heredocs: %q", rest)
	}
	return out
}

func readBOM(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(b, cyclonedx.SpecVersion1_6); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	return doc
}

func TestForkPullRequestDryRun(t *testing.T) {
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	r.extraEnv = map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}
	res := r.run(map[string]string{"image": "oci-dir:" + sample})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if !strings.HasPrefix(res.stdout, "::add-mask::"+fakeToken+"\n") {
		t.Errorf("the token must be masked before anything else is printed:\n%.300s", res.stdout)
	}
	for _, want := range []string{"::notice::bom-attest dry run", "::group::resolve", "::group::pull linux/amd64", "::group::scan linux/amd64", "::endgroup::", "done in"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("log lacks %q:\n%s", want, res.stdout)
		}
	}
	wantPath := filepath.Join(r.temp, "bom-attest", "sbom.cdx.json")
	if res.outputs["sbom-path"] != wantPath || res.outputs["dry-run"] != "true" || res.outputs["component-count"] == "" {
		t.Errorf("outputs = %v", res.outputs)
	}
	var paths []string
	if err := json.Unmarshal([]byte(res.outputs["sbom-paths"]), &paths); err != nil || len(paths) != 1 || paths[0] != wantPath {
		t.Errorf("sbom-paths = %q", res.outputs["sbom-paths"])
	}
	if !strings.HasPrefix(res.outputs["subject-digest"], "sha256:") {
		t.Errorf("subject-digest = %q", res.outputs["subject-digest"])
	}
	doc := readBOM(t, wantPath)
	if ts := doc["metadata"].(map[string]any)["timestamp"]; ts != "2026-01-01T00:00:00Z" {
		t.Errorf("timestamp = %v, want SOURCE_DATE_EPOCH's", ts)
	}
	if sup := fmt.Sprint(doc["metadata"].(map[string]any)["supplier"]); !strings.Contains(sup, "acme") || !strings.Contains(sup, "https://github.com/acme") {
		t.Errorf("metadata.supplier = %s, want the repository owner", sup)
	}
	tools := doc["metadata"].(map[string]any)["tools"].(map[string]any)["components"].([]any)
	if v := tools[1].(map[string]any)["version"]; v != "v1.54.1" {
		t.Errorf("syft version in the binary's SBOM = %v, want the library's real version", v)
	}
	if v := tools[0].(map[string]any)["version"]; v != "v0.0.0-e2e" {
		t.Errorf("bom-attest version = %v", v)
	}
	for _, want := range []string{"## bom-attest: ghcr.io/bom-attest/sample", "**Dry run**", "ACTIONS_ID_TOKEN_REQUEST_URL",
		"| linux/amd64 |", "| pypi | 4 |", "| deb | 7 |", "Apache-2.0", "Timings"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
}

func TestRegistryIndexBySubjectDigest(t *testing.T) {
	reg := testserver.StartRegistry(t)
	repo := reg.Host + "/acme/voice-agent"
	idx := debIndex(t)
	tag, _ := name.NewTag(repo+":main", name.Insecure)
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	r := newRunner(t)

	t.Run("per-platform SBOMs", func(t *testing.T) {
		res := r.run(map[string]string{"subject-name": repo, "subject-digest": d.String(), "output-dir": "sboms"})
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		var paths []string
		json.Unmarshal([]byte(res.outputs["sbom-paths"]), &paths)
		want := []string{"sboms/sbom.linux-amd64.cdx.json", "sboms/sbom.linux-arm64-v8.cdx.json"}
		if strings.Join(paths, " ") != strings.Join(want, " ") || res.outputs["sbom-path"] != want[0] {
			t.Fatalf("sbom-paths = %v (want paths relative to the workspace)", paths)
		}
		if res.outputs["subject-digest"] != d.String() {
			t.Errorf("subject-digest = %s", res.outputs["subject-digest"])
		}
		for _, p := range paths {
			doc := readBOM(t, filepath.Join(r.workspace, p))
			comp := doc["metadata"].(map[string]any)["component"].(map[string]any)
			props := fmt.Sprint(comp["properties"])
			if !strings.Contains(props, d.String()) || !strings.Contains(fmt.Sprint(doc["components"]), "only-on-") {
				t.Errorf("%s does not name the index digest or lacks its packages: %v", p, props)
			}
		}
		for _, want := range []string{"multi-platform index", "| linux/amd64 |", "| linux/arm64/v8 |"} {
			if !strings.Contains(res.summary, want) {
				t.Errorf("summary lacks %q", want)
			}
		}
	})
	t.Run("digest mismatch", func(t *testing.T) {
		res := r.run(map[string]string{"image": tag.String(), "subject-digest": "sha256:" + strings.Repeat("a", 64)})
		if res.code != 1 || !strings.Contains(res.stdout, "::error::image: image digest does not match subject-digest") {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		if !strings.Contains(res.summary, "Failed") {
			t.Errorf("summary does not report the failure:\n%s", res.summary)
		}
		if _, err := os.Stat(filepath.Join(r.temp, "bom-attest", "sbom.cdx.json")); err == nil {
			t.Error("a file was written although the run failed before scanning")
		}
	})
	t.Run("tag resolved once and flagged", func(t *testing.T) {
		res := r.run(map[string]string{"image": tag.String(), "platforms": "linux/arm64"})
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		if !strings.Contains(res.stdout, "::warning::") || !strings.Contains(res.summary, "Resolved from tag") {
			t.Errorf("tag resolution not flagged:\n%s\n%s", res.stdout, res.summary)
		}
	})
}

func TestBadInputsAllReported(t *testing.T) {
	r := newRunner(t)
	res := r.run(map[string]string{"image": "ghcr.io/acme/app@sha256:abc", "cyclonedx-version": "2.0", "dry-run": "maybe", "platforms": "linux"})
	if res.code != 1 {
		t.Fatalf("exit %d", res.code)
	}
	for _, in := range []string{"image", "platforms", "cyclonedx-version", "dry-run"} {
		if !strings.Contains(res.stdout, "::error::"+in+": ") {
			t.Errorf("no error naming %s:\n%s", in, res.stdout)
		}
	}
}

func TestNoTokenButNotDryRun(t *testing.T) {
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	res := r.run(map[string]string{"image": "oci-dir:" + sample, "dry-run": "false"})
	if res.code != 1 || !strings.Contains(res.stdout, "id-token: write") {
		t.Fatalf("exit %d, want the permissions block:\n%s", res.code, res.stdout)
	}
}

// debIndex is a two-platform Debian image index: linux/amd64 and linux/arm64/v8.
func debIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx, err := testimage.Index(debImage(t, "amd64", ""), debImage(t, "arm64", "v8"))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func debImage(t *testing.T, arch, variant string) v1.Image {
	t.Helper()
	img, err := testimage.DebianImage(arch, variant)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
