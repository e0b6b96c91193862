package store_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

const (
	testRepo  = "acme/app"
	testToken = "ghs_test-token-never-printed"
	testUA    = "bom-attest/0.0.0-test"
)

// shapeBundle is a Sigstore bundle with the right shape for the API (a DSSE envelope over an
// in-toto statement) whose signature is not real; the GitHub fake checks shape, not signatures.
func shapeBundle(t *testing.T, digestHex, predicateType string) []byte {
	t.Helper()
	st := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/app","digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`, digestHex, predicateType)
	b, err := json.Marshal(map[string]any{
		"mediaType":            store.BundleMediaType,
		"verificationMaterial": map[string]any{"certificate": map[string]string{"rawBytes": "MIIB"}},
		"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString([]byte(st)),
			"payloadType": "application/vnd.in-toto+json",
			"signatures":  []map[string]string{{"sig": "MEUCIQ" + digestHex[:8]}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const subjectHex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func newClient(t *testing.T, api *testserver.GitHubAPI, opts ...transport.Option) *store.GitHub {
	t.Helper()
	return newClientFor(t, api, testRepo, testToken, opts...)
}

func newClientFor(t *testing.T, api *testserver.GitHubAPI, repo, token string, opts ...transport.Option) *store.GitHub {
	t.Helper()
	opts = append([]transport.Option{transport.WithUserAgent(testUA), transport.WithBackoff(10*time.Millisecond, 40*time.Millisecond)}, opts...)
	g, err := store.NewGitHub(store.GitHubOptions{APIURL: api.URL, ServerURL: "https://github.example", Repository: repo, Token: token, Transport: opts})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// posts counts the attestation uploads the fake saw (listings in between are not uploads).
func posts(api *testserver.GitHubAPI) int {
	n := 0
	for _, r := range api.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/attestations") {
			n++
		}
	}
	return n
}

func TestUploadCreated(t *testing.T) {
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	g := newClient(t, api)
	bundle := shapeBundle(t, subjectHex, "https://cyclonedx.org/bom")
	a, err := g.Upload(context.Background(), bundle)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	stored := api.Attestations()
	if len(stored) != 1 {
		t.Fatalf("stored %d attestations, want 1", len(stored))
	}
	if a.ID != stored[0].ID || a.URL != fmt.Sprintf("https://github.example/acme/app/attestations/%d", stored[0].ID) {
		t.Errorf("Upload = %+v, stored id %d", a, stored[0].ID)
	}
	if got := stored[0].SubjectDigests; len(got) != 1 || got[0] != "sha256:"+subjectHex {
		t.Errorf("stored subject digests = %v", got)
	}
	var sent, orig any
	json.Unmarshal(stored[0].Bundle, &sent)
	json.Unmarshal(bundle, &orig)
	if fmt.Sprint(sent) != fmt.Sprint(orig) {
		t.Errorf("stored bundle differs from the one uploaded")
	}
	reqs := api.Requests()
	if len(reqs) != 1 || reqs[0].UserAgent != testUA || !reqs[0].Authorized || reqs[0].Method != http.MethodPost || reqs[0].Path != "/repos/acme/app/attestations" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestUploadSequences(t *testing.T) {
	secondary := "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	// Every listing fails: whether an ambiguous upload landed cannot be found out.
	listDown := []testserver.GitHubAPIReply{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}
	tests := []struct {
		name     string
		script   []testserver.GitHubAPIReply
		list     []testserver.GitHubAPIReply
		noIDs    bool // the listing carries only documented fields
		opts     []transport.Option
		posts    int // POSTs the fake must see
		stored   int
		minWait  time.Duration
		noID     bool   // success without an id (the answer could not be read)
		mentions string // the error must tell the user this
		err      error
	}{
		{name: "201", posts: 1, stored: 1},
		{name: "201 with an unreadable answer is still stored once", script: []testserver.GitHubAPIReply{{Status: 201, Body: "<html>"}}, posts: 1, stored: 1, noID: true},
		{name: "500 502 503 then 201", script: []testserver.GitHubAPIReply{{Status: 500}, {Status: 502}, {Status: 503}}, posts: 4, stored: 1},
		{name: "429 honours Retry-After", script: []testserver.GitHubAPIReply{{Status: 429, RetryAfter: "1"}}, posts: 2, stored: 1, minWait: time.Second},
		{name: "secondary rate limit 403 honours Retry-After", script: []testserver.GitHubAPIReply{{Status: 403, RetryAfter: "1", Message: "You have exceeded a secondary rate limit", DocumentationURL: secondary}}, posts: 2, stored: 1, minWait: time.Second},
		{name: "403 permission", script: []testserver.GitHubAPIReply{{Status: 403}}, posts: 1, mentions: "permissions: attestations: write", err: store.ErrForbidden},
		{name: "422 plan", script: []testserver.GitHubAPIReply{{Status: 422}}, posts: 1, mentions: "user-owned private repositories", err: store.ErrUnprocessable},
		{name: "5xx every time", script: []testserver.GitHubAPIReply{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}, posts: 4, err: store.ErrServer},
		{name: "5xx every time, listing fails too", script: []testserver.GitHubAPIReply{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}, list: append(listDown, listDown...),
			posts: 1, mentions: "look at https://github.example/acme/app/attestations", err: store.ErrOutcomeUnknown},
		{name: "429 every time", script: []testserver.GitHubAPIReply{{Status: 429}, {Status: 429}}, opts: []transport.Option{transport.WithRetries(2)}, posts: 2, err: store.ErrRateLimited},
		{name: "Retry-After beyond the limit", script: []testserver.GitHubAPIReply{{Status: 429, RetryAfter: "3600"}}, posts: 1, mentions: "wait", err: store.ErrRateLimited},
		// A 504 may have landed: without a listing to tell, it is not sent again.
		{name: "504 is not re-sent when the listing fails", script: []testserver.GitHubAPIReply{{Status: 504}}, list: listDown, posts: 1, mentions: "/acme/app/attestations", err: store.ErrOutcomeUnknown},
		{name: "504 that did not land is re-sent after the listing", script: []testserver.GitHubAPIReply{{Status: 504}}, posts: 2, stored: 1},
		// The POST lands, its answer is lost: re-sending would store a second attestation.
		{name: "timeout after the POST landed, listing fails", script: []testserver.GitHubAPIReply{{Hang: true}}, list: listDown, opts: []transport.Option{transport.WithAttemptTimeout(300 * time.Millisecond)}, posts: 1, stored: 1, err: store.ErrOutcomeUnknown},
		{name: "timeout after the POST landed is found by the listing", script: []testserver.GitHubAPIReply{{Hang: true}}, opts: []transport.Option{transport.WithAttemptTimeout(300 * time.Millisecond)}, posts: 1, stored: 1},
		{name: "stored, then 502: found, not re-sent", script: []testserver.GitHubAPIReply{{Status: 502, Store: true}}, posts: 1, stored: 1},
		{name: "stored, then the connection dropped: found, not re-sent", script: []testserver.GitHubAPIReply{{Drop: true, Store: true}}, posts: 1, stored: 1},
		{name: "dropped before storing: re-sent once", script: []testserver.GitHubAPIReply{{Drop: true}}, posts: 2, stored: 1},
		{name: "the last try stored, then 502", script: []testserver.GitHubAPIReply{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 502, Store: true}}, posts: 4, stored: 1},
		// Answers are bounded (1 MiB): a longer one is not read whole, even when it is valid JSON.
		{name: "a 201 answer longer than the limit", script: []testserver.GitHubAPIReply{{Status: 201, Body: `{"id":1001,"pad":"` + strings.Repeat("x", 2<<20) + `"}`}}, posts: 1, stored: 1, noID: true},
		{name: "a 403 answer longer than the limit", script: []testserver.GitHubAPIReply{{Status: 403, Body: `{"message":"` + strings.Repeat("x", 2<<20) + `"}`}}, posts: 1, mentions: "permissions: attestations: write", err: store.ErrForbidden},
		{name: "found by a listing without ids", script: []testserver.GitHubAPIReply{{Status: 502, Store: true}}, noIDs: true, posts: 1, stored: 1, noID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := testserver.GitHubAPIStart(t, testRepo, testToken)
			api.Script(tt.script...)
			api.ScriptList(tt.list...)
			if tt.noIDs {
				api.ListWithoutIDs()
			}
			g := newClient(t, api, tt.opts...)
			start := time.Now()
			a, err := g.Upload(context.Background(), shapeBundle(t, subjectHex, "https://slsa.dev/provenance/v1"))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Upload() error = %v, want %v", err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.mentions) {
				t.Errorf("error %q does not mention %q", err, tt.mentions)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("error message contains the token")
			}
			if err == nil && (a.ID == 0) != tt.noID {
				t.Errorf("attestation = %+v; want an id: %v", a, !tt.noID)
			}
			if d := time.Since(start); d < tt.minWait {
				t.Errorf("retried after %s, want at least %s", d, tt.minWait)
			}
			if got := posts(api); got != tt.posts {
				t.Errorf("fake saw %d POSTs, want %d", got, tt.posts)
			}
			stored := api.Attestations()
			if got := len(stored); got != tt.stored {
				t.Errorf("fake stored %d attestations, want %d", got, tt.stored)
			}
			if err == nil && !tt.noID && len(stored) == 1 && a.ID != stored[0].ID {
				t.Errorf("Upload returned id %d, the fake stored %d", a.ID, stored[0].ID)
			}
		})
	}
}

// TestNoDuplicates uploads four documents while GitHub stores and then loses its answer in
// every way it can; exactly four attestations exist afterwards, each with the id returned for
// it, although the subject already had more attestations than one page of the listing holds.
func TestNoDuplicates(t *testing.T) {
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	g := newClient(t, api, transport.WithAttemptTimeout(300*time.Millisecond))
	ctx := context.Background()
	for i := range 5 {
		if _, err := g.Upload(ctx, shapeBundle(t, subjectHex, fmt.Sprintf("https://example.com/earlier/%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	before := len(api.Attestations())
	api.Script(
		testserver.GitHubAPIReply{Status: 502, Store: true},
		testserver.GitHubAPIReply{Drop: true, Store: true},
		testserver.GitHubAPIReply{Hang: true},
		testserver.GitHubAPIReply{Status: 503}, testserver.GitHubAPIReply{Drop: true},
	)
	var ids []int64
	for _, pt := range []string{"https://cyclonedx.org/bom", "https://spdx.dev/Document", "https://slsa.dev/provenance/v1", "https://example.com/fourth"} {
		a, err := g.Upload(ctx, shapeBundle(t, subjectHex, pt))
		if err != nil {
			t.Fatalf("Upload(%s): %v", pt, err)
		}
		ids = append(ids, a.ID)
	}
	stored := api.Attestations()[before:]
	if len(stored) != len(ids) {
		t.Fatalf("fake stored %d attestations for %d documents", len(stored), len(ids))
	}
	for i, a := range stored {
		if ids[i] != a.ID {
			t.Errorf("document %d: Upload returned id %d, the fake stored it as %d", i, ids[i], a.ID)
		}
	}
	lists := 0
	for _, r := range api.Requests() {
		if r.Method == http.MethodGet {
			lists++
		}
	}
	if lists < 4 {
		t.Errorf("the listing was read %d times; every ambiguous answer needs one", lists)
	}
}

// TestUploadRedirectRefused: an API answer that redirects the upload to another host is not
// followed, so neither the bundle nor the token reaches it.
func TestUploadRedirectRefused(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer other.Close()
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	// 127.0.0.1 and localhost are different hosts.
	api.Script(testserver.GitHubAPIReply{Redirect: strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/steal"})
	_, err := newClient(t, api).Upload(context.Background(), shapeBundle(t, subjectHex, "x"))
	if !errors.Is(err, transport.ErrRedirect) {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
	if reached.Load() != 0 {
		t.Errorf("the other host was reached")
	}
}

func TestUploadRejected(t *testing.T) {
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	tests := []struct {
		name   string
		token  string
		repo   string
		bundle []byte
		posts  int
		err    error
	}{
		{name: "wrong token", token: "ghs_other", repo: testRepo, bundle: shapeBundle(t, subjectHex, "x"), posts: 1, err: store.ErrUnauthorized},
		{name: "unknown repository", token: testToken, repo: "acme/other", bundle: shapeBundle(t, subjectHex, "x"), posts: 1, err: store.ErrNotFound},
		{name: "not a Sigstore bundle", token: testToken, repo: testRepo, bundle: []byte(`{"mediaType":"text/plain"}`), posts: 1, err: store.ErrUnprocessable},
		{name: "not JSON", token: testToken, repo: testRepo, bundle: []byte(`bundle`), posts: 0, err: store.ErrBadBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(api.Requests())
			_, err := newClientFor(t, api, tt.repo, tt.token).Upload(context.Background(), tt.bundle)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Upload() error = %v, want %v", err, tt.err)
			}
			if got := len(api.Requests()) - before; got != tt.posts {
				t.Errorf("fake saw %d requests, want %d (no retry of a refusal)", got, tt.posts)
			}
		})
	}
	if len(api.Attestations()) != 0 {
		t.Errorf("refused requests stored attestations")
	}
}

// failFirst fails the first request before any byte leaves, as a refused connection does.
type failFirst struct {
	calls atomic.Int32
}

func (f *failFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.calls.Add(1) == 1 {
		return nil, errors.New("dial tcp: connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestUploadRetriesWhatNeverLeft(t *testing.T) {
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	ff := &failFirst{}
	g := newClient(t, api, transport.WithBase(ff))
	if _, err := g.Upload(context.Background(), shapeBundle(t, subjectHex, "x")); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if ff.calls.Load() != 2 || len(api.Attestations()) != 1 {
		t.Errorf("transport calls = %d, stored = %d; want 2 and 1", ff.calls.Load(), len(api.Attestations()))
	}
}

func TestNewGitHubInputs(t *testing.T) {
	tests := []struct {
		name, api, repo, token string
		wantErr                bool
	}{
		{name: "ok", api: "https://api.github.com", repo: "o/r", token: "t"},
		{name: "GHES API path", api: "https://ghe.example/api/v3", repo: "o/r", token: "t"},
		{name: "repo without owner", api: "https://api.github.com", repo: "r", token: "t", wantErr: true},
		{name: "repo with extra path", api: "https://api.github.com", repo: "o/r/x", token: "t", wantErr: true},
		{name: "no token", api: "https://api.github.com", repo: "o/r", wantErr: true},
		{name: "plain http off loopback", api: "http://api.github.com", repo: "o/r", token: "t", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.NewGitHub(store.GitHubOptions{APIURL: tt.api, ServerURL: "https://github.com", Repository: tt.repo, Token: tt.token})
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewGitHub() error = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
