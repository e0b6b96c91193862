// Package sign turns in-toto statements into Sigstore bundles signed keyless with the
// workflow's OIDC identity (Fulcio certificate, Rekor entry or RFC 3161 timestamp), verifies
// every bundle before it is handed out, and verifies bundles offline for the verify command.
package sign
