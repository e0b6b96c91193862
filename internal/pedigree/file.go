package pedigree

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Bounds on the files a run reads, each fitting its kind: a constraints file or series file is
// a short hand-kept list; a patch is read only for its header and, when small, its text, so a
// file far larger than any patch is a wrong file, not one to read.
const (
	maxConstraintsFile = 1 << 20
	maxSeriesFile      = 1 << 20
	maxPatchFile       = 64 << 20
	maxInlineTotal     = 64 << 20 // diff text embedded from one patch tree, over all its patches
)

// errNotRegular is what openRegular returns for a FIFO, device, socket or directory.
type errNotRegular struct{ mode fs.FileMode }

func (e errNotRegular) Error() string { return fmt.Sprintf("not a regular file (%s)", e.mode.Type()) }

// openRegular opens a file for reading and refuses anything but a regular file: opening a FIFO
// waits for a writer and reading a device never ends. The open does not block (O_NONBLOCK), and
// the kind is taken from the open file, so the file cannot be swapped after it was checked.
func openRegular(open func(flag int) (*os.File, error)) (*os.File, fs.FileInfo, error) {
	f, err := open(os.O_RDONLY | oNonblock)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular{fi.Mode()}
	}
	return f, fi, nil
}

// ctxReader stops reading once ctx is done, so a cancelled run does not finish reading a tree.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// size renders a limit for a message: "1 MiB", "512 KiB", "100 bytes".
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// countingReader counts the bytes read through it, so a parser that keeps only a prefix of each
// line still knows how much of the file it has read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
