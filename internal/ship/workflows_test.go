package ship

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func workflowFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../.github/workflows/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d workflows, want ci, pr and release at least", len(files))
	}
	return files
}

// actionlint finds the pinned actionlint scripts/test.sh installs. Outside CI, without it,
// the check is skipped with a message; in CI a missing actionlint fails.
func actionlint(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ACTIONLINT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("ACTIONLINT=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("actionlint"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("actionlint is missing; scripts/test.sh installs it")
	}
	t.Skip("actionlint is not installed: run bash scripts/test.sh, which installs it")
	return ""
}

func TestActionlint(t *testing.T) {
	bin := actionlint(t)
	files := workflowFiles(t)
	ver, _ := exec.Command(bin, "-version").Output()
	out, err := exec.Command(bin, append([]string{"-no-color"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	_, shellcheck := exec.LookPath("shellcheck")
	t.Logf("actionlint %s: %d workflows clean (shellcheck on run scripts: %v)", strings.SplitN(string(ver), "\n", 2)[0], len(files), shellcheck == nil)

	// The same binary fails a workflow with a mistake in it, so a pass above means something.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n"), 0o644)
	if out, err := exec.Command(bin, "-no-color", bad).CombinedOutput(); err == nil || !bytes.Contains(out, []byte("nope")) {
		t.Errorf("actionlint passed a workflow that reads an undefined step's output: %v\n%s", err, out)
	}
}

// workflow is the part of a workflow file the policy looks at; the nodes keep line comments.
type workflow struct {
	On          yaml.Node               `yaml:"on"`
	Permissions yaml.Node               `yaml:"permissions"`
	Jobs        map[string]*workflowJob `yaml:"jobs"`
}

type workflowJob struct {
	Permissions yaml.Node `yaml:"permissions"`
	Timeout     int       `yaml:"timeout-minutes"`
	Steps       []yaml.Node
}

var (
	pinnedUses = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	versionTag = regexp.MustCompile(`^# v\d+\.\d+\.\d+$`)
	expression = regexp.MustCompile(`\$\{\{`)
)

// writes lists the permissions a job (or the workflow) grants beyond read.
func writes(n *yaml.Node) ([]string, error) {
	if n.Kind == 0 {
		return nil, fmt.Errorf("no permissions block")
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("permissions %q: want an explicit map (read-all/write-all grant too much)", n.Value)
	}
	var w []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch v := n.Content[i+1].Value; v {
		case "read", "none":
		case "write":
			w = append(w, n.Content[i].Value)
		default:
			return nil, fmt.Errorf("permission %s: %q", n.Content[i].Value, v)
		}
	}
	slices.Sort(w)
	return w, nil
}

// checkWorkflow applies the workflows' rules and lists what breaks them: read-only by default
// with each job naming what it needs (want: the permissions each job may write), actions pinned
// by commit with the version beside them, timeouts, no pull_request_target, credentials not left
// behind, no ${{ }} expanded inside a script.
func checkWorkflow(raw []byte, want map[string][]string) []string {
	var (
		wf       workflow
		problems []string
	)
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		return []string{err.Error()}
	}
	if bytes.Contains(raw, []byte("pull_request_target")) {
		problems = append(problems, "pull_request_target runs fork code with the base repository's secrets")
	}
	if w, err := writes(&wf.Permissions); err != nil || len(w) > 0 {
		problems = append(problems, fmt.Sprintf("top-level permissions: %v %v; want {} so each job names its own", err, w))
	}
	var jobs []string
	for name, job := range wf.Jobs {
		jobs = append(jobs, name)
		w, err := writes(&job.Permissions)
		if err != nil {
			problems = append(problems, fmt.Sprintf("job %s: %v", name, err))
		} else if !slices.Equal(w, want[name]) {
			problems = append(problems, fmt.Sprintf("job %s writes %v, want %v", name, w, want[name]))
		}
		if job.Timeout <= 0 || job.Timeout > 30 {
			problems = append(problems, fmt.Sprintf("job %s: timeout-minutes %d, want 1..30", name, job.Timeout))
		}
		for _, step := range job.Steps {
			problems = append(problems, checkStep(name, &step, slices.Contains(w, "contents"))...)
		}
	}
	slices.Sort(jobs)
	var wantJobs []string
	for j := range want {
		wantJobs = append(wantJobs, j)
	}
	slices.Sort(wantJobs)
	if !slices.Equal(jobs, wantJobs) {
		problems = append(problems, fmt.Sprintf("jobs %v, the policy knows %v", jobs, wantJobs))
	}
	return problems
}

func checkStep(job string, step *yaml.Node, pushes bool) []string {
	var problems []string
	get := func(n *yaml.Node, key string) *yaml.Node {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	if run := get(step, "run"); run != nil && expression.MatchString(run.Value) {
		problems = append(problems, fmt.Sprintf("job %s line %d: ${{ }} inside run: pass it through env instead", job, run.Line))
	}
	uses := get(step, "uses")
	if uses == nil {
		return problems
	}
	switch {
	case uses.Value == "./":
	case pinnedUses.MatchString(uses.Value):
		if !versionTag.MatchString(uses.LineComment) {
			problems = append(problems, fmt.Sprintf("job %s line %d: %s: want the version as a comment (# vX.Y.Z), got %q", job, uses.Line, uses.Value, uses.LineComment))
		}
	default:
		problems = append(problems, fmt.Sprintf("job %s line %d: %s is not pinned by a full commit SHA", job, uses.Line, uses.Value))
	}
	if strings.HasPrefix(uses.Value, "actions/checkout@") && !pushes {
		with := get(step, "with")
		if with == nil || get(with, "persist-credentials") == nil || get(with, "persist-credentials").Value != "false" {
			problems = append(problems, fmt.Sprintf("job %s line %d: checkout keeps the token in .git/config; set persist-credentials: false", job, uses.Line))
		}
	}
	return problems
}

// workflowWrites is the least privilege of each workflow: what each job may write. Only the
// release writes, each job what its step needs.
var workflowWrites = map[string]map[string][]string{
	"ci.yml": {"lint": nil, "unit": nil, "test": nil},
	"pr.yml": {"dry-run": nil},
	"release.yml": {
		"image":   {"packages"},
		"attest":  {"attestations", "id-token", "packages"},
		"release": {"contents", "packages"},
	},
}

func TestWorkflowPolicy(t *testing.T) {
	for _, f := range workflowFiles(t) {
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			want, ok := workflowWrites[base]
			if !ok {
				t.Fatalf("no permission policy for %s; add it to workflowWrites", base)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range checkWorkflow(raw, want) {
				t.Error(p)
			}
		})
	}
}

// The policy itself: each rule, broken once, is reported.
func TestWorkflowPolicyCatches(t *testing.T) {
	const checkout = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
	good := `on: pull_request
permissions: {}
jobs:
  a:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: ` + checkout + `
        with:
          persist-credentials: false
      - env:
          X: ${{ github.ref }}
        run: echo "$X"
`
	for _, tc := range []struct {
		name, from, to, problem string
	}{
		{"as is", "", "", ""},
		{"write-all", "permissions: {}", "permissions: write-all", "top-level permissions"},
		{"a job writes", "      contents: read", "      contents: write", "job a writes [contents]"},
		{"no job permissions", "    permissions:\n      contents: read\n", "", "no permissions block"},
		{"action by tag", checkout, "actions/checkout@v7 # v7.0.1", "not pinned by a full commit SHA"},
		{"no version comment", " # v7.0.1", "", "want the version as a comment"},
		{"credentials kept", "        with:\n          persist-credentials: false\n", "", "persist-credentials"},
		{"expression in a script", `run: echo "$X"`, "run: echo ${{ github.head_ref }}", "inside run"},
		{"no timeout", "    timeout-minutes: 5\n", "", "timeout-minutes 0"},
		{"pull_request_target", "on: pull_request", "on: pull_request_target", "pull_request_target runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			if tc.from != "" {
				if !strings.Contains(src, tc.from) {
					t.Fatalf("%q is not in the sample", tc.from)
				}
				src = strings.Replace(src, tc.from, tc.to, 1)
			}
			problems := strings.Join(checkWorkflow([]byte(src), map[string][]string{"a": nil}), "\n")
			if (tc.problem == "") != (problems == "") || !strings.Contains(problems, tc.problem) {
				t.Errorf("problems %q, want one containing %q", problems, tc.problem)
			}
		})
	}
}

