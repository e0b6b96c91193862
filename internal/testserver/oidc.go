package testserver

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// OIDCIssuer is an OpenID Connect issuer on loopback that mints GitHub-Actions-shaped ID tokens
// and serves them the way a runner does: GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=… with
// "Authorization: bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN" answers {"value": "<jwt>"}.
type OIDCIssuer struct {
	// URL is the issuer ("iss"), serving /.well-known/openid-configuration and its JWKS.
	URL string
	// TokenRequestURL and TokenRequestToken are what a runner puts in
	// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	TokenRequestURL   string
	TokenRequestToken string
	// Faults applies to the token endpoint only; discovery and JWKS always answer.
	Faults *SigstoreFaults

	key *rsa.PrivateKey
	kid string

	mu     sync.Mutex
	claims map[string]any
	minted []string
}

// OIDCGitHubClaims are the claims GitHub puts in an Actions ID token for a push to main of
// acme/app running .github/workflows/release.yml: every claim Fulcio maps to a certificate
// extension is present.
func OIDCGitHubClaims() map[string]any {
	const sha = "5f3c2a1b0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
	return map[string]any{
		"sub":                   "repo:acme/app:ref:refs/heads/main",
		"ref":                   "refs/heads/main",
		"ref_type":              "branch",
		"ref_protected":         "true",
		"sha":                   sha,
		"repository":            "acme/app",
		"repository_id":         "2002",
		"repository_owner":      "acme",
		"repository_owner_id":   "1001",
		"repository_visibility": "private",
		"run_id":                "3003",
		"run_number":            "7",
		"run_attempt":           "1",
		"actor":                 "octocat",
		"actor_id":              "4004",
		"workflow":              "release",
		"workflow_ref":          "acme/app/.github/workflows/release.yml@refs/heads/main",
		"workflow_sha":          sha,
		"job_workflow_ref":      "acme/app/.github/workflows/release.yml@refs/heads/main",
		"job_workflow_sha":      sha,
		"event_name":            "push",
		"head_ref":              "",
		"base_ref":              "",
		"runner_environment":    "github-hosted",
	}
}

// StartOIDCIssuer starts an issuer minting tokens with claims (nil: OIDCGitHubClaims()).
func StartOIDCIssuer(t testing.TB, claims map[string]any) *OIDCIssuer {
	t.Helper()
	if claims == nil {
		claims = OIDCGitHubClaims()
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidc issuer key: %v", err)
	}
	o := &OIDCIssuer{
		Faults:            &SigstoreFaults{},
		key:               key,
		kid:               oidcRandomHex(8),
		claims:            maps.Clone(claims),
		TokenRequestToken: "req-" + oidcRandomHex(16),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", o.serveDiscovery)
	mux.HandleFunc("GET /.well-known/jwks", o.serveJWKS)
	mux.HandleFunc("GET /token", o.serveToken)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		o.Faults.release()
		srv.Close()
	})
	o.URL = srv.URL
	o.TokenRequestURL = srv.URL + "/token?api-version=2.0"
	return o
}

// Claims returns a copy of the claims the issuer puts in every token (plus iss, aud, times).
func (o *OIDCIssuer) Claims() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.claims)
}

// SetClaim changes one claim of the tokens minted from now on.
func (o *OIDCIssuer) SetClaim(name string, value any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.claims[name] = value
}

// Minted returns every token the issuer has handed out, so tests can look for them where they
// must never be.
func (o *OIDCIssuer) Minted() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.minted...)
}

// Mint signs a token for audience with the issuer's claims.
func (o *OIDCIssuer) Mint(audience string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", o.kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	o.mu.Lock()
	claims := maps.Clone(o.claims)
	o.mu.Unlock()
	claims["iss"] = o.URL
	claims["aud"] = audience
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Add(-time.Minute).Unix()
	claims["exp"] = now.Add(10 * time.Minute).Unix()
	claims["jti"] = oidcRandomHex(16)
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	o.minted = append(o.minted, tok)
	o.mu.Unlock()
	return tok, nil
}

func (o *OIDCIssuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	oidcWriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                o.URL,
		"jwks_uri":                              o.URL + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "job_workflow_ref"},
	})
}

func (o *OIDCIssuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	oidcWriteJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &o.key.PublicKey, KeyID: o.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func (o *OIDCIssuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if o.Faults.apply(w, r) {
		return
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || cred != o.TokenRequestToken {
		oidcWriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		oidcWriteJSON(w, http.StatusBadRequest, map[string]string{"message": "api-version is required"})
		return
	}
	audience := r.URL.Query().Get("audience")
	if audience == "" {
		audience = "https://github.com/acme"
	}
	tok, err := o.Mint(audience)
	if err != nil {
		oidcWriteJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	oidcWriteJSON(w, http.StatusOK, map[string]any{"count": 1, "value": tok})
}

// oidcVerify checks a token the way Fulcio does for a configured issuer: the issuer must be
// trusted, its keys come from discovery + JWKS over HTTP, and aud must be "sigstore".
func oidcVerify(client *http.Client, trustedIssuer, token string) (map[string]any, error) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	var unverified jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fmt.Errorf("malformed claims: %w", err)
	}
	if unverified.Issuer != trustedIssuer {
		return nil, fmt.Errorf("issuer %q is not trusted", unverified.Issuer)
	}
	var disco struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := oidcGetJSON(client, trustedIssuer+"/.well-known/openid-configuration", &disco); err != nil {
		return nil, err
	}
	var keys jose.JSONWebKeySet
	if err := oidcGetJSON(client, disco.JWKSURI, &keys); err != nil {
		return nil, err
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := parsed.Claims(keys, &std, &all); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: trustedIssuer, AnyAudience: jwt.Audience{"sigstore"}, Time: time.Now()}, 0); err != nil {
		return nil, err
	}
	return all, nil
}

func oidcGetJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func oidcWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oidcRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
