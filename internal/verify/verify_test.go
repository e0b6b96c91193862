package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

const (
	imageName   = "ghcr.io/acme/app"
	imageDigest = "sha256:9c0a4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
	otherDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// signedBundles signs an SBOM statement about imageDigest once per mode on one stack: "rekor"
// (Rekor v1), "tsa" (timestamp only), "rekor2" (Rekor v2 and a timestamp).
func signedBundles(t *testing.T, st *testserver.SigningStack) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	stmt, err := statement.New("sbom.cdx.json", []statement.Subject{{Name: imageName, Digest: imageDigest}}, statement.PredicateCycloneDX,
		[]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, mode := range []string{"rekor", "tsa", "rekor2"} {
		tr := transport.New(transport.WithBackoff(time.Millisecond, time.Millisecond))
		opts := sign.Options{ServerURL: st.ServerURL, FulcioURL: st.FulcioURL, TrustedRootPath: st.TrustedRootPath, Transport: tr}
		switch mode {
		case "rekor":
			opts.RekorURL = st.RekorURL
		case "tsa":
			opts.TSAURL = st.TSAURL
		case "rekor2":
			opts.RekorURL, opts.RekorVersion, opts.TSAURL = st.RekorV2URL, 2, st.TSAURL
		}
		tok, err := sign.RequestIDToken(ctx, tr, sign.TokenRequest{URL: st.OIDC.TokenRequestURL, Token: st.OIDC.TokenRequestToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sign.NewSigner(ctx, tok, opts)
		if err != nil {
			t.Fatal(err)
		}
		if out[mode], _, err = s.Sign(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// withoutTimestamps removes a bundle's RFC 3161 timestamps.
func withoutTimestamps(t *testing.T, b []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["verificationMaterial"].(map[string]any), "timestampVerificationData")
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// finder answers --from-registry from a map.
type finder map[string][]Found

func (f finder) FindBundles(_ context.Context, image string) ([]Found, error) {
	found, ok := f[image]
	if !ok {
		return nil, errors.New("no such image")
	}
	return found, nil
}

func TestRunVerify(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	other := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	bundles := signedBundles(t, st)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rekor := write("rekor.sigstore.json", bundles["rekor"])
	tsa := write("tsa.sigstore.json", bundles["tsa"])
	rekor2 := write("rekor2.sigstore.json", bundles["rekor2"])
	noTimestamp := write("nots.sigstore.json", withoutTimestamps(t, bundles["tsa"]))

	base := func(b string, extra ...string) []string {
		return append([]string{"--bundle", b, "--trusted-root", st.TrustedRootPath, "--subject-digest", imageDigest, "--cert-oidc-issuer", st.OIDC.URL}, extra...)
	}
	workflow := "acme/app/.github/workflows/release.yml"
	registry := finder{
		"ghcr.io/acme/app@" + imageDigest:   {{Name: "rekor referrer", Bundle: bundles["rekor"]}, {Name: "tsa referrer", Bundle: bundles["tsa"]}},
		"ghcr.io/acme/bad@" + imageDigest:   {{Name: "rekor referrer", Bundle: bundles["rekor"]}, {Name: "unsigned referrer", Bundle: []byte(`{}`)}},
		"ghcr.io/acme/empty@" + imageDigest: nil,
		"ghcr.io/acme/mixed@" + imageDigest: {{Name: "sbom referrer", Bundle: bundles["rekor"], PredicateType: "https://cyclonedx.org/bom"},
			{Name: "provenance referrer", Bundle: []byte(`{}`), PredicateType: "https://slsa.dev/provenance/v1"}},
		// A registry names its referrers; a hostile one tries to start workflow commands.
		"ghcr.io/acme/evil@" + imageDigest: {{Name: "x\n::stop-commands::evil\r\n::warning::evil", Bundle: []byte(`{}`)}},
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"owner rekor", base(rekor, "--owner", "acme"), 0,
			[]string{"verified", "predicate type   https://cyclonedx.org/bom", "subject          ghcr.io/acme/app@" + imageDigest,
				"signer workflow  https://github.com/" + workflow + "@refs/heads/main", "source           https://github.com/acme/app @ refs/heads/main",
				"time source      transparency log " + st.RekorURL, "(log index 0)"}, nil},
		{"repo tsa", base(tsa, "--repo", "acme/app"), 0, []string{"verified", "time source      timestamp authority " + st.TSAURL}, nil},
		{"rekor v2", base(rekor2, "--repo", "acme/app"), 0, []string{"verified", "time source      timestamp authority " + st.TSAURL,
			"logged in transparency log " + st.RekorV2URL + " (log index 0)"}, nil},
		{"signer workflow", base(tsa, "--owner", "acme", "--signer-workflow", workflow), 0, []string{"verified"}, nil},
		{"signer workflow with host and ref", base(rekor, "--owner", "acme", "--signer-workflow", "github.com/"+workflow+"@refs/heads/main"), 0, []string{"verified"}, nil},
		{"predicate type", base(rekor, "--repo", "acme/app", "--predicate-type", "https://cyclonedx.org/bom"), 0, []string{"verified"}, nil},
		{"wrong owner", base(rekor, "--owner", "evil"), 1, nil, []string{"does not verify", "evil"}},
		{"wrong repo", base(tsa, "--repo", "acme/other"), 1, nil, []string{"does not verify"}},
		{"wrong signer workflow", base(tsa, "--owner", "acme", "--signer-workflow", "acme/app/.github/workflows/ci.yml"), 1, nil, []string{"does not verify"}},
		{"wrong ref", base(tsa, "--owner", "acme", "--signer-workflow", workflow+"@refs/heads/dev"), 1, nil, []string{"does not verify"}},
		{"wrong predicate type", base(tsa, "--owner", "acme", "--predicate-type", "https://spdx.dev/Document"), 1, nil, []string{"predicate type"}},
		{"wrong digest", []string{"--bundle", rekor, "--trusted-root", st.TrustedRootPath, "--subject-digest", otherDigest, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1, nil, []string{"digest"}},
		{"default issuer is GitHub's", []string{"--bundle", rekor, "--trusted-root", st.TrustedRootPath, "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{sign.GitHubIssuer}},
		{"missing timestamp", base(noTimestamp, "--owner", "acme"), 1, nil, []string{"timestamp"}},
		{"other trusted root", []string{"--bundle", tsa, "--trusted-root", other.TrustedRootPath, "--subject-digest", imageDigest, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1, nil, []string{"does not verify"}},
		{"no bundle flag", []string{"--trusted-root", st.TrustedRootPath, "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{"exactly one of --bundle and --from-registry", "usage:"}},
		{"no trusted root", []string{"--bundle", tsa, "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{"--trusted-root is required"}},
		{"owner and repo", base(tsa, "--owner", "acme", "--repo", "acme/app"), 1, nil, []string{"exactly one of --owner and --repo"}},
		{"neither owner nor repo", base(tsa), 1, nil, []string{"exactly one of --owner and --repo"}},
		{"bad digest", []string{"--bundle", tsa, "--trusted-root", st.TrustedRootPath, "--subject-digest", "abc", "--owner", "acme"}, 1, nil, []string{"--subject-digest"}},
		{"bad repo", base(tsa, "--repo", "acme"), 1, nil, []string{"owner/name"}},
		{"missing bundle file", base(filepath.Join(dir, "nope.json"), "--owner", "acme"), 1, nil, []string{"--bundle:", "nope.json"}},
		{"missing root file", []string{"--bundle", tsa, "--trusted-root", filepath.Join(dir, "nope.json"), "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{"--trusted-root:"}},
		{"device as bundle", base(os.DevNull, "--owner", "acme"), 1, nil, []string{"--bundle:", os.DevNull, "not a regular file"}},
		{"device as trusted root", []string{"--bundle", tsa, "--trusted-root", os.DevNull, "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{"--trusted-root:", "not a regular file"}},
		{"from registry", []string{"--from-registry", "ghcr.io/acme/app@" + imageDigest, "--trusted-root", st.TrustedRootPath, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 0,
			[]string{"✓ rekor referrer verified", "✓ tsa referrer verified"}, nil},
		{"from registry, one bad", []string{"--from-registry", "ghcr.io/acme/bad@" + imageDigest, "--trusted-root", st.TrustedRootPath, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1,
			[]string{"✓ rekor referrer verified"}, []string{"✗ unsigned referrer does not verify"}},
		{"from registry, one predicate type of several", []string{"--from-registry", "ghcr.io/acme/mixed@" + imageDigest, "--trusted-root", st.TrustedRootPath,
			"--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme", "--predicate-type", "https://cyclonedx.org/bom"}, 0, []string{"sbom referrer verified"}, nil},
		{"from registry, no bundle of the predicate type", []string{"--from-registry", "ghcr.io/acme/mixed@" + imageDigest, "--trusted-root", st.TrustedRootPath,
			"--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme", "--predicate-type", "https://example.com/none"}, 1, nil, []string{"none of the 2 Sigstore bundles"}},
		{"from registry, nothing", []string{"--from-registry", "ghcr.io/acme/empty@" + imageDigest, "--trusted-root", st.TrustedRootPath, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1,
			nil, []string{"no Sigstore bundles"}},
		{"from registry, lookup fails", []string{"--from-registry", "ghcr.io/acme/gone@" + imageDigest, "--trusted-root", st.TrustedRootPath, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1,
			nil, []string{"--from-registry: no such image"}},
		{"unknown flag", []string{"--frobnicate"}, 1, nil, []string{"frobnicate"}},
		{"stray argument", base(tsa, "--owner", "acme", "extra"), 1, nil, []string{`unexpected argument "extra"`}},
		{"help", []string{"-h"}, 0, nil, []string{"usage: bom-attest verify"}},
		{"hostile referrer name", []string{"--from-registry", "ghcr.io/acme/evil@" + imageDigest, "--trusted-root", st.TrustedRootPath,
			"--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1, nil, []string{`x\n::stop-commands::evil\r\n::warning::evil does not verify`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr, registry)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, &stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
			for _, line := range strings.Split(stdout.String()+stderr.String(), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "::") {
					t.Errorf("a line starts a workflow command: %q", line)
				}
			}
			if tt.code == 0 && tt.name != "help" && strings.Count(stdout.String(), "\n") > 24 {
				t.Errorf("result does not fit one screen:\n%s", &stdout)
			}
		})
	}
}
