// Package version says which bom-attest is running: its version and commit, the Go that built it
// and the versions of the libraries that decide what its documents say, read from the binary's
// own build info.
package version
