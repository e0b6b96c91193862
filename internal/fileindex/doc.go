// Package fileindex hands Syft a file resolver that answers basename-glob queries
// ("/var/lib/dpkg/info/NAME.*") from a sorted index of the image's basenames built once, where
// stereoscope matches the pattern against every basename in the image for each query: with one
// such query per dpkg package, that is quadratic in the size of the image.
package fileindex
