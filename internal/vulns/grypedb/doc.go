// Package grypedb keeps Grype's v6 vulnerability database in a directory: it reads Grype's
// listing, downloads the archive it names over a caller's HTTP client, checks checksum, schema and
// age, imports it with Grype's own hydration, swaps it in whole, and opens it for matching.
package grypedb
