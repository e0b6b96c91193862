// Package transport is the one http.RoundTripper under every client bom-attest uses (Fulcio,
// Rekor, TSA, the OIDC token and its keys, the GitHub API, registries, the vulnerability
// database): it names the action in User-Agent, refuses plain HTTP off loopback, removes secrets
// from its errors, bounds answers, and retries with backoff that honours Retry-After — but never
// re-sends a request that may already have taken effect unless the caller said that is safe or
// checked that it did not.
package transport
