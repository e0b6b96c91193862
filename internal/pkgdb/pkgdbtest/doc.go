// Package pkgdbtest builds small real images for the tests of the compliance stage and scans
// them as bom-attest does: Syft's SBOM, and pkgdb's reading of the same layers.
package pkgdbtest
