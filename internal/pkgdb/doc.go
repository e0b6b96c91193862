// Package pkgdb reads what an image's package managers recorded about the packages they
// installed — dpkg's status database and file lists, apt's package lists and sources, the
// Debian copyright files, and Python's dist-info and egg-info directories — through a small
// Files interface, so that later stages can fill an SBOM with what the image itself says.
//
// Everything read here comes from the image and is hostile: every read is bounded, no length
// field sizes an allocation, and a file that cannot be read as expected becomes a warning, not
// a failure of the run.
package pkgdb
