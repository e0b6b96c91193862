package modelfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// wireReader reads a model file's header from a stream, counting what it consumed so that a
// length or count the file claims can be checked against the bytes that are really left before
// anything is read, skipped or allocated for it.
type wireReader struct {
	r    *bufio.Reader
	off  int64
	size int64 // total file size; negative when unknown
}

func newWireReader(r io.Reader, size int64) *wireReader {
	return &wireReader{r: bufio.NewReaderSize(r, 32<<10), size: size}
}

func (w *wireReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.off += int64(n)
	return n, err
}

func (w *wireReader) ReadByte() (byte, error) {
	b, err := w.r.ReadByte()
	if err == nil {
		w.off++
	}
	return b, err
}

// remaining is how many bytes the file still holds, or MaxInt64 when its size is unknown.
func (w *wireReader) remaining() uint64 {
	if w.size < 0 {
		return math.MaxInt64
	}
	if w.off >= w.size {
		return 0
	}
	return uint64(w.size - w.off)
}

// errTruncated is wrapped when a header ends early or claims more bytes than the file has.
var errTruncated = errors.New("truncated")

func (w *wireReader) fits(n uint64, what string) error {
	if n > w.remaining() {
		return fmt.Errorf("%s claims %d bytes but only %d are left: %w", what, n, w.remaining(), errTruncated)
	}
	return nil
}

// skip discards n bytes without buffering them.
func (w *wireReader) skip(n uint64, what string) error {
	if err := w.fits(n, what); err != nil {
		return err
	}
	if n > math.MaxInt64 {
		return fmt.Errorf("%s: length %d: %w", what, n, errTruncated)
	}
	got, err := io.CopyN(io.Discard, w, int64(n))
	if err != nil {
		return fmt.Errorf("%s: %d of %d bytes: %w", what, got, n, errTruncated)
	}
	return nil
}

// bytes reads n bytes, refusing more than limit so no claimed length drives an allocation.
func (w *wireReader) bytes(n uint64, limit uint64, what string) ([]byte, error) {
	if n > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", what, n, limit)
	}
	if err := w.fits(n, what); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(w, buf); err != nil {
		return nil, fmt.Errorf("%s: %w", what, errTruncated)
	}
	return buf, nil
}

func (w *wireReader) u32() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(w, b[:]); err != nil {
		return 0, errTruncated
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (w *wireReader) u64() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(w, b[:]); err != nil {
		return 0, errTruncated
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (w *wireReader) uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(w)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, errTruncated
	}
	return v, err
}

// mulSat multiplies without wrapping: a parameter count that overflows is reported as the
// largest count, not as a small wrong one.
func mulSat(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
