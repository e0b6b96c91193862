// Package provenance turns a GitHub Actions ID token, verified against its issuer's published keys, into a SLSA v1 build provenance predicate shaped as actions/attest-build-provenance makes it.
package provenance
