package blob

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// Sentinel errors callers branch on.
var (
	// ErrDigest: the bytes are not the content their digest (or a layer's diff_id) names.
	ErrDigest = errors.New("content does not match its digest")
	// ErrLimit: reading would cost more than a limit allows.
	ErrLimit = errors.New("over a limit")
	// ErrNotRegular: a path is a FIFO, device or other file that is not a regular file.
	ErrNotRegular = localfile.ErrNotRegular
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
