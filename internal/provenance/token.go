package provenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
)

// DefaultAudience is the audience actions/attest-build-provenance asks the runner for when it
// only wants the token's claims; used when VerifyOptions.Audience is empty.
const DefaultAudience = "nobody"

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrDiscovery: the issuer's OpenID configuration or key set could not be fetched or read.
	ErrDiscovery = errors.New("OIDC discovery failed")
	// ErrSignature: the token is malformed or its signature does not verify against the issuer's keys.
	ErrSignature = errors.New("ID token signature does not verify")
	// ErrIssuer: the token was issued by someone other than the expected issuer.
	ErrIssuer = errors.New("ID token issuer mismatch")
	// ErrAudience: the token was minted for another audience.
	ErrAudience = errors.New("ID token audience mismatch")
	// ErrExpired: the token is expired, not valid yet, or carries no expiry.
	ErrExpired = errors.New("ID token expired or not yet valid")
	// ErrMissingClaims: a claim the provenance predicate needs is absent or not a string.
	ErrMissingClaims = errors.New("ID token lacks required claims")
)

// signatureAlgorithms are the asymmetric algorithms an issuer may sign with; symmetric (HS*) and
// "none" are refused so a token cannot be "signed" with a public key or with nothing.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// maxDocument bounds what is read from the issuer, so a hostile endpoint cannot exhaust memory.
const maxDocument = 1 << 20

// Claims are the GitHub Actions ID token claims the provenance predicate is made from.
type Claims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Ref               string `json:"ref"`
	SHA               string `json:"sha"`
	Repository        string `json:"repository"`
	EventName         string `json:"event_name"`
	JobWorkflowRef    string `json:"job_workflow_ref"`
	WorkflowRef       string `json:"workflow_ref"`
	RepositoryID      string `json:"repository_id"`
	RepositoryOwnerID string `json:"repository_owner_id"`
	RunnerEnvironment string `json:"runner_environment"`
	RunID             string `json:"run_id"`
	RunAttempt        string `json:"run_attempt"`
}

// requiredClaims are the claims actions/attest insists on; the predicate is incomplete without any of them.
var requiredClaims = []string{
	"iss", "ref", "sha", "repository", "event_name", "job_workflow_ref", "workflow_ref",
	"repository_id", "repository_owner_id", "runner_environment", "run_id", "run_attempt",
}

// VerifyOptions says whose token to expect and how to reach its issuer.
type VerifyOptions struct {
	// Issuer is the expected "iss" claim and the base of OpenID discovery
	// (e.g. https://token.actions.githubusercontent.com).
	Issuer string
	// Audience the token must carry; DefaultAudience when empty.
	Audience string
	// Client fetches the discovery document and key set; http.DefaultClient when nil.
	Client *http.Client
	// Now is the clock expiry is checked against; time.Now when nil.
	Now func() time.Time
}

// VerifyToken checks the ID token's signature against the key set its issuer publishes (found
// through OpenID discovery), then its issuer, audience and validity period, and returns its
// claims. Claims are never taken from an unverified token: a forged one would let anyone write
// the provenance.
func VerifyToken(ctx context.Context, token string, o VerifyOptions) (*Claims, error) {
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	issuer := strings.TrimSuffix(o.Issuer, "/")
	if _, err := plainhttp.CheckURL(issuer); err != nil {
		return nil, fmt.Errorf("%w: issuer: %v", ErrDiscovery, err)
	}

	// Parse first: a token that is not even a JWS should not cost two network round trips.
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		// The parse error never quotes the token, so it is safe to wrap.
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature, got %d", ErrSignature, len(tok.Headers))
	}

	keys, err := fetchKeys(ctx, o.Client, issuer)
	if err != nil {
		return nil, err
	}
	candidates := keys.Keys
	if kid := tok.Headers[0].KeyID; kid != "" {
		candidates = keys.Key(kid)
		if len(candidates) == 0 {
			return nil, fmt.Errorf("%w: issuer %s publishes no key with id %q", ErrSignature, issuer, kid)
		}
	}

	var std jwt.Claims
	var raw map[string]any
	verified := false
	for _, k := range candidates {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if err := tok.Claims(k.Public().Key, &std, &raw); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: no key published by %s verifies the token", ErrSignature, issuer)
	}

	if std.Issuer != issuer {
		return nil, fmt.Errorf("%w: token was issued by %q, want %q", ErrIssuer, std.Issuer, issuer)
	}
	if !std.Audience.Contains(o.Audience) {
		return nil, fmt.Errorf("%w: token is for %q, want %q", ErrAudience, []string(std.Audience), o.Audience)
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: token has no exp claim", ErrExpired)
	}
	// No leeway: the runner mints the token moments before use, and a stale one should fail loudly.
	if err := std.ValidateWithLeeway(jwt.Expected{Time: o.Now()}, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrExpired, err)
	}

	var missing []string
	for _, name := range requiredClaims {
		if s, ok := raw[name].(string); !ok || s == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: %s (is this token from a GitHub Actions job?)", ErrMissingClaims, strings.Join(missing, ", "))
	}

	// Decoded from the verified payload, so nothing unverified is read.
	var c Claims
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: re-encoding claims: %v", ErrMissingClaims, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMissingClaims, err)
	}
	return &c, nil
}

// fetchKeys follows OpenID discovery from the issuer to its JSON Web Key Set.
func fetchKeys(ctx context.Context, hc *http.Client, issuer string) (*jose.JSONWebKeySet, error) {
	var conf struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, hc, issuer+"/.well-known/openid-configuration", &conf); err != nil {
		return nil, err
	}
	// OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for,
	// otherwise one issuer could vouch for keys of another.
	if strings.TrimSuffix(conf.Issuer, "/") != issuer {
		return nil, fmt.Errorf("%w: %s/.well-known/openid-configuration names issuer %q", ErrDiscovery, issuer, conf.Issuer)
	}
	if conf.JWKSURI == "" {
		return nil, fmt.Errorf("%w: %s/.well-known/openid-configuration has no jwks_uri", ErrDiscovery, issuer)
	}
	if _, err := plainhttp.CheckURL(conf.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri: %v", ErrDiscovery, err)
	}
	var keys jose.JSONWebKeySet
	if err := getJSON(ctx, hc, conf.JWKSURI, &keys); err != nil {
		return nil, err
	}
	if len(keys.Keys) == 0 {
		return nil, fmt.Errorf("%w: %s lists no keys", ErrDiscovery, conf.JWKSURI)
	}
	return &keys, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s", ErrDiscovery, u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrDiscovery, u, err)
	}
	if len(b) > maxDocument {
		return fmt.Errorf("%w: GET %s: document larger than %d bytes", ErrDiscovery, u, maxDocument)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrDiscovery, u, err)
	}
	return nil
}
