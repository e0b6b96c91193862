package hashes_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/hashes"
	"github.com/bom-attest/bom-attest/internal/pkgdb"
	"github.com/bom-attest/bom-attest/internal/pkgdb/pkgdbtest"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func hexSHA512(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }

// fixture is the shared Debian + Python test image: its files, and their contents by path.
func fixture(withLists bool) ([]testimage.File, map[string][]byte) {
	fx := pkgdbtest.DebianPython(withLists)
	return fx.Files, fx.Body
}

func fixtureFilesNoLists() []testimage.File {
	files, _ := fixture(false)
	return files
}

func components(bom *cyclonedx.BOM) []hashes.Component {
	var out []hashes.Component
	for i := range *bom.Components {
		c := &(*bom.Components)[i]
		out = append(out, hashes.Component{Ref: c.BOMRef, PURL: c.PackageURL, Location: sbom.Location(c)})
	}
	return out
}

// byName maps "type/name" (deb/bash, pypi/requests, npm/ms) to the result of that component.
func byName(t *testing.T, bom *cyclonedx.BOM, res map[string]*hashes.Result) map[string]*hashes.Result {
	out := map[string]*hashes.Result{}
	for _, c := range *bom.Components {
		if r, ok := res[c.BOMRef]; ok {
			typ, _, _ := strings.Cut(strings.TrimPrefix(c.PackageURL, "pkg:"), "/")
			out[typ+"/"+c.Name] = r
		}
	}
	return out
}

// installedDigest recomputes, from the bodies put in the image, the digest Compute documents:
// SHA-256 of "<sha256>  <path>\n" over the regular files, sorted by path.
func installedDigest(files map[string][]byte) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		b.WriteString(hexSHA256(files[p]) + "  " + p + "\n")
	}
	return hexSHA256([]byte(b.String()))
}

// TestAptListsGiveDebHashes: with apt's lists in the image, each .deb's SHA-256 is the one
// its real Packages entry gives, its URL the archive's pool path under the source apt used, and
// the Python and npm packages a .deb installed get that .deb.
func TestAptListsGiveDebHashes(t *testing.T) {
	files, body := fixture(true)
	s := pkgdbtest.Scan(t, files...)
	res, st, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, s.BOM, res)
	want := map[string][2]string{}
	for _, name := range []string{"bash", "libzstd1", "zlib1g", "python3-six", "node-ms"} {
		sum, file := pkgdbtest.PackagesEntry(name)
		if sum == "" {
			t.Fatalf("%s: not in the fixture's Packages", name)
		}
		want[name] = [2]string{sum, file}
	}
	for name, e := range want {
		r := got["deb/"+name]
		if r == nil || r.Artifact == nil {
			t.Fatalf("deb %s: no artifact (%+v)", name, r)
		}
		a := r.Artifact
		if a.Kind != hashes.KindRecorded || a.From != "apt lists" || a.SHA256 != e[0] {
			t.Errorf("deb %s: %s from %s SHA-256 %s, want recorded from apt lists %s", name, a.Kind, a.From, a.SHA256, e[0])
		}
		if wantURL := "http://deb.debian.org/debian/" + strings.ReplaceAll(e[1], "+", "%2B"); a.URL != wantURL && a.URL != "http://deb.debian.org/debian/"+e[1] {
			t.Errorf("deb %s: URL %s, want %s", name, a.URL, wantURL)
		}
		if r.Installed != nil && r.Installed.SHA256 != "" {
			t.Errorf("deb %s: an installed-files digest beside a recorded hash", name)
		}
	}
	if a := got["deb/bash"].Artifact; a.SourceURL != "http://deb.debian.org/debian/pool/main/b/bash/bash_5.2.15-2.dsc" || a.Filename != "bash_5.2.15-2+b13_amd64.deb" {
		t.Errorf("bash: source %s, filename %s", a.SourceURL, a.Filename)
	}
	if a := got["deb/zlib1g"].Artifact; !strings.HasSuffix(a.SourceURL, "/pool/main/z/zlib/zlib_1.2.13.dfsg-1.dsc") {
		t.Errorf("zlib1g: source %s, want the .dsc without the epoch", a.SourceURL)
	}
	if a := got["pypi/six"].Artifact; a == nil || a.SHA256 != want["python3-six"][0] || a.Via != "python3-six" {
		t.Errorf("six, installed by python3-six: artifact %+v", a)
	}
	if a := got["npm/ms"].Artifact; a == nil || a.SHA256 != want["node-ms"][0] || a.Via != "node-ms" {
		t.Errorf("ms, installed by node-ms: artifact %+v", a)
	}
	// mytool is in no list: the digest of its installed files, recomputed here.
	my := got["deb/mytool"]
	if my.Artifact != nil || my.Installed == nil {
		t.Fatalf("mytool: %+v", my)
	}
	myFiles := pick(body, "/usr/bin/mytool", "/etc/mytool.conf", "/usr/share/doc/mytool/copyright")
	if wantD := installedDigest(myFiles); my.Installed.SHA256 != wantD || my.Installed.Files != 3 || !my.Installed.Executable {
		t.Errorf("mytool installed files: %+v, want digest %s of 3 files, executable", my.Installed, wantD)
	}
	if !strings.Contains(my.NoArtifact, "resolve-hashes") {
		t.Errorf("mytool: why no artifact = %q, want a pointer to resolve-hashes", my.NoArtifact)
	}
	// urllib3's direct_url.json records its wheel.
	if a := got["pypi/urllib3"].Artifact; a == nil || a.Kind != hashes.KindRecorded || a.From != "direct_url.json" ||
		a.SHA256 != "450b20ec296a467077128bff42b73080516e71b56ff59a60a02bef2232c4fa9d" || a.Filename != "urllib3-2.2.1-py3-none-any.whl" || a.URL != "" {
		t.Errorf("urllib3: %+v", a)
	}
	if st.ByKind[hashes.KindRecorded] != 8 {
		t.Errorf("recorded: %d, want 8 (6 debs less mytool, six, ms, urllib3): %+v", st.ByKind[hashes.KindRecorded], st.ByKind)
	}
}

