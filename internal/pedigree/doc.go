// Package pedigree records patch series and constraint overrides on the components of a CycloneDX SBOM, as pedigree and properties that scanners and auditors read.
package pedigree
