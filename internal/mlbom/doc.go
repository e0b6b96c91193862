// Package mlbom turns a model manifest and the models found inside an image into a CycloneDX
// ML-BOM, and makes the SBOM's model components say the same thing.
package mlbom