// TestInstalledFilesDigests: without apt lists each package gets the digest of its installed
// files, recomputed here from the files put in the image; a symbolic link counts as the file it
// points at, a directory not at all.
func TestInstalledFilesDigests(t *testing.T) {
	files, body := fixture(false)
	s := pkgdbtest.Scan(t, files...)
	res, st, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, s.BOM, res)
	site := pkgdbtest.Site
	lib := "/usr/lib/x86_64-linux-gnu/"
	py := "/usr/lib/python3/dist-packages/"
	zstd := body[lib+"libzstd.so.1.5.4"]
	want := map[string]struct {
		files map[string][]byte
		exec  bool
	}{
		"deb/bash": {pick(body, "/bin/bash", "/usr/share/doc/bash/README"), true},
		// The link libzstd.so.1 counts as the file it points at.
		"deb/libzstd1": {map[string][]byte{lib + "libzstd.so.1.5.4": zstd, lib + "libzstd.so.1": zstd}, true},
		"deb/zlib1g":   {pick(body, lib+"libz.so.1.2.13", "/usr/share/doc/zlib1g/copyright"), true},
		// Debian's six has no RECORD: the files of its top-level module and its egg-info.
		"pypi/six": {pick(body, py+"six.py", py+"six-1.16.0.egg-info/PKG-INFO", py+"six-1.16.0.egg-info/top_level.txt"), false},
		"npm/ms":   {pick(body, "/usr/share/nodejs/ms/package.json", "/usr/share/nodejs/ms/index.js"), false},
		// RECORD lists __init__.py, METADATA and RECORD itself.
		"pypi/requests": {pick(body, site+"/requests/__init__.py", site+"/requests-2.32.3.dist-info/METADATA", site+"/requests-2.32.3.dist-info/RECORD"), false},
	}
	for name, w := range want {
		r := got[name]
		if r == nil || r.Installed == nil {
			t.Errorf("%s: no installed-files digest: %+v", name, r)
			continue
		}
		if d := installedDigest(w.files); r.Installed.SHA256 != d || r.Installed.Files != len(w.files) || r.Installed.Executable != w.exec {
			t.Errorf("%s: %+v, want digest %s of %d files, executable %v", name, r.Installed, d, len(w.files), w.exec)
		}
		if r.Artifact != nil {
			t.Errorf("%s: an artifact without apt lists: %+v", name, r.Artifact)
		}
	}
	// 18 paths, 17 files: six's three and ms's two are listed by the .deb that installed them
	// too, and libzstd.so.1 is a link to libzstd.so.1.5.4; each file is read once.
	if st.Files != 17 {
		t.Errorf("%d files hashed, want 17 (each file once, however many packages or links name it)", st.Files)
	}
}

