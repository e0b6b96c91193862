package testserver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// DebianPackage is one .deb a loopback Debian mirror has.
type DebianPackage struct {
	Suite                 string // e.g. bookworm, bookworm-security
	Component             string // default main
	Name, Version, Arch   string
	Source, SourceVersion string // default Name, and the binary's version
	Body                  []byte // the .deb's bytes (any bytes: the mirror does not look)
}

// Filename is the package's path in the archive's pool, as Debian lays it out.
func (p DebianPackage) Filename() string {
	src := p.Source
	if src == "" {
		src = p.Name
	}
	prefix := src[:1]
	if strings.HasPrefix(src, "lib") && len(src) > 3 {
		prefix = src[:4]
	}
	v := p.Version
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	return fmt.Sprintf("pool/%s/%s/%s/%s_%s_%s.deb", p.component(), prefix, src, p.Name, v, p.Arch)
}

func (p DebianPackage) component() string {
	if p.Component == "" {
		return "main"
	}
	return p.Component
}

// DebianMirror is a loopback Debian archive: for each suite an InRelease file listing its
// Packages indexes (gzip) with their SHA-256, the indexes, and the pool's .deb files. The
// InRelease is dressed as a clear-signed file but its signature is not real.
type DebianMirror struct {
	URL    string
	Faults *SigstoreFaults // applies to every request

	mu    sync.Mutex
	files map[string][]byte // path → body
	paths []string
}

// StartDebianMirror serves pkgs until the test ends.
func StartDebianMirror(t testing.TB, pkgs ...DebianPackage) *DebianMirror {
	t.Helper()
	m := &DebianMirror{Faults: &SigstoreFaults{}, files: map[string][]byte{}}
	indexes := map[string]*bytes.Buffer{} // dists/SUITE/COMP/binary-ARCH/Packages
	for _, p := range pkgs {
		m.files[p.Filename()] = p.Body
		key := fmt.Sprintf("dists/%s/%s/binary-%s/Packages", p.Suite, p.component(), p.Arch)
		b := indexes[key]
		if b == nil {
			b = &bytes.Buffer{}
			indexes[key] = b
		}
		b.WriteString(DebianParagraph(p))
		b.WriteString("\n")
	}
	bySuite := map[string][]string{}
	for key, b := range indexes {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(b.Bytes())
		_ = zw.Close()
		m.files[key] = b.Bytes()
		m.files[key+".gz"] = gz.Bytes()
		suite := strings.Split(key, "/")[1]
		bySuite[suite] = append(bySuite[suite], key, key+".gz")
	}
	for suite, keys := range bySuite {
		sort.Strings(keys)
		var rel strings.Builder
		fmt.Fprintf(&rel, "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nLabel: Debian\nSuite: %s\nCodename: %s\nArchitectures: all amd64 arm64\nComponents: main\nSHA256:\n", suite, suite)
		for _, k := range keys {
			sum := sha256.Sum256(m.files[k])
			fmt.Fprintf(&rel, " %s %8d %s\n", hex.EncodeToString(sum[:]), len(m.files[k]), strings.TrimPrefix(k, "dists/"+suite+"/"))
		}
		rel.WriteString("-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE not a real signature\n=abcd\n-----END PGP SIGNATURE-----\n")
		m.files["dists/"+suite+"/InRelease"] = []byte(rel.String())
	}
	srv := httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(func() { m.Faults.release(); srv.Close() })
	m.URL = srv.URL
	return m
}

// DebianParagraph is the Packages index entry of p, as Debian's archive writes it.
func DebianParagraph(p DebianPackage) string {
	sum := sha256.Sum256(p.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\n", p.Name)
	if p.Source != "" && p.Source != p.Name || p.SourceVersion != "" {
		src := p.Source
		if src == "" {
			src = p.Name
		}
		if p.SourceVersion != "" {
			src += " (" + p.SourceVersion + ")"
		}
		fmt.Fprintf(&b, "Source: %s\n", src)
	}
	fmt.Fprintf(&b, "Version: %s\nInstalled-Size: 1\nMaintainer: Test <test@example.org>\nArchitecture: %s\nDescription: %s\n Test package.\n", p.Version, p.Arch, p.Name)
	fmt.Fprintf(&b, "Filename: %s\nSize: %d\nSHA256: %s\n", p.Filename(), len(p.Body), hex.EncodeToString(sum[:]))
	return b.String()
}

// Set replaces (or adds) the file at path, e.g. to serve an index whose digest no longer
// matches its InRelease.
func (m *DebianMirror) Set(path string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[strings.TrimPrefix(path, "/")] = body
}

// Paths lists the paths requested, in order.
func (m *DebianMirror) Paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.paths...)
}

func (m *DebianMirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.paths = append(m.paths, r.URL.Path)
	body, ok := m.files[strings.TrimPrefix(r.URL.Path, "/")]
	m.mu.Unlock()
	if m.Faults.apply(w, r) {
		return
	}
	if r.Method != http.MethodGet || !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(body)
}
