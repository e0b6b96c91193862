package blob

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestBudget reads one layer stream under each bound; the error names the layer and what to
// change.
func TestBudget(t *testing.T) {
	layer := mkTar(t, dirEntry("etc/"), file("etc/a", strings.Repeat("x", 4<<10)), file("etc/b", ""), file("etc/c", ""))
	diffID, _, _ := v1.SHA256(bytes.NewReader(layer))
	tests := []struct {
		name   string
		budget func() *Budget
		diffID v1.Hash
		want   string
		err    error
	}{
		{"within", func() *Budget { return NewBudget(1<<20, 10) }, diffID, "", nil},
		{"bytes", func() *Budget { return NewBudget(4<<10, 10) }, diffID, "raise max-image-bytes", ErrLimit},
		{"entries", func() *Budget { return NewBudget(1<<20, 3) }, diffID, "raise max-image-entries", ErrLimit},
		{"disk", func() *Budget {
			b := NewBudget(1<<20, 10)
			b.LimitDisk("/tmp/x", 2<<10)
			return b
		}, diffID, "/tmp/x can take (2048 were free)", ErrLimit},
		{"diff_id", func() *Budget { return NewBudget(1<<20, 10) }, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, "its diff_id is sha256:000", ErrDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
			rc, err := tt.budget().Open(context.Background(), Layer{Open: open, DiffID: tt.diffID, What: "layer 1 sha256:abc of manifest sha256:def"})
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil && (!strings.HasPrefix(err.Error(), "layer 1 sha256:abc of manifest sha256:def: ") || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error does not name the layer and %q: %v", tt.want, err)
			}
		})
	}
}

// TestLayerCost charges what stereoscope will build from each header.
func TestLayerCost(t *testing.T) {
	tests := []struct {
		name    string
		above   int
		headers []tar.Header
		want    int64
	}{
		{"a file", 0, []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, unitsPerEntry},
		{"a file under 16 layers", 16, []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, unitsPerEntry + 16},
		{"listed parents cost nothing more", 0, []tar.Header{{Name: "a/", Typeflag: tar.TypeDir}, {Name: "a/b/", Typeflag: tar.TypeDir}, {Name: "a/b/c", Typeflag: tar.TypeReg}}, 3 * unitsPerEntry},
		{"unlisted parents are entries", 0, []tar.Header{{Name: "a/b/c", Typeflag: tar.TypeReg}, {Name: "a/b/d", Typeflag: tar.TypeReg}}, 2*unitsPerEntry + 2*unitsPerEntry},
		{"a 1 KiB name", 0, []tar.Header{{Name: strings.Repeat("n", 1024), Typeflag: tar.TypeReg}}, unitsPerEntry + 8},
		{"PAX records", 0, []tar.Header{{Name: "a", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.x": strings.Repeat("v", 4096)}}}, unitsPerEntry + 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newLayerCost(tt.above)
			var got int64
			for i := range tt.headers {
				got += c.units(&tt.headers[i])
			}
			if got != tt.want {
				t.Errorf("units = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestDeepPathCost: a path a thousand directories deep is a thousand nodes of growing names,
// and must cost accordingly, in one pass over the name.
func TestDeepPathCost(t *testing.T) {
	h := &tar.Header{Name: strings.Repeat("d/", 1000) + "f", Typeflag: tar.TypeReg}
	got := newLayerCost(0).units(h)
	if got < 1000*unitsPerEntry {
		t.Errorf("units = %d, want at least a thousand entries' worth", got)
	}
}
