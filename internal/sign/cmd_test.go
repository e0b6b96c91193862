package sign

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

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
	noTimestamp := write("nots.sigstore.json", mutate(t, bundles["tsa"], func(m map[string]any) { delete(material(m), "timestampVerificationData") }))

	base := func(b string, extra ...string) []string {
		return append([]string{"--bundle", b, "--trusted-root", st.TrustedRootPath, "--subject-digest", imageDigest, "--cert-oidc-issuer", st.OIDC.URL}, extra...)
	}
	workflow := "acme/app/.github/workflows/release.yml"
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
		{"signer workflow", base(tsa, "--owner", "acme", "--signer-workflow", workflow), 0, []string{"verified"}, nil},
		{"signer workflow with host and ref", base(rekor, "--owner", "acme", "--signer-workflow", "github.com/"+workflow+"@refs/heads/main"), 0, []string{"verified"}, nil},
		{"predicate type", base(rekor, "--repo", "acme/app", "--predicate-type", "https://cyclonedx.org/bom"), 0, []string{"verified"}, nil},
		{"wrong owner", base(rekor, "--owner", "evil"), 1, nil, []string{"does not verify", "evil"}},
		{"wrong repo", base(tsa, "--repo", "acme/other"), 1, nil, []string{"does not verify"}},
		{"wrong signer workflow", base(tsa, "--owner", "acme", "--signer-workflow", "acme/app/.github/workflows/ci.yml"), 1, nil, []string{"does not verify"}},
		{"wrong ref", base(tsa, "--owner", "acme", "--signer-workflow", workflow+"@refs/heads/dev"), 1, nil, []string{"does not verify"}},
		{"wrong predicate type", base(tsa, "--owner", "acme", "--predicate-type", "https://spdx.dev/Document"), 1, nil, []string{"predicate type"}},
		{"wrong digest", []string{"--bundle", rekor, "--trusted-root", st.TrustedRootPath, "--subject-digest", otherDigest, "--cert-oidc-issuer", st.OIDC.URL, "--owner", "acme"}, 1, nil, []string{"digest"}},
		{"default issuer is GitHub's", []string{"--bundle", rekor, "--trusted-root", st.TrustedRootPath, "--subject-digest", imageDigest, "--owner", "acme"}, 1, nil, []string{GitHubIssuer}},
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
		{"unknown flag", []string{"--frobnicate"}, 1, nil, []string{"frobnicate"}},
		{"stray argument", base(tsa, "--owner", "acme", "extra"), 1, nil, []string{`unexpected argument "extra"`}},
		{"help", []string{"-h"}, 0, nil, []string{"usage: bom-attest verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := RunVerify(context.Background(), tt.args, &stdout, &stderr, nil)
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
			if tt.code == 0 && tt.name != "help" && strings.Count(stdout.String(), "\n") > 24 {
				t.Errorf("result does not fit one screen:\n%s", &stdout)
			}
		})
	}
}
