// Package blob reads the bytes of an image that no one vouches for: blobs checked against their
// digests, OCI and docker archives unpacked or read within bounds, and layer streams checked
// against their diff_ids and charged to a budget of bytes and file entries as they pass.
package blob
