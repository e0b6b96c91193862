//go:build !unix

package localfile

// nonBlocking is zero where open(2) has no such flag; the kind is still checked after opening.
const nonBlocking = 0
