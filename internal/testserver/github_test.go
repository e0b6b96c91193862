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
