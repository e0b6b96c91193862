package testserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHubAPI is a loopback fake of the parts of GitHub's REST API bom-attest uses: repository
// attestations (create, list by subject digest), the repository itself (its owner's type) and the
// organisation's artifact metadata storage records. It enforces the documented request shapes
// (method, path, token, headers, body) the way the real API does and answers from scripts, so
// callers can be driven through 201, 403, 404, 422, 429 and 5xx sequences, and through answers that
// are lost after the request took effect.
type GitHubAPI struct {
	// URL is the API base URL, as GITHUB_API_URL would be (no trailing slash).
	URL string
	// Repository is the only repository ("owner/name") the fake knows.
	Repository string
	// RepositoryID is the numeric id the fake gives the repository.
	RepositoryID int64

	token string
	done  chan struct{}

	mu             sync.Mutex
	ownerType      string
	listWithoutIDs bool
	script         []GitHubAPIReply // POST attestations
	listScript     []GitHubAPIReply // GET attestations/{digest}
	recordScript   []GitHubAPIReply // POST storage-record
	stored         []GitHubAPIAttestation
	records        []GitHubAPIStorageRecord
	requests       []GitHubAPIRequest
}

// GitHubAPIReply is one scripted answer to a well-formed request.
type GitHubAPIReply struct {
	// Status is the HTTP status to answer: 201 stores what was sent; any other status answers
	// GitHub's error JSON and stores nothing unless Store is set. 0 means 201 (200 for a listing).
	Status int
	// Store stores what was sent even though the answer is an error or never comes: with Status
	// 502 the request took effect and a gateway lost its answer; with Drop the connection broke
	// after it took effect.
	Store bool
	// Drop closes the connection without an answer.
	Drop bool
	// Hang stores what was sent, then never answers: only the client's timeout ends the exchange.
	Hang bool
	// RetryAfter, if set, is sent as the Retry-After header (seconds or an HTTP date).
	RetryAfter string
	// Message replaces the default error message for Status.
	Message string
	// DocumentationURL is sent as documentation_url; GitHub points secondary rate limits at
	// ".../secondary-rate-limits", which is how clients tell them from permission errors on 403.
	DocumentationURL string
	// Body, if set, replaces the JSON answer (to send what a broken proxy might).
	Body string
	// Redirect, if set, answers 307 Temporary Redirect to this URL.
	Redirect string
}

// GitHubAPIAttestation is a stored attestation.
type GitHubAPIAttestation struct {
	ID     int64
	Bundle json.RawMessage
	// SubjectDigests are the statement's subject digests ("sha256:<hex>") the bundle attests to.
	SubjectDigests []string
}

// GitHubAPIStorageRecord is a stored artifact metadata storage record, as it was sent.
type GitHubAPIStorageRecord struct {
	ID          int64
	Org         string
	Name        string `json:"name"`
	Digest      string `json:"digest"`
	Version     string `json:"version,omitempty"`
	ArtifactURL string `json:"artifact_url,omitempty"`
	Path        string `json:"path,omitempty"`
	RegistryURL string `json:"registry_url"`
	Repository  string `json:"repository,omitempty"`
	Status      string `json:"status,omitempty"`
	GitHubRepo  string `json:"github_repository,omitempty"`
}

// GitHubAPIRequest records one request the fake received (never its token).
type GitHubAPIRequest struct {
	Method, Path string
	UserAgent    string
	// Authorized says whether the request carried the expected token.
	Authorized bool
	// Status is what the fake answered; 0 when it answered nothing (Hang, Drop).
	Status int
}

// GitHubAPIStart starts the fake on 127.0.0.1 for repo ("owner/name") accepting only token;
// the owner is an organisation until SetOwnerType says otherwise. It stops when the test ends.
func GitHubAPIStart(t testing.TB, repo, token string) *GitHubAPI {
	t.Helper()
	if token == "" || !strings.Contains(repo, "/") {
		t.Fatalf("testserver: GitHubAPIStart needs owner/name and a token, got %q", repo)
	}
	g := &GitHubAPI{Repository: repo, RepositoryID: 4242, token: token, done: make(chan struct{}), ownerType: "Organization"}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = srv.URL
	// Cleanups run last-in first-out: release hanging handlers before Close waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(g.done) })
	return g
}

