// Package sign turns in-toto statements into Sigstore bundles signed keyless with the
// workflow's OIDC identity through sigstore-go's signing (one ephemeral key and one Fulcio
// certificate per run; a Rekor v1 or v2 entry and/or an RFC 3161 timestamp, from the instance's
// signing config or fixed endpoints), verifies every bundle before it is handed out, and verifies
// bundles offline against trusted material passed in (Verify). Every request goes through the
// caller's transport.
package sign
