package pkgdbtest

import (
	_ "embed"
	"strings"

	"github.com/bom-attest/bom-attest/internal/testimage"
)

// Packages is a real apt Packages list of five Debian bookworm packages (bash, libzstd1,
// node-ms, python3-six, zlib1g), descriptions left out.
//
//go:embed testdata/Packages
var Packages []byte

// PackagesEntry is a package's SHA256 and Filename in Packages.
func PackagesEntry(name string) (sha256, filename string) {
	for _, para := range strings.Split(string(Packages), "\n\n") {
		var n, sum, file string
		for _, line := range strings.Split(para, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				n = v
			case "SHA256":
				sum = v
			case "Filename":
				file = v
			}
		}
		if n == name {
			return sum, file
		}
	}
	return "", ""
}

// Site is where the fixture's pip-installed distributions are.
const Site = "/usr/local/lib/python3.11/dist-packages"

// Fixture is an image a Debian + Python build leaves: dpkg's database and file lists, Debian's
// own Python and Node packages, a .deb no apt list has, pip-installed wheels (one whose
// direct_url.json records its hash), and, with lists, apt's lists with Packages' real entries.
type Fixture struct {
	Files []testimage.File
	// Body is the content of each regular file put in the image, by path.
	Body map[string][]byte
}

// DebianPython builds the fixture.
func DebianPython(withLists bool) Fixture {
	sixPkgInfo := "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nAuthor: Benjamin Peterson\nAuthor-email: benjamin@python.org\nLicense: MIT\n"
	wheel := "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
	files := []testimage.File{
		testimage.OSRelease("12", "bookworm"),
		testimage.DpkgStatus(
			testimage.DebPackage{Name: "bash", Version: "5.2.15-2+b13", Source: "bash (5.2.15-2)", Maintainer: "Matthias Klose <doko@debian.org>", Depends: "base-files (>= 2.1.12), libtinfo6 (>= 6)"},
			testimage.DebPackage{Name: "libzstd1", Version: "1.5.4+dfsg2-5", Source: "libzstd", Maintainer: "RPM packaging team <team+pkg-rpm@tracker.debian.org>", Depends: "libc6 (>= 2.34)"},
			testimage.DebPackage{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib", Maintainer: "Mark Brown <broonie@debian.org>"},
			testimage.DebPackage{Name: "python3-six", Version: "1.16.0-4", Arch: "all", Source: "six", Maintainer: "Debian Python Team <team+python@tracker.debian.org>", Depends: "python3:any"},
			testimage.DebPackage{Name: "node-ms", Version: "2.1.3+~cs0.7.31-3", Arch: "all", Maintainer: "Debian Javascript Maintainers <pkg-javascript-devel@lists.alioth.debian.org>", Depends: "nodejs:any | nodejs-lts"},
			testimage.DebPackage{Name: "mytool", Version: "1.0-1", Maintainer: "Acme Tools <tools@acme.example>", Depends: "zlib1g:any (>= 1:1.2), libzstd1"},
		),
		DpkgList("bash", "", "/bin/bash", "/usr/share/doc/bash/README"),
		{Path: "/bin/bash", Body: ELF("bash"), Mode: 0o755},
		{Path: "/usr/share/doc/bash/README", Body: []byte("bash documentation\n")},
		DpkgList("libzstd1", "amd64", "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4", "/usr/lib/x86_64-linux-gnu/libzstd.so.1"),
		{Path: "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4", Body: ELF("libzstd")},
		{Path: "/usr/lib/x86_64-linux-gnu/libzstd.so.1", Link: "libzstd.so.1.5.4"},
		DpkgList("zlib1g", "amd64", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "/usr/share/doc/zlib1g/copyright"),
		{Path: "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", Body: ELF("libz")},
		{Path: "/usr/share/doc/zlib1g/copyright", Body: []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: zlib\n\nFiles: *\nCopyright: 1995-2022 Jean-loup Gailly and Mark Adler\nLicense: Zlib\n\nLicense: Zlib\n This software is provided 'as-is'.\n")},
		DpkgList("python3-six", "", "/usr/lib/python3/dist-packages/six.py",
			"/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt",
			"/usr/share/doc/python3-six/copyright"),
		{Path: "/usr/lib/python3/dist-packages/six.py", Body: []byte("# six\nPY3 = True\n")},
		{Path: "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", Body: []byte(sixPkgInfo)},
		{Path: "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt", Body: []byte("six\n")},
		{Path: "/usr/share/doc/python3-six/copyright", Body: []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2010-2020 Benjamin Peterson\nLicense: Expat\n\nFiles: debian/*\nCopyright: 2010 Colin Watson\nLicense: GPL-2+\n")},
		DpkgList("node-ms", "", "/usr/share/nodejs/ms/package.json", "/usr/share/nodejs/ms/index.js"),
		{Path: "/usr/share/nodejs/ms/package.json", Body: []byte(`{"name": "ms", "version": "2.1.3", "author": "Vercel <hello@vercel.com> (https://vercel.com)", "license": "MIT", "repository": "vercel/ms"}`)},
		{Path: "/usr/share/nodejs/ms/index.js", Body: []byte("module.exports = function ms() {}\n")},
		DpkgList("mytool", "", "/usr/bin/mytool", "/etc/mytool.conf", "/usr/share/doc/mytool/copyright"),
		{Path: "/usr/bin/mytool", Body: ELF("mytool"), Mode: 0o755},
		{Path: "/etc/mytool.conf", Body: []byte("setting = 1\n")},
		{Path: "/usr/share/doc/mytool/copyright", Body: []byte("mytool is free software, under the GPL.\n")},
		{Path: Site + "/requests-2.32.3.dist-info/WHEEL", Body: []byte(wheel)},
		{Path: Site + "/urllib3-2.2.1.dist-info/WHEEL", Body: []byte(wheel)},
		// A wheel installed from a file on the build machine: its hash and name are kept, the
		// file: URL nobody else can fetch is not.
		{Path: Site + "/urllib3-2.2.1.dist-info/direct_url.json", Body: []byte(`{"url": "file:///build/wheels/urllib3-2.2.1-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "450b20ec296a467077128bff42b73080516e71b56ff59a60a02bef2232c4fa9d"}}}`)},
	}
	files = append(files, testimage.DistInfo(Site, testimage.PythonPackage{Name: "requests", Version: "2.32.3", License: "Apache-2.0"})...)
	files = append(files, testimage.DistInfo(Site, testimage.PythonPackage{Name: "urllib3", Version: "2.2.1", License: "MIT"})...)
	if withLists {
		files = append(files,
			testimage.File{Path: "/etc/apt/sources.list.d/debian.sources", Body: []byte("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")},
			testimage.File{Path: "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", Body: Packages})
	}
	fx := Fixture{Files: files, Body: map[string][]byte{}}
	for _, f := range files {
		if f.Link == "" {
			fx.Body["/"+strings.TrimPrefix(f.Path, "/")] = f.Body
		}
	}
	return fx
}
