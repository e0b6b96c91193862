package testserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// GitHubAPI is a loopback fake of GitHub's REST API for repository attestations. It enforces
// the documented request shape (method, path, token, headers, body) the way the real API does and
// answers from a script, so callers can be driven through 201, 403, 422, 429 and 5xx sequences.
type GitHubAPI struct {
	// URL is the API base URL, as GITHUB_API_URL would be (no trailing slash).
	URL string
	// Repository is the only repository ("owner/name") the fake knows.
	Repository string
	// RepositoryID is the numeric id the fake gives the repository.
	RepositoryID int64

	token string
	done  chan struct{}

	mu       sync.Mutex
	script   []GitHubAPIReply
	stored   []GitHubAPIAttestation
	requests []GitHubAPIRequest
}

// GitHubAPIReply is one scripted answer to a well-formed POST.
type GitHubAPIReply struct {
	// Status is the HTTP status to answer: 201 stores the bundle; any other answers GitHub's
	// error JSON and stores nothing.
	Status int
	// RetryAfter, if set, is sent as the Retry-After header (seconds or an HTTP date).
	RetryAfter string
	// Message replaces the default error message for Status.
	Message string
	// DocumentationURL is sent as documentation_url; GitHub points secondary rate limits at
	// ".../secondary-rate-limits", which is how clients tell them from permission errors on 403.
	DocumentationURL string
	// Body, if set, replaces the JSON answer (to send what a broken proxy might).
	Body string
	// Hang stores the bundle, then never answers: the request landed but its answer is lost,
	// and only the client's timeout ends the exchange.
	Hang bool
}

// GitHubAPIAttestation is a stored attestation.
type GitHubAPIAttestation struct {
	ID     int64
	Bundle json.RawMessage
	// SubjectDigests are the statement's subject digests ("sha256:<hex>") the bundle attests to.
	SubjectDigests []string
}

// GitHubAPIRequest records one request the fake received (never its token).
type GitHubAPIRequest struct {
	Method, Path string
	UserAgent    string
	// Authorized says whether the request carried the expected token.
	Authorized bool
	// Status is what the fake answered; 0 for a Hang.
	Status int
}

// GitHubAPIStart starts the fake on 127.0.0.1 for repo ("owner/name") accepting only token;
// it stops when the test ends.
func GitHubAPIStart(t testing.TB, repo, token string) *GitHubAPI {
	t.Helper()
	if token == "" || !strings.Contains(repo, "/") {
		t.Fatalf("testserver: GitHubAPIStart needs owner/name and a token, got %q", repo)
	}
	g := &GitHubAPI{Repository: repo, RepositoryID: 4242, token: token, done: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = srv.URL
	// Cleanups run last-in first-out: release hanging handlers before Close waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(g.done) })
	return g
}

// Script queues answers for the next well-formed POSTs; once used up, POSTs get 201.
func (g *GitHubAPI) Script(replies ...GitHubAPIReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script = append(g.script, replies...)
}

// Attestations returns what has been stored, in order.
func (g *GitHubAPI) Attestations() []GitHubAPIAttestation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubAPIAttestation(nil), g.stored...)
}

// Requests returns every request received, in order.
func (g *GitHubAPI) Requests() []GitHubAPIRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubAPIRequest(nil), g.requests...)
}

