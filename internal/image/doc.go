// Package image resolves the image input (registry reference, OCI layout or archive, docker
// archive) to the exact manifests to scan, binds them to the subject digest, and opens each as
// a Syft source that is read once.
package image
