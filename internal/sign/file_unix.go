//go:build unix

package sign

import "syscall"

// openNonBlocking makes opening a FIFO return at once, so it can be refused after a stat.
const openNonBlocking = syscall.O_NONBLOCK
