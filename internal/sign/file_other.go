//go:build !unix

package sign

// openNonBlocking is unix only; elsewhere the stat after opening does the refusing.
const openNonBlocking = 0
