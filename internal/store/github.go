package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// Sentinel errors of the GitHub API; callers branch on them with errors.Is. Each error also names
// the endpoint, GitHub's status and message, and the permission or setting that fixes it.
var (
	// ErrUnauthorized: GitHub rejected the token itself (401).
	ErrUnauthorized = errors.New("github-token was rejected")
	// ErrForbidden: the token lacks a permission the request needs (403).
	ErrForbidden = errors.New("not allowed with github-token's permissions")
	// ErrNotFound: the repository or organisation does not exist or the token cannot see it (404).
	ErrNotFound = errors.New("not found")
	// ErrUnprocessable: GitHub refused what was sent, or the repository's plan lacks the feature (422).
	ErrUnprocessable = errors.New("refused by GitHub")
	// ErrRateLimited: GitHub kept rate limiting after every retry, or asked for a longer wait than allowed.
	ErrRateLimited = errors.New("rate limited by GitHub")
	// ErrServer: GitHub kept failing with 5xx after every retry.
	ErrServer = errors.New("GitHub API server error")
	// ErrOutcomeUnknown: a request was sent, no answer came back and whether it took effect could
	// not be found out; it was not sent again.
	ErrOutcomeUnknown = transport.ErrOutcomeUnknown
	// ErrBadBundle: the bundle is not a JSON object (or, for a registry, not a Sigstore bundle), so it is not sent.
	ErrBadBundle = errors.New("bundle is not a JSON object")
)

// Answer limits: what each kind of GitHub answer may take. An error, a created id, a repository
// or a storage record is small; a page of the attestation listing holds whole bundles, each as
// large as the largest attestation GitHub accepts (a 16 MB predicate, base64 in a DSSE envelope).
const (
	maxAPIAnswer = 1 << 20
	maxAPIBundle = 32 << 20
	listPerPage  = 4
	maxListPage  = listPerPage*maxAPIBundle + maxAPIAnswer
	// maxListPages bounds how far a listing is followed (listPerPage × maxListPages attestations
	// for one digest); a longer list cannot be searched to the end.
	maxListPages = 100
)

// Attestation is what GitHub stored.
type Attestation struct {
	// ID is GitHub's attestation id; 0 if GitHub did not say (a 201 whose answer could not be
	// read, or an attestation found already stored by a listing that carries no ids).
	ID int64
	// URL is where a person sees it: {server}/{owner}/{repo}/attestations/{id}; empty when ID is 0.
	URL string
}

// GitHubOptions say which repository to publish to and how to reach its API.
type GitHubOptions struct {
	// APIURL is GITHUB_API_URL; ServerURL (GITHUB_SERVER_URL) only builds attestation URLs.
	APIURL, ServerURL string
	// Repository is GITHUB_REPOSITORY, "owner/name".
	Repository string
	// Token is github-token; it is never part of an error.
	Token string
	// Transport are the project's transport options (User-Agent, retries, backoff, logging); the
	// client adds the token as a secret, the answer limits and the same-host redirect rule.
	Transport []transport.Option
}

// GitHub talks to a repository's attestation store and its organisation's artifact metadata
// through go-github's request plumbing (v66 has no typed methods for these endpoints) over
// bom-attest's transport, which retries what is safe to retry.
type GitHub struct {
	api, list   *github.Client // list: the attestation listing, whose pages hold whole bundles
	owner, repo string
	serverURL   string
}

// NewGitHub makes a client for o.Repository.
func NewGitHub(o GitHubOptions) (*GitHub, error) {
	owner, name, ok := strings.Cut(o.Repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("repository %q: want owner/name", o.Repository)
	}
	if o.Token == "" {
		return nil, fmt.Errorf("github-token is empty; attestations are stored with the workflow's token (the default ${{ github.token }} works when the job has `permissions: attestations: write`)")
	}
	base, err := plainhttp.CheckURL(o.APIURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL: %w", err)
	}
	server, err := plainhttp.CheckURL(o.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub server URL: %w", err)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	client := func(limit int64) *github.Client {
		tr := transport.New(append(slices.Clone(o.Transport), transport.WithMaxResponse(limit))...)
		tr.AddSecret(o.Token)
		// BaseURL is set directly: WithEnterpriseURLs would append /api/v3/ to any host that does
		// not look like api.*, which breaks GHE.com-style and loopback API URLs.
		c := github.NewClient(tr.Client()).WithAuthToken(o.Token)
		c.BaseURL = base
		return c
	}
	return &GitHub{
		api:       client(maxAPIAnswer),
		list:      client(maxListPage),
		owner:     owner,
		repo:      name,
		serverURL: strings.TrimSuffix(server.String(), "/"),
	}, nil
}

