//go:build unix

package localfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("hello"), 0o644)
	exact := filepath.Join(dir, "exact")
	os.WriteFile(exact, make([]byte, 1024), 0o644)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 1025), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(fifo, link)
	tests := []struct {
		name, path string
		err        error
		text       string
	}{
		{"regular", small, nil, ""},
		{"exactly the limit", exact, nil, ""},
		{"one byte over", big, ErrTooLarge, "big: too large: larger than 1 KiB"},
		{"directory", dir, ErrNotRegular, "not a regular file: a directory"},
		{"named pipe", fifo, ErrNotRegular, "fifo: not a regular file: a named pipe"},
		{"symlink to a named pipe", link, ErrNotRegular, "not a regular file: a named pipe"},
		{"endless device", "/dev/zero", ErrNotRegular, "/dev/zero: not a regular file: a device"},
		{"missing", filepath.Join(dir, "nope"), os.ErrNotExist, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			b, err := Read(context.Background(), tt.path, 1024)
			if time.Since(start) > time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q, want it to say %q", err, tt.text)
			}
			if err == nil && len(b) == 0 {
				t.Error("read nothing")
			}
		})
	}
}

func TestReadGrowingPastLimit(t *testing.T) {
	// A size that lies (a file that grows, /proc) is caught by counting, not only by stat.
	b, err := ReadAll(context.Background(), strings.NewReader(strings.Repeat("x", 2000)), 10, 1024)
	if !errors.Is(err, ErrTooLarge) || b != nil {
		t.Fatalf("ReadAll = %d bytes, %v", len(b), err)
	}
}

func TestReaderCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("data"))
	buf := make([]byte, 2)
	if n, err := r.Read(buf); n != 2 || err != nil {
		t.Fatalf("read = %d, %v", n, err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{100: "100 bytes", 1024: "1 KiB", 4 << 20: "4 MiB", 32 << 30: "32 GiB", 1500: "1500 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
