package pedigree

import "io"

// Bounds on the files a run reads, each fitting its kind: a constraints file or series file is
// a short hand-kept list; a patch is read only for its header and, when small, its text, so a
// file far larger than any patch is a wrong file, not one to read.
const (
	maxConstraintsFile = 1 << 20
	maxSeriesFile      = 1 << 20
	maxPatchFile       = 64 << 20
	maxInlineTotal     = 64 << 20 // diff text embedded from one patch tree, over all its patches
)

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
