package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// tokenClaims are the ID token claims signing needs. The token is not verified here: Fulcio
// does that, and the certificate it issues is checked against these values.
type tokenClaims struct {
	Issuer         string `json:"iss"`
	Subject        string `json:"sub"`
	JobWorkflowRef string `json:"job_workflow_ref"`
	Repository     string `json:"repository"`
}

// fetchToken asks the runner for an ID token with audience "sigstore" and hands it to mask
// before anything else happens with it.
func fetchToken(ctx context.Context, r *retrier, requestURL, requestToken string, mask func(string)) (string, error) {
	if requestURL == "" || requestToken == "" {
		return "", fmt.Errorf("%w: the job has no ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give it `permissions: id-token: write`, or use dry-run on pull requests from forks", ErrToken)
	}
	u, err := url.Parse(requestURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: ACTIONS_ID_TOKEN_REQUEST_URL is not a URL", ErrToken)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	// The request URL carries no secret, but its query is the runner's business: log the host only.
	where := u.Scheme + "://" + u.Host + u.Path

	header := http.Header{"Authorization": {"bearer " + requestToken}, "Accept": {"application/json"}}
	resp, err := r.do(ctx, "oidc", http.MethodGet, u.String(), header, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrToken, strings.Replace(err.Error(), u.String(), where, 1))
	}
	switch {
	case resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden:
		return "", fmt.Errorf("%w: the runner refused the token request (%d %s): does the job have `permissions: id-token: write`?",
			ErrToken, resp.status, http.StatusText(resp.status))
	case resp.status != http.StatusOK:
		return "", fmt.Errorf("%w: %s", ErrToken, r.unexpected(http.MethodGet, where, resp))
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return "", fmt.Errorf("%w: GET %s: answer is not JSON with a token: %w", ErrToken, where, err)
	}
	if body.Value == "" {
		return "", fmt.Errorf("%w: GET %s: answer has no token", ErrToken, where)
	}
	if mask != nil {
		mask(body.Value)
	}
	return body.Value, nil
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
