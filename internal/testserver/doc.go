// Package testserver starts the real servers bom-attest's tests talk to on loopback — an OCI
// registry, a Sigstore signing stack and a GitHub API — so every stage's tests meet them the same way.
package testserver
