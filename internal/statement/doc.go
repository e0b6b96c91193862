// Package statement wraps a predicate in an in-toto Statement v1 about an image digest, the
// exact bytes that get signed, so every attestation bom-attest makes has one shape; and reads
// back, unverified, the predicate type a stored bundle's statement claims.
package statement
