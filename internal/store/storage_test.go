package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

const recordImage = "ghcr.io/acme/app@sha256:" + subjectHex

func record(t *testing.T, version string) store.StorageRecord {
	t.Helper()
	d, err := name.NewDigest(recordImage)
	if err != nil {
		t.Fatal(err)
	}
	return store.StorageRecordFor(d, version)
}

func TestStorageRecordFor(t *testing.T) {
	tests := []struct {
		image string
		want  store.StorageRecord
	}{
		{image: recordImage, want: store.StorageRecord{Name: "ghcr.io/acme/app", Digest: "sha256:" + subjectHex, Version: "v1", RegistryURL: "https://ghcr.io", Repository: "acme/app"}},
		{image: "nginx@sha256:" + subjectHex, want: store.StorageRecord{Name: "index.docker.io/library/nginx", Digest: "sha256:" + subjectHex, Version: "v1", RegistryURL: "https://index.docker.io", Repository: "library/nginx"}},
		{image: "127.0.0.1:5000/acme/app@sha256:" + subjectHex, want: store.StorageRecord{Name: "127.0.0.1:5000/acme/app", Digest: "sha256:" + subjectHex, Version: "v1", RegistryURL: "http://127.0.0.1:5000", Repository: "acme/app"}},
	}
	for _, tt := range tests {
		d, err := name.NewDigest(tt.image)
		if err != nil {
			t.Fatal(err)
		}
		if got := store.StorageRecordFor(d, "v1"); got != tt.want {
			t.Errorf("StorageRecordFor(%s) = %+v, want %+v", tt.image, got, tt.want)
		}
	}
}

