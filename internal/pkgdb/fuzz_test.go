package pkgdb

import (
	"context"
	"strings"
	"testing"
)

// FuzzReadParagraphs: any bytes as a deb822 file (dpkg status, Packages, copyright, InRelease)
// end in paragraphs or an error, never a panic, and no kept value exceeds its bound.
func FuzzReadParagraphs(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nDepends: b,\n c\n\nPackage: d\n"))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nSHA256:\n 0000 12 main/binary-amd64/Packages.gz\n"))
	f.Add([]byte(" leading continuation\n#comment\n:\n\r\n\x00: \xff\n"))
	keep := map[string]bool{"package": true, "version": true, "depends": true, "sha256": true, "": true}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ReadParagraphs(context.Background(), strings.NewReader(string(b)), keep, func(p Paragraph) error {
			for k, v := range p {
				if !keep[k] || len(v) > maxDeb822Value {
					t.Fatalf("field %q (%d bytes) kept", k, len(v))
				}
			}
			return nil
		})
	})
}

// FuzzPythonMetadata: any METADATA, WHEEL, direct_url.json and RECORD read as a dist-info
// directory give a distribution or a warning, and its file list stays absolute and clean.
func FuzzPythonMetadata(f *testing.F) {
	f.Add([]byte("Name: a\nVersion: 1\nAuthor-email: A <a@example.org>\nProject-URL: Home, https://a.example\n\nbody"), []byte("Tag: py3-none-any\n"),
		[]byte(`{"url": "https://x/a-1-py3-none-any.whl", "archive_info": {"hash": "sha256=00"}}`), []byte("a/__init__.py,,\n../../bin/a,,\n"))
	f.Add([]byte("Name:\nVersion:\n \n"), []byte("Tag:\n"), []byte(`{"url": 1}`), []byte("\"unterminated,\n"))
	f.Fuzz(func(t *testing.T, meta, wheel, direct, record []byte) {
		dir := "/usr/lib/python3/site-packages/a-1.dist-info"
		files := MapFiles{Data: map[string][]byte{dir + "/METADATA": meta, dir + "/WHEEL": wheel, dir + "/direct_url.json": direct, dir + "/RECORD": record}}
		dists, _, err := ReadPythonDists(context.Background(), files)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dists {
			paths, _ := d.InstalledFiles(context.Background(), files)
			for _, p := range paths {
				if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
					t.Fatalf("path %q", p)
				}
			}
			if d.DirectURL != nil && d.DirectURL.SHA256 != "" && !hex64(d.DirectURL.SHA256) {
				t.Fatalf("sha256 %q", d.DirectURL.SHA256)
			}
		}
	})
}
