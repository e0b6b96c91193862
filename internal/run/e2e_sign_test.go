package run_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestSignAndPublish runs the binary as a push workflow would, against the loopback signing
// stack, the fake GitHub API and a real registry, in both Sigstore modes: Rekor (public-good
// shape) and RFC 3161 timestamps (GitHub's instance shape).
func TestSignAndPublish(t *testing.T) {
	reg := testserver.StartRegistry(t)
	idx := debIndex(t)
	digest, _ := idx.Digest()
	im, _ := idx.IndexManifest()

	for _, mode := range []string{"rekor", "tsa"} {
		t.Run(mode, func(t *testing.T) {
			// A repository per mode: each signing stack has its own trusted root.
			repo := reg.Host + "/acme/app-" + mode
			tag, _ := name.NewTag(repo+":main", name.Insecure)
			if err := remote.WriteIndex(tag, idx); err != nil {
				t.Fatal(err)
			}
			stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
			api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
			r := newRunner(t)
			r.extraEnv = pushEnv(stack, api)
			with := map[string]string{
				"subject-name": repo, "subject-digest": digest.String(), "push-to-registry": "true",
				"fulcio-url": stack.FulcioURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
			}
			if mode == "rekor" {
				with["rekor-url"] = stack.RekorURL
			} else {
				with["tsa-url"] = stack.TSAURL
			}
			res := r.run(with)
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stdout)
			}
			for _, o := range []string{"sbom-path", "sbom-paths", "subject-digest", "component-count", "dry-run", "model-count",
				"bundle-path", "bundle-paths", "attestation-id", "attestation-ids", "attestation-url", "attestation-urls"} {
				if res.outputs[o] == "" {
					t.Errorf("output %s not set", o)
				}
			}
			if res.outputs["dry-run"] != "false" {
				t.Errorf("dry-run = %q", res.outputs["dry-run"])
			}
			var bundles, ids, urls []string
			json.Unmarshal([]byte(res.outputs["bundle-paths"]), &bundles)
			json.Unmarshal([]byte(res.outputs["attestation-ids"]), &ids)
			json.Unmarshal([]byte(res.outputs["attestation-urls"]), &urls)
			wantDocs := []string{"sbom.linux-amd64", "sbom.linux-arm64-v8", "provenance"}
			if len(bundles) != len(wantDocs) || len(ids) != len(wantDocs) || len(urls) != len(wantDocs) {
				t.Fatalf("bundle-paths %v, attestation-ids %v, attestation-urls %v; want one per %v", bundles, ids, urls, wantDocs)
			}
			for i, d := range wantDocs {
				if filepath.Base(bundles[i]) != d+".sigstore.json" {
					t.Errorf("bundle %d = %s, want %s.sigstore.json", i, bundles[i], d)
				}
				if !strings.HasPrefix(urls[i], "https://github.com/acme/app/attestations/"+ids[i]) {
					t.Errorf("attestation url %s for id %s", urls[i], ids[i])
				}
			}
			if got := len(api.Attestations()); got != len(wantDocs) {
				t.Errorf("GitHub API stored %d attestations, want %d", got, len(wantDocs))
			}
			for _, row := range []string{"### Attestations", "| sbom.linux-amd64 |", "| provenance |", "https://slsa.dev/provenance/v1", urls[0]} {
				if !strings.Contains(res.summary, row) {
					t.Errorf("summary lacks %q:\n%s", row, res.summary)
				}
			}

			// What was pushed is found again and verifies, by the same binary a user runs.
			for _, m := range im.Manifests {
				ref := repo + "@" + m.Digest.String()
				cmd := exec.Command(binary, "verify", "--from-registry", ref, "--trusted-root", stack.TrustedRootPath,
					"--owner", "acme", "--cert-oidc-issuer", stack.OIDC.URL, "--predicate-type", "https://cyclonedx.org/bom")
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "verified") {
					t.Errorf("verify --from-registry %s: %v\n%s", ref, err, out.String())
				}
			}

			// Neither the runner's request token nor any ID token minted for the run may be
			// written anywhere.
			secrets := append(stack.OIDC.Minted(), stack.OIDC.TokenRequestToken)
			files, _ := filepath.Glob(filepath.Join(r.temp, "bom-attest", "*"))
			for _, s := range append(stack.OIDC.Minted(), stack.OIDC.TokenRequestToken) {
				if !strings.Contains(res.stdout, "::add-mask::"+s+"\n") {
					t.Errorf("a token was not masked")
				}
			}
			// The mask commands carry the secrets to the runner by design; nothing else may.
			var log []string
			for _, l := range strings.Split(res.stdout, "\n") {
				if !strings.HasPrefix(l, "::add-mask::") {
					log = append(log, l)
				}
			}
			texts := map[string]string{"log": strings.Join(log, "\n"), "summary": res.summary}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				texts[f] = string(b)
			}
			for where, text := range texts {
				for _, s := range secrets {
					if s != "" && strings.Contains(text, s) {
						t.Errorf("a token leaked into %s", where)
					}
				}
			}
		})
	}
}

