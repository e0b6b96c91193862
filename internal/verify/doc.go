// Package verify is the `bom-attest verify` command: flags, files, exit codes and the account of
// each bundle, over sign.Verify, with registry lookups behind a Finder.
package verify
