// Package pedigree records patch series and constraint overrides on the components of a CycloneDX SBOM, as pedigree and properties that scanners and auditors read.
//
// Load reads and checks the patch tree and constraints file once, before the image is pulled, so
// a broken tree fails at once; Apply then records the loaded set on each platform's SBOM without
// touching a file.
package pedigree
