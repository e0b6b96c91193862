// Package image resolves the image input (registry reference, OCI layout or archive, docker
// archive) to the exact manifests to scan, binds them to the subject digest, and opens each as
// a Syft source that is read once; a LayerCache lets the images of one run pull a layer they
// share once. What it reads is checked on the way: every blob against its digest, every layer
// against the config's diff_id, and a layer's cost against Limits.
package image