// The release's one change to action.yml: scripts/pin-action-image.sh, and README's way of
// reading the pinned image back out of a release's action.yml.
func TestPinActionImage(t *testing.T) {
	orig, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:2f1c3e0d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
	pin := func(file, ref string) ([]byte, error) {
		cmd := exec.Command("bash", "../../scripts/pin-action-image.sh", ref, file)
		return cmd.CombinedOutput()
	}
	dir := t.TempDir()
	for _, bad := range []string{
		"ghcr.io/acme/bom-attest@" + digest,                           // not docker://
		"docker://ghcr.io/acme/bom-attest:v1.2.3",                     // a tag can move
		"docker://ghcr.io/Acme/bom-attest@" + digest,                  // registries want lower case
		"docker://ghcr.io/acme/bom-attest@sha256:abc",                 // short digest
		"docker://docker.io/acme/bom-attest@" + digest,                // the release pushes to ghcr.io
		"docker://ghcr.io/acme/bom-attest@" + digest + "\n  image: x", // a second line
	} {
		f := filepath.Join(dir, "bad.yml")
		os.WriteFile(f, orig, 0o644)
		if out, err := pin(f, bad); err == nil {
			t.Errorf("pinned %q:\n%s", bad, out)
		}
		if got, _ := os.ReadFile(f); !bytes.Equal(got, orig) {
			t.Errorf("a refused pin (%q) changed the file", bad)
		}
	}

	ref := "docker://ghcr.io/acme/bom-attest@" + digest
	f := filepath.Join(dir, "action.yml")
	os.WriteFile(f, orig, 0o644)
	if out, err := pin(f, ref); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, _ := os.ReadFile(f)
	var changed []string
	a, b := strings.Split(string(orig), "\n"), strings.Split(string(got), "\n")
	if len(a) != len(b) {
		t.Fatalf("pinning changed the number of lines: %d -> %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			changed = append(changed, a[i]+" -> "+b[i])
		}
	}
	if want := []string{"  image: Dockerfile ->   image: " + ref}; !slices.Equal(changed, want) {
		t.Errorf("pinning changed %q, want %q", changed, want)
	}
	var action struct{ Runs struct{ Using, Image string } }
	if err := yaml.Unmarshal(got, &action); err != nil || action.Runs.Using != "docker" || action.Runs.Image != ref {
		t.Errorf("pinned action.yml: runs %+v (%v)", action.Runs, err)
	}
	if out, err := pin(f, ref); err == nil {
		t.Errorf("pinned an action.yml twice:\n%s", out)
	}

	// README's and SECURITY.md's examples read the image back with sed and check it against the
	// workflow that signs it: the sed must find exactly this reference, the signer must be the
	// release workflow, which attests with bom-attest itself.
	release, err := os.ReadFile("../../.github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(release, []byte("uses: ./\n")) || !bytes.Contains(release, []byte(`push-to-registry: "true"`)) {
		t.Error("release.yml no longer attests with bom-attest itself (uses: ./, push-to-registry)")
	}
	for _, doc := range []string{"README.md", "SECURITY.md"} {
		text, err := os.ReadFile("../../" + doc)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`sed -n '([^']+)'`).FindSubmatch(text)
		if m == nil {
			t.Errorf("%s has no sed -n '…' reading the image out of a release's action.yml", doc)
			continue
		}
		out, err := exec.Command("sed", "-n", string(m[1]), f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimPrefix(ref, "docker://"); strings.TrimSpace(string(out)) != want {
			t.Errorf("%s's sed -n '%s' reads %q from a release's action.yml, want %q", doc, m[1], out, want)
		}
		for _, want := range []string{"--signer-workflow OWNER/bom-attest/.github/workflows/release.yml", `--source-ref "refs/tags/$tag"`} {
			if !bytes.Contains(text, []byte(want)) {
				t.Errorf("%s's verify example lacks %s", doc, want)
			}
		}
	}
}

