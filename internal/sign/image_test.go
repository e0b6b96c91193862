package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// cosignBinary finds cosign v3: $COSIGN, then PATH, then $GOPATH/bin, where scripts/test.sh
// installs it. Without it the test fails: CI must have it, never skip it.
func cosignBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("COSIGN")}
	if p, err := exec.LookPath("cosign"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		candidates = append(candidates, filepath.Join(strings.TrimSpace(string(out)), "bin", "cosign"))
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		out, err := exec.Command(c, "version", "--json").Output()
		var v struct{ GitVersion string }
		if err == nil && json.Unmarshal(out, &v) == nil && strings.HasPrefix(v.GitVersion, "v3.") {
			return c
		}
	}
	t.Fatal("cosign v3 not found ($COSIGN, PATH, $GOPATH/bin): go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3 (scripts/test.sh does)")
	return ""
}

// TestImageSignatureCosignVerify signs an image's digest, pushes the signature as a referrer of
// the image in a real registry, and has cosign v3's own `cosign verify` check it against the
// stack's trusted root: it verifies for the signing workflow, and not for another identity.
func TestImageSignatureCosignVerify(t *testing.T) {
	cosign := cosignBinary(t)
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	reg := testserver.StartRegistry(t)
	for _, mode := range []string{"rekor", "tsa"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			repo := reg.Host + "/acme/app-" + mode
			img, err := random.Image(512, 1)
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := name.NewTag(repo+":main", name.Insecure)
			if err := remote.Write(tag, img); err != nil {
				t.Fatal(err)
			}
			digest, _ := img.Digest()
			ref, err := name.NewDigest(repo+"@"+digest.String(), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}

			s := newStackSigner(t, st, stackOptions(st, mode, nil))
			b, res, err := s.SignImage(ctx, statement.Subject{Name: repo, Digest: digest.String()})
			if err != nil {
				t.Fatal(err)
			}
			if res.PredicateType != ImageSignaturePredicateType || len(res.Subjects) != 1 || res.Subjects[0].Digest != digest.String() {
				t.Fatalf("signed %s about %v", res.PredicateType, res.Subjects)
			}
			if _, err := store.PushReferrer(ctx, ref, b, ImageSignaturePredicateType, store.ReferrerOptions{}); err != nil {
				t.Fatal(err)
			}

			verify := func(identity string) (string, error) {
				args := []string{"verify", ref.String(), "--trusted-root", st.TrustedRootPath,
					"--certificate-identity-regexp", identity, "--certificate-oidc-issuer", st.OIDC.URL,
					"--allow-http-registry",
					// The stack's Fulcio has no CT log, so its certificates carry no SCT.
					"--insecure-ignore-sct"}
				if mode == "tsa" {
					args = append(args, "--insecure-ignore-tlog", "--use-signed-timestamps")
				}
				cmd := exec.Command(cosign, args...)
				home := t.TempDir()
				cmd.Env = append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "DOCKER_CONFIG="+home)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				return stdout.String() + stderr.String(), err
			}
			ours := "^" + regexp.QuoteMeta(strings.TrimSuffix(st.ExpectedSAN(), "refs/heads/main"))
			out, err := verify(ours)
			if err != nil {
				t.Fatalf("cosign verify refuses the image signature: %v\n%s", err, out)
			}
			// cosign prints what it verified: the digest, as an image signature of cosign's own type.
			if !strings.Contains(out, `"docker-manifest-digest":"`+digest.String()+`"`) || !strings.Contains(out, `"type":"`+ImageSignaturePredicateType+`"`) {
				t.Errorf("cosign verified something else:\n%s", out)
			}
			out, err = verify(`^https://github\.com/fork/app/`)
			if err == nil || !strings.Contains(out, "expected SAN value to match regex") {
				t.Errorf("cosign verify does not refuse another repository's workflow for its identity (%v):\n%s", err, out)
			}
		})
	}
}
