package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the fixed time stamped on every file and config so the same inputs give the same digests.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of a layer. Parent directories are added automatically.
type File struct {
	Path string // absolute or relative; stored without the leading slash
	Body []byte
	Mode int64  // 0 means 0644
	Link string // when set, the entry is a symlink to Link
}

// Layer packs files into a gzip-compressed OCI layer with fixed timestamps and sorted entries.
func Layer(files ...File) (v1.Layer, error) {
	raw, err := Tar(files...)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Tar returns the uncompressed tar stream of files.
func Tar(files ...File) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return clean(sorted[i].Path) < clean(sorted[j].Path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range sorted {
		name := clean(f.Path)
		if name == "" {
			return nil, fmt.Errorf("testimage: empty path")
		}
		for _, d := range parents(name) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Name: name, Mode: f.Mode, ModTime: Epoch, Format: tar.FormatPAX}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if f.Link != "" {
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if f.Link == "" {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

func parents(name string) []string {
	var out []string
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// Image assembles an OCI image for platform from layers, with a fixed creation time.
func Image(platform v1.Platform, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, fmt.Errorf("testimage: append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Created = v1.Time{Time: Epoch}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

// Layered is Image of one layer (Layer) for each list of files, bottom first.
func Layered(platform v1.Platform, layers ...[]File) (v1.Image, error) {
	ls := make([]v1.Layer, 0, len(layers))
	for _, files := range layers {
		l, err := Layer(files...)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return Image(platform, ls...)
}

// Index makes a multi-platform OCI index of images, each annotated with its config's platform.
func Index(imgs ...v1.Image) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}})
	}
	return idx, nil
}

// WriteLayout writes img (a v1.Image or v1.ImageIndex) as an OCI image layout at dir.
// An image is written as the layout's only manifest; an index's manifests become the layout's.
// opts (e.g. layout.WithAnnotations for org.opencontainers.image.ref.name) apply to the top descriptor.
func WriteLayout(dir string, img any, opts ...layout.Option) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("testimage: layout %s: %w", dir, err)
	}
	switch v := img.(type) {
	case v1.ImageIndex:
		return p.AppendIndex(v, opts...)
	case v1.Image:
		return p.AppendImage(v, opts...)
	default:
		return fmt.Errorf("testimage: cannot write %T", img)
	}
}

// WriteOneLayer packs files into a one-layer linux/amd64 image and writes it as an OCI image
// layout at dir: the image most package fixtures need.
func WriteOneLayer(dir string, files ...File) error {
	l, err := Layer(files...)
	if err != nil {
		return err
	}
	img, err := Image(v1.Platform{OS: "linux", Architecture: "amd64"}, l)
	if err != nil {
		return err
	}
	return WriteLayout(dir, img)
}

// DebPackage is one entry of a dpkg status database.
type DebPackage struct {
	Name, Version, Arch, Source, Maintainer string
	InstalledSize                           int
	Depends                                 string
}

// DpkgStatus renders /var/lib/dpkg/status for pkgs, as dpkg writes it.
func DpkgStatus(pkgs ...DebPackage) File {
	var b strings.Builder
	for i, p := range pkgs {
		if i > 0 {
			b.WriteString("\n")
		}
		arch := p.Arch
		if arch == "" {
			arch = "amd64"
		}
		maint := p.Maintainer
		if maint == "" {
			maint = "Debian Maintainers <debian@example.org>"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: %s\nArchitecture: %s\n", p.Name, p.InstalledSize, maint, arch)
		if p.Source != "" {
			fmt.Fprintf(&b, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&b, "Version: %s\n", p.Version)
		if p.Depends != "" {
			fmt.Fprintf(&b, "Depends: %s\n", p.Depends)
		}
		fmt.Fprintf(&b, "Description: %s package\n", p.Name)
	}
	return File{Path: "/var/lib/dpkg/status", Body: []byte(b.String())}
}

// OSRelease is a Debian /etc/os-release so catalogers know the distro.
func OSRelease(versionID, codename string) File {
	return File{Path: "/etc/os-release", Body: []byte(fmt.Sprintf(
		"PRETTY_NAME=\"Debian GNU/Linux %[1]s (%[2]s)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"%[1]s\"\nVERSION=\"%[1]s (%[2]s)\"\nVERSION_CODENAME=%[2]s\nID=debian\n",
		versionID, codename))}
}

// PythonPackage is an installed distribution described by a dist-info directory.
type PythonPackage struct {
	Name, Version, License string
	Requires               []string
}

// DistInfo renders the dist-info directory of p under sitePackages, with METADATA, RECORD and
// top_level.txt as pip leaves them.
func DistInfo(sitePackages string, p PythonPackage) []File {
	dir := path.Join(sitePackages, strings.ReplaceAll(p.Name, "-", "_")+"-"+p.Version+".dist-info")
	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", p.Name, p.Version)
	if p.License != "" {
		fmt.Fprintf(&meta, "License: %s\n", p.License)
	}
	for _, r := range p.Requires {
		fmt.Fprintf(&meta, "Requires-Dist: %s\n", r)
	}
	mod := strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(p.Name))
	initPath := path.Join(sitePackages, mod, "__init__.py")
	initBody := []byte("__version__ = \"" + p.Version + "\"\n")
	record := fmt.Sprintf("%s/__init__.py,,%d\n%s/METADATA,,\n%s/RECORD,,\n", mod, len(initBody), path.Base(dir), path.Base(dir))
	return []File{
		{Path: path.Join(dir, "METADATA"), Body: []byte(meta.String())},
		{Path: path.Join(dir, "RECORD"), Body: []byte(record)},
		{Path: path.Join(dir, "INSTALLER"), Body: []byte("pip\n")},
		{Path: path.Join(dir, "top_level.txt"), Body: []byte(mod + "\n")},
		{Path: initPath, Body: initBody},
	}
}

// DebianImage is a one-layer Debian 12 image for platform linux/arch[/variant] whose dpkg
// database lists libc6 and a package named only-on-<arch>, so a test can tell which platform's
// layers were read.
func DebianImage(arch, variant string) (v1.Image, error) {
	l, err := Layer(OSRelease("12", "bookworm"), DpkgStatus(
		DebPackage{Name: "libc6", Version: "2.36-9+deb12u10", Arch: arch, Source: "glibc"},
		DebPackage{Name: "only-on-" + arch, Version: "1.0", Arch: arch}))
	if err != nil {
		return nil, err
	}
	return Image(v1.Platform{OS: "linux", Architecture: arch, Variant: variant}, l)
}

// StreamLayer is a gzip-compressed OCI layer whose tar stream gen writes. Only the compressed
// bytes are kept, so a test can make a layer that expands to gigabytes or a million entries
// without holding it.
func StreamLayer(gen func(tw *tar.Writer) error) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := gen(tw); err != nil {
		return nil, fmt.Errorf("testimage: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// DockerSave writes img as `docker save` does: manifest.json, the config as <hex>.json and each
// layer as an uncompressed <n>/layer.tar.
func DockerSave(path string, img v1.Image, repoTag string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: Epoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	manifest := []map[string]any{{"Config": cfgName.Hex + ".json", "RepoTags": []string{repoTag}, "Layers": []string{}}}
	if err := add(cfgName.Hex+".json", bytes.NewReader(cfg), int64(len(cfg))); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		// The size of a tar entry comes first, so the layer is read twice.
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if rc, err = l.Uncompressed(); err != nil {
			return err
		}
		name := fmt.Sprintf("%d/layer.tar", i)
		err = add(name, rc, n)
		rc.Close()
		if err != nil {
			return err
		}
		manifest[0]["Layers"] = append(manifest[0]["Layers"].([]string), name)
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := add("manifest.json", bytes.NewReader(m), int64(len(m))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return out.Close()
}
