// Package testimage builds small, reproducible OCI images from in-memory files, so tests and the
// sample-image generator scan real layers instead of hand-written SBOM JSON.
package testimage

//go:generate go run ../../testdata/sample/gen.go