// TestSignRekorV2 runs the binary with rekor-version: 2 against the loopback stack's Rekor v2 log
// and timestamp authority: every bundle carries a Rekor v2 entry (inclusion proof, no time) and a
// signed timestamp, and verifies with sigstore-go's own verifier against the stack's trusted root
// as well as with `bom-attest verify`.
func TestSignRekorV2(t *testing.T) {
	repo, digest := pushedImage(t, "acme/app-rekor2")
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	r := newRunner(t)
	r.extraEnv = signingEnv(stack, testserver.GitHubAPIStart(t, "acme/app", fakeToken))
	r.extraEnv["GITHUB_EVENT_NAME"] = "push"
	res := r.run(map[string]string{
		"subject-name": repo, "subject-digest": digest.String(), "rekor-version": "2",
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorV2URL, "tsa-url": stack.TSAURL,
		"trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
	})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	var bundles []string
	if err := json.Unmarshal([]byte(res.outputs["bundle-paths"]), &bundles); err != nil || len(bundles) != 2 {
		t.Fatalf("bundle-paths = %q (%v), want the SBOM's and the provenance's", res.outputs["bundle-paths"], err)
	}
	if n := stack.RekorV2Entries(); n != len(bundles) {
		t.Errorf("the Rekor v2 log holds %d entries, want %d", n, len(bundles))
	}
	if n := stack.Rekor.Requests(); n != 0 {
		t.Errorf("the Rekor v1 log got %d requests", n)
	}
	if !strings.Contains(res.stdout, "Rekor v2 "+stack.RekorV2URL) {
		t.Errorf("the log does not name the Rekor v2 log:\n%s", res.stdout)
	}

	trusted, err := root.NewTrustedRootFromPath(stack.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier(trusted, verify.WithTransparencyLog(1), verify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	id, err := verify.NewShortCertificateIdentity(stack.OIDC.URL, "", stack.ExpectedSAN(), "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := hex.DecodeString(digest.Hex)
	for _, b := range bundles {
		path := filepath.Join(r.workspace, b)
		if filepath.IsAbs(b) {
			path = b
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var bundle sgbundle.Bundle
		if err := bundle.UnmarshalJSON(raw); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		entries := bundle.GetVerificationMaterial().GetTlogEntries()
		if len(entries) != 1 || entries[0].GetIntegratedTime() != 0 || entries[0].GetInclusionProof() == nil || entries[0].GetKindVersion().GetVersion() != "0.0.2" {
			t.Fatalf("%s: tlog entries %v, want one Rekor v2 entry", b, entries)
		}
		if _, err := v.Verify(&bundle, verify.NewPolicy(verify.WithArtifactDigest("sha256", d), verify.WithCertificateIdentity(id))); err != nil {
			t.Errorf("sigstore-go does not verify %s: %v", b, err)
		}
		cmd := exec.Command(binary, "verify", "--bundle", path, "--trusted-root", stack.TrustedRootPath,
			"--subject-digest", digest.String(), "--owner", "acme", "--cert-oidc-issuer", stack.OIDC.URL)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "logged in transparency log "+stack.RekorV2URL) {
			t.Errorf("bom-attest verify %s: %v\n%s", b, err, out.String())
		}
	}
}

// pushedImage pushes a one-platform Debian image to a new loopback registry as repo:main.
func pushedImage(t *testing.T, repo string) (string, v1.Hash) {
	t.Helper()
	reg := testserver.StartRegistry(t)
	img := debImage(t, "amd64", "")
	ref := reg.Host + "/" + repo
	tag, _ := name.NewTag(ref+":main", name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, digest
}

// signingEnv is what the runner gives a job of acme/app that may sign: the stack's token
// request and the GitHub API fake.
func signingEnv(stack *testserver.SigningStack, api *testserver.GitHubAPI) map[string]string {
	return map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   stack.OIDC.TokenRequestURL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": stack.OIDC.TokenRequestToken,
		"GITHUB_API_URL":                 api.URL,
		"GITHUB_REPOSITORY":              "acme/app",
	}
}
