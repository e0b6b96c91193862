//go:build unix

package localfile

import "syscall"

// nonBlocking keeps open(2) of a FIFO from waiting for a writer; a regular file ignores it.
const nonBlocking = syscall.O_NONBLOCK
