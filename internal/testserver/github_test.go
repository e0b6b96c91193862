package testserver

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestGitHubAPIEnforcesShape sends the fake requests that the real API refuses and checks it refuses them too.
func TestGitHubAPIEnforcesShape(t *testing.T) {
	const token = "ghs_fake"
	api := GitHubAPIStart(t, "acme/app", token)
	statement := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"abcd"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	bundle := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MIIB"}},"dsseEnvelope":{"payload":"` + statement + `","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEUC"}]}}`
	good := `{"bundle":` + bundle + `}`

	tests := []struct {
		name        string
		method      string
		path        string
		auth        string
		contentType string
		body        string
		status      int
	}{
		{name: "created", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/json", body: good, status: 201},
		{name: "token scheme", method: "POST", path: "/repos/acme/app/attestations", auth: "token " + token, contentType: "application/json", body: good, status: 201},
		{name: "GET", method: "GET", path: "/repos/acme/app/attestations", auth: "Bearer " + token, status: 404},
		{name: "other repository", method: "POST", path: "/repos/acme/other/attestations", auth: "Bearer " + token, contentType: "application/json", body: good, status: 404},
		{name: "no token", method: "POST", path: "/repos/acme/app/attestations", contentType: "application/json", body: good, status: 401},
		{name: "wrong token", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer nope", contentType: "application/json", body: good, status: 401},
		{name: "form body", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/x-www-form-urlencoded", body: good, status: 415},
		{name: "bundle not wrapped", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/json", body: bundle, status: 422},
		{name: "extra field", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/json", body: `{"bundle":` + bundle + `,"x":1}`, status: 422},
		{name: "bundle as string", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/json", body: `{"bundle":"` + strings.ReplaceAll(bundle, `"`, `\"`) + `"}`, status: 422},
		{name: "no DSSE envelope", method: "POST", path: "/repos/acme/app/attestations", auth: "Bearer " + token, contentType: "application/json", body: `{"bundle":{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}}`, status: 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, api.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", "test")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, b, tt.status)
			}
			var out map[string]any
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("answer is not JSON: %s", b)
			}
			if tt.status == 201 && out["id"] == nil {
				t.Errorf("201 without id: %s", b)
			}
			if tt.status != 201 && out["message"] == nil {
				t.Errorf("error without message: %s", b)
			}
		})
	}
	if got := len(api.Attestations()); got != 2 {
		t.Errorf("stored %d, want 2", got)
	}
	for _, r := range api.Requests() {
		if strings.Contains(r.Path, token) {
			t.Errorf("request record holds the token")
		}
	}
}

// TestGitHubAPIListsAndRecords checks the listing (pages linked with Link), the repository
// answer, the storage-record shape and the replies that store and then lose their answer.
func TestGitHubAPIListsAndRecords(t *testing.T) {
	const token = "ghs_fake"
	api := GitHubAPIStart(t, "acme/app", token)
	hex := strings.Repeat("ab", 32)
	statement := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` + hex + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	good := `{"bundle":{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MIIB"}},"dsseEnvelope":{"payload":"` + statement + `","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEUC"}]}}}`
	do := func(method, path, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		req.Header.Set("User-Agent", "test")
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, nil
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, resp.Header, out
	}

	// Store, then lose the answer: a 502, a dropped connection; both are stored.
	api.Script(GitHubAPIReply{Status: 502, Store: true}, GitHubAPIReply{Drop: true, Store: true}, GitHubAPIReply{Status: 502}, GitHubAPIReply{Drop: true})
	for i, want := range []int{502, 0, 502, 0, 201} {
		if got, _, _ := do("POST", "/repos/acme/app/attestations", good); got != want {
			t.Errorf("POST %d answered %d, want %d", i, got, want)
		}
	}
	if got := len(api.Attestations()); got != 3 {
		t.Fatalf("stored %d, want 3 (two that lost their answer, one 201)", got)
	}

	// Two pages of two and one, linked.
	list := "/repos/acme/app/attestations/sha256:" + hex
	status, header, out := do("GET", list+"?per_page=2", "")
	items, _ := out["attestations"].([]any)
	link := header.Get("Link")
	if status != 200 || len(items) != 2 || !strings.Contains(link, `rel="next"`) {
		t.Fatalf("first page: %d, %d items, Link %q", status, len(items), link)
	}
	first, _ := items[0].(map[string]any)
	if first["bundle"] == nil || first["repository_id"] == nil || first["bundle_url"] == nil || first["id"] == nil {
		t.Errorf("an entry lacks bundle, repository_id, bundle_url or id: %v", first)
	}
	next := strings.TrimPrefix(link[1:strings.Index(link, ">")], api.URL)
	status, header, out = do("GET", next, "")
	if items, _ := out["attestations"].([]any); status != 200 || len(items) != 1 || header.Get("Link") != "" {
		t.Errorf("second page: %d, %v, Link %q", status, out, header.Get("Link"))
	}
	if status, _, out := do("GET", "/repos/acme/app/attestations/sha256:"+strings.Repeat("cd", 32), ""); status != 200 || len(out["attestations"].([]any)) != 0 {
		t.Errorf("another digest: %d %v", status, out)
	}
	api.ListWithoutIDs()
	if _, _, out := do("GET", list, ""); out["attestations"].([]any)[0].(map[string]any)["id"] != nil {
		t.Errorf("ListWithoutIDs still lists ids")
	}

	record := func(fields string) string {
		return `{"name":"ghcr.io/acme/app","digest":"sha256:` + hex + `","registry_url":"https://ghcr.io"` + fields + `}`
	}
	recordPath := "/orgs/acme/artifacts/metadata/storage-record"
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{name: "repository", method: "GET", path: "/repos/acme/app", status: 200},
		{name: "listing with a bad digest", method: "GET", path: "/repos/acme/app/attestations/sha256:xyz", status: 400},
		{name: "listing per_page 0", method: "GET", path: list + "?per_page=0", status: 422},
		{name: "record", method: "POST", path: recordPath, body: record(`,"version":"v1","repository":"acme/app"`), status: 201},
		{name: "record again updates", method: "POST", path: recordPath, body: record(`,"version":"v2","repository":"acme/app"`), status: 201},
		{name: "record with an unknown field", method: "POST", path: recordPath, body: record(`,"registry":"x"`), status: 422},
		{name: "record without registry_url", method: "POST", path: recordPath, body: `{"name":"a","digest":"sha256:` + hex + `"}`, status: 422},
		{name: "record with a digest without algorithm", method: "POST", path: recordPath, body: `{"name":"a","digest":"` + hex + `","registry_url":"https://ghcr.io"}`, status: 422},
		{name: "record with a registry URL that has a path", method: "POST", path: recordPath, body: `{"name":"a","digest":"sha256:` + hex + `","registry_url":"https://ghcr.io/acme/app"}`, status: 422},
		{name: "record for another organization", method: "POST", path: "/orgs/other/artifacts/metadata/storage-record", body: record(""), status: 404},
	}
	for _, tt := range tests {
		if got, _, out := do(tt.method, tt.path, tt.body); got != tt.status {
			t.Errorf("%s: status %d (%v), want %d", tt.name, got, out, tt.status)
		}
	}
	if recs := api.StorageRecords(); len(recs) != 1 || recs[0].Version != "v2" || recs[0].Repository != "acme/app" {
		t.Errorf("records = %+v, want one, updated to v2", recs)
	}
	api.SetOwnerType("User")
	if got, _, _ := do("POST", recordPath, record("")); got != 404 {
		t.Errorf("record for a user account: %d, want 404", got)
	}
	if _, _, out := do("GET", "/repos/acme/app", ""); out["owner"].(map[string]any)["type"] != "User" {
		t.Errorf("repository owner = %v", out["owner"])
	}
}
