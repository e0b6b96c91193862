package pkgdb

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

const (
	aptLists       = "/var/lib/apt/lists"
	aptSourcesList = "/etc/apt/sources.list"
	aptSourcesDir  = "/etc/apt/sources.list.d"
	// A Packages index is tens of MiB uncompressed (Debian main for one architecture: ~60 MiB).
	maxPackagesIndex = 1 << 30
	maxSourcesFile   = 1 << 20
)

// DebKey names one binary package build: name, version and architecture, as dpkg and apt
// both record them.
type DebKey struct{ Name, Version, Arch string }

// DebArtifact is what an apt Packages index says about one .deb: its path in the archive, its
// size and digests, and the source package it was built from.
type DebArtifact struct {
	Filename      string // e.g. pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb
	Size          int64
	SHA256        string // hex
	SHA512        string // hex, when the index has it
	Source        string
	SourceVersion string // "" when it is the binary's own version
	// Base is the archive's URL the Filename is relative to, e.g. http://deb.debian.org/debian;
	// "" when the index's origin is not known.
	Base string
}

// URL is where the .deb is distributed, "" when the archive's base is unknown.
func (a DebArtifact) URL() string {
	if a.Base == "" || a.Filename == "" {
		return ""
	}
	return strings.TrimSuffix(a.Base, "/") + "/" + escapePath(a.Filename)
}

// SourceURL is the .dsc of the source package the .deb was built from: Debian keeps a source
// package's files in the pool directory of its binaries, named source_version.dsc (version
// without its epoch).
func (a DebArtifact) SourceURL(binaryVersion string) string {
	if a.Base == "" || a.Filename == "" || a.Source == "" {
		return ""
	}
	v := a.SourceVersion
	if v == "" {
		v = binaryVersion
	}
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	dsc := path.Dir(a.Filename) + "/" + a.Source + "_" + v + ".dsc"
	return strings.TrimSuffix(a.Base, "/") + "/" + escapePath(dsc)
}

func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

var packagesFields = map[string]bool{
	"package": true, "version": true, "architecture": true, "filename": true, "size": true,
	"sha256": true, "sha512": true, "source": true,
}

// IsHexDigest reports whether s is n lower-case hex digits (64 for SHA-256, 128 for SHA-512).
func IsHexDigest(s string, n int) bool { return len(s) == n && isHex(s) }

func hex64(s string) bool  { return IsHexDigest(s, 64) }
func hex128(s string) bool { return IsHexDigest(s, 128) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ReadPackagesIndex reads a Packages index (uncompressed) and calls fn for each entry want
// accepts, with a checked SHA-256 and a relative pool path. Entries without either are skipped.
func ReadPackagesIndex(ctx context.Context, r io.Reader, want func(DebKey) bool, fn func(DebKey, DebArtifact)) error {
	return ReadParagraphs(ctx, r, packagesFields, func(p Paragraph) error {
		k := DebKey{Name: p["package"], Version: p["version"], Arch: p["architecture"]}
		if k.Name == "" || !want(k) {
			return nil
		}
		a := DebArtifact{Filename: p["filename"], SHA256: strings.ToLower(p["sha256"])}
		if !hex64(a.SHA256) || !cleanRelative(a.Filename) {
			return nil
		}
		if s := strings.ToLower(p["sha512"]); hex128(s) {
			a.SHA512 = s
		}
		if n, err := strconv.ParseInt(p["size"], 10, 64); err == nil && n >= 0 {
			a.Size = n
		}
		a.Source = k.Name
		if src := p["source"]; src != "" {
			a.Source = src
			if s, v, ok := strings.Cut(src, " ("); ok {
				a.Source, a.SourceVersion = s, strings.TrimSuffix(v, ")")
			}
		}
		fn(k, a)
		return nil
	})
}

// cleanRelative accepts a relative archive path that stays inside the archive.
func cleanRelative(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../") &&
		!strings.ContainsAny(p, "\\\x00?#") && strings.IndexFunc(p, func(r rune) bool { return r < 0x21 || r == 0x7f }) < 0
}

// Decompress wraps r by the compression a file name's extension says (.gz, .xz, .lz4, .zst;
// none otherwise), bounding what it expands to.
func Decompress(name string, r io.Reader, limit int64) (io.Reader, error) {
	var (
		out io.Reader
		err error
	)
	switch {
	case strings.HasSuffix(name, ".gz"):
		out, err = gzip.NewReader(r)
	case strings.HasSuffix(name, ".xz"):
		out, err = xz.NewReader(bufio.NewReader(r))
	case strings.HasSuffix(name, ".lz4"):
		out = lz4.NewReader(r)
	case strings.HasSuffix(name, ".zst"):
		var d *zstd.Decoder
		d, err = zstd.NewReader(r, zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderConcurrency(1))
		if err == nil {
			out = d.IOReadCloser()
		}
	default:
		out = r
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return newLimitedReader(out, limit, name), nil
}

// AptLists holds the entries of the image's apt package lists for the packages dpkg says are
// installed.
type AptLists struct {
	Entries map[DebKey]DebArtifact
	Files   []string // the list files read
}

// ReadAptLists reads the Packages lists apt left in /var/lib/apt/lists, keeping the entries
// want accepts. Each list's archive URL comes from the image's apt sources when one matches its
// file name. An entry that two lists give different digests is dropped: the image does not say
// which one was installed.
func ReadAptLists(ctx context.Context, f Files, want func(DebKey) bool) (*AptLists, []string, error) {
	names, err := f.Glob(aptLists + "/*_Packages*")
	if err != nil || len(names) == 0 {
		return nil, nil, nil
	}
	bases, warnings := readSources(ctx, f)
	out := &AptLists{Entries: map[DebKey]DebArtifact{}}
	conflict := map[DebKey]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, ".diff_Index") || strings.Contains(path.Base(name), ".diff") {
			continue
		}
		base := listBase(path.Base(name), bases)
		err := func() error {
			rc, err := openRegular(f, name)
			if err != nil {
				return err
			}
			defer rc.Close()
			r, err := Decompress(name, rc, maxPackagesIndex)
			if err != nil {
				return err
			}
			return ReadPackagesIndex(ctx, r, want, func(k DebKey, a DebArtifact) {
				a.Base = base
				if prev, ok := out.Entries[k]; !ok {
					out.Entries[k] = a
				} else if prev.SHA256 != a.SHA256 {
					conflict[k] = true
				}
			})
		}()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			warnings = append(warnings, fmt.Sprintf("apt list %s not read: %v", name, err))
			continue
		}
		out.Files = append(out.Files, name)
	}
	for k := range conflict {
		delete(out.Entries, k)
		warnings = append(warnings, fmt.Sprintf("apt lists give %s %s (%s) two different SHA-256 digests; neither is recorded", k.Name, k.Version, k.Arch))
	}
	sort.Strings(warnings)
	return out, warnings, nil
}

