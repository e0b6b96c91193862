//go:build !unix

package pedigree

// oNonblock is zero where open(2) has no such flag; the file kind is still checked after opening.
const oNonblock = 0
