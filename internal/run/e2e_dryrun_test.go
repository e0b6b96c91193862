package run_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestDryRunSendsNothing configures everything a signed run would use — signing stack, GitHub
// API, push-to-registry — and asks for a dry run: not one request may reach any of them, and the
// registry must not gain a referrer.
func TestDryRunSendsNothing(t *testing.T) {
	repo, digest := pushedImage(t, "acme/app")
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)

	r := newRunner(t)
	r.extraEnv = signingEnv(stack, api)
	res := r.run(map[string]string{
		"subject-name": repo, "subject-digest": digest.String(), "dry-run": "true", "push-to-registry": "true",
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
	})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	sent := map[string]int{"OIDC": stack.OIDC.Faults.Requests(), "Fulcio": stack.Fulcio.Requests(), "Rekor": stack.Rekor.Requests(),
		"TSA": stack.TSA.Requests(), "GitHub API": len(api.Requests())}
	for server, n := range sent {
		if n != 0 {
			t.Errorf("dry run sent %d requests to %s", n, server)
		}
	}
	ref, _ := name.NewDigest(repo+"@"+digest.String(), name.Insecure)
	if idx, err := remote.Referrers(ref); err == nil {
		if m, _ := idx.IndexManifest(); len(m.Manifests) != 0 {
			t.Errorf("dry run pushed %d referrers", len(m.Manifests))
		}
	}
	if tags, _ := remote.List(ref.Context()); len(tags) != 1 {
		t.Errorf("registry tags after a dry run: %v", tags)
	}
	if _, err := os.Stat(filepath.Join(r.temp, "bom-attest", "sbom.intoto.json")); err != nil {
		t.Errorf("unsigned statement not written: %v", err)
	}
	for _, want := range []string{"Attestations (dry run", "Would be signed by https://github.com/acme/voice-agent/.github/workflows/ci.yml@refs/pull/7/merge", "would be pushed", stack.FulcioURL} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
}
