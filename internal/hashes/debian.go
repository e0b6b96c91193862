package hashes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// debIndex is what one Packages index gave for the packages asked of it.
type debIndex struct {
	entries map[pkgdb.DebKey]pkgdb.DebArtifact
}

// indexFile is one Packages index a Release file lists.
type indexFile struct {
	path   string // relative to dists/SUITE/, e.g. main/binary-amd64/Packages.xz
	sha256 string
	size   int64
}

// resolveDebian looks up, in the Debian archives' Packages indexes for the image's release,
// each .deb the image's apt lists do not record.
func (r *Resolver) resolveDebian(ctx context.Context, im *pkgdb.Image, targets []*target, fail func(*target, string, ...any)) {
	want := map[pkgdb.DebKey][]*target{}
	for _, t := range targets {
		p := t.rec.Debian(im)
		if p == nil || t.res.Artifact != nil {
			continue
		}
		if distro := debDistro(t, im); distro != "debian" {
			fail(t, "bom-attest resolves .deb files in the Debian archive only, not %s", distro)
			continue
		}
		if im.OS.Codename == "" {
			fail(t, "the image's /etc/os-release names no VERSION_CODENAME to look the release up by")
			continue
		}
		k := pkgdb.DebKey{Name: p.Name, Version: p.Version, Arch: p.Arch}
		want[k] = append(want[k], t)
	}
	if len(want) == 0 {
		return
	}
	archs := map[string]bool{}
	for k := range want {
		if k.Arch != "all" {
			archs[k.Arch] = true
		}
	}
	if len(archs) == 0 {
		archs[imageArch(targets)] = true
	}
	found := map[pkgdb.DebKey]pkgdb.DebArtifact{}
	var errs []string
	for _, base := range r.o.DebianURLs {
		for _, suite := range []string{im.OS.Codename, im.OS.Codename + "-updates", im.OS.Codename + "-security"} {
			got, err := r.suite(ctx, base, suite, archs, want)
			if err != nil && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err.Error())
			}
			for k, a := range got {
				if _, ok := found[k]; !ok {
					found[k] = a
				}
			}
		}
	}
	keys := make([]pkgdb.DebKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	for _, k := range keys {
		for _, t := range want[k] {
			a, ok := found[k]
			if !ok {
				why := "not in the Debian archive's indexes for " + im.OS.Codename + " (superseded by a newer version?)"
				if len(errs) > 0 {
					why += "; " + strings.Join(errs, "; ")
				}
				fail(t, "Debian archive: %s %s (%s) %s", k.Name, k.Version, k.Arch, why)
				t.res.NoArtifact = "Debian archive lookup failed: " + why
				continue
			}
			t.res.Artifact = debArtifact(a, *t.rec.Debian(im), t, KindResolved, "Debian archive")
			t.res.NoArtifact = ""
		}
	}
}

func debDistro(t *target, im *pkgdb.Image) string {
	if t.rec.Distro != "" {
		return t.rec.Distro
	}
	return im.OS.ID
}

func imageArch(targets []*target) string {
	for _, t := range targets {
		if t.rec.Type == "deb" && t.rec.Arch != "" && t.rec.Arch != "all" {
			return t.rec.Arch
		}
	}
	return "amd64"
}

