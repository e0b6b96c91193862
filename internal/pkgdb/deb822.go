package pkgdb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Limits of the deb822 reader (dpkg status, apt Packages, DEP-5 copyright, InRelease). A line
// of a real file is a few hundred bytes; a kept field's value (a long Depends) a few kilobytes.
const (
	maxDeb822Line  = 1 << 20
	maxDeb822Value = 256 << 10
)

// deb822Readers keep ReadParagraphs' buffers: the compliance stage reads a copyright file for
// every Debian package, and a new 64 KiB buffer for each was 800 MB of allocation, most of that
// stage's time, on an image of 12,500 packages.
var deb822Readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// Paragraph is one deb822 paragraph: the kept fields, by lower-cased name. A value spread over
// continuation lines is joined with "\n", each continuation line without its leading space.
type Paragraph map[string]string

// ReadParagraphs calls fn for each paragraph of r that has at least one field, passing only
// the fields named in keep (lower case). It stops at fn's first error, a line longer than 1
// MiB, a kept value larger than 256 KiB, or ctx's end.
func ReadParagraphs(ctx context.Context, r io.Reader, keep map[string]bool, fn func(Paragraph) error) error {
	br := deb822Readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		deb822Readers.Put(br)
	}()
	var (
		// values are built up in builders, so a value of many continuation lines costs linear
		// time, not quadratic.
		values  = map[string]*strings.Builder{}
		fields  int
		current *strings.Builder // the kept field continuation lines belong to; nil for a dropped one
		inField bool
		n       int
	)
	flush := func() error {
		if fields == 0 {
			return nil
		}
		para := make(Paragraph, len(values))
		for k, b := range values {
			para[k] = b.String()
		}
		values, fields, current, inField = map[string]*strings.Builder{}, 0, nil, false
		return fn(para)
	}
	for {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(line) > 0 || err == nil {
			if n++; n%4096 == 0 {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
			}
			switch {
			case len(bytes.TrimSpace(line)) == 0:
				if ferr := flush(); ferr != nil {
					return ferr
				}
			case line[0] == ' ' || line[0] == '\t':
				if !inField || current == nil {
					// A continuation of a dropped field, or before any field.
					continue
				}
				v := bytes.TrimSpace(line)
				if current.Len()+1+len(v) > maxDeb822Value {
					return fmt.Errorf("%w: a field larger than %d bytes", ErrTooLarge, maxDeb822Value)
				}
				current.WriteByte('\n')
				current.Write(v)
			case line[0] == '#':
				// A comment line (sources.list.d/*.sources allows them).
			default:
				name, value, ok := bytes.Cut(line, []byte(":"))
				if !ok {
					inField, current = false, nil
					continue
				}
				fields++
				inField = true
				key := strings.ToLower(string(bytes.TrimSpace(name)))
				current = nil
				if keep[key] {
					current = &strings.Builder{}
					current.Write(bytes.TrimSpace(value))
					values[key] = current
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
	}
}

// readLine returns the next line without its end, refusing one longer than maxDeb822Line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, frag...)
			if len(long) > maxDeb822Line {
				return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrTooLarge, maxDeb822Line)
			}
			continue
		}
		if long != nil {
			frag = append(long, frag...)
			if len(frag) > maxDeb822Line {
				return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrTooLarge, maxDeb822Line)
			}
		}
		frag = bytes.TrimRight(frag, "\r\n")
		return frag, err
	}
}