// pick is the part of body at paths.
func pick(body map[string][]byte, paths ...string) map[string][]byte {
	out := map[string][]byte{}
	for _, p := range paths {
		b, ok := body[p]
		if !ok {
			panic("fixture has no " + p)
		}
		out[p] = b
	}
	return out
}

func resolver(t *testing.T, o hashes.ResolverOptions) *hashes.Resolver {
	if o.Client == nil {
		o.Client = transport.New(transport.WithRetries(1)).Client()
	}
	r, err := hashes.NewResolver(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestResolveAgainstLoopbackRegistries: what the image does not record is looked up in a
// loopback PyPI (the wheel whose tags WHEEL lists) and Debian mirror (the release's suites),
// and with downloads each file's SHA-512 is its content's.
func TestResolveAgainstLoopbackRegistries(t *testing.T) {
	debs := map[string][]byte{}
	var pkgs []testserver.DebianPackage
	for _, p := range []testserver.DebianPackage{
		{Suite: "bookworm", Name: "bash", Version: "5.2.15-2+b13", Arch: "amd64", Source: "bash", SourceVersion: "5.2.15-2"},
		{Suite: "bookworm", Name: "libzstd1", Version: "1.5.4+dfsg2-5", Arch: "amd64", Source: "libzstd"},
		{Suite: "bookworm", Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", Source: "zlib"},
		{Suite: "bookworm", Name: "python3-six", Version: "1.16.0-4", Arch: "all", Source: "six"},
		{Suite: "bookworm-updates", Name: "node-ms", Version: "2.1.3+~cs0.7.31-3", Arch: "all"},
		{Suite: "bookworm-security", Name: "mytool", Version: "1.0-1", Arch: "amd64"},
		{Suite: "bookworm", Name: "mytool", Version: "0.9-1", Arch: "amd64"},
	} {
		p.Body = []byte("deb of " + p.Name + " " + p.Version)
		debs[p.Name+" "+p.Version] = p.Body
		pkgs = append(pkgs, p)
	}
	mirror := testserver.StartDebianMirror(t, pkgs...)
	wheel := []byte("the requests wheel")
	sdist := []byte("the requests sdist")
	pypi := testserver.StartPyPI(t,
		testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3-py2.py3-none-any.whl", PackageType: "bdist_wheel", Body: []byte("another wheel")},
		testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3-py3-none-any.whl", PackageType: "bdist_wheel", Body: wheel},
		testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3.tar.gz", PackageType: "sdist", Body: sdist},
	)
	s := pkgdbtest.Scan(t, fixtureFilesNoLists()...)
	r := resolver(t, hashes.ResolverOptions{PyPIURL: pypi.URL, DebianURLs: []string{mirror.URL}, Download: true})
	res, st, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Failures) != 0 {
		t.Errorf("failures: %v", st.Failures)
	}
	got := byName(t, s.BOM, res)
	for name, ver := range map[string]string{"bash": "5.2.15-2+b13", "libzstd1": "1.5.4+dfsg2-5", "zlib1g": "1:1.2.13.dfsg-1", "python3-six": "1.16.0-4", "node-ms": "2.1.3+~cs0.7.31-3", "mytool": "1.0-1"} {
		a := got["deb/"+name].Artifact
		body := debs[name+" "+ver]
		if a == nil || a.Kind != hashes.KindResolved || a.From != "Debian archive" || a.SHA256 != hexSHA256(body) || a.SHA512 != hexSHA512(body) || a.Size != int64(len(body)) {
			t.Errorf("deb %s: %+v, want resolved SHA-256 %s and SHA-512 of its download", name, a, hexSHA256(body))
			continue
		}
		if !strings.HasPrefix(a.URL, mirror.URL+"/pool/main/") {
			t.Errorf("deb %s: URL %s", name, a.URL)
		}
	}
	if a := got["pypi/requests"].Artifact; a == nil || a.Filename != "requests-2.32.3-py3-none-any.whl" || a.SHA256 != hexSHA256(wheel) ||
		a.SHA512 != hexSHA512(wheel) || a.SourceURL != pypi.URL+"/files/requests-2.32.3.tar.gz" {
		t.Errorf("requests: %+v, want the py3-none-any wheel WHEEL names", a)
	}
	// Recorded hashes are not looked up again, but downloads add their SHA-512 — when they can.
	if a := got["pypi/urllib3"].Artifact; a == nil || a.Kind != hashes.KindRecorded {
		t.Errorf("urllib3: %+v", a)
	}
	for _, p := range pypi.Paths() {
		if strings.Contains(p, "urllib3") || strings.Contains(p, "six") {
			t.Errorf("PyPI was asked %s, which the image records or a .deb installed", p)
		}
	}
	if r.Requests() == 0 {
		t.Fatal("no requests counted")
	}
	// A second platform gets the same answers without fetching the indexes again.
	before := len(mirror.Paths())
	if _, _, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{Resolver: r}); err != nil {
		t.Fatal(err)
	}
	for _, p := range mirror.Paths()[before:] {
		if strings.Contains(p, "Packages") || strings.HasSuffix(p, ".deb") {
			t.Errorf("fetched %s again", p)
		}
	}
}

// TestResolveFailuresAreListed: a registry that fails, lies or hangs costs the components it
// was asked about their artifacts, never the run; each failure is listed with its cause.
func TestResolveFailuresAreListed(t *testing.T) {
	s := pkgdbtest.Scan(t, fixtureFilesNoLists()...)
	comps := components(s.BOM)
	tests := []struct {
		name  string
		setup func(*testserver.PyPI, *testserver.DebianMirror) hashes.ResolverOptions
		err   error  // in one failure, when set
		what  string // in one failure
	}{
		{name: "not on PyPI", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}}
		}, err: hashes.ErrNotFound, what: "requests@2.32.3: PyPI"},
		{name: "download differs from the index", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			m.Set("/pool/main/m/mytool/mytool_1.0-1_amd64.deb", []byte("tampered"))
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}, Download: true}
		}, err: hashes.ErrMismatch, what: "mytool@1.0-1: download"},
		{name: "index differs from InRelease", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			m.Set("/dists/bookworm/main/binary-amd64/Packages.gz", []byte("not the index"))
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}}
		}, err: hashes.ErrMismatch, what: "mytool@1.0-1: Debian archive"},
		{name: "per-run cap", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}, MaxRequests: 1}
		}, err: hashes.ErrCap, what: "Debian archive"},
		{name: "PyPI answers junk", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			p.SetRaw("/pypi/requests/2.32.3/json", []byte(`{"urls": [{"filename": "../../etc/passwd", "url": "ftp://x", "packagetype": "bdist_wheel", "digests": {"sha256": "zz"}}]}`))
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}}
		}, err: hashes.ErrNotFound, what: "PyPI lists no usable file"},
		{name: "PyPI answer too large", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			p.SetRaw("/pypi/requests/2.32.3/json", []byte(`{"urls": [`+strings.Repeat(" ", 17<<20)+`]}`))
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}}
		}, err: pkgdb.ErrTooLarge, what: "larger than"},
		{name: "PyPI hangs", setup: func(p *testserver.PyPI, m *testserver.DebianMirror) hashes.ResolverOptions {
			p.Faults.HangNext(1)
			return hashes.ResolverOptions{PyPIURL: p.URL, DebianURLs: []string{m.URL}, Timeout: 300 * time.Millisecond}
		}, what: "requests@2.32.3: PyPI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mirror := testserver.StartDebianMirror(t, testserver.DebianPackage{Suite: "bookworm", Name: "mytool", Version: "1.0-1", Arch: "amd64", Body: []byte("mytool deb")})
			pypi := testserver.StartPyPI(t)
			o := tt.setup(pypi, mirror)
			start := time.Now()
			res, st, err := hashes.Compute(context.Background(), s.Image, comps, hashes.Options{Resolver: resolver(t, o)})
			if err != nil {
				t.Fatalf("Compute failed, want failures listed: %v", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
			found := false
			for _, f := range st.Failures {
				if strings.Contains(f.String(), tt.what) && (tt.err == nil || strings.Contains(f.What, tt.err.Error())) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failure with %q (%v) among %v", tt.what, tt.err, st.Failures)
			}
			// Whatever the registry did, every component still has a hash of some kind.
			for ref, r := range res {
				if r.Artifact == nil && r.Installed == nil && strings.HasPrefix(ref, "pkg:deb") && !strings.Contains(r.NoInstalled, "regular file") {
					t.Errorf("%s: no hash at all: %+v", ref, r)
				}
			}
		})
	}
}

