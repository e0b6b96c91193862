//go:build unix

package sign

import (
	"path/filepath"
	"syscall"
	"testing"
)

// specialFiles are a FIFO nobody writes to (opening it blocks without O_NONBLOCK, reading it
// waits forever) and /dev/zero (never ends).
func specialFiles(t *testing.T, dir string) []refusal {
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	return []refusal{
		{name: "fifo", path: fifo, message: "not a regular file"},
		{name: "endless device", path: "/dev/zero", message: "not a regular file"},
	}
}
