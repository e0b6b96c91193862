//go:build unix

package pedigree

import "syscall"

// oNonblock keeps open(2) of a FIFO from waiting for a writer; a regular file ignores it.
const oNonblock = syscall.O_NONBLOCK
