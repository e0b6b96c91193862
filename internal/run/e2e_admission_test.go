package run_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestAdmissionRoundTrip signs and pushes referrers with the built binary, which writes the
// Kyverno policy, then checks images against that policy with `bom-attest verify --policy`: it
// admits the image the run signed, and refuses an unsigned image, one signed by another
// repository's workflow and one without build provenance.
func TestAdmissionRoundTrip(t *testing.T) {
	reg := testserver.StartRegistry(t)
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	repo := reg.Host + "/acme/app"
	push := func(label string) v1.Hash {
		t.Helper()
		img, err := mutate.Config(debImage(t, "amd64", ""), v1.Config{Labels: map[string]string{"build": label}})
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(repo+":"+label, name.Insecure)
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// attest runs the action on one image as the given repository's workflow would.
	attest := func(ghRepo string, digest v1.Hash, with map[string]string) result {
		t.Helper()
		api := testserver.GitHubAPIStart(t, ghRepo, fakeToken)
		r := newRunner(t)
		r.extraEnv = pushEnv(stack, api)
		r.extraEnv["GITHUB_REPOSITORY"] = ghRepo
		r.extraEnv["GITHUB_WORKFLOW_REF"] = ghRepo + "/.github/workflows/release.yml@refs/heads/main"
		in := map[string]string{
			"subject-name": repo, "subject-digest": digest.String(), "push-to-registry": "true", "create-storage-record": "false",
			"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
		}
		for k, v := range with {
			in[k] = v
		}
		res := r.run(in)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		return res
	}
	verify := func(policy string, digest v1.Hash) (string, bool) {
		t.Helper()
		cmd := exec.Command(binary, "verify", "--policy", policy, repo+"@"+digest.String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		t.Logf("verify --policy %s@%s:\n%s", repo, digest, out.String())
		return out.String(), err == nil
	}

	signed := push("signed")
	res := attest("acme/app", signed, map[string]string{"kyverno-policy": "image-validating"})
	policy := res.outputs["kyverno-policy-path"]
	if policy == "" || res.outputs["image-signature-bundle-path"] == "" {
		t.Fatalf("outputs %v", res.outputs)
	}
	if !filepath.IsAbs(policy) {
		t.Fatalf("the policy is shown as %s, outside the workspace", policy)
	}
	raw, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := admission.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range rules.Attestations {
		types = append(types, a.PredicateType)
	}
	if got, want := strings.Join(types, " "), "https://cyclonedx.org/bom https://slsa.dev/provenance/v1 https://sigstore.dev/cosign/sign/v1"; got != want {
		t.Errorf("the policy requires %s, want %s", got, want)
	}
	if rules.Trust.TrustedRoot == nil || rules.Trust.LogURL != stack.RekorURL {
		t.Errorf("the policy does not carry the stack's trust: log %q, trusted root %d bytes", rules.Trust.LogURL, len(rules.Trust.TrustedRoot))
	}
	for _, want := range []string{"### Kyverno admission policy", "kubectl apply -f " + policy, "<details><summary>kyverno-policy.yaml</summary>", "kind: ImageValidatingPolicy", "### Image signature"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	if out, ok := verify(policy, signed); !ok || !strings.Contains(out, "✓ admitted") {
		t.Errorf("the signed image is not admitted:\n%s", out)
	}

	unsigned := push("unsigned")
	if out, ok := verify(policy, unsigned); ok || !strings.Contains(out, "✗ signed by") {
		t.Errorf("an unsigned image is not refused for its signature:\n%s", out)
	}

	// The same registry repository, signed in another GitHub repository: a fork's workflow.
	forked := push("forked")
	for claim, v := range map[string]string{"repository": "fork/app", "repository_owner": "fork", "sub": "repo:fork/app:ref:refs/heads/main",
		"workflow_ref": "fork/app/.github/workflows/release.yml@refs/heads/main", "job_workflow_ref": "fork/app/.github/workflows/release.yml@refs/heads/main"} {
		stack.OIDC.SetClaim(claim, v)
	}
	attest("fork/app", forked, nil)
	if out, ok := verify(policy, forked); ok || !strings.Contains(out, "✗ signed by") || !strings.Contains(out, "fork/app") {
		t.Errorf("an image signed by another repository's workflow is not refused for its signer:\n%s", out)
	}
	for claim, v := range testserver.OIDCGitHubClaims() {
		stack.OIDC.SetClaim(claim, v)
	}

	noProvenance := push("no-provenance")
	attest("acme/app", noProvenance, map[string]string{"attestations": "sbom"})
	out, ok := verify(policy, noProvenance)
	if ok || !strings.Contains(out, "✗ attestation provenance") || !strings.Contains(out, "✓ signed by") {
		t.Errorf("an image without build provenance is not refused for it alone:\n%s", out)
	}

	// A ClusterPolicy carries no trust: verify needs the trusted root Kyverno would be started with.
	cp := attest("acme/app", signed, map[string]string{"kyverno-policy": "cluster-policy", "sign-image": "false"})
	cpPolicy := cp.outputs["kyverno-policy-path"]
	if cp.outputs["image-signature-bundle-path"] != "" {
		t.Errorf("sign-image false signed the image: %v", cp.outputs)
	}
	cmd := exec.Command(binary, "verify", "--policy", cpPolicy, repo+"@"+signed.String(), "--trusted-root", stack.TrustedRootPath)
	var cpOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cpOut, &cpOut
	if err := cmd.Run(); err != nil || !strings.Contains(cpOut.String(), "✓ admitted") {
		t.Errorf("the ClusterPolicy does not admit the signed image (%v):\n%s", err, cpOut.String())
	}
	if err := exec.Command(binary, "verify", "--policy", cpPolicy, repo+"@"+signed.String()).Run(); err == nil {
		t.Error("verify --policy of a ClusterPolicy passed without a trusted root")
	}
}

// TestAdmissionDryRun writes the policy in a dry run from what would be attested, without a
// request to any service, and the statement the image signature would sign.
func TestAdmissionDryRun(t *testing.T) {
	repo, digest := pushedImage(t, "acme/app")
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	r := newRunner(t)
	r.extraEnv = map[string]string{"GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/pull/7/merge"}
	res := r.run(map[string]string{
		"subject-name": repo, "subject-digest": digest.String(), "dry-run": "true", "push-to-registry": "true",
		"fulcio-url": stack.FulcioURL, "tsa-url": stack.TSAURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
		"kyverno-policy": "cluster-policy", "kyverno-ref-pattern": "refs/tags/v.*",
	})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if n := stack.OIDC.Faults.Requests() + stack.Fulcio.Requests() + stack.TSA.Requests() + stack.Rekor.Requests(); n != 0 {
		t.Errorf("the dry run sent %d requests to the signing stack", n)
	}
	out := filepath.Join(r.temp, "bom-attest")
	raw, err := os.ReadFile(filepath.Join(out, "kyverno-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := admission.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if rules.Kind != admission.KindClusterPolicy || len(rules.Attestations) != 3 || rules.Trust.LogURL != "" {
		t.Errorf("rules %+v", rules)
	}
	if want := `^https://github\.com/acme/app/\.github/workflows/release\.yml@(?:refs/tags/v.*)$`; rules.Subject != want {
		t.Errorf("subject %s, want %s", rules.Subject, want)
	}
	if _, err := os.Stat(filepath.Join(out, "image-signature.intoto.json")); err != nil {
		t.Errorf("the image signature's statement is not written: %v", err)
	}
	if res.outputs["kyverno-policy-path"] == "" {
		t.Errorf("outputs %v", res.outputs)
	}
	// The ref of this (pull request) run is not a tag: the policy would refuse its image, and says so.
	if !strings.Contains(res.stdout, "would refuse this very image") {
		t.Errorf("no warning that the ref pattern excludes this run:\n%s", res.stdout)
	}
}
