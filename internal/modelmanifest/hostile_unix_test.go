//go:build unix

package modelmanifest

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadNotAFile: a FIFO (which blocks an open or read until someone writes), a device that
// never ends, and a directory fail at once, naming the file and what it is.
func TestLoadNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{fifo, "not a regular file: a named pipe"},
		{"/dev/zero", "not a regular file: a device"},
		{dir, "not a regular file: a directory"},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { _, err := Load(tt.file); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("Load(%s) = %v, want an error naming it and saying %q", tt.file, err, tt.want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Load(%s) still blocked after 2s", tt.file)
		}
	}
}
