package provenance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestBuildGolden mints a token with fixed claims from the test OIDC issuer, verifies it against
// the issuer's JWKS and compares the predicate with the golden file. Only iss/aud/times vary
// between runs, and none of them reach the predicate.
func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any // overrides of fixedClaims
	}{
		{name: "push-main"},
		{
			name: "reusable-workflow-tag-with-at",
			claims: map[string]any{
				"event_name":         "release",
				"ref":                "refs/tags/pkg@1.2.3",
				"workflow_ref":       "acme/app/.github/workflows/release.yml@refs/tags/pkg@1.2.3",
				"job_workflow_ref":   "acme/workflows/.github/workflows/build.yml@refs/tags/v1",
				"runner_environment": "self-hosted",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := fixedClaims()
			maps.Copy(claims, tt.claims)
			iss := testserver.StartOIDCIssuer(t, claims)
			tok, err := iss.Mint(provenance.DefaultAudience)
			if err != nil {
				t.Fatal(err)
			}
			c, err := provenance.VerifyToken(context.Background(), tok, provenance.VerifyOptions{Issuer: iss.URL})
			if err != nil {
				t.Fatalf("VerifyToken: %v", err)
			}
			if c.Issuer != iss.URL || c.Repository != claims["repository"] {
				t.Errorf("claims = %+v, want iss %s and repository %v", c, iss.URL, claims["repository"])
			}
			got, err := provenance.Build(c, "https://github.com/")
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", tt.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("predicate differs from %s:\n%s", golden, pretty.String())
			}
		})
	}
}

// fixedClaims are what GitHub puts in the ID token of a push to main of acme/app; the golden
// files are made from them, so they are spelled out here rather than borrowed.
func fixedClaims() map[string]any {
	return map[string]any{
		"sub":                 "repo:acme/app:ref:refs/heads/main",
		"ref":                 "refs/heads/main",
		"sha":                 "5f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
		"repository":          "acme/app",
		"repository_id":       "2002",
		"repository_owner":    "acme",
		"repository_owner_id": "1001",
		"run_id":              "3003",
		"run_attempt":         "1",
		"workflow_ref":        "acme/app/.github/workflows/release.yml@refs/heads/main",
		"job_workflow_ref":    "acme/app/.github/workflows/release.yml@refs/heads/main",
		"event_name":          "push",
		"runner_environment":  "github-hosted",
	}
}

// TestPredicateShape pins the fields verifiers match on, independent of the golden file.
func TestPredicateShape(t *testing.T) {
	c := &provenance.Claims{
		Issuer: "https://token.actions.githubusercontent.com", Ref: "refs/heads/main", SHA: "abc",
		Repository: "o/r", EventName: "push", JobWorkflowRef: "o/w/.github/workflows/b.yml@refs/heads/main",
		WorkflowRef: "o/r/.github/workflows/main.yml@refs/heads/main", RepositoryID: "1", RepositoryOwnerID: "2",
		RunnerEnvironment: "github-hosted", RunID: "9", RunAttempt: "3",
	}
	p, err := provenance.New(c, "https://ghe.example")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"buildType":     {p.BuildDefinition.BuildType, "https://actions.github.io/buildtypes/workflow/v1"},
		"workflow.ref":  {p.BuildDefinition.ExternalParameters.Workflow.Ref, "refs/heads/main"},
		"workflow.path": {p.BuildDefinition.ExternalParameters.Workflow.Path, ".github/workflows/main.yml"},
		"workflow.repo": {p.BuildDefinition.ExternalParameters.Workflow.Repository, "https://ghe.example/o/r"},
		"dep.uri":       {p.BuildDefinition.ResolvedDependencies[0].URI, "git+https://ghe.example/o/r@refs/heads/main"},
		"dep.gitCommit": {p.BuildDefinition.ResolvedDependencies[0].Digest["gitCommit"], "abc"},
		"builder.id":    {p.RunDetails.Builder.ID, "https://ghe.example/o/w/.github/workflows/b.yml@refs/heads/main"},
		"invocationId":  {p.RunDetails.Metadata.InvocationID, "https://ghe.example/o/r/actions/runs/9/attempts/3"},
	}
	for field, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", field, gw[0], gw[1])
		}
	}
	if provenance.PredicateType != "https://slsa.dev/provenance/v1" {
		t.Errorf("PredicateType = %q", provenance.PredicateType)
	}
}

func TestBuildErrors(t *testing.T) {
	good := provenance.Claims{Repository: "o/r", WorkflowRef: "o/r/.github/workflows/main.yml@refs/heads/main"}
	tests := []struct {
		name   string
		mutate func(*provenance.Claims)
		server string
		err    error
	}{
		{name: "ok", server: "https://github.com"},
		{name: "workflow in another repository", mutate: func(c *provenance.Claims) { c.WorkflowRef = "x/y/.github/workflows/a.yml@main" }, server: "https://github.com", err: provenance.ErrClaims},
		{name: "workflow without ref", mutate: func(c *provenance.Claims) { c.WorkflowRef = "o/r/.github/workflows/a.yml" }, server: "https://github.com", err: provenance.ErrClaims},
		{name: "server URL without scheme", server: "github.com", err: provenance.ErrClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			_, err := provenance.Build(&c, tt.server)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Build() error = %v, want %v", err, tt.err)
			}
		})
	}
}

