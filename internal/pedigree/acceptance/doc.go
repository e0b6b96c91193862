// Package acceptance holds the pedigree stage's acceptance test — the seed's patch tree and constraints on a real scanned image against a golden enriched SBOM — apart from the pedigree package, so that package's fuzz targets are not built against all of syft.
package acceptance