// TestNoResolverNoNetwork: without a resolver, Compute asks no server anything.
func TestNoResolverNoNetwork(t *testing.T) {
	mirror := testserver.StartDebianMirror(t, testserver.DebianPackage{Suite: "bookworm", Name: "mytool", Version: "1.0-1", Arch: "amd64", Body: []byte("x")})
	pypi := testserver.StartPyPI(t, testserver.PyPIFile{Name: "requests", Version: "2.32.3", Filename: "requests-2.32.3-py3-none-any.whl", PackageType: "bdist_wheel", Body: []byte("w")})
	s := pkgdbtest.Scan(t, fixtureFilesNoLists()...)
	if _, _, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := len(mirror.Paths()) + len(pypi.Paths()); n != 0 {
		t.Errorf("%d requests without a resolver", n)
	}
	// The same servers do answer a resolver: the check above could fail.
	r := resolver(t, hashes.ResolverOptions{PyPIURL: pypi.URL, DebianURLs: []string{mirror.URL}})
	if _, _, err := hashes.Compute(context.Background(), s.Image, components(s.BOM), hashes.Options{Resolver: r}); err != nil {
		t.Fatal(err)
	}
	if len(mirror.Paths()) == 0 || len(pypi.Paths()) == 0 {
		t.Errorf("a resolver sent nothing: mirror %v, PyPI %v", mirror.Paths(), pypi.Paths())
	}
}

