package verify

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

func TestPolicyMode(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	bundles := signedBundles(t, st)
	trustedRoot, err := os.ReadFile(st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policy := func(kind admission.Kind, trust admission.Trust) string {
		r, err := admission.New(admission.Facts{Kind: kind, SubjectName: imageName, SAN: st.ExpectedSAN(), Issuer: st.OIDC.URL,
			Documents: []admission.Document{{Name: "sbom", PredicateType: statement.PredicateCycloneDX}}, Trust: trust})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := admission.Render(r)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, string(kind)+".yaml")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ivp := policy(admission.KindImageValidating, admission.Trust{Instance: sign.InstanceCustom, TrustedRoot: trustedRoot})
	cpol := policy(admission.KindClusterPolicy, admission.Trust{Instance: sign.InstanceCustom})
	garbage := filepath.Join(dir, "garbage.yaml")
	os.WriteFile(garbage, []byte("kind: Pod\napiVersion: v1\n"), 0o644)

	image := imageName + "@" + imageDigest
	registry := finder{
		image:                                {{Name: "tsa referrer", Bundle: bundles["tsa"]}},
		imageName + "@" + otherDigest:        {{Name: "tsa referrer", Bundle: bundles["tsa"]}},
		"ghcr.io/acme/app:v1@" + imageDigest: nil,
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"admitted", []string{"--policy", ivp, image}, 0, []string{"✓ signed by", "✓ attestation sbom", "✓ admitted"}, nil},
		{"flags after the image", []string{"--policy", cpol, image, "--trusted-root", st.TrustedRootPath}, 0, []string{"✓ admitted"}, nil},
		{"the policy's own root wins", []string{"--policy", ivp, "--trusted-root", st.TrustedRootPath, image}, 0, []string{"✓ admitted"}, []string{"is not used"}},
		{"bundles about another digest", []string{"--policy", ivp, imageName + "@" + otherDigest}, 1, []string{"✗ signed by", "✗ refused: 2 of 2"}, nil},
		{"a ClusterPolicy needs a trusted root", []string{"--policy", cpol, image}, 1, nil, []string{"--trusted-root is required"}},
		{"an image the policy does not select", []string{"--policy", ivp, "ghcr.io/acme/other@" + imageDigest}, 1, nil, []string{"does not apply"}},
		{"not a policy bom-attest wrote", []string{"--policy", garbage, image}, 1, nil, []string{garbage, "Pod"}},
		{"no such policy", []string{"--policy", filepath.Join(dir, "none.yaml"), image}, 1, nil, []string{"--policy"}},
		{"no image", []string{"--policy", ivp}, 1, nil, []string{"one image"}},
		{"two images", []string{"--policy", ivp, image, image}, 1, nil, []string{"one image"}},
		{"other flags", []string{"--policy", ivp, "--owner", "acme", image}, 1, nil, []string{"--owner"}},
		{"an image without digest", []string{"--policy", ivp, imageName + ":v1"}, 1, nil, []string{"sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr, registry)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
