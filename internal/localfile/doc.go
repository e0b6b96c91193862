// Package localfile opens and reads the local files an input or a stage names — manifests, patch
// trees, constraints, trusted roots, bundles, archives, event payloads — as hostile input: regular
// files only, opened without blocking, read within a limit that fits their kind, and given up
// when the run is cancelled.
package localfile