// suite reads the Release file of one suite of one archive and the Packages indexes it lists
// for archs (and for "all", when arch-independent packages are wanted and the suite keeps them
// apart), returning the entries of want found. ErrNotFound when the archive has no such suite.
func (r *Resolver) suite(ctx context.Context, base, suite string, archs map[string]bool, want map[pkgdb.DebKey][]*target) (map[pkgdb.DebKey]pkgdb.DebArtifact, error) {
	base = strings.TrimSuffix(base, "/")
	dists := base + "/dists/" + suite + "/"
	files, err := r.release(ctx, dists+"InRelease")
	if err != nil {
		return nil, err
	}
	wantAll := false
	for k := range want {
		wantAll = wantAll || k.Arch == "all"
	}
	var chosen []indexFile
	for _, comp := range components(files) {
		for arch := range archs {
			if f, ok := pickIndex(files, comp+"/binary-"+arch+"/Packages"); ok {
				chosen = append(chosen, f)
			}
		}
		if wantAll {
			if f, ok := pickIndex(files, comp+"/binary-all/Packages"); ok {
				chosen = append(chosen, f)
			}
		}
	}
	out := map[pkgdb.DebKey]pkgdb.DebArtifact{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, f := range chosen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx, err := cached(r, r.indexes, dists+f.path+"@"+f.sha256).get(func() (*debIndex, error) {
				return r.packages(ctx, dists+f.path, f)
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for k := range want {
				if a, ok := idx.entries[k]; ok {
					a.Base = base
					out[k] = a
				}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// release reads the SHA256 list of a (clear-signed) Release file: the index files of a suite
// with their sizes and digests. The signature is not checked: each index is checked against
// this list, and what an index says is recorded as the archive's answer, not as a fact proven.
func (r *Resolver) release(ctx context.Context, u string) ([]indexFile, error) {
	var files []indexFile
	err := r.get(ctx, u, maxInRelease, r.o.Timeout, func(body io.Reader) error {
		return pkgdb.ReadParagraphs(ctx, body, map[string]bool{"sha256": true}, func(p pkgdb.Paragraph) error {
			for _, line := range strings.Split(p["sha256"], "\n") {
				fields := strings.Fields(line)
				if len(fields) != 3 || !pkgdb.IsHexDigest(strings.ToLower(fields[0]), 64) {
					continue
				}
				size, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil || size < 0 {
					continue
				}
				files = append(files, indexFile{path: fields[2], sha256: strings.ToLower(fields[0]), size: size})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("GET %s: no SHA256 list of index files", redact(u))
	}
	return files, nil
}

// components lists the archive components (main, contrib, …) a Release file has indexes for.
func components(files []indexFile) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		comp, rest, ok := strings.Cut(f.path, "/")
		if ok && strings.HasPrefix(rest, "binary-") && !seen[comp] && !strings.ContainsAny(comp, ".\\") {
			seen[comp] = true
			out = append(out, comp)
		}
	}
	sort.Strings(out)
	return out
}

// pickIndex chooses how to fetch a Packages index: gzip (fastest to read), else xz, else
// uncompressed.
func pickIndex(files []indexFile, stem string) (indexFile, bool) {
	for _, ext := range []string{".gz", ".xz", ""} {
		for _, f := range files {
			if f.path == stem+ext && f.size > 0 {
				return f, true
			}
		}
	}
	return indexFile{}, false
}

// packages reads one Packages index whole, checked against its Release digest. Every entry is
// kept, so the platforms after the first (and their other packages) are answered without
// fetching it again.
func (r *Resolver) packages(ctx context.Context, u string, f indexFile) (*debIndex, error) {
	if f.size > maxIndexFile {
		return nil, fmt.Errorf("GET %s: %w: the Release file says %d bytes", redact(u), pkgdb.ErrTooLarge, f.size)
	}
	idx := &debIndex{entries: map[pkgdb.DebKey]pkgdb.DebArtifact{}}
	h := sha256.New()
	var parseErr error
	err := r.get(ctx, u, f.size, 10*r.o.Timeout, func(body io.Reader) error {
		tee := io.TeeReader(body, h)
		parseErr = func() error {
			text, err := pkgdb.Decompress(f.path, tee, maxIndexText)
			if err != nil {
				return err
			}
			return pkgdb.ReadPackagesIndex(ctx, text, func(pkgdb.DebKey) bool { return true },
				func(k pkgdb.DebKey, a pkgdb.DebArtifact) { idx.entries[k] = a })
		}()
		// The digest covers the whole file, also what the decompressor did not read (or could
		// not: a file that is not the index the Release lists is reported as that).
		_, err := io.Copy(io.Discard, tee)
		return err
	})
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.sha256 {
		return nil, fmt.Errorf("GET %s: %w (%s, Release says %s)", redact(u), ErrMismatch, got, f.sha256)
	}
	if parseErr != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), parseErr)
	}
	return idx, nil
}
