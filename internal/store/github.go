package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
)

// Sentinel errors of the GitHub Attestations API; callers branch on them with errors.Is.
var (
	// ErrUnauthorized: GitHub rejected the token itself (401).
	ErrUnauthorized = errors.New("github-token was rejected")
	// ErrForbidden: the token may not write attestations (403).
	ErrForbidden = errors.New("not allowed to write attestations")
	// ErrNotFound: the repository does not exist or the token cannot see it (404).
	ErrNotFound = errors.New("repository not found")
	// ErrUnprocessable: GitHub refused the bundle or the repository's plan has no attestations (422).
	ErrUnprocessable = errors.New("attestation refused")
	// ErrRateLimited: GitHub kept rate limiting after every retry, or asked for a longer wait than allowed.
	ErrRateLimited = errors.New("rate limited by GitHub")
	// ErrServer: GitHub kept failing with 5xx after every retry.
	ErrServer = errors.New("GitHub API server error")
	// ErrOutcomeUnknown: the request was sent but no answer came back; it may have been stored.
	ErrOutcomeUnknown = errors.New("attestation upload outcome unknown")
	// ErrBadBundle: the bundle is not a JSON object, so it is not sent.
	ErrBadBundle = errors.New("bundle is not a JSON object")
)

// Attestation is what GitHub stored.
type Attestation struct {
	// ID is GitHub's attestation id; 0 if the API answered 201 without one.
	ID int64
	// URL is where a person sees it: {server}/{owner}/{repo}/attestations/{id}; empty when ID is 0.
	URL string
}

// GitHub uploads bundles to a repository's attestation store through go-github's request
// plumbing (v66 has no typed method for this endpoint).
type GitHub struct {
	client         *github.Client
	owner, repo    string
	serverURL      string
	attempts       int
	maxWait        time.Duration
	backoff        time.Duration
	attemptTimeout time.Duration
}

// GitHubOption tunes retries and timeouts.
type GitHubOption func(*GitHub)

// WithRetries sets how many times a POST is tried in all (at least 1) and the longest wait
// between tries the client accepts; a Retry-After beyond maxWait fails with ErrRateLimited.
// Defaults: 4 tries, 60s.
func WithRetries(attempts int, maxWait time.Duration) GitHubOption {
	return func(g *GitHub) {
		g.attempts = max(attempts, 1)
		g.maxWait = maxWait
	}
}

// WithBackoff sets the first wait after a 5xx or a connection failure; it doubles per try (default 1s).
func WithBackoff(d time.Duration) GitHubOption {
	return func(g *GitHub) { g.backoff = d }
}

// WithAttemptTimeout bounds each POST (default 60s); past it, a sent request's outcome is unknown.
func WithAttemptTimeout(d time.Duration) GitHubOption {
	return func(g *GitHub) { g.attemptTimeout = d }
}

