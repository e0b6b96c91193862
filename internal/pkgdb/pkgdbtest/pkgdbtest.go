package pkgdbtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/source"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/pkgdb"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

// Scanned is a test image after the scan: Syft's SBOM and what pkgdb read of the image.
type Scanned struct {
	BOM   *cyclonedx.BOM
	Image *pkgdb.Image
	Files pkgdb.Files
	Dir   string // the OCI layout
}

// Write packs files into a one-layer linux/amd64 image in an OCI layout under a temporary
// directory and returns the layout's path.
func Write(t testing.TB, files ...testimage.File) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image")
	if err := testimage.WriteOneLayer(dir, files...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Scan writes files as an image, scans it with Syft as the sbom stage does, and reads its
// package records with pkgdb. The layers stay open until the test ends.
func Scan(t testing.TB, files ...testimage.File) *Scanned {
	t.Helper()
	ctx := context.Background()
	dir := Write(t, files...)
	res, err := image.Resolve(ctx, image.KindOCIDir, dir, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	tg := res.Targets[0]
	src, closeSrc, err := image.Open(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSrc() })
	gen, err := sbom.Generate(ctx, src, sbom.Options{Namespace: "bom-attest", ToolVersion: "test", SkipModels: true,
		Subject: sbom.Subject{Name: "example.org/test", Digest: tg.Digest.String(), OS: "linux", Arch: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	f := pkgdb.FromResolver(r)
	im, err := pkgdb.Read(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return &Scanned{BOM: gen.BOM, Image: im, Files: f, Dir: dir}
}

// Component is the SBOM component named name (and version, when not ""); the test fails when
// there is none.
func (s *Scanned) Component(t testing.TB, purlPrefix string) *cyclonedx.Component {
	t.Helper()
	if s.BOM.Components != nil {
		for i := range *s.BOM.Components {
			c := &(*s.BOM.Components)[i]
			if strings.HasPrefix(c.PackageURL, purlPrefix) {
				return c
			}
		}
	}
	t.Fatalf("no component with a purl starting %s", purlPrefix)
	return nil
}

// DpkgList is dpkg's list of the paths a package installed (info/NAME[:ARCH].list): every
// parent directory first, as dpkg writes it.
func DpkgList(pkg, arch string, paths ...string) testimage.File {
	seen := map[string]bool{"/.": true}
	var lines []string
	lines = append(lines, "/.")
	for _, p := range paths {
		var parents []string
		for d := filepath.Dir(p); d != "/" && !seen[d]; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
			seen[d] = true
		}
		lines = append(lines, parents...)
		lines = append(lines, p)
	}
	name := pkg
	if arch != "" {
		name += ":" + arch
	}
	return testimage.File{Path: "/var/lib/dpkg/info/" + name + ".list", Body: []byte(strings.Join(lines, "\n") + "\n")}
}

// ELF is the start of an x86-64 ELF executable, enough for anything that looks at magic bytes.
func ELF(tag string) []byte {
	return append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), fmt.Sprintf("code of %s", tag)...)
}
