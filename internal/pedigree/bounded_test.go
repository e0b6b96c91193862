package pedigree

import (
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/bom-attest/bom-attest/internal/patchtext"
)

// endless yields b forever and counts what it handed out.
type endless struct {
	b []byte
	n int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b[(e.n+int64(i))%int64(len(e.b))]
	}
	e.n += int64(len(p))
	return len(p), nil
}

func parseHeaderErr(r io.Reader) error {
	_, err := patchtext.ParseHeader(r)
	return err
}

func parseSeriesErr(r io.Reader) error {
	_, errs := parseSeries(r, "nova/series")
	return errors.Join(errs...)
}

// TestParsersBoundedOnHugeInput feeds endless input and checks the parsers stop after a fixed
// prefix and allocate a bounded amount, whatever the input.
func TestParsersBoundedOnHugeInput(t *testing.T) {
	tests := []struct {
		name  string
		chunk string
		parse func(io.Reader) error
		err   error
	}{
		{"header, one endless line", "A", parseHeaderErr, ErrNotPatch},
		{"header, endless trailers", "Closes-Bug: #1234567\nCVE-2025-99999 GHSA-2345-6789-cfgh\n", parseHeaderErr, ErrNotPatch},
		{"header, endless mail headers", "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nSubject: x\n X-A: b\n", parseHeaderErr, ErrNotPatch},
		{"header, endless NULs", "\x00", parseHeaderErr, ErrNotPatch},
		{"constraints, endless pins", "pkg===1.0\n", func(r io.Reader) error { _, err := parseConstraints(r, "c.txt"); return err }, ErrConstraint},
		{"constraints, one endless line", "x", func(r io.Reader) error { _, err := parseConstraints(r, "c.txt"); return err }, ErrConstraint},
		{"series, one endless line", "x", parseSeriesErr, ErrTooLarge},
		{"series, endless comments", "# order\n", parseSeriesErr, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &endless{b: []byte(tt.chunk)}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := tt.parse(src)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if src.n > 2*patchtext.MaxScan {
				t.Errorf("read %d bytes, want at most %d", src.n, 2*patchtext.MaxScan)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("read %d bytes, allocated %d bytes", src.n, alloc)
			if alloc > 4<<20 {
				t.Errorf("allocated %d bytes for endless input, want at most 4 MiB", alloc)
			}
		})
	}
}
