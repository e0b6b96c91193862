package store

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// StorageRecord says where an artifact is stored, for GitHub's artifact metadata
// (POST /orgs/{org}/artifacts/metadata/storage-record), as actions/attest v4 records it after
// pushing an image's attestations to its registry.
type StorageRecord struct {
	// Name is the image's name without tag or digest: ghcr.io/acme/app.
	Name string `json:"name"`
	// Digest is the image's digest, sha256:<hex>.
	Digest string `json:"digest"`
	// Version is the artifact's version (input subject-version); optional.
	Version string `json:"version,omitempty"`
	// RegistryURL is the registry's base URL: https://ghcr.io.
	RegistryURL string `json:"registry_url"`
	// Repository is the repository within the registry: acme/app.
	Repository string `json:"repository,omitempty"`
}

// StorageRecordFor is the record of image, stored in its registry; version may be empty.
func StorageRecordFor(image name.Digest, version string) StorageRecord {
	repo := image.Context()
	scheme := "https"
	if plainhttp.Loopback(repo.RegistryStr()) {
		scheme = "http"
	}
	return StorageRecord{
		Name:        repo.Name(),
		Digest:      image.DigestStr(),
		Version:     version,
		RegistryURL: scheme + "://" + repo.RegistryStr(),
		Repository:  repo.RepositoryStr(),
	}
}

var repoFixes = fixes{
	http.StatusUnauthorized: attestationFixes[http.StatusUnauthorized],
	http.StatusNotFound:     attestationFixes[http.StatusNotFound],
}

var storageFixes = fixes{
	http.StatusUnauthorized:        attestationFixes[http.StatusUnauthorized],
	http.StatusForbidden:           "add `permissions: artifact-metadata: write` to the job",
	http.StatusNotFound:            "storage records exist only for repositories owned by an organization: the owner is a user account, or github-token cannot see the organization",
	http.StatusUnprocessableEntity: "GitHub refused the record as sent; this is a bug in bom-attest, please report it",
	http.StatusInternalServerError: "GitHub kept failing; the attestations are stored and pushed, only the record of where the image is stored is missing — re-run the job to add it",
}

// OwnerIsOrganization reports whether the repository's owner is an organization
// (GET /repos/{owner}/{repo}, owner.type), which is how actions/attest decides to create storage
// records: they exist only for organizations.
func (g *GitHub) OwnerIsOrganization(ctx context.Context) (bool, error) {
	r, resp, err := g.api.Repositories.Get(ctx, g.owner, g.repo)
	if err != nil {
		return false, g.apiError(http.MethodGet, fmt.Sprintf("repos/%s/%s", url.PathEscape(g.owner), url.PathEscape(g.repo)), resp, err, repoFixes)
	}
	return r.GetOwner().GetType() == "Organization", nil
}

// CreateStorageRecord records where an artifact is stored, in the organization that owns the
// repository, and returns the ids of the records GitHub made or updated.
func (g *GitHub) CreateStorageRecord(ctx context.Context, rec StorageRecord) ([]int64, error) {
	endpoint := fmt.Sprintf("orgs/%s/artifacts/metadata/storage-record", url.PathEscape(g.owner))
	req, err := g.api.NewRequest(http.MethodPost, endpoint, rec)
	if err != nil {
		return nil, err
	}
	var out struct {
		StorageRecords []struct {
			ID int64 `json:"id"`
		} `json:"storage_records"`
	}
	// A record is identified by (name, digest, registry_url): sending it again updates the same
	// record, so it may be retried whatever happened to an earlier try.
	resp, err := g.api.Do(transport.Idempotent(ctx), req, &out)
	if err != nil {
		return nil, g.apiError(http.MethodPost, endpoint, resp, err, storageFixes)
	}
	ids := make([]int64, 0, len(out.StorageRecords))
	for _, r := range out.StorageRecords {
		ids = append(ids, r.ID)
	}
	return ids, nil
}