func TestComputeHonoursCancel(t *testing.T) {
	s := pkgdbtest.Scan(t, fixtureFilesNoLists()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := hashes.Compute(ctx, s.Image, components(s.BOM), hashes.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestResultKeepsRecord: each Result carries exactly the match pkgdb.Image.Find makes for its
// component (sbom.Enrich uses it instead of matching again), and only matched components have
// one.
func TestResultKeepsRecord(t *testing.T) {
	files, _ := fixture(true)
	s := pkgdbtest.Scan(t, files...)
	comps := components(s.BOM)
	res, _, err := hashes.Compute(context.Background(), s.Image, comps, hashes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var debs, owned, dists int
	for _, c := range comps {
		want, ok := s.Image.Find(context.Background(), c.PURL, c.Location)
		r := res[c.Ref]
		if !ok {
			if r != nil {
				t.Errorf("%s: a result for a component Find does not match", c.PURL)
			}
			continue
		}
		if r == nil {
			t.Fatalf("%s: no result", c.PURL)
		}
		if r.Record != want {
			t.Errorf("%s: record %+v, Find gives %+v", c.PURL, r.Record, want)
		}
		if want.Deb >= 0 {
			debs++
		}
		if want.Owner >= 0 {
			owned++
		}
		if want.Dist != nil {
			dists++
		}
	}
	if debs == 0 || owned == 0 || dists == 0 {
		t.Errorf("the fixture matched %d debs, %d owned packages, %d Python dists; want some of each", debs, owned, dists)
	}
}
