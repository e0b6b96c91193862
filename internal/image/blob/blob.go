package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinel errors callers branch on.
var (
	// ErrDigest: the bytes are not the content their digest (or a layer's diff_id) names.
	ErrDigest = errors.New("content does not match its digest")
	// ErrLimit: reading would cost more than a limit allows.
	ErrLimit = errors.New("over a limit")
	// ErrNotRegular: a path is a FIFO, device or other file that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrBadArchive: an archive holds an entry no image archive has (a link, a device, a path
	// outside the archive, more bytes than the archive itself).
	ErrBadArchive = errors.New("malformed archive")
)

// Error names the blob or layer an error is about: "layer 2 sha256:… of manifest sha256:…".
type Error struct {
	What string
	Err  error
}

func (e *Error) Error() string { return e.What + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Named wraps err as being about what, unless it already names a blob.
func Named(what string, err error) error {
	var be *Error
	if errors.As(err, &be) {
		return err
	}
	return &Error{What: what, Err: err}
}

// Quote quotes untrusted text for an error message, escaped and cut to a readable length.
func Quote(s string) string {
	const max = 100
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// verifyReader passes a blob through and fails at its end unless the bytes match the size and
// digest the blob was named by. Reading stops one byte past the size, so an oversized blob costs
// no more than the size it claims.
type verifyReader struct {
	r         io.Reader
	c         io.Closer
	h         hash.Hash
	want      v1.Hash
	size, got int64
	what      string
	err       error
}

// Verify passes the blob d names through, failing at its end unless the bytes match d's size
// and digest.
func Verify(rc io.ReadCloser, d v1.Descriptor, what string) (io.ReadCloser, error) {
	h, err := v1.Hasher(d.Digest.Algorithm)
	if err != nil {
		rc.Close()
		return nil, Named(what, err)
	}
	return &verifyReader{r: io.LimitReader(rc, d.Size+1), c: rc, h: h, want: d.Digest, size: d.Size, what: what}, nil
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.got += int64(n)
	switch {
	case v.got > v.size:
		v.err = Named(v.what, fmt.Errorf("%w: more than its %d bytes", ErrDigest, v.size))
		return 0, v.err
	case err == io.EOF:
		if v.got != v.size {
			v.err = Named(v.what, fmt.Errorf("%w: %d bytes, want %d", ErrDigest, v.got, v.size))
			return 0, v.err
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			v.err = Named(v.what, fmt.Errorf("%w: it hashes to %s:%s", ErrDigest, v.want.Algorithm, got))
			return 0, v.err
		}
	case err != nil:
		v.err = Named(v.what, err)
		return n, v.err
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.c.Close() }

// OpenRegular opens path for reading only if it is a regular file. The open does not block (a
// FIFO without a writer would block open(2) itself) and the check is made on the opened file,
// so the path cannot be swapped between check and read.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is a %s", ErrNotRegular, path, fileKind(st.Mode()))
	}
	return f, st, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// ReadRegular reads a whole regular file of at most limit bytes.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, st, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, path, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, path, limit)
	}
	return b, err
}

// ctxReader fails reads once ctx is done. Reads of regular files return promptly, so checking
// between reads is enough to stop a long read of one.
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