// TestVerifyToken feeds VerifyToken good, forged and mis-addressed tokens. The forged ones are
// signed by a key the test makes, under the key id the issuer publishes.
func TestVerifyToken(t *testing.T) {
	iss := testserver.StartOIDCIssuer(t, fixedClaims())
	good, err := iss.Mint(provenance.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	kid := tokenKID(t, good)
	forgeKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	validClaims := unverifiedClaims(t, good)

	forged := sign(t, forgeKey, jose.RS256, kid, validClaims)
	tampered := func() string {
		parts := strings.Split(good, ".")
		c := maps.Clone(validClaims)
		c["repository"] = "mallory/app"
		b, _ := json.Marshal(c)
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}()
	unsigned := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + kid + `"}`))
		b, _ := json.Marshal(validClaims)
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}()
	hmac := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(validClaims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	unknownKID := sign(t, forgeKey, jose.RS256, "not-published", validClaims)
	forSigstore, err := iss.Mint("sigstore")
	if err != nil {
		t.Fatal(err)
	}
	other := testserver.StartOIDCIssuer(t, fixedClaims())

	noSHA := fixedClaims()
	delete(noSHA, "sha")
	noSHA["run_id"] = 3003 // a number, not the string GitHub sends
	lacking := testserver.StartOIDCIssuer(t, noSHA)
	lackingTok, err := lacking.Mint(provenance.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}

	// An issuer whose key this test holds, to reach the checks that come after the signature.
	own := startKeyServer(t)
	wrongIss := maps.Clone(validClaims)
	wrongIss["iss"] = "https://token.actions.githubusercontent.com"
	noExp := maps.Clone(validClaims)
	noExp["iss"] = own.url
	delete(noExp, "exp")

	later := func() time.Time { return time.Now().Add(time.Hour) }
	tests := []struct {
		name  string
		token string
		opts  provenance.VerifyOptions
		err   error
	}{
		{name: "valid", token: good, opts: provenance.VerifyOptions{Issuer: iss.URL}},
		{name: "issuer with trailing slash", token: good, opts: provenance.VerifyOptions{Issuer: iss.URL + "/"}},
		{name: "forged signature", token: forged, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "tampered payload", token: tampered, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "alg none", token: unsigned, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "symmetric alg", token: hmac, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "unpublished key id", token: unknownKID, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "not a JWT", token: "not-a-token", opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrSignature},
		{name: "other issuer's keys", token: good, opts: provenance.VerifyOptions{Issuer: other.URL}, err: provenance.ErrSignature},
		{name: "wrong audience", token: forSigstore, opts: provenance.VerifyOptions{Issuer: iss.URL}, err: provenance.ErrAudience},
		{name: "audience asked for", token: forSigstore, opts: provenance.VerifyOptions{Issuer: iss.URL, Audience: "sigstore"}},
		{name: "expired", token: good, opts: provenance.VerifyOptions{Issuer: iss.URL, Now: later}, err: provenance.ErrExpired},
		{name: "missing claims", token: lackingTok, opts: provenance.VerifyOptions{Issuer: lacking.URL}, err: provenance.ErrMissingClaims},
		{name: "iss claim of another issuer", token: own.sign(t, wrongIss), opts: provenance.VerifyOptions{Issuer: own.url}, err: provenance.ErrIssuer},
		{name: "no exp claim", token: own.sign(t, noExp), opts: provenance.VerifyOptions{Issuer: own.url}, err: provenance.ErrExpired},
		{name: "plain http issuer off loopback", token: good, opts: provenance.VerifyOptions{Issuer: "http://token.example.com"}, err: provenance.ErrDiscovery},
		{name: "issuer without discovery", token: good, opts: provenance.VerifyOptions{Issuer: own.url + "/nothing-here"}, err: provenance.ErrDiscovery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := provenance.VerifyToken(context.Background(), tt.token, tt.opts)
			if !errors.Is(err, tt.err) {
				t.Fatalf("VerifyToken() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error message contains the token")
				}
				return
			}
			if c.Repository != "acme/app" || c.RunAttempt != "1" || c.JobWorkflowRef == "" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return p.Headers[0].KeyID
}

func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := p.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func sign(t *testing.T, key *rsa.PrivateKey, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keyServer publishes discovery and a JWKS for a key the test holds, so tokens that are validly
// signed but wrong in another way can be made.
type keyServer struct {
	url string
	key *rsa.PrivateKey
}

func startKeyServer(t *testing.T) *keyServer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyServer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": ks.url, "jwks_uri": ks.url + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ks.url = srv.URL
	return ks
}

func (ks *keyServer) sign(t *testing.T, claims map[string]any) string {
	return sign(t, ks.key, jose.RS256, "k1", claims)
}