func (g *GitHubAPI) serve(w http.ResponseWriter, r *http.Request) {
	rec := GitHubAPIRequest{
		Method:     r.Method,
		Path:       r.URL.Path,
		UserAgent:  r.UserAgent(),
		Authorized: githubAPIAuthorized(r.Header.Get("Authorization"), g.token),
	}
	status, reply, id := g.handle(r, rec.Authorized)
	rec.Status = status
	if reply.Hang {
		rec.Status = 0
	}
	g.mu.Lock()
	g.requests = append(g.requests, rec)
	g.mu.Unlock()

	if reply.Hang {
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		return
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if reply.Body != "" {
		io.WriteString(w, reply.Body)
		return
	}
	if status == http.StatusCreated {
		fmt.Fprintf(w, `{"id":%d}`, id)
		return
	}
	msg := reply.Message
	if msg == "" {
		msg = githubAPIMessage(status)
	}
	doc := reply.DocumentationURL
	if doc == "" {
		doc = "https://docs.github.com/rest/repos/attestations#create-an-attestation"
	}
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": doc})
}

// handle validates the request as GitHub would and picks the answer, with the id of what it stored.
func (g *GitHubAPI) handle(r *http.Request, authorized bool) (int, GitHubAPIReply, int64) {
	fail := func(status int, msg string) (int, GitHubAPIReply, int64) {
		return status, GitHubAPIReply{Status: status, Message: msg}, 0
	}
	// GitHub answers 404, not 405, for a method a route does not have.
	if r.URL.Path != "/repos/"+g.Repository+"/attestations" || r.Method != http.MethodPost {
		return fail(http.StatusNotFound, "Not Found")
	}
	if !authorized {
		return fail(http.StatusUnauthorized, "Bad credentials")
	}
	if r.UserAgent() == "" {
		// GitHub refuses requests without a User-Agent.
		return fail(http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported Content-Type %q", ct))
	}
	if a := r.Header.Get("Accept"); a != "" && !strings.Contains(a, "json") && a != "*/*" {
		return fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported Accept %q", a))
	}
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != "2022-11-28" {
		return fail(http.StatusBadRequest, fmt.Sprintf("API version %q is not supported", v))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return fail(http.StatusBadRequest, "Problems parsing JSON")
	}
	bundle, digests, err := githubAPIParseBody(body)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error())
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	reply := GitHubAPIReply{Status: http.StatusCreated}
	if len(g.script) > 0 {
		reply, g.script = g.script[0], g.script[1:]
	}
	if reply.Status == 0 {
		reply.Status = http.StatusCreated
	}
	var id int64
	if reply.Status == http.StatusCreated || reply.Hang {
		id = int64(1000 + len(g.stored) + 1)
		g.stored = append(g.stored, GitHubAPIAttestation{ID: id, Bundle: bundle, SubjectDigests: digests})
	}
	return reply.Status, reply, id
}

// githubAPIParseBody enforces {"bundle": <Sigstore bundle with a DSSE envelope over an in-toto
// statement>} and returns the bundle and its subject digests.
func githubAPIParseBody(body []byte) (json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req struct {
		Bundle json.RawMessage `json:"bundle"`
	}
	if err := dec.Decode(&req); err != nil {
		return nil, nil, fmt.Errorf("body: %v", err)
	}
	if len(req.Bundle) == 0 || req.Bundle[0] != '{' {
		return nil, nil, fmt.Errorf(`body: "bundle" wasn't supplied or is not an object`)
	}
	var b struct {
		MediaType            string          `json:"mediaType"`
		VerificationMaterial json.RawMessage `json:"verificationMaterial"`
		DSSEEnvelope         *struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(req.Bundle, &b); err != nil {
		return nil, nil, fmt.Errorf("bundle: %v", err)
	}
	if !strings.HasPrefix(b.MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, nil, fmt.Errorf("bundle.mediaType %q is not a Sigstore bundle", b.MediaType)
	}
	if len(b.VerificationMaterial) == 0 || b.VerificationMaterial[0] != '{' {
		return nil, nil, fmt.Errorf("bundle.verificationMaterial is missing")
	}
	if b.DSSEEnvelope == nil {
		return nil, nil, fmt.Errorf("bundle.dsseEnvelope is missing")
	}
	if b.DSSEEnvelope.PayloadType != "application/vnd.in-toto+json" {
		return nil, nil, fmt.Errorf("bundle.dsseEnvelope.payloadType %q is not in-toto", b.DSSEEnvelope.PayloadType)
	}
	if len(b.DSSEEnvelope.Signatures) == 0 || b.DSSEEnvelope.Signatures[0].Sig == "" {
		return nil, nil, fmt.Errorf("bundle.dsseEnvelope has no signature")
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle.dsseEnvelope.payload: %v", err)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, nil, fmt.Errorf("statement: %v", err)
	}
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType == "" {
		return nil, nil, fmt.Errorf("statement: _type %q / predicateType %q is not an in-toto v1 statement", st.Type, st.PredicateType)
	}
	var digests []string
	for _, s := range st.Subject {
		if d := s.Digest["sha256"]; d != "" {
			digests = append(digests, "sha256:"+d)
		}
	}
	if len(digests) == 0 {
		return nil, nil, fmt.Errorf("statement: no subject with a sha256 digest")
	}
	return req.Bundle, digests, nil
}

func githubAPIAuthorized(header, token string) bool {
	scheme, value, ok := strings.Cut(header, " ")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return value == token
	}
	return false
}

func githubAPIMessage(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Resource not accessible by integration"
	case http.StatusUnprocessableEntity:
		return "Feature not available for user-owned private repositories. To enable, please upgrade the owner of this repository to GitHub Enterprise Cloud."
	case http.StatusTooManyRequests:
		return "API rate limit exceeded"
	default:
		return http.StatusText(status)
	}
}
