package sign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

const (
	amd64Digest = "sha256:aaaa4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
	arm64Digest = "sha256:bbbb4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
)

// TestSignAllPlatforms signs one SBOM per platform of an index plus an ML-BOM with another
// predicate type: each bundle is about its own digest and verifies only for it.
func TestSignAllPlatforms(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	s, err := NewSigner(context.Background(), stackOptions(st, "rekor", nil))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(digest, predicateType string) []byte {
		b, err := statement.New("doc", []statement.Subject{{Name: imageName, Digest: digest}}, predicateType, testBOM)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	docs := []Document{
		{Name: "sbom.linux-amd64", Statement: mk(amd64Digest, statement.PredicateCycloneDX)},
		{Name: "sbom.linux-arm64", Statement: mk(arm64Digest, statement.PredicateCycloneDX)},
		{Name: "mlbom", Statement: mk(imageDigest, "https://example.com/ml-bom/v1")},
	}
	dir := t.TempDir()
	signed, err := s.SignAll(context.Background(), dir, docs)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := ReadTrustedRoot(st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	digests := []string{amd64Digest, arm64Digest, imageDigest}
	for i, sg := range signed {
		if sg.Path != filepath.Join(dir, docs[i].Name+".sigstore.json") {
			t.Errorf("path = %s", sg.Path)
		}
		b, err := os.ReadFile(sg.Path)
		if err != nil {
			t.Fatal(err)
		}
		for j, d := range digests {
			_, err := Verify(b, trusted, Policy{SubjectDigest: d, Issuer: st.OIDC.URL, SAN: st.ExpectedSAN()})
			if (err == nil) != (i == j) {
				t.Errorf("%s verified for %s: %v", docs[i].Name, d, err)
			}
		}
	}
	if signed[2].Result.PredicateType != "https://example.com/ml-bom/v1" || signed[2].Result.LogIndex != 2 {
		t.Errorf("mlbom result = %+v", signed[2].Result)
	}
	if st.RekorEntries() != 3 {
		t.Errorf("log holds %d entries, want 3", st.RekorEntries())
	}
}

func TestSignAllWritesAllOrNothing(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	s, err := NewSigner(context.Background(), stackOptions(st, "tsa", nil))
	if err != nil {
		t.Fatal(err)
	}
	good := sbomStatement(t)
	tests := []struct {
		name string
		docs []Document
		err  error
	}{
		{"second statement is not in-toto", []Document{{"sbom", good}, {"mlbom", []byte(`{"_type":"x"}`)}}, ErrStatement},
		{"statement without digest", []Document{{"sbom", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x"}],"predicateType":"p","predicate":{}}`)}}, ErrStatement},
		{"not json", []Document{{"sbom", []byte(`nope`)}}, ErrStatement},
		{"path in name", []Document{{"../sbom", good}}, ErrStatement},
		{"hidden name", []Document{{".sbom", good}}, ErrStatement},
		{"empty name", []Document{{"", good}}, ErrStatement},
		{"same name twice", []Document{{"sbom", good}, {"sbom", good}}, ErrStatement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := s.SignAll(context.Background(), dir, tt.docs)
			if !errors.Is(err, tt.err) {
				t.Fatalf("SignAll() error = %v, want %v", err, tt.err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("%d files written", len(entries))
			}
		})
	}
	t.Run("unwritable directory", func(t *testing.T) {
		_, err := s.SignAll(context.Background(), filepath.Join(t.TempDir(), "missing"), []Document{{"sbom", good}})
		if err == nil || !strings.Contains(err.Error(), "sbom.sigstore.json") {
			t.Fatalf("error = %v, want one naming the file", err)
		}
	})
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
			_, err := NewSigner(context.Background(), o)
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
	o := stackOptions(st, "rekor", nil)
	s, err := NewSigner(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
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

// TestDryRun writes statements and a plan while the whole signing stack watches: nothing may
// reach it.
func TestDryRun(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	opts := stackOptions(st, "tsa", nil)
	opts.WorkflowRef = "acme/app/.github/workflows/release.yml@refs/heads/main"
	plan, err := NewPlan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Identity.SAN != st.ExpectedSAN() || plan.TSAURL != st.TSAURL || plan.Instance != InstanceCustom {
		t.Fatalf("plan = %+v", plan)
	}
	dir := t.TempDir()
	stmt := sbomStatement(t)
	paths, err := WriteStatements(dir, []Document{{Name: "sbom", Statement: stmt}})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != filepath.Join(dir, "sbom.intoto.json") {
		t.Fatalf("paths = %v", paths)
	}
	if b, err := os.ReadFile(paths[0]); err != nil || string(b) != string(stmt) {
		t.Fatalf("statement file: %v", err)
	}
	if n := st.OIDC.Faults.Requests() + st.Fulcio.Requests() + st.TSA.Requests() + st.Rekor.Requests(); n != 0 {
		t.Fatalf("a dry run sent %d requests", n)
	}
	if _, err := WriteStatements(dir, []Document{{Name: "bad", Statement: []byte("{}")}}); !errors.Is(err, ErrStatement) {
		t.Fatalf("invalid statement: %v", err)
	}
}