// listBase finds the archive a list file came from: apt names it after the archive's URL
// without the scheme, with "_" for "/" (and some characters %-quoted), followed by "dists_".
func listBase(file string, bases []string) string {
	best := ""
	for _, b := range bases {
		if p := listPrefix(b); p != "" && strings.HasPrefix(file, p+"dists_") && len(b) > len(best) {
			best = b
		}
	}
	return best
}

// listPrefix is apt's URItoFileName of base + "/": scheme and credentials dropped, the
// characters apt quotes written %xx, "/" turned into "_".
func listPrefix(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	s := u.Host + strings.TrimSuffix(u.EscapedPath(), "/") + "/"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte("^ ~_=!@#$&*()+|'{}[]\"<>?", c) >= 0 || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return strings.ReplaceAll(b.String(), "/", "_")
}

var sourcesFields = map[string]bool{"types": true, "uris": true, "enabled": true}

// readSources lists the http(s) archive URLs of the image's apt sources (one-line and deb822).
func readSources(ctx context.Context, f Files) ([]string, []string) {
	var bases, warnings []string
	add := func(u string) {
		if pu, err := url.Parse(u); err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != "" {
			bases = append(bases, strings.TrimSuffix(u, "/"))
		}
	}
	files := []string{aptSourcesList}
	if more, err := f.Glob(aptSourcesDir + "/*"); err == nil {
		files = append(files, more...)
	}
	for _, name := range files {
		b, err := ReadFile(f, name, maxSourcesFile)
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".sources"):
			err := ReadParagraphs(ctx, strings.NewReader(string(b)), sourcesFields, func(p Paragraph) error {
				if p["enabled"] == "no" || !hasWord(p["types"], "deb") {
					return nil
				}
				for _, u := range strings.Fields(p["uris"]) {
					add(u)
				}
				return nil
			})
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("apt sources %s: %v", name, err))
			}
		case name == aptSourcesList || strings.HasSuffix(name, ".list"):
			for _, line := range strings.Split(string(b), "\n") {
				fields := strings.Fields(line)
				if len(fields) < 2 || fields[0] != "deb" {
					continue
				}
				i := 1
				if strings.HasPrefix(fields[1], "[") {
					// Options: "[arch=amd64 signed-by=...]", possibly over several fields.
					for i < len(fields) && !strings.HasSuffix(fields[i], "]") {
						i++
					}
					i++
				}
				if i < len(fields) {
					add(fields[i])
				}
			}
		}
	}
	return bases, warnings
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