// NewGitHub makes a client for repo ("owner/name") at apiURL (GITHUB_API_URL); serverURL
// (GITHUB_SERVER_URL) only builds attestation URLs. hc may be nil.
func NewGitHub(apiURL, serverURL, repo, token, userAgent string, hc *http.Client, opts ...GitHubOption) (*GitHub, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("repository %q: want owner/name", repo)
	}
	if token == "" {
		return nil, fmt.Errorf("github-token is empty; attestations are stored with the workflow's token (the default ${{ github.token }} works when the job has `permissions: attestations: write`)")
	}
	if userAgent == "" {
		return nil, errors.New("store: empty User-Agent")
	}
	base, err := plainhttp.CheckURL(apiURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL: %w", err)
	}
	server, err := plainhttp.CheckURL(serverURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub server URL: %w", err)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	// BaseURL is set directly: WithEnterpriseURLs would append /api/v3/ to any host that does not
	// look like api.*, which breaks GHE.com-style and loopback API URLs.
	c := github.NewClient(hc).WithAuthToken(token)
	c.BaseURL = base
	c.UserAgent = userAgent
	g := &GitHub{
		client:         c,
		owner:          owner,
		repo:           name,
		serverURL:      strings.TrimSuffix(server.String(), "/"),
		attempts:       4,
		maxWait:        60 * time.Second,
		backoff:        time.Second,
		attemptTimeout: 60 * time.Second,
	}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Upload stores one Sigstore bundle (JSON) with POST /repos/{owner}/{repo}/attestations.
//
// The endpoint is not idempotent: every POST that lands makes a new attestation. So a POST is
// retried only when GitHub answered that it did not take it (429, 5xx other than 504, a secondary
// rate limit) or when the request never left (connection refused, reset before the body was
// written). A request that was written in full and then got no answer — a timeout, a dropped
// connection, a 504 from a gateway — is not re-sent: it may have been stored, and sending it again
// would store a duplicate. That case fails with ErrOutcomeUnknown, telling the user where to look.
func (g *GitHub) Upload(ctx context.Context, bundle []byte) (Attestation, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(bundle, &probe); err != nil {
		return Attestation{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	var last error
	for try := 1; try <= g.attempts; try++ {
		a, wait, err := g.post(ctx, bundle)
		if err == nil {
			return a, nil
		}
		if wait < 0 {
			return Attestation{}, err
		}
		last = err
		if try == g.attempts {
			break
		}
		if wait == 0 {
			wait = g.backoff << (try - 1)
		}
		if wait > g.maxWait {
			return Attestation{}, fmt.Errorf("%w: GitHub asks to wait %s before retrying, more than the %s allowed: %v", ErrRateLimited, wait, g.maxWait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Attestation{}, fmt.Errorf("uploading attestation: %w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
	return Attestation{}, fmt.Errorf("uploading attestation to %s/%s: gave up after %d tries: %w", g.owner, g.repo, g.attempts, last)
}

// post makes one try. wait < 0 means do not retry; wait == 0 means retry after the default backoff.
func (g *GitHub) post(ctx context.Context, bundle []byte) (Attestation, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, g.attemptTimeout)
	defer cancel()
	// WroteRequest runs on the transport's writer goroutine, hence the atomic.
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	req, err := g.client.NewRequest(http.MethodPost, fmt.Sprintf("repos/%s/%s/attestations", url.PathEscape(g.owner), url.PathEscape(g.repo)),
		struct {
			Bundle json.RawMessage `json:"bundle"`
		}{bundle})
	if err != nil {
		return Attestation{}, -1, fmt.Errorf("uploading attestation: %w", err)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	resp, err := g.client.Do(ctx, req, &created)
	if err != nil && resp != nil && resp.StatusCode == http.StatusCreated {
		// Stored, but the answer did not decode: report success without an id rather than fail
		// a run whose attestation exists (a re-run would store a second one).
		return Attestation{}, 0, nil
	}
	if err == nil {
		a := Attestation{ID: created.ID}
		if a.ID != 0 {
			a.URL = fmt.Sprintf("%s/%s/%s/attestations/%d", g.serverURL, g.owner, g.repo, a.ID)
		}
		return a, 0, nil
	}
	wait, err := g.classify(err, written.Load())
	return Attestation{}, wait, err
}

// classify turns a failed try into a user-facing error and a retry decision.
func (g *GitHub) classify(err error, written bool) (time.Duration, error) {
	where := g.owner + "/" + g.repo
	var rle *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rle):
		wait := time.Until(rle.Rate.Reset.Time)
		return max(wait, time.Second), fmt.Errorf("%w: primary rate limit exhausted until %s: %v", ErrRateLimited, rle.Rate.Reset.Time.Format(time.RFC3339), err)
	case errors.As(err, &abuse):
		wait := time.Duration(0)
		if abuse.RetryAfter != nil {
			wait = max(*abuse.RetryAfter, time.Second)
		}
		return wait, fmt.Errorf("%w: secondary rate limit: %v", ErrRateLimited, err)
	case errors.As(err, &er):
		status := er.Response.StatusCode
		switch {
		case status == http.StatusTooManyRequests:
			return retryAfter(er.Response), fmt.Errorf("%w: %v", ErrRateLimited, err)
		case status == http.StatusGatewayTimeout:
			return -1, fmt.Errorf("%w: a gateway timed out waiting for GitHub, so the attestation may or may not be stored; it is not sent again to avoid a duplicate — check %s/%s/attestations before re-running: %v", ErrOutcomeUnknown, g.serverURL, where, err)
		case status >= 500:
			return 0, fmt.Errorf("%w: %v", ErrServer, err)
		case status == http.StatusUnauthorized:
			return -1, fmt.Errorf("%w: %v (is github-token expired or for another host?)", ErrUnauthorized, err)
		case status == http.StatusForbidden:
			return -1, fmt.Errorf("%w to %s: %v — add `permissions: attestations: write` (and `id-token: write` for signing) to the job, and use a github-token of this repository; pull requests from forks never get that permission, run them with dry-run", ErrForbidden, where, err)
		case status == http.StatusNotFound:
			return -1, fmt.Errorf("%w: %s does not exist or github-token cannot see it: %v", ErrNotFound, where, err)
		case status == http.StatusUnprocessableEntity:
			return -1, fmt.Errorf("%w by GitHub for %s: %v — artifact attestations on private repositories need a plan that has them (user-owned private repositories cannot store them; an organization on GitHub Enterprise Cloud can), or run with push-to-registry only", ErrUnprocessable, where, err)
		default:
			return -1, fmt.Errorf("uploading attestation to %s: %w", where, err)
		}
	}
	if written {
		return -1, fmt.Errorf("%w: the request to %s was sent but no answer came back (%v), so the attestation may or may not be stored; it is not sent again to avoid a duplicate — check %s/%s/attestations before re-running", ErrOutcomeUnknown, where, err, g.serverURL, where)
	}
	if errors.Is(err, context.Canceled) {
		return -1, fmt.Errorf("uploading attestation to %s: %w", where, err)
	}
	// Nothing reached GitHub (refused, DNS, TLS, reset before the body): safe to try again.
	return 0, fmt.Errorf("uploading attestation to %s: %w", where, err)
}

// retryAfter reads Retry-After (seconds or an HTTP date), then x-ratelimit-reset; 0 means use the backoff.
func retryAfter(resp *http.Response) time.Duration {
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return max(time.Duration(s)*time.Second, time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), time.Second)
		}
	}
	if v := resp.Header.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Until(time.Unix(s, 0)), time.Second)
		}
	}
	return 0
}