// TestStorageRecords creates a record as actions/attest does and checks that the fake, which
// enforces the documented body, stored what was meant; a second post of the same artifact
// updates the same record.
func TestStorageRecords(t *testing.T) {
	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	g := newClient(t, api)
	ctx := context.Background()
	org, err := g.OwnerIsOrganization(ctx)
	if err != nil || !org {
		t.Fatalf("OwnerIsOrganization = %v, %v; want true", org, err)
	}
	ids, err := g.CreateStorageRecord(ctx, record(t, "v1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	got := api.StorageRecords()
	if len(ids) != 1 || len(got) != 1 || got[0].ID != ids[0] {
		t.Fatalf("ids %v, stored %+v", ids, got)
	}
	want := testserver.GitHubAPIStorageRecord{ID: ids[0], Org: "acme", Name: "ghcr.io/acme/app", Digest: "sha256:" + subjectHex,
		Version: "v1.2.3", RegistryURL: "https://ghcr.io", Repository: "acme/app", Status: "active"}
	if got[0] != want {
		t.Errorf("stored %+v, want %+v", got[0], want)
	}
	again, err := g.CreateStorageRecord(ctx, record(t, "v1.2.3"))
	if err != nil || len(again) != 1 || again[0] != ids[0] || len(api.StorageRecords()) != 1 {
		t.Errorf("second record: %v, %v; want the same id %d and one record", again, err, ids[0])
	}

	api.SetOwnerType("User")
	if org, err := g.OwnerIsOrganization(ctx); err != nil || org {
		t.Errorf("OwnerIsOrganization for a user = %v, %v; want false", org, err)
	}
}

// TestAPIErrors: every GitHub API failure names the endpoint, the status, GitHub's message and
// what fixes it, and wraps the sentinel callers branch on.
func TestAPIErrors(t *testing.T) {
	const (
		upload  = "POST /repos/acme/app/attestations"
		records = "POST /orgs/acme/artifacts/metadata/storage-record"
	)
	secondary := "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	tests := []struct {
		name     string
		call     string // upload or records
		token    string // default: the right one
		user     bool   // the owner is a user account
		script   []testserver.GitHubAPIReply
		err      error
		mentions []string
	}{
		{name: "upload 401", call: upload, token: "ghs_wrong", err: store.ErrUnauthorized, mentions: []string{"401", `"Bad credentials"`, "expired"}},
		{name: "upload 403", call: upload, script: []testserver.GitHubAPIReply{{Status: 403}}, err: store.ErrForbidden,
			mentions: []string{"403", `"Resource not accessible by integration"`, "attestations: write", "id-token: write", "dry-run"}},
		{name: "upload 404", call: upload, script: []testserver.GitHubAPIReply{{Status: 404}}, err: store.ErrNotFound, mentions: []string{"404", "GITHUB_REPOSITORY"}},
		{name: "upload 422", call: upload, script: []testserver.GitHubAPIReply{{Status: 422}}, err: store.ErrUnprocessable,
			mentions: []string{"422", "GitHub Enterprise Cloud", "private", "public"}},
		{name: "upload 429", call: upload, script: []testserver.GitHubAPIReply{{Status: 429, RetryAfter: "3600"}}, err: store.ErrRateLimited, mentions: []string{"429", "3600s", "re-run later"}},
		{name: "upload secondary rate limit", call: upload, script: []testserver.GitHubAPIReply{{Status: 403, RetryAfter: "3600", Message: "You have exceeded a secondary rate limit", DocumentationURL: secondary}},
			err: store.ErrRateLimited, mentions: []string{"secondary rate limit", "re-run later"}},
		{name: "upload 5xx", call: upload, script: []testserver.GitHubAPIReply{{Status: 500}, {Status: 502}, {Status: 503}}, err: store.ErrServer,
			mentions: []string{"503", "re-run", "it was not stored"}},
		{name: "record 401", call: records, token: "ghs_wrong", err: store.ErrUnauthorized, mentions: []string{"401", "expired"}},
		{name: "record 403", call: records, script: []testserver.GitHubAPIReply{{Status: 403}}, err: store.ErrForbidden,
			mentions: []string{"403", `"Resource not accessible by integration"`, "artifact-metadata: write"}},
		{name: "record 404 (user-owned)", call: records, user: true, err: store.ErrNotFound, mentions: []string{"404", `"Not Found"`, "organization", "user account"}},
		{name: "record 422", call: records, script: []testserver.GitHubAPIReply{{Status: 422, Message: "Validation Failed"}}, err: store.ErrUnprocessable, mentions: []string{"422", "Validation Failed", "bug"}},
		{name: "record 429", call: records, script: []testserver.GitHubAPIReply{{Status: 429, RetryAfter: "3600"}}, err: store.ErrRateLimited, mentions: []string{"429", "wait"}},
		{name: "record 5xx", call: records, script: []testserver.GitHubAPIReply{{Status: 502}, {Status: 503}, {Status: 500}}, err: store.ErrServer,
			mentions: []string{"500", "attestations are stored", "re-run"}},
		{name: "record with a message that tries to start a log line", call: records, script: []testserver.GitHubAPIReply{{Status: 403, Message: "no\n::warning::forged"}}, err: store.ErrForbidden,
			mentions: []string{`"no\n::warning::forged"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := testserver.GitHubAPIStart(t, testRepo, testToken)
			if tt.user {
				api.SetOwnerType("User")
			}
			token := testToken
			if tt.token != "" {
				token = tt.token
			}
			g := newClientFor(t, api, testRepo, token, transport.WithRetries(3))
			var err error
			switch tt.call {
			case upload:
				api.Script(tt.script...)
				_, err = g.Upload(context.Background(), shapeBundle(t, subjectHex, "x"))
			case records:
				api.ScriptStorageRecords(tt.script...)
				_, err = g.CreateStorageRecord(context.Background(), record(t, ""))
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			msg := err.Error()
			for _, m := range append([]string{tt.call}, tt.mentions...) {
				if !strings.Contains(msg, m) {
					t.Errorf("error does not mention %q:\n%s", m, msg)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, token) {
				t.Errorf("error holds a line break or the token:\n%s", msg)
			}
		})
	}
}
