// Package plainhttp is bom-attest's one rule for unencrypted HTTP: only to loopback, where a
// registry, issuer or API the job (or a test) started lives; every other host is HTTPS.
package plainhttp
