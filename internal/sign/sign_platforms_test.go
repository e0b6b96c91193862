package sign

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

const (
	amd64Digest = "sha256:aaaa4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
	arm64Digest = "sha256:bbbb4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
)

// TestSignPlatforms signs one SBOM per platform of an index plus an ML-BOM with another
// predicate type: each bundle is about its own digest and verifies only for it.
func TestSignPlatforms(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	s := newStackSigner(t, st, stackOptions(st, "rekor", nil))
	mk := func(digest, predicateType string) []byte {
		b, err := statement.New("doc", []statement.Subject{{Name: imageName, Digest: digest}}, predicateType, testBOM)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	docs := []struct {
		name string
		stmt []byte
	}{
		{"sbom.linux-amd64", mk(amd64Digest, statement.PredicateCycloneDX)},
		{"sbom.linux-arm64", mk(arm64Digest, statement.PredicateCycloneDX)},
		{"mlbom", mk(imageDigest, "https://example.com/ml-bom/v1")},
	}
	bundles := make([][]byte, len(docs))
	results := make([]*VerifyResult, len(docs))
	var err error
	for i, d := range docs {
		if bundles[i], results[i], err = s.Sign(context.Background(), d.stmt); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	trusted, err := ReadTrustedRoot(context.Background(), st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	digests := []string{amd64Digest, arm64Digest, imageDigest}
	for i, b := range bundles {
		for j, d := range digests {
			_, err := Verify(b, trusted, Policy{SubjectDigest: d, Issuer: st.OIDC.URL, SAN: st.ExpectedSAN()})
			if (err == nil) != (i == j) {
				t.Errorf("%s verified for %s: %v", docs[i].name, d, err)
			}
		}
	}
	if results[2].PredicateType != "https://example.com/ml-bom/v1" || results[2].LogIndex != 2 {
		t.Errorf("mlbom result = %+v", results[2])
	}
	if st.RekorEntries() != 3 {
		t.Errorf("log holds %d entries, want 3", st.RekorEntries())
	}
}

// TestSignRejectsStatement checks that what is not a signable in-toto statement is refused
// before anything is sent to the signing services.
func TestSignRejectsStatement(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	s := newStackSigner(t, st, stackOptions(st, "tsa", nil))
	tests := []struct {
		name string
		stmt []byte
		err  error
	}{
		{"good statement", sbomStatement(t), nil},
		{"not in-toto", []byte(`{"_type":"x"}`), ErrStatement},
		{"no predicate type", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"aa"}}],"predicate":{}}`), ErrStatement},
		{"statement without digest", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x"}],"predicateType":"p","predicate":{}}`), ErrStatement},
		{"not json", []byte(`nope`), ErrStatement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := st.TSA.Requests()
			b, res, err := s.Sign(context.Background(), tt.stmt)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Sign() error = %v, want %v", err, tt.err)
			}
			if (b == nil || res == nil) != (err != nil) {
				t.Fatalf("Sign() returned bundle %v, result %v with error %v", b != nil, res != nil, err)
			}
			if sent := st.TSA.Requests() - before; err != nil && sent != 0 {
				t.Fatalf("a rejected statement sent %d timestamp requests", sent)
			}
		})
	}
}

func TestNewSignerIdentity(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	tests := []struct {
		name string
		edit func(o *Options)
		err  error
	}{
		{"token from the expected issuer", func(o *Options) { o.Issuer = st.OIDC.URL }, nil},
		{"token from another issuer", func(o *Options) { o.Issuer = GitHubIssuer }, ErrIdentity},
		// Fulcio certifies identities on github.com; a signer expecting them on another server
		// must notice before signing anything.
		{"certificate for another server", func(o *Options) { o.ServerURL = "https://ghes.example.com" }, ErrIdentity},
		{"unreadable trusted root", func(o *Options) { o.TrustedRootPath = filepath.Join(t.TempDir(), "nope.json") }, ErrTrustedRoot},
		{"bad configuration", func(o *Options) { o.FulcioURL = "" }, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := stackOptions(st, "tsa", nil)
			tt.edit(&o)
			tok, err := RequestIDToken(context.Background(), o.Transport, stackToken(st), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewSigner(context.Background(), tok, o)
			if !errors.Is(err, tt.err) {
				t.Fatalf("NewSigner() error = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestNewSignerCustomClaims(t *testing.T) {
	claims := testserver.OIDCGitHubClaims()
	claims["job_workflow_ref"] = "acme/shared/.github/workflows/attest.yml@refs/tags/v1"
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{ServerURL: "https://ghes.example.com", Claims: claims})
	s := newStackSigner(t, st, stackOptions(st, "rekor", nil))
	// A reusable workflow signs as itself: the SAN comes from job_workflow_ref.
	if want := "https://ghes.example.com/acme/shared/.github/workflows/attest.yml@refs/tags/v1"; s.Identity().SAN != want {
		t.Fatalf("SAN = %s, want %s", s.Identity().SAN, want)
	}
	_, res, err := s.Sign(context.Background(), sbomStatement(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceRepository != "https://ghes.example.com/acme/app" {
		t.Fatalf("source = %s", res.SourceRepository)
	}
}
