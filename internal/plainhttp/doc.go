// Package plainhttp decides when bom-attest may speak unencrypted HTTP: only to a loopback host
// ("localhost" or a loopback address), where a registry, issuer or API the job or a test started
// lives. It holds the check, not the connections: each endpoint a user or the environment can
// point elsewhere is checked with it by its owner — registries (Reference) in image and store,
// the GitHub API and server URLs in store, the OIDC issuer and its keys in provenance, and the
// signing endpoints (fulcio-url, rekor-url, tsa-url, oidc-issuer) in config. A loopback registry
// is reached in go-containerregistry's insecure mode, which tries HTTPS and plain HTTP both.
package plainhttp
