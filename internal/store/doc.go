// Package store publishes signed Sigstore bundles where verifiers look for them — GitHub's
// attestation store and the image's registry as OCI referrers — and records in GitHub's artifact
// metadata where the image is stored.
package store