// SetOwnerType sets what GET /repos/{owner}/{repo} says the owner is: "Organization" or "User".
// Storage records exist only for organisations; for a user the endpoint answers 404.
func (g *GitHubAPI) SetOwnerType(typ string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ownerType = typ
}

// ListWithoutIDs makes listings carry only the documented fields of API version 2022-11-28
// (bundle, repository_id, bundle_url), without each attestation's id.
func (g *GitHubAPI) ListWithoutIDs() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listWithoutIDs = true
}

// Script queues answers for the next well-formed attestation POSTs; once used up, they get 201.
func (g *GitHubAPI) Script(replies ...GitHubAPIReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script = append(g.script, replies...)
}

// ScriptList queues answers for the next well-formed attestation listings; once used up, they
// list what is stored.
func (g *GitHubAPI) ScriptList(replies ...GitHubAPIReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listScript = append(g.listScript, replies...)
}

// ScriptStorageRecords queues answers for the next well-formed storage-record POSTs; once used
// up, they get 201.
func (g *GitHubAPI) ScriptStorageRecords(replies ...GitHubAPIReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.recordScript = append(g.recordScript, replies...)
}

// Attestations returns what has been stored, in order.
func (g *GitHubAPI) Attestations() []GitHubAPIAttestation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubAPIAttestation(nil), g.stored...)
}

// StorageRecords returns the storage records stored, in order.
func (g *GitHubAPI) StorageRecords() []GitHubAPIStorageRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubAPIStorageRecord(nil), g.records...)
}

// Requests returns every request received, in order.
func (g *GitHubAPI) Requests() []GitHubAPIRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubAPIRequest(nil), g.requests...)
}

// answer is what a route decided: a status, the scripted reply it came from, and a JSON body.
type answer struct {
	status int
	reply  GitHubAPIReply
	body   any
	header http.Header
}

