package localfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Sentinel errors callers branch on.
var (
	// ErrNotRegular: a directory, named pipe, socket or device where a file was expected. A FIFO
	// would block the run and a device like /dev/zero would never end it.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: a file longer than its kind can be.
	ErrTooLarge = errors.New("too large")
)

// NotRegularError says what a path that is not a regular file is; it matches ErrNotRegular.
type NotRegularError struct{ Mode fs.FileMode }

func (e *NotRegularError) Error() string { return "not a regular file: " + Kind(e.Mode) }

func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// Kind names the kind of file m describes, for a message: "a directory", "a named pipe", …
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// TooLarge is the error for a file of more than limit bytes.
func TooLarge(limit int64) error { return fmt.Errorf("%w: larger than %s", ErrTooLarge, Size(limit)) }

// Size renders a limit for a message: "4 MiB", "512 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// OpenFlags are the flags to open a path that may be hostile with: read only, and not blocking,
// so opening a FIFO does not wait for a writer. OpenWith uses them; a directory walk that must
// open directories itself uses them too.
const OpenFlags = os.O_RDONLY | nonBlocking

// Open opens path for reading if it is a regular file; see OpenWith.
func Open(path string) (*os.File, fs.FileInfo, error) {
	return OpenWith(func(flag int) (*os.File, error) { return os.OpenFile(path, flag, 0) })
}

// OpenWith opens a file with open (os.OpenFile, or an os.Root's, given the flags) and keeps it
// only if it is a regular file. The open does not block — opening a FIFO would wait for a
// writer — and the kind is taken from the opened file, so the path cannot be swapped for another
// between a check and the read.
func OpenWith(open func(flag int) (*os.File, error)) (*os.File, fs.FileInfo, error) {
	f, err := open(OpenFlags)
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
		return nil, nil, &NotRegularError{Mode: fi.Mode()}
	}
	return f, fi, nil
}

// Read reads the whole regular file at path, of at most limit bytes, giving up when ctx ends.
// Errors name the path.
func Read(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer f.Close()
	b, err := ReadAll(ctx, f, fi.Size(), limit)
	if err != nil {
		return nil, pathError(path, err)
	}
	return b, nil
}

func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err // already names the path
	}
	return fmt.Errorf("%s: %w", path, err)
}

// ReadAll reads r (whose size, when known, is size; -1 otherwise) to the end, refusing more than
// limit bytes and stopping when ctx ends.
func ReadAll(ctx context.Context, r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, TooLarge(limit)
	}
	b, err := io.ReadAll(io.LimitReader(Reader(ctx, r), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, TooLarge(limit)
	}
	return b, nil
}

// Reader fails reads once ctx is done. Reads of regular files return promptly, so checking
// between reads is enough to stop a long read — of a weight file, a layer, a tree of patches.
func Reader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

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
