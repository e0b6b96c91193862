package pkgdb

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"github.com/bom-attest/bom-attest/internal/testcost"
)

func TestReadParagraphs(t *testing.T) {
	in := "Package: a\nVersion: 1\nDepends: x,\n y (>= 2),\n\tz\nDescription: long\n more text\n\n\n# a comment\nPackage: b\r\nVersion: 2\r\n\n   \ncontinuation without a field\nPackage: c\n"
	var got []Paragraph
	err := ReadParagraphs(context.Background(), strings.NewReader(in), map[string]bool{"package": true, "version": true, "depends": true}, func(p Paragraph) error {
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Paragraph{
		{"package": "a", "version": "1", "depends": "x,\ny (>= 2),\nz"},
		{"package": "b", "version": "2"},
		{"package": "c"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d paragraphs %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("paragraph %d %s = %q, want %q", i, k, got[i][k], v)
			}
		}
		if _, ok := got[i]["description"]; ok {
			t.Errorf("paragraph %d kept a field not asked for", i)
		}
	}
}

func TestReadParagraphsBounds(t *testing.T) {
	keep := map[string]bool{"depends": true}
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"line longer than 1 MiB", "Package: a\nDescription: " + strings.Repeat("x", 1<<20+10) + "\n", ErrTooLarge},
		{"kept value over 256 KiB", "Depends: a\n" + strings.Repeat(" b,\n", 100<<10), ErrTooLarge},
		{"a dropped value may be long", "Description: a\n" + strings.Repeat(" b,\n", 100<<10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ReadParagraphs(context.Background(), strings.NewReader(tt.in), keep, func(Paragraph) error { return nil })
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ReadParagraphs(ctx, strings.NewReader(strings.Repeat("Package: a\n\n", 10000)), keep, func(Paragraph) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func mapFiles(files map[string]string) MapFiles {
	m := MapFiles{Data: map[string][]byte{}}
	for k, v := range files {
		m.Data[k] = []byte(v)
	}
	return m
}

func TestReadDpkg(t *testing.T) {
	f := mapFiles(map[string]string{
		dpkgStatus: "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u10\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nDepends: libgcc-s1\n\n" +
			"Package: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n" +
			"Package: noversion\nStatus: install ok installed\n",
		dpkgInfo + "/libc6:amd64.list": "/.\n/lib\n/lib/libc.so.6\n",
	})
	d, warnings, err := ReadDpkg(context.Background(), f)
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	if !d.Complete || len(d.Packages) != 1 {
		t.Fatalf("complete %v, packages %+v", d.Complete, d.Packages)
	}
	p := d.Packages[0]
	if p.Source != "glibc" || p.SourceVersion != "2.36-9" || !p.MultiArchSame || p.Depends != "libgcc-s1" {
		t.Errorf("libc6: %+v", p)
	}
	paths, err := FileList(context.Background(), f, p)
	if err != nil || strings.Join(paths, " ") != "/. /lib /lib/libc.so.6" {
		t.Errorf("file list %v, %v", paths, err)
	}
	if _, err := FileList(context.Background(), f, DebPackage{Name: "nolist"}); !errors.Is(err, ErrNoFileList) {
		t.Errorf("no list: err = %v", err)
	}

	// A status file cut short by a line too long for a status file is not read whole.
	f.Data[dpkgStatus] = append([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nDescription: "), bytes.Repeat([]byte("x"), 2<<20)...)
	d, warnings, err = ReadDpkg(context.Background(), f)
	if err != nil || d.Complete || len(warnings) != 1 {
		t.Errorf("hostile status: complete %v, warnings %v, err %v", d.Complete, warnings, err)
	}

	// Distroless images keep one file per package in status.d.
	f = mapFiles(map[string]string{
		dpkgStatusDir + "/base":         "Package: base-files\nVersion: 12.4\nArchitecture: amd64\n",
		dpkgStatusDir + "/base.md5sums": "0123  etc/issue\n",
	})
	d, _, err = ReadDpkg(context.Background(), f)
	if err != nil || len(d.Packages) != 1 || d.Packages[0].Name != "base-files" {
		t.Errorf("status.d: %+v, %v", d, err)
	}
	if d, _, _ := ReadDpkg(context.Background(), mapFiles(nil)); d != nil {
		t.Errorf("no database: %+v", d)
	}
}

func compress(t *testing.T, ext, s string) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	switch ext {
	case ".gz":
		w = gzip.NewWriter(&b)
	case ".xz":
		var err error
		if w, err = xz.NewWriter(&b); err != nil {
			t.Fatal(err)
		}
	case ".lz4":
		w = lz4.NewWriter(&b)
	default:
		return []byte(s)
	}
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

const sha = "6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa"

func TestReadAptLists(t *testing.T) {
	entry := func(name, version, sum, file string) string {
		return "Package: " + name + "\nSource: src (9)\nVersion: " + version + "\nArchitecture: amd64\nFilename: " + file + "\nSize: 12\nSHA256: " + sum + "\n\n"
	}
	for _, ext := range []string{"", ".gz", ".xz", ".lz4"} {
		t.Run("compression "+ext, func(t *testing.T) {
			f := MapFiles{Data: map[string][]byte{
				aptSourcesList:                      []byte("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main\n"),
				aptSourcesDir + "/security.sources": []byte("Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n"),
				aptLists + "/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages" + ext: compress(t, ext,
					entry("libzstd1", "1.5.4", sha, "pool/main/libz/libzstd/libzstd1_1.5.4_amd64.deb")+
						entry("unwanted", "1", sha, "pool/main/u/unwanted/unwanted_1_amd64.deb")+
						entry("escape", "1", sha, "../../etc/passwd")+
						entry("badsum", "1", "zz", "pool/main/b/badsum_1_amd64.deb")),
				aptLists + "/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages" + ext: compress(t, ext,
					entry("openssl", "3.0.17", sha, "pool/updates/main/o/openssl/openssl_3.0.17_amd64.deb")),
			}}
			want := map[DebKey]bool{{"libzstd1", "1.5.4", "amd64"}: true, {"escape", "1", "amd64"}: true, {"badsum", "1", "amd64"}: true, {"openssl", "3.0.17", "amd64"}: true}
			l, warnings, err := ReadAptLists(context.Background(), f, func(k DebKey) bool { return want[k] })
			if err != nil || len(warnings) != 0 {
				t.Fatal(err, warnings)
			}
			if len(l.Entries) != 2 {
				t.Fatalf("entries %+v, want libzstd1 and openssl only", l.Entries)
			}
			a := l.Entries[DebKey{"libzstd1", "1.5.4", "amd64"}]
			if a.URL() != "http://deb.debian.org/debian/pool/main/libz/libzstd/libzstd1_1.5.4_amd64.deb" || a.SourceURL("1.5.4") != "http://deb.debian.org/debian/pool/main/libz/libzstd/src_9.dsc" {
				t.Errorf("libzstd1: %s, %s", a.URL(), a.SourceURL("1.5.4"))
			}
			if o := l.Entries[DebKey{"openssl", "3.0.17", "amd64"}]; o.Base != "http://deb.debian.org/debian-security" {
				t.Errorf("openssl's archive: %q", o.Base)
			}
		})
	}
}

func TestReadAptListsConflict(t *testing.T) {
	other := strings.Repeat("a", 64)
	f := mapFiles(map[string]string{
		aptLists + "/a_dists_x_main_binary-amd64_Packages": "Package: p\nVersion: 1\nArchitecture: amd64\nFilename: pool/p_1.deb\nSHA256: " + sha + "\n",
		aptLists + "/b_dists_x_main_binary-amd64_Packages": "Package: p\nVersion: 1\nArchitecture: amd64\nFilename: pool/p_1.deb\nSHA256: " + other + "\n",
	})
	l, warnings, err := ReadAptLists(context.Background(), f, func(DebKey) bool { return true })
	if err != nil || len(l.Entries) != 0 || len(warnings) != 1 {
		t.Errorf("two digests for one package: entries %v, warnings %v, %v", l.Entries, warnings, err)
	}
}

func TestDecompressBomb(t *testing.T) {
	bomb := compress(t, ".gz", strings.Repeat("\x00", 4<<20))
	r, err := Decompress("x.gz", bytes.NewReader(bomb), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("4 MiB from a 1 MiB limit: err = %v", err)
	}
}

func TestListPrefix(t *testing.T) {
	for base, want := range map[string]string{
		"http://deb.debian.org/debian":           "deb.debian.org_debian_",
		"https://user:pw@mirror.example/debian/": "mirror.example_debian_",
		"http://archive.ubuntu.com/ubuntu":       "archive.ubuntu.com_ubuntu_",
		"http://mirror.example/my_repo":          "mirror.example_my%5frepo_",
	} {
		if got := listPrefix(base); got != want {
			t.Errorf("listPrefix(%s) = %s, want %s", base, got, want)
		}
	}
}

func TestReadPythonDists(t *testing.T) {
	site := "/usr/lib/python3/dist-packages"
	f := mapFiles(map[string]string{
		site + "/Foo_Bar-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nAuthor-email: Jane Doe <jane@example.org>, bob@example.org\n" +
			"Project-URL: Source, https://github.com/foo/bar\nProject-URL: Homepage,https://foo.example\nLicense-Expression: MIT\nSummary: x\n  continued\n\nLong description\nAuthor: not a header\n",
		site + "/Foo_Bar-1.0.dist-info/WHEEL":           "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_17_x86_64\nTag: CP311-cp311-manylinux2014_x86_64\n",
		site + "/Foo_Bar-1.0.dist-info/INSTALLER":       "pip\n",
		site + "/Foo_Bar-1.0.dist-info/direct_url.json": `{"url": "https://files.example/foo_bar-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "archive_info": {"hash": "sha256=` + sha + `"}}`,
		site + "/Foo_Bar-1.0.dist-info/RECORD":          "foo_bar/__init__.py,sha256=x,1\n\"foo_bar/a,b.py\",,\n../../../bin/foo,,\nFoo_Bar-1.0.dist-info/RECORD,,\n",
		site + "/old-2.0.egg-info/PKG-INFO":             "Metadata-Version: 1.1\nName: old\nVersion: 2.0\nAuthor: Old Timer\n",
		site + "/old-2.0.egg-info/top_level.txt":        "old\n../escape\n",
		site + "/old/__init__.py":                       "",
		site + "/old/sub/mod.py":                        "",
		site + "/broken-1.dist-info/METADATA":           "Metadata-Version: 2.1\nSummary: no name\n",
	})
	dists, warnings, err := ReadPythonDists(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(dists) != 2 || len(warnings) != 1 {
		t.Fatalf("dists %+v, warnings %v", dists, warnings)
	}
	d := dists[0]
	if d.Name != "Foo_Bar" || d.AuthorEmail != "Jane Doe <jane@example.org>, bob@example.org" || d.LicenseExpression != "MIT" || d.Installer != "pip" ||
		len(d.ProjectURLs) != 2 || d.ProjectURLs[1].URL != "https://foo.example" || strings.Join(d.Tags, " ") != "cp311-cp311-manylinux_2_17_x86_64 cp311-cp311-manylinux2014_x86_64" {
		t.Errorf("Foo_Bar: %+v", d)
	}
	if d.DirectURL == nil || d.DirectURL.SHA256 != sha || d.DirectURL.ArchiveName() != "foo_bar-1.0-cp311-cp311-manylinux_2_17_x86_64.whl" {
		t.Errorf("direct_url: %+v", d.DirectURL)
	}
	files, err := d.InstalledFiles(context.Background(), f)
	if err != nil || strings.Join(files, " ") != site+"/foo_bar/__init__.py "+site+"/foo_bar/a,b.py /usr/bin/foo "+site+"/Foo_Bar-1.0.dist-info/RECORD" {
		t.Errorf("RECORD files: %v, %v", files, err)
	}
	old := dists[1]
	files, err = old.InstalledFiles(context.Background(), f)
	if err != nil || strings.Join(files, " ") != site+"/old-2.0.egg-info/PKG-INFO "+site+"/old-2.0.egg-info/top_level.txt "+site+"/old/__init__.py "+site+"/old/sub/mod.py" {
		t.Errorf("egg-info without installed-files.txt: %v, %v", files, err)
	}
	if NormalizeName("Foo__Bar.baz-Qux") != "foo-bar-baz-qux" {
		t.Error("NormalizeName")
	}
}

func TestReadCopyright(t *testing.T) {
	f := mapFiles(map[string]string{
		"/usr/share/doc/dep5/copyright": "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\nLicense: GPL-2+\n\n" +
			"Files: *\nCopyright: 2020 A\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: B\nLicense: LGPL-2.1+ or MIT\n text of the licence\n\nLicense: MIT\n Permission is hereby granted...\n",
		"/usr/share/doc/header/copyright":   "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: Apache-2.0\n",
		"/usr/share/doc/freeform/copyright": "This package was debianized by someone.\nIt is GPL.\n",
	})
	c, err := ReadCopyright(context.Background(), f, "dep5")
	if err != nil || strings.Join(c.Licenses, "|") != "GPL-2+|LGPL-2.1+ or MIT" {
		t.Errorf("dep5: %+v, %v", c, err)
	}
	if c, err := ReadCopyright(context.Background(), f, "header"); err != nil || strings.Join(c.Licenses, "|") != "Apache-2.0" {
		t.Errorf("header only: %+v, %v", c, err)
	}
	for _, tt := range []struct {
		pkg string
		err error
	}{{"freeform", ErrNotMachineReadable}, {"missing", fs.ErrNotExist}} {
		if _, err := ReadCopyright(context.Background(), f, tt.pkg); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.pkg, err, tt.err)
		}
	}
	if _, err := ReadCopyright(context.Background(), f, "../../etc"); err == nil {
		t.Error("a package name with a slash was read")
	}
}

func TestReadOSRelease(t *testing.T) {
	o := ReadOSRelease(mapFiles(map[string]string{"/etc/os-release": "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nHOME_URL=\"https://www.debian.org/\"\n"}))
	if o.Name != "Debian GNU/Linux" || o.ID != "debian" || o.Codename != "bookworm" || o.HomeURL != "https://www.debian.org/" {
		t.Errorf("%+v", o)
	}
	if o := ReadOSRelease(mapFiles(map[string]string{"/etc/os-release": "VERSION_CODENAME=../../x\n"})); o.Codename != "" {
		t.Errorf("a codename that is no word was kept: %q", o.Codename)
	}
}

// A FIFO or device where a file belongs is never read.
func TestIrregularFilesNotRead(t *testing.T) {
	f := mapFiles(map[string]string{dpkgStatus: "Package: a\nStatus: install ok installed\nVersion: 1\n"})
	f.Modes = map[string]fs.FileMode{dpkgStatus: fs.ModeNamedPipe | 0o644}
	if _, err := ReadFile(f, dpkgStatus, 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
	if d, _, err := ReadDpkg(context.Background(), f); err != nil || d != nil {
		t.Errorf("a FIFO as the status file: %+v, %v", d, err)
	}
}

// Hostile inputs cost in proportion to their size: a field of 300,000 continuation lines, in a
// status file and in METADATA, costs well under a second of CPU and a few times its size in
// memory (joining the lines one by one would cost minutes).
func TestContinuationLinesLinear(t *testing.T) {
	lines := strings.Repeat(" x\n", 300_000)
	f := mapFiles(map[string]string{
		dpkgStatus:                     "Package: a\nStatus: install ok installed\nVersion: 1\nDepends: a\n" + lines,
		"/site/a-1.dist-info/METADATA": "Name: a\nVersion: 1\nAuthor: a\n" + lines,
	})
	var err1, err2 error
	cpu, alloc := testcost.Measure(func() {
		_, _, err1 = ReadDpkg(context.Background(), f)
		_, _, err2 = ReadPythonDists(context.Background(), f)
	})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if cpu > 2*time.Second || alloc > 64<<20 {
		t.Errorf("cost %s of CPU and %d MiB", cpu, alloc>>20)
	}
}

// A file list, a RECORD or an index longer than any real one is refused, naming the file.
func TestListBounds(t *testing.T) {
	f := mapFiles(map[string]string{
		dpkgInfo + "/big.list":                  strings.Repeat("/x\n", maxListLines+1),
		"/site/big-1.dist-info/METADATA":        "Name: big\nVersion: 1\n",
		"/site/big-1.dist-info/RECORD":          strings.Repeat("a,,\n", maxRecordLines+1),
		"/var/lib/apt/lists/x_dists_y_Packages": "Package: a\nDescription: " + strings.Repeat("y", maxDeb822Line+1) + "\n",
	})
	if _, err := FileList(context.Background(), f, DebPackage{Name: "big"}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.list") {
		t.Errorf("file list: %v", err)
	}
	dists, _, _ := ReadPythonDists(context.Background(), f)
	if len(dists) != 1 {
		t.Fatalf("dists %v", dists)
	}
	if _, err := dists[0].InstalledFiles(context.Background(), f); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "RECORD") {
		t.Errorf("RECORD: %v", err)
	}
	if _, warnings, err := ReadAptLists(context.Background(), f, func(DebKey) bool { return true }); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "x_dists_y_Packages") {
		t.Errorf("apt list: %v, %v", warnings, err)
	}
}