func (g *GitHubAPI) serve(w http.ResponseWriter, r *http.Request) {
	rec := GitHubAPIRequest{
		Method:     r.Method,
		Path:       r.URL.Path,
		UserAgent:  r.UserAgent(),
		Authorized: githubAPIAuthorized(r.Header.Get("Authorization"), g.token),
	}
	a := g.route(r, rec.Authorized)
	rec.Status = a.status
	if a.reply.Hang || a.reply.Drop {
		rec.Status = 0
	}
	g.mu.Lock()
	g.requests = append(g.requests, rec)
	g.mu.Unlock()

	switch {
	case a.reply.Hang:
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		return
	case a.reply.Drop:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	case a.reply.Redirect != "":
		http.Redirect(w, r, a.reply.Redirect, http.StatusTemporaryRedirect)
		return
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.reply.RetryAfter != "" {
		w.Header().Set("Retry-After", a.reply.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	if a.reply.Body != "" {
		io.WriteString(w, a.reply.Body)
		return
	}
	if a.status < 300 {
		json.NewEncoder(w).Encode(a.body)
		return
	}
	msg := a.reply.Message
	if msg == "" {
		msg = githubAPIMessage(a.status)
	}
	doc := a.reply.DocumentationURL
	if doc == "" {
		doc = "https://docs.github.com/rest"
	}
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": doc})
}

var (
	githubAPIListPath   = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/attestations/([^/]+)$`)
	githubAPIRecordPath = regexp.MustCompile(`^/orgs/([^/]+)/artifacts/metadata/storage-record$`)
	githubAPIDigest     = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// route validates the request as GitHub would and picks the answer.
func (g *GitHubAPI) route(r *http.Request, authorized bool) answer {
	fail := func(status int, msg string) answer {
		return answer{status: status, reply: GitHubAPIReply{Status: status, Message: msg}}
	}
	owner, _, _ := strings.Cut(g.Repository, "/")
	var kind string
	switch p := r.URL.Path; {
	case r.Method == http.MethodPost && p == "/repos/"+g.Repository+"/attestations":
		kind = "create"
	case r.Method == http.MethodGet && p == "/repos/"+g.Repository:
		kind = "repo"
	case r.Method == http.MethodGet && githubAPIListPath.MatchString(p) && strings.HasPrefix(p, "/repos/"+g.Repository+"/"):
		kind = "list"
	case r.Method == http.MethodPost && githubAPIRecordPath.MatchString(p):
		kind = "record"
		if org := githubAPIRecordPath.FindStringSubmatch(p)[1]; !strings.EqualFold(org, owner) {
			// GitHub answers 404 for an organisation the token cannot see.
			return fail(http.StatusNotFound, "Not Found")
		}
	default:
		// GitHub answers 404, not 405, for a method a route does not have.
		return fail(http.StatusNotFound, "Not Found")
	}
	if !authorized {
		return fail(http.StatusUnauthorized, "Bad credentials")
	}
	if r.UserAgent() == "" {
		// GitHub refuses requests without a User-Agent.
		return fail(http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
	}
	if a := r.Header.Get("Accept"); a != "" && !strings.Contains(a, "json") && a != "*/*" {
		return fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported Accept %q", a))
	}
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != "2022-11-28" {
		return fail(http.StatusBadRequest, fmt.Sprintf("API version %q is not supported", v))
	}
	switch kind {
	case "repo":
		g.mu.Lock()
		typ := g.ownerType
		g.mu.Unlock()
		name := strings.TrimPrefix(g.Repository, owner+"/")
		return answer{status: http.StatusOK, body: map[string]any{
			"id": g.RepositoryID, "name": name, "full_name": g.Repository, "private": false, "visibility": "public",
			"owner": map[string]any{"login": owner, "id": 77, "type": typ},
		}}
	case "list":
		return g.list(r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported Content-Type %q", ct))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return fail(http.StatusBadRequest, "Problems parsing JSON")
	}
	if kind == "record" {
		return g.storageRecord(owner, body)
	}
	bundle, digests, err := githubAPIParseBody(body)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error())
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	reply := next(&g.script, http.StatusCreated)
	a := answer{status: reply.Status, reply: reply}
	if reply.stores() {
		id := int64(1000 + len(g.stored) + 1)
		g.stored = append(g.stored, GitHubAPIAttestation{ID: id, Bundle: bundle, SubjectDigests: digests})
		a.body = map[string]int64{"id": id}
	}
	return a
}

// next takes the next scripted reply; a reply without a status answers status.
func next(script *[]GitHubAPIReply, status int) GitHubAPIReply {
	var r GitHubAPIReply
	if len(*script) > 0 {
		r, *script = (*script)[0], (*script)[1:]
	}
	if r.Status == 0 {
		r.Status = status
	}
	return r
}

// stores says whether a reply to a write keeps what was sent.
func (r GitHubAPIReply) stores() bool {
	return r.Status == http.StatusCreated && !r.Drop || r.Store || r.Hang
}

// list answers GET /repos/{owner}/{repo}/attestations/{subject_digest}: the attestations whose
// statement names the digest, oldest first, per_page at a time (default 30, at most 100), the
// next page linked with an opaque `after` cursor as GitHub does.
func (g *GitHubAPI) list(r *http.Request) answer {
	digest := githubAPIListPath.FindStringSubmatch(r.URL.Path)[3]
	if !githubAPIDigest.MatchString(digest) {
		return answer{status: http.StatusBadRequest, reply: GitHubAPIReply{Status: http.StatusBadRequest, Message: "subject_digest must be sha256:<64 hex digits>"}}
	}
	q := r.URL.Query()
	perPage := 30
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return answer{status: http.StatusUnprocessableEntity, reply: GitHubAPIReply{Status: http.StatusUnprocessableEntity, Message: "per_page must be between 1 and 100"}}
		}
		perPage = n
	}
	start := 0
	if c := q.Get("after"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "cursor:"))
		if err != nil || err2 != nil || n < 0 {
			return answer{status: http.StatusBadRequest, reply: GitHubAPIReply{Status: http.StatusBadRequest, Message: "invalid cursor"}}
		}
		start = n
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if reply := next(&g.listScript, http.StatusOK); reply.Status != http.StatusOK || reply.Drop || reply.Hang || reply.Body != "" {
		return answer{status: reply.Status, reply: reply}
	}
	var match []GitHubAPIAttestation
	for _, a := range g.stored {
		for _, d := range a.SubjectDigests {
			if d == digest {
				match = append(match, a)
				break
			}
		}
	}
	items := []map[string]any{}
	for i := start; i < len(match) && i < start+perPage; i++ {
		item := map[string]any{
			"bundle":        match[i].Bundle,
			"repository_id": g.RepositoryID,
			"bundle_url":    fmt.Sprintf("%s/bundles/%d", g.URL, match[i].ID),
		}
		if !g.listWithoutIDs {
			item["id"] = match[i].ID
		}
		items = append(items, item)
	}
	a := answer{status: http.StatusOK, body: map[string]any{"attestations": items}}
	if start+perPage < len(match) {
		u := url.URL{Path: r.URL.Path, RawQuery: url.Values{
			"per_page": {strconv.Itoa(perPage)},
			"after":    {base64.RawURLEncoding.EncodeToString([]byte("cursor:" + strconv.Itoa(start+perPage)))},
		}.Encode()}
		a.header = http.Header{"Link": {fmt.Sprintf(`<%s%s>; rel="next"`, g.URL, u.String())}}
	}
	return a
}

// storageRecord answers POST /orgs/{org}/artifacts/metadata/storage-record with the body GitHub's
// REST reference documents: name, digest and registry_url required; version, artifact_url, path,
// repository, status and github_repository optional; nothing else. A record is identified by
// (name, digest, registry_url): posting the same triple again updates it.
func (g *GitHubAPI) storageRecord(org string, body []byte) answer {
	fail := func(status int, msg string) answer {
		return answer{status: status, reply: GitHubAPIReply{Status: status, Message: msg}}
	}
	g.mu.Lock()
	typ := g.ownerType
	g.mu.Unlock()
	if typ != "Organization" {
		// /orgs/{org} does not exist for a user account.
		return fail(http.StatusNotFound, "Not Found")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var rec GitHubAPIStorageRecord
	if err := dec.Decode(&rec); err != nil {
		return fail(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error())
	}
	var problems []string
	if n := len(rec.Name); n < 1 || n > 255 {
		problems = append(problems, "name must be 1 to 255 characters")
	}
	if !githubAPIDigest.MatchString(rec.Digest) {
		problems = append(problems, fmt.Sprintf("digest %q is not algorithm:hex (sha256:<64 hex digits>)", rec.Digest))
	}
	if u, err := url.Parse(rec.RegistryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		problems = append(problems, fmt.Sprintf("registry_url %q is not the base URL of a registry", rec.RegistryURL))
	}
	if rec.Status != "" && rec.Status != "active" && rec.Status != "eol" && rec.Status != "deleted" {
		problems = append(problems, fmt.Sprintf("status %q is not active, eol or deleted", rec.Status))
	}
	if strings.Contains(rec.Repository, "://") {
		problems = append(problems, fmt.Sprintf("repository %q must be the repository name within the registry", rec.Repository))
	}
	if len(problems) > 0 {
		return fail(http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(problems, "\n"))
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	reply := next(&g.recordScript, http.StatusCreated)
	a := answer{status: reply.Status, reply: reply}
	if !reply.stores() {
		return a
	}
	rec.Org = org
	if rec.Status == "" {
		rec.Status = "active"
	}
	found := false
	for i, old := range g.records {
		if old.Name == rec.Name && old.Digest == rec.Digest && old.RegistryURL == rec.RegistryURL {
			rec.ID, g.records[i], found = old.ID, rec, true
			break
		}
	}
	if !found {
		rec.ID = int64(5000 + len(g.records) + 1)
		g.records = append(g.records, rec)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	a.body = map[string]any{"total_count": 1, "storage_records": []map[string]any{{
		"id": rec.ID, "name": rec.Name, "digest": rec.Digest, "artifact_url": nil, "registry_url": rec.RegistryURL,
		"repository": rec.Repository, "status": rec.Status, "created_at": now, "updated_at": now,
	}}}
	return a
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
	// GitHub keeps the bundle as data, not as the bytes sent: what it lists later is the same
	// JSON re-serialised, which clients must not compare byte for byte with what they sent. The
	// fake re-serialises it too (indented, keys sorted), so a client that does is caught.
	var v any
	if err := json.Unmarshal(req.Bundle, &v); err != nil {
		return nil, nil, fmt.Errorf("bundle: %v", err)
	}
	stored, _ := json.MarshalIndent(v, "", " ")
	return stored, digests, nil
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
