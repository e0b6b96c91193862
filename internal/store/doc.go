// Package store publishes signed Sigstore bundles where verifiers look for them: GitHub's attestation store and the image's registry as OCI referrers.
package store
