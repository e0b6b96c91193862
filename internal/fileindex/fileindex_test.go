package fileindex_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/fileindex"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

// entry is one tar entry of a hand-made layer: testimage has no hard links.
type entry struct {
	name, body, link string
	kind             byte
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Linkname: e.link, Mode: 0o644, ModTime: testimage.Epoch, Format: tar.FormatPAX}
		switch e.kind {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeReg:
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dir(name string) entry       { return entry{name: name, kind: tar.TypeDir} }
func reg(name, body string) entry { return entry{name: name, body: body, kind: tar.TypeReg} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, kind: tar.TypeSymlink}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, kind: tar.TypeLink}
}

// trickyImage is an image whose paths exercise what stereoscope's glob search does with links,
// layers and odd names: a merged /usr (/lib -> usr/lib), file and directory symlinks, a broken
// link, a hard link, a directory and a name holding glob characters that a glob matches, a file
// replaced and one deleted in the upper layer.
func trickyImage(t *testing.T) source.Source {
	t.Helper()
	lower := layer(t,
		dir("usr/"), dir("usr/lib/"), dir("usr/lib/x86_64-linux-gnu/"),
		reg("usr/lib/x86_64-linux-gnu/libfoo.so.1", "foo"),
		reg("usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3", "foo"),
		reg("usr/lib/x86_64-linux-gnu/libfoobar.so", "foobar"),
		reg("usr/lib/x86_64-linux-gnu/.hidden", "dot"),
		reg("usr/lib/x86_64-linux-gnu/libgone.so", "gone"),
		symlink("lib", "usr/lib"),
		dir("var/"), dir("var/lib/"), dir("var/lib/dpkg/"), dir("var/lib/dpkg/info/"),
		reg("var/lib/dpkg/info/a.list", "/usr/bin/a\n"),
		reg("var/lib/dpkg/info/a.md5sums", "0  usr/bin/a\n"),
		reg("var/lib/dpkg/info/a.conffiles", "/etc/a\n"),
		reg("var/lib/dpkg/info/ab.list", "/usr/bin/ab\n"),
		reg("var/lib/dpkg/info/b.list", "/usr/bin/b\n"),
		reg("var/lib/dpkg/info/w[1].list", "weird\n"),
		reg("var/lib/dpkg/info/x*y.list", "star\n"),
		symlink("var/lib/dpkg/info/c.list", "a.list"),
		symlink("var/lib/dpkg/info/a.link", "a.list"),
		symlink("var/lib/dpkg/info/a.zlink", "/var/lib/dpkg/info/b.list"),
		symlink("var/lib/dpkg/info/d.list", "/nonexistent"),
		dir("var/lib/dpkg/info/e.list/"),
		symlink("var/lib/dpkg/info/f.list", "/usr/lib"),
		symlink("var/lib/dpkg/info/g.list", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"),
		reg("var/lib/dpkg/info/h.md5sums", "h\n"),
		hardlink("var/lib/dpkg/info/h.list", "var/lib/dpkg/info/h.md5sums"),
		dir("etc/"), symlink("etc/dpkg-info", "/var/lib/dpkg/info"),
		reg("a.txt", "root"),
	)
	upper := layer(t,
		dir("var/"), dir("var/lib/"), dir("var/lib/dpkg/"), dir("var/lib/dpkg/info/"),
		reg("var/lib/dpkg/info/a.list", "/usr/bin/a\n/usr/bin/a2\n"),
		reg("var/lib/dpkg/info/.wh.ab.list", ""),
		reg("var/lib/dpkg/info/new.list", "/usr/bin/new\n"),
		dir("usr/"), dir("usr/lib/"), dir("usr/lib/x86_64-linux-gnu/"),
		reg("usr/lib/x86_64-linux-gnu/.wh.libgone.so", ""),
	)
	img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := filepath.Join(t.TempDir(), "oci")
	if err := testimage.WriteLayout(layoutDir, img); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := image.Resolve(ctx, image.KindOCIDir, layoutDir, image.Options{SubjectName: "example.com/tricky"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	src, closeSrc, err := image.Open(ctx, res.Targets[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSrc() })
	return src
}

// counting counts what the indexed resolver still asks of the resolver it wraps.
type counting struct {
	file.Resolver
	globs, paths, walks atomic.Int64
}

func (c *counting) FilesByGlob(p ...string) ([]file.Location, error) {
	c.globs.Add(1)
	return c.Resolver.FilesByGlob(p...)
}

func (c *counting) FilesByPath(p ...string) ([]file.Location, error) {
	c.paths.Add(1)
	return c.Resolver.FilesByPath(p...)
}

func (c *counting) AllLocations(ctx context.Context) <-chan file.Location {
	c.walks.Add(1)
	return c.Resolver.AllLocations(ctx)
}

// describe renders what a resolver answered, in order, with everything callers read.
func describe(locs []file.Location) []string {
	var out []string
	for _, l := range locs {
		ref := l.Reference()
		out = append(out, fmt.Sprintf("%s via %s (layer %s, file %d)", l.RealPath, l.AccessPath, l.FileSystemID, ref.ID()))
	}
	return out
}

// TestSameAnswersAsStereoscope holds the indexed resolver to the one it wraps: every pattern,
// alone and together, gets the same locations in the same order.
func TestSameAnswersAsStereoscope(t *testing.T) {
	src := trickyImage(t)
	inner, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		patterns []string
		indexed  bool // answered from the index, without the wrapped resolver's glob search
		want     int  // locations found (so that a pattern that finds nothing in both is noticed)
	}{
		// a.conffiles, a.list, a.md5sums, and b.list through a.zlink (a.link is a.list again)
		{[]string{"/var/lib/dpkg/info/a.*"}, true, 4},
		{[]string{"/var/lib/dpkg/info/a*"}, true, 4}, // ab.list was deleted in the upper layer
		{[]string{"/var/lib/dpkg/info/?.list"}, false, 0},
		{[]string{"/var/lib/dpkg/info/c.*"}, true, 1}, // a symlink to a.list
		{[]string{"/var/lib/dpkg/info/d.*"}, true, 0}, // a broken link
		{[]string{"/var/lib/dpkg/info/e.*"}, true, 0}, // a directory
		{[]string{"/var/lib/dpkg/info/f.*"}, true, 0}, // a link to a directory
		{[]string{"/var/lib/dpkg/info/g.*"}, true, 1}, // a link to another directory's file
		{[]string{"/var/lib/dpkg/info/h.*"}, true, 2}, // a hard link
		{[]string{"/var/lib/dpkg/info/n?w.*"}, true, 1},
		{[]string{"/var/lib/dpkg/info/w*"}, false, 1}, // w[1].list: a name with glob characters
		{[]string{"/var/lib/dpkg/info/x*"}, false, 1}, // x*y.list
		{[]string{"/var/lib/dpkg/info/*.list"}, false, 0},
		{[]string{"/lib/x86_64-linux-gnu/libfoo.so*"}, true, 2}, // through the /lib link
		{[]string{"/usr/lib/x86_64-linux-gnu/libfoo*"}, true, 3},
		{[]string{"/etc/dpkg-info/b.*"}, true, 1}, // through a link to the directory itself
		{[]string{"/a.*"}, true, 1},
		{[]string{"/nowhere/a.*"}, true, 0},
		{[]string{"**/a.*"}, false, 0},
		{[]string{"/var/lib/dpkg/info/a.list"}, false, 1},
		{[]string{"/var/lib/dpkg/info/c.*", "/var/lib/dpkg/info/a.*"}, true, 4}, // a.list once
		// DIR/*: every name in a real directory (.hidden too; libgone.so was deleted above)
		{[]string{"/usr/lib/x86_64-linux-gnu/*"}, true, 4},
		{[]string{"/lib/x86_64-linux-gnu/*"}, false, 4}, // through the /lib link
		{[]string{"/etc/dpkg-info/*"}, false, 0},        // a link to a directory with glob names
		{[]string{"/var/lib/dpkg/info/*"}, false, 0},    // names with glob characters
		{[]string{"/var/lib/dpkg/*"}, true, 0},          // a directory only
		{[]string{"/*"}, false, 0},                      // stereoscope finds nothing at the root
		{[]string{"/nowhere/*"}, false, 0},
		{[]string{"/usr/lib/x86_64-linux-gnu/*", "/usr/lib/x86_64-linux-gnu/libfoo*"}, true, 4},
		{[]string{"/var/lib/dpkg/info/a.*", "/var/lib/dpkg/info/c.*", "/var/lib/dpkg/info/*.md5sums"}, false, 0},
	} {
		t.Run(fmt.Sprint(tc.patterns), func(t *testing.T) {
			want, err := inner.FilesByGlob(tc.patterns...)
			if err != nil {
				t.Fatal(err)
			}
			c := &counting{Resolver: inner}
			got, err := fileindex.NewResolver(c).FilesByGlob(tc.patterns...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(describe(got), describe(want)) {
				t.Errorf("indexed resolver found\n%q\nstereoscope found\n%q", describe(got), describe(want))
			}
			if got == nil {
				t.Error("nil, want an empty slice as stereoscope's resolver returns")
			}
			if tc.want > 0 && len(want) != tc.want {
				t.Errorf("%d locations, want %d: the image no longer has what this case is about", len(want), tc.want)
			}
			if indexed := c.globs.Load() == 0; indexed != tc.indexed {
				t.Errorf("answered from the index = %v, want %v", indexed, tc.indexed)
			}
		})
	}
}

// TestIndexBuiltOnce: the tree is walked once for any number of queries, and a query looks up
// only the paths whose names match, not every name in the image.
func TestIndexBuiltOnce(t *testing.T) {
	src := trickyImage(t)
	inner, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{Resolver: inner}
	r := fileindex.NewResolver(c)
	for range 3 {
		for _, p := range []string{"/var/lib/dpkg/info/a.*", "/var/lib/dpkg/info/b.*", "/var/lib/dpkg/info/zz.*"} {
			if _, err := r.FilesByGlob(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := c.walks.Load(); n != 1 {
		t.Errorf("tree walked %d times, want once", n)
	}
	// Names anywhere in the image that a.* matches: a.conffiles, a.link, a.list, a.md5sums,
	// a.zlink and a.txt (which is not in that directory); b.* matches b.list, zz.* nothing:
	// 7 look-ups a round.
	if n := c.paths.Load(); n != 3*7 {
		t.Errorf("%d path look-ups, want %d", n, 3*7)
	}
}

func TestSourceIndexesSquashedScopeOnly(t *testing.T) {
	src := fileindex.Source(trickyImage(t))
	r, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*fileindex.Resolver); !ok {
		t.Errorf("squashed scope: %T, want *fileindex.Resolver", r)
	}
	// image.Open keeps the squashed image only, so the all-layers scope is refused; were it
	// not, its globs would answer per layer, which the index does not model.
	if r, err = src.FileResolver(source.AllLayersScope); err == nil {
		t.Errorf("all-layers scope: %T, want an error", r)
	}
	if _, ok := r.(*fileindex.Resolver); ok {
		t.Error("all-layers scope indexed: its globs answer per layer, which the index does not model")
	}
	if _, err := src.FileResolver(source.Scope("bogus")); err == nil {
		t.Error("a bad scope: no error, want the wrapped source's")
	}
}
