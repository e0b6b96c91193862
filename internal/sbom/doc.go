// Package sbom scans an image source with the Syft library and shapes the result into the
// CycloneDX SBOM bom-attest publishes: the image as metadata.component, honest tool metadata, a
// dependency graph rooted at the image, and byte-for-byte reproducible output.
package sbom