// releaseStep is the run script of a step of release.yml's release job.
func releaseStep(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("../../.github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct{ Name, Run string }
		}
	}
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	for _, s := range wf.Jobs["release"].Steps {
		if s.Name == name {
			return s.Run
		}
	}
	t.Fatalf("release.yml's release job has no step %q", name)
	return ""
}

// The release job's tagging script, run as the runner runs it against a scratch origin: the
// version tag moves to a release commit (the tagged commit plus the pinned action.yml), and the
// major tag follows only a final release that is the newest of its major version.
func TestReleaseTagging(t *testing.T) {
	script := releaseStep(t, "Release commit, version tag, then the major tag")
	dir := t.TempDir()
	origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	gitEnv := append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=m", "GIT_AUTHOR_EMAIL=m@example.com", "GIT_COMMITTER_NAME=m", "GIT_COMMITTER_EMAIL=m@example.com")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = work, gitEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "init", "-q", "--bare", origin).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(work, "scripts"), 0o755)
	git("init", "-q")
	git("remote", "add", "origin", origin)
	for _, f := range []string{"action.yml", "scripts/pin-action-image.sh"} {
		b, err := os.ReadFile("../../" + f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, f), b, 0o644)
	}
	git("add", ".")
	git("commit", "-q", "-m", "main")

	const image = "ghcr.io/acme/bom-attest"
	release := func(tag, digest string) (tagged string, err error) {
		t.Helper()
		os.WriteFile(filepath.Join(work, "change"), []byte(tag), 0o644)
		git("add", "change")
		git("commit", "-q", "-m", "work for "+tag)
		git("tag", "-a", tag, "-m", tag)
		tagged = git("rev-parse", "HEAD")
		git("push", "-q", "origin", "HEAD:refs/heads/main", "refs/tags/"+tag)
		git("checkout", "-q", "--detach", tag)
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
		cmd.Dir = work
		cmd.Env = append(gitEnv, "IMAGE="+image, "TAG="+tag, "DIGEST="+digest)
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v\n%s", err, out)
		}
		git("checkout", "-q", "--detach", tagged) // back on the line of work, as main would be
		return tagged, err
	}
	at := func(ref string) string {
		out, _ := exec.Command("git", "--git-dir", origin, "rev-parse", "--verify", "-q", ref+"^{commit}").Output()
		return strings.TrimSpace(string(out))
	}
	pinnedAt := func(ref string) string {
		out, _ := exec.Command("git", "--git-dir", origin, "show", ref+":action.yml").Output()
		m := regexp.MustCompile(`(?m)^  image: (.*)$`).FindSubmatch(out)
		if m == nil {
			return ""
		}
		return string(m[1])
	}

	for i, step := range []struct {
		tag     string
		digest  string // "" for a good one
		majorTo string // the tag v1 must point at afterwards
	}{
		{tag: "v1.2.2", majorTo: "v1.2.2"},
		{tag: "v1.2.3", majorTo: "v1.2.3"},
		{tag: "v1.1.9", majorTo: "v1.2.3"},                                // a fix to an older minor
		{tag: "v1.3.0-rc.1", majorTo: "v1.2.3"},                           // a prerelease
		{tag: "v2.0.0", majorTo: "v1.2.3"},                                // another major: v2 moves, v1 stays
		{tag: "v1.2.4", digest: "sha256:not-a-digest", majorTo: "v1.2.3"}, // fails: nothing moves
	} {
		digest := step.digest
		if digest == "" {
			digest = fmt.Sprintf("sha256:%064x", i+1)
		}
		tagged, err := release(step.tag, digest)
		if step.digest != "" {
			if err == nil {
				t.Fatalf("%s: released with digest %q", step.tag, digest)
			}
			if at(step.tag) != tagged {
				t.Errorf("%s: a failed release moved the tag", step.tag)
			}
		} else {
			if err != nil {
				t.Fatalf("%s: %v", step.tag, err)
			}
			if parent := at(step.tag + "^"); parent != tagged {
				t.Errorf("%s: the release commit's parent is %s, want the tagged commit %s", step.tag, parent, tagged)
			}
			if want := "docker://" + image + "@" + digest; pinnedAt(step.tag) != want {
				t.Errorf("%s: action.yml runs %q, want %q", step.tag, pinnedAt(step.tag), want)
			}
		}
		if at("v1") != at(step.majorTo) {
			t.Errorf("after %s, v1 is at %s, want %s's release commit %s", step.tag, at("v1"), step.majorTo, at(step.majorTo))
		}
	}
	if at("v2") != at("v2.0.0") {
		t.Errorf("v2 is at %s, want v2.0.0's release commit", at("v2"))
	}
	if pinnedAt("main") != "Dockerfile" {
		t.Errorf("main's action.yml runs %q; the release commit must stay off main", pinnedAt("main"))
	}
}
