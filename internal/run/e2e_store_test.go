package run_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestStorageRecords runs a push with push-to-registry as an organization's workflow would, and
// checks the storage records made after the referrers are pushed: recorded when GitHub takes
// them, a warning naming the fix and a successful run when it refuses, nothing for a user-owned
// repository.
func TestStorageRecords(t *testing.T) {
	reg := testserver.StartRegistry(t)
	img := debImage(t, "amd64", "")
	digest, _ := img.Digest()
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	tests := []struct {
		name    string
		user    bool
		script  []testserver.GitHubAPIReply
		records int
		warns   []string // a ::warning line must say each
		logs    string
	}{
		{name: "organization", records: 1},
		{name: "missing permission", script: []testserver.GitHubAPIReply{{Status: 403}}, warns: []string{"403", "artifact-metadata: write", "create-storage-record: false"}},
		{name: "GitHub failing", script: []testserver.GitHubAPIReply{{Status: 502}, {Status: 502}, {Status: 502}, {Status: 502}}, warns: []string{"502", "attestations are stored", "re-run"}},
		{name: "user-owned", user: true, logs: "owned by a user account"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := reg.Host + "/acme/records" + string(rune('a'+i))
			tag, _ := name.NewTag(repo+":main", name.Insecure)
			if err := remote.Write(tag, img); err != nil {
				t.Fatal(err)
			}
			api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
			if tt.user {
				api.SetOwnerType("User")
			}
			api.ScriptStorageRecords(tt.script...)
			r := newRunner(t)
			r.extraEnv = pushEnv(stack, api)
			res := r.run(map[string]string{
				"subject-name": repo, "subject-digest": digest.String(), "push-to-registry": "true", "subject-version": "v9.9.9",
				"attestations": "sbom", "fulcio-url": stack.FulcioURL, "tsa-url": stack.TSAURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
			})
			if res.code != 0 {
				t.Fatalf("exit %d: a storage record never fails the run\n%s", res.code, res.stdout)
			}
			if len(api.Attestations()) != 1 {
				t.Errorf("stored %d attestations, want 1", len(api.Attestations()))
			}
			recs := api.StorageRecords()
			if len(recs) != tt.records {
				t.Fatalf("%d storage records, want %d", len(recs), tt.records)
			}
			var ids []string
			if out := res.outputs["storage-record-ids"]; out != "" {
				if err := json.Unmarshal([]byte(out), &ids); err != nil {
					t.Fatalf("storage-record-ids %q: %v", out, err)
				}
			}
			if len(ids) != tt.records {
				t.Errorf("storage-record-ids = %v, want %d ids", ids, tt.records)
			}
			if tt.records > 0 {
				want := testserver.GitHubAPIStorageRecord{ID: recs[0].ID, Org: "acme", Name: repo, Digest: digest.String(), Version: "v9.9.9",
					RegistryURL: "http://" + reg.Host, Repository: strings.TrimPrefix(repo, reg.Host+"/"), Status: "active"}
				if recs[0] != want {
					t.Errorf("record %+v, want %+v", recs[0], want)
				}
				if ids[0] != strconv.FormatInt(recs[0].ID, 10) {
					t.Errorf("storage-record-ids %v, stored id %d", ids, recs[0].ID)
				}
			}
			var warnings []string
			for _, l := range strings.Split(res.stdout, "\n") {
				if strings.HasPrefix(l, "::warning") {
					warnings = append(warnings, l)
				}
			}
			if len(tt.warns) == 0 && len(warnings) > 0 {
				t.Errorf("unexpected warnings: %q", warnings)
			}
			for _, w := range tt.warns {
				if len(warnings) != 1 || !strings.Contains(warnings[0], w) {
					t.Errorf("want one warning saying %q, got %q", w, warnings)
				}
			}
			if tt.logs != "" && !strings.Contains(res.stdout, tt.logs) {
				t.Errorf("log lacks %q", tt.logs)
			}
		})
	}
}

// pushEnv is what the runner gives a push workflow of acme/app: an OIDC token from the signing
// stack and the GitHub API fake.
func pushEnv(stack *testserver.SigningStack, api *testserver.GitHubAPI) map[string]string {
	return map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   stack.OIDC.TokenRequestURL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": stack.OIDC.TokenRequestToken,
		"GITHUB_API_URL":                 api.URL,
		"GITHUB_REPOSITORY":              "acme/app",
		"GITHUB_EVENT_NAME":              "push",
		"GITHUB_WORKFLOW_REF":            "acme/app/.github/workflows/release.yml@refs/heads/main",
	}
}