func (g *GitHub) attestation(id int64) Attestation {
	a := Attestation{ID: id}
	if id != 0 {
		a.URL = fmt.Sprintf("%s/%s/%s/attestations/%d", g.serverURL, g.owner, g.repo, id)
	}
	return a
}

// Upload stores one Sigstore bundle (JSON) with POST /repos/{owner}/{repo}/attestations.
//
// The endpoint is not idempotent: every POST that lands makes a new attestation. So when a POST
// may have landed without its answer reaching us (a 5xx, a timeout, a dropped connection), it is
// sent again only after the subject's attestations were listed and none is this bundle; when one
// is, its id is returned and nothing is sent. Whether the listing shows this bundle is decided by
// its DSSE payload and signatures (see bundleKey), which survive GitHub re-serialising the JSON.
// When that cannot be found out the upload fails with ErrOutcomeUnknown, telling the user where
// to look, rather than risk a duplicate.
func (g *GitHub) Upload(ctx context.Context, bundle []byte) (Attestation, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(bundle, &probe); err != nil {
		return Attestation{}, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	endpoint := fmt.Sprintf("repos/%s/%s/attestations", url.PathEscape(g.owner), url.PathEscape(g.repo))
	// A bundle GitHub will refuse anyway (no DSSE envelope, no subject) gets no check: it is
	// never re-sent after an ambiguous answer.
	var check transport.ResendCheck
	var found Attestation
	if key, subject, err := bundleKey(bundle); err == nil {
		check = func(ctx context.Context) (bool, error) {
			a, ok, err := g.findStored(ctx, subject, key)
			found = a
			return ok, err
		}
		ctx = transport.WithResendCheck(ctx, check)
	}
	req, err := g.api.NewRequest(http.MethodPost, endpoint, struct {
		Bundle json.RawMessage `json:"bundle"`
	}{bundle})
	if err != nil {
		return Attestation{}, fmt.Errorf("uploading attestation: %w", err)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	resp, err := g.api.Do(ctx, req, &created)
	switch {
	case err == nil:
		return g.attestation(created.ID), nil
	case errors.Is(err, transport.ErrApplied):
		return found, nil
	case resp != nil && resp.StatusCode == http.StatusCreated:
		// Stored, but the answer did not decode: report success without an id rather than fail
		// a run whose attestation exists (a re-run would store a second one).
		return Attestation{}, nil
	}
	fail := g.apiError(http.MethodPost, endpoint, resp, err, attestationFixes)
	if check == nil || ctx.Err() != nil || !ambiguous(resp, err) {
		return Attestation{}, fail
	}
	// The last try may itself have landed (a 502 after every retry, a connection dropped after
	// the body was sent): one more look before reporting a failure.
	ok, cerr := check(ctx)
	switch {
	case cerr != nil:
		return Attestation{}, fmt.Errorf("%w; %w: whether it was stored anyway could not be checked (%v) — look at %s/%s/%s/attestations before re-running, so as not to store it twice", fail, ErrOutcomeUnknown, cerr, g.serverURL, g.owner, g.repo)
	case ok:
		return found, nil
	case resp == nil:
		// The outcome is known now: not stored. The transport's error said "unknown".
		return Attestation{}, fmt.Errorf("POST /%s failed after every retry (%v); it was not stored (the subject's attestations do not list it) — re-run the job", endpoint, err)
	}
	return Attestation{}, fmt.Errorf("%w; it was not stored (the subject's attestations do not list it)", fail)
}

// ambiguous reports a failure after which the request may have taken effect.
func ambiguous(resp *github.Response, err error) bool {
	if resp != nil && resp.Response != nil {
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout
	}
	return errors.Is(err, transport.ErrOutcomeUnknown)
}

// fixes say, per HTTP status, what the user changes so that an endpoint works.
type fixes map[int]string

var attestationFixes = fixes{
	http.StatusUnauthorized:        "github-token is expired, revoked or for another GitHub host than GITHUB_API_URL",
	http.StatusForbidden:           "add `permissions: attestations: write` (and `id-token: write` for signing) to the job and use this repository's github-token; pull requests from forks never get these permissions, run them with dry-run",
	http.StatusNotFound:            "the repository does not exist or github-token cannot see it; the token must be for GITHUB_REPOSITORY",
	http.StatusUnprocessableEntity: "artifact attestations on a private or internal repository need a plan that has them: user-owned private repositories cannot store them, an organization on GitHub Enterprise Cloud can; make the repository public, move it to such an organization, or publish with push-to-registry only",
	http.StatusInternalServerError: "GitHub kept failing; re-run the job",
}

var listFixes = fixes{
	http.StatusUnauthorized: attestationFixes[http.StatusUnauthorized],
	http.StatusForbidden:    "add `permissions: attestations: write` (it includes reading them) to the job",
	http.StatusNotFound:     attestationFixes[http.StatusNotFound],
}

// apiError turns a failed request into an error naming the endpoint, the status, GitHub's message
// and the fix, wrapping the sentinel for the status.
func (g *GitHub) apiError(method, endpoint string, resp *github.Response, err error, fix fixes) error {
	where := method + " /" + endpoint
	var rle *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rle):
		return fmt.Errorf("%w: %s: primary rate limit exhausted until %s (GitHub says %s); re-run after that", ErrRateLimited, where, rle.Rate.Reset.Time.UTC().Format("15:04:05 MST"), quote(rle.Message))
	case errors.As(err, &abuse):
		return fmt.Errorf("%w: %s: secondary rate limit (GitHub says %s); GitHub asks to wait longer than this step waits, re-run later", ErrRateLimited, where, quote(abuse.Message))
	case !errors.As(err, &er) || er.Response == nil:
		// No answer at all: the transport's error says what happened.
		return fmt.Errorf("%s: %w", where, err)
	}
	status := er.Response.StatusCode
	answered := fmt.Sprintf("%s answered %d %s (GitHub says %s)", where, status, http.StatusText(status), quote(er.Message))
	var sentinel error
	switch {
	case status == http.StatusUnauthorized:
		sentinel = ErrUnauthorized
	case status == http.StatusTooManyRequests || status == http.StatusForbidden && er.Response.Header.Get("Retry-After") != "":
		wait := "longer"
		if v := er.Response.Header.Get("Retry-After"); v != "" {
			if _, err := strconv.Atoi(v); err == nil {
				wait = v + "s"
			} else {
				wait = "until " + quote(v)
			}
		}
		return fmt.Errorf("%w: %s; GitHub asks to wait %s before retrying, longer than this step waits — re-run later", ErrRateLimited, answered, wait)
	case status == http.StatusForbidden:
		sentinel = ErrForbidden
	case status == http.StatusNotFound:
		sentinel = ErrNotFound
	case status == http.StatusUnprocessableEntity:
		sentinel = ErrUnprocessable
	case status >= 500:
		sentinel = ErrServer
		status = http.StatusInternalServerError // one fix for every 5xx
	default:
		return fmt.Errorf("%s", answered)
	}
	if f := fix[status]; f != "" {
		return fmt.Errorf("%w: %s — %s", sentinel, answered, f)
	}
	return fmt.Errorf("%w: %s", sentinel, answered)
}

// quote shows a message from the server as data: quoted (so no line break or control character
// survives) and cut to a length that cannot flood a log.
func quote(s string) string {
	const most = 300
	if len(s) > most {
		s = s[:most] + "…"
	}
	return fmt.Sprintf("%q", s)
}
