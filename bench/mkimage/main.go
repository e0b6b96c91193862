// Command mkimage packs root filesystems into a layered OCI image layout for the benchmark,
// without a container engine: the first rootfs becomes the base layer and each later one
// becomes a layer holding only what changed since the one before it (whiteouts for removals),
// the way `RUN apt-get install` stacks on a base image. With -synthetic N it needs no rootfs:
// it writes one layer of N dpkg packages (three files each) and N/4 Python dist-info packages,
// the image the scale benchmark measures at any size.
//
//	mkimage -out DIR ROOTFS [ROOTFS...]
//	mkimage -out DIR -synthetic N
package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch stamps the image config so the same rootfs trees give the same config.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", "", "OCI layout directory to write (must not exist)")
	n := flag.Int("synthetic", 0, "write one synthetic layer of `N` dpkg and N/4 Python packages instead of packing rootfs trees")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkimage -out DIR ROOTFS [ROOTFS...]\n       mkimage -out DIR -synthetic N\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || (flag.NArg() == 0) == (*n == 0) || *n < 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	if *n > 0 {
		err = buildLayers(*out, []func(*tar.Writer) error{func(tw *tar.Writer) error { return synthetic(tw, *n) }})
	} else {
		err = build(*out, flag.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

// build packs roots as layers: the first whole, each later one as its difference from the one
// before it.
func build(out string, roots []string) error {
	fills := make([]func(*tar.Writer) error, len(roots))
	for i, root := range roots {
		prev := ""
		if i > 0 {
			prev = roots[i-1]
		}
		fills[i] = func(tw *tar.Writer) error {
			if err := walkLayer(tw, prev, root); err != nil {
				return fmt.Errorf("layer of %s: %w", root, err)
			}
			return nil
		}
	}
	return buildLayers(out, fills)
}

// buildLayers writes an OCI layout at out holding one image whose layers are what fills write.
func buildLayers(out string, fills []func(*tar.Writer) error) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("-out %s: already exists", out)
	}
	var layers []v1.Layer
	for i, fill := range fills {
		gz := fmt.Sprintf("%s.layer%d.tar.gz", filepath.Clean(out), i)
		defer os.Remove(gz)
		if err := writeLayer(gz, fill); err != nil {
			return err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(gz) },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		layers = append(layers, l)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"/bin/bash"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("-out %s: %w", out, err)
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "bench",
	}))
}

// writeLayer writes to dst the gzip-compressed tar that fill writes. Compressing once here,
// instead of letting go-containerregistry compress on the fly, keeps a gigabyte rootfs from
// being compressed twice (digest, then write).
func writeLayer(dst string, fill func(*tar.Writer) error) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	if err := fill(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// walkLayer writes root's entries into tw in lexical order. With a base, an entry goes in only
// when it is new or differs from base's (type, mode, owner, size, mtime, link target), its parent
// directories go in with it, and base entries root no longer has become whiteouts.
func walkLayer(tw *tar.Writer, base, root string) error {
	written := map[string]bool{}
	links := map[[2]uint64]string{} // (dev, inode) of a file already in this layer → its name
	var writeEntry func(rel string, fi fs.FileInfo) error
	writeEntry = func(rel string, fi fs.FileInfo) error {
		if written[rel] {
			return nil
		}
		if dir := path.Dir(rel); dir != "." {
			dfi, err := os.Lstat(filepath.Join(root, dir))
			if err != nil {
				return err
			}
			if err := writeEntry(dir, dfi); err != nil {
				return err
			}
		}
		written[rel] = true
		return writeFile(tw, root, rel, fi, links)
	}
	if base != "" {
		// Entries removed from the top of the tree; deeper removals go in with their directory.
		if err := whiteouts(tw, base, root, "."); err != nil {
			return err
		}
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil // devices, fifos and sockets do not belong in an image layer
		}
		if base == "" {
			return writeEntry(rel, fi)
		}
		if !same(filepath.Join(base, filepath.FromSlash(rel)), p, fi) {
			if err := writeEntry(rel, fi); err != nil {
				return err
			}
		}
		if !fi.IsDir() {
			return nil
		}
		gone, err := removed(base, root, rel)
		if err != nil || len(gone) == 0 {
			return err
		}
		// A whiteout needs its directory ahead of it in the layer, changed or not.
		if err := writeEntry(rel, fi); err != nil {
			return err
		}
		return writeWhiteouts(tw, gone)
	})
}

// skip keeps the contents of the kernel's and the container runtime's mount points out,
// as a container build would.
func skip(rel string) bool {
	for _, m := range []string{"dev/", "proc/", "sys/", "run/", "tmp/"} {
		if strings.HasPrefix(rel+"/", m) && rel+"/" != m {
			return true
		}
	}
	return false
}

// whiteouts writes a whiteout for each entry of base's directory rel that root has removed.
func whiteouts(tw *tar.Writer, base, root, rel string) error {
	gone, err := removed(base, root, rel)
	if err != nil {
		return err
	}
	return writeWhiteouts(tw, gone)
}

// removed lists, sorted, the entries of base's directory rel that root does not have.
func removed(base, root, rel string) ([]string, error) {
	old, err := os.ReadDir(filepath.Join(base, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, e := range old {
		name := path.Join(rel, e.Name())
		if skip(name) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(name))); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	return gone, nil
}

func writeWhiteouts(tw *tar.Writer, gone []string) error {
	for _, name := range gone {
		wh := path.Join(path.Dir(name), ".wh."+path.Base(name))
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: wh, Mode: 0o644, ModTime: epoch}); err != nil {
			return err
		}
	}
	return nil
}

// same reports whether the base entry at bp matches root's entry fi at p closely enough that the
// upper layer need not carry it: what cp -a preserved and apt/dpkg would have changed.
func same(bp, p string, fi fs.FileInfo) bool {
	bfi, err := os.Lstat(bp)
	if err != nil {
		return false
	}
	if bfi.Mode() != fi.Mode() || !bfi.ModTime().Equal(fi.ModTime()) || owner(bfi) != owner(fi) {
		return false
	}
	switch {
	case fi.IsDir():
		return true
	case fi.Mode()&fs.ModeSymlink != 0:
		a, err1 := os.Readlink(bp)
		b, err2 := os.Readlink(p)
		return err1 == nil && err2 == nil && a == b
	default:
		return bfi.Size() == fi.Size()
	}
}

func owner(fi fs.FileInfo) [2]uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return [2]uint32{st.Uid, st.Gid}
	}
	return [2]uint32{}
}

func writeFile(tw *tar.Writer, root, rel string, fi fs.FileInfo, links map[[2]uint64]string) error {
	full := filepath.Join(root, filepath.FromSlash(rel))
	var target string
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if target, err = os.Readlink(full); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	// Names of the packing host's users mean nothing inside the image; the ids are what count.
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return tw.WriteHeader(hdr)
		}
		links[key] = rel
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	r, err := os.Open(full)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	return nil
}
