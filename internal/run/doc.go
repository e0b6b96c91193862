// Package run wires the stages into the action's one-directional flow — inputs, image, SBOM,
// documents, files, outputs and summary — and maps failures to exit codes.
package run
