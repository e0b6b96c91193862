package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

type entry struct {
	path, body, link string
	hardlinkOf       string
}

func makeTree(t *testing.T, root string, entries []entry, mtime time.Time) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.link != "":
			if err := os.Symlink(e.link, p); err != nil {
				t.Fatal(err)
			}
			continue
		case e.hardlinkOf != "":
			if err := os.Link(filepath.Join(root, e.hardlinkOf), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(e.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func layerEntries(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

// squashed reads the image's final filesystem the way a runtime would, whiteouts applied.
func squashed(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		case tar.TypeLink:
			out[h.Name] = "=> " + h.Linkname
		case tar.TypeReg:
			out[h.Name] = string(b)
		}
	}
}

func TestBuildLayersDiffOfRootfs(t *testing.T) {
	dir := t.TempDir()
	base, full := filepath.Join(dir, "base"), filepath.Join(dir, "full")
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	later := old.Add(time.Hour)
	makeTree(t, base, []entry{
		{path: "etc/os-release", body: "ID=debian\n"},
		{path: "var/lib/dpkg/status", body: "Package: base-files\n"},
		{path: "usr/share/doc/gone/copyright", body: "x"},
		{path: "usr/bin/old", body: "old"},
		{path: "usr/bin/sh", link: "dash"},
		{path: "proc/self", body: "not in images"},
	}, old)
	makeTree(t, full, []entry{
		{path: "etc/os-release", body: "ID=debian\n"},
		{path: "var/lib/dpkg/status", body: "Package: base-files\n\nPackage: git\n"},
		{path: "usr/bin/sh", link: "dash"},
		{path: "usr/bin/perl", body: "perl"},
		{path: "usr/share/doc/git/copyright", body: "GPL"},
		{path: "usr/bin/perl5.36", hardlinkOf: "usr/bin/perl"},
		{path: "usr/lib/node_modules/a/package.json", body: "{}"},
		{path: "proc/self", body: "not in images"},
	}, later)
	// The unchanged file carries the base's time, as cp -a leaves it.
	if err := os.Chtimes(filepath.Join(full, "etc/os-release"), old, old); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "oci")
	if err := build(out, []string{base, full}); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "bench" {
		t.Fatalf("index manifests = %+v, want one annotated bench", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2", len(layers))
	}

	upper := layerEntries(t, layers[1])
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"var/lib/dpkg/status", true},                 // changed
		{"usr/bin/perl", true},                        // new
		{"usr/lib/node_modules/a/package.json", true}, // new, under new directories
		{"usr/lib/node_modules/a/", true},             // its parent, ahead of it
		{"usr/bin/.wh.old", true},                     // removed file
		{"usr/share/doc/.wh.gone", true},              // removed directory, once
		{"usr/share/doc/gone/.wh.copyright", false},
		{"etc/os-release", false}, // unchanged
		{"proc/self", false},      // mount point contents
	} {
		if _, ok := upper[tc.name]; ok != tc.want {
			t.Errorf("upper layer has %s = %v, want %v", tc.name, ok, tc.want)
		}
	}
	if h := upper["usr/bin/perl5.36"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/perl" {
		t.Errorf("usr/bin/perl5.36 = %+v, want a hard link to usr/bin/perl", h)
	}

	got := squashed(t, img)
	want := map[string]string{
		"etc/os-release":                      "ID=debian\n",
		"var/lib/dpkg/status":                 "Package: base-files\n\nPackage: git\n",
		"usr/bin/sh":                          "-> dash",
		"usr/bin/perl":                        "perl",
		"usr/share/doc/git/copyright":         "GPL",
		"usr/bin/perl5.36":                    "=> usr/bin/perl",
		"usr/lib/node_modules/a/package.json": "{}",
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(got) != len(want) {
		t.Errorf("squashed files = %v, want %d files", names, len(want))
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("squashed %s = %q, want %q", n, got[n], w)
		}
	}

	if err := build(out, []string{base}); err == nil {
		t.Error("build over an existing -out: no error, want one")
	}
}

func TestSyntheticImage(t *testing.T) {
	const n = 8
	dir := t.TempDir()
	var digests []v1.Hash
	for _, out := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		if err := buildLayers(out, []func(*tar.Writer) error{func(tw *tar.Writer) error { return synthetic(tw, n) }}); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(out)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, m.Manifests[0].Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of -synthetic %d: %s and %s, want the same image", n, digests[0], digests[1])
	}
	idx, _ := layout.ImageIndexFromPath(filepath.Join(dir, "a"))
	img, err := idx.Image(digests[0])
	if err != nil {
		t.Fatal(err)
	}
	if layers, _ := img.Layers(); len(layers) != 1 {
		t.Fatalf("%d layers, want one", len(layers))
	}
	files := squashed(t, img)
	status := files["var/lib/dpkg/status"]
	if got := strings.Count(status, "Package: "); got != n {
		t.Errorf("status lists %d packages, want %d", got, n)
	}
	for i := range n {
		name := debName(i)
		if !strings.Contains(status, "Package: "+name+"\n") {
			t.Errorf("status has no %s", name)
		}
		list := files["var/lib/dpkg/info/"+name+".list"]
		for _, f := range []string{"usr/bin/" + name, "usr/lib/x86_64-linux-gnu/lib" + name + ".so.1", "usr/share/doc/" + name + "/copyright"} {
			if _, ok := files[f]; !ok || !strings.Contains(list, "/"+f+"\n") {
				t.Errorf("%s: owned file %s missing from the image or its .list", name, f)
			}
		}
	}
	var metadata int
	for name := range files {
		if strings.HasSuffix(name, ".dist-info/METADATA") {
			metadata++
		}
	}
	if metadata != n/4 {
		t.Errorf("%d Python dist-info packages, want %d", metadata, n/4)
	}
	if !strings.Contains(files["etc/os-release"], "ID=debian") {
		t.Error("no Debian os-release")
	}
}
