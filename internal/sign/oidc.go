package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bom-attest/bom-attest/internal/transport"
)

// maxTokenAnswer bounds the runner's answer to a token request; a JWT is a few KB.
const maxTokenAnswer = 1 << 20

// TokenRequest is how the runner hands out the job's ID token: ACTIONS_ID_TOKEN_REQUEST_URL
// and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
type TokenRequest struct {
	URL, Token string
}

// RequestIDToken asks the runner for an ID token with audience "sigstore", the one token of a
// run: Fulcio certifies it and build provenance is made from its verified claims. The token is
// handed to mask and made a secret of t before anything else happens with it.
func RequestIDToken(ctx context.Context, t *transport.Transport, r TokenRequest, mask func(secret string)) (string, error) {
	if r.URL == "" || r.Token == "" {
		return "", fmt.Errorf("%w: the job has no ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give it `permissions: id-token: write`, or use dry-run on pull requests from forks", ErrToken)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: ACTIONS_ID_TOKEN_REQUEST_URL is not a URL", ErrToken)
	}
	t.AddSecret(r.Token)
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	// The request URL carries no secret, but its query is the runner's business: name the host only.
	where := u.Scheme + "://" + u.Host + u.Path

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrToken, err)
	}
	req.Header.Set("Authorization", "bearer "+r.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := t.Client().Do(req)
	if err != nil {
		return "", t.RedactError(fmt.Errorf("%w: %s", ErrToken, strings.ReplaceAll(err.Error(), u.String(), where)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer+1))
	if err != nil {
		return "", t.RedactError(fmt.Errorf("%w: GET %s: %w", ErrToken, where, err))
	}
	switch {
	case len(body) > maxTokenAnswer:
		return "", fmt.Errorf("%w: GET %s: answer larger than %d bytes", ErrToken, where, maxTokenAnswer)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("%w: the runner refused the token request (%d %s): does the job have `permissions: id-token: write`?",
			ErrToken, resp.StatusCode, http.StatusText(resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return "", t.RedactError(fmt.Errorf("%w: GET %s: answered %d %s%s", ErrToken, where, resp.StatusCode, http.StatusText(resp.StatusCode), snippet(body)))
	}
	var answer struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", fmt.Errorf("%w: GET %s: answer is not JSON with a token", ErrToken, where)
	}
	if answer.Value == "" {
		return "", fmt.Errorf("%w: GET %s: answer has no token", ErrToken, where)
	}
	t.AddSecret(answer.Value)
	if mask != nil {
		mask(answer.Value)
	}
	return answer.Value, nil
}

// snippet is the start of an answer for an error message, on one line; the caller redacts it.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return ": " + s
}

// tokenClaims are the ID token claims signing needs. The token is not verified here: Fulcio
// does that, and the certificate it issues is checked against these values.
type tokenClaims struct {
	Issuer         string `json:"iss"`
	Subject        string `json:"sub"`
	JobWorkflowRef string `json:"job_workflow_ref"`
}

func parseClaims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, fmt.Errorf("%w: the ID token is not a JWT", ErrToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, fmt.Errorf("%w: the ID token payload is not base64url", ErrToken)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, fmt.Errorf("%w: the ID token payload is not JSON", ErrToken)
	}
	if c.Issuer == "" || c.Subject == "" {
		return tokenClaims{}, fmt.Errorf("%w: the ID token has no iss or sub claim", ErrToken)
	}
	if c.JobWorkflowRef == "" {
		return tokenClaims{}, fmt.Errorf("%w: the ID token has no job_workflow_ref claim; is it from GitHub Actions?", ErrToken)
	}
	return c, nil
}
