package hashes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// fileResult is what reading one file gave.
type fileResult struct {
	present    bool // a regular file in the image
	sha256     string
	executable bool
	size       int64
	err        error
}

// installed digests the files of every target without an artifact, and with o.Examine looks
// at the files of the others too. Each file is read once however many components list it.
// It returns how many files and bytes were hashed.
func installed(ctx context.Context, im *pkgdb.Image, targets []*target, o Options) (int, int64, error) {
	f := im.Files()
	lists := make([][]string, len(targets))
	digest := map[string]bool{} // path → needs a full read (false: a look is enough)
	for i, t := range targets {
		want := t.res.Artifact == nil
		if !want && !o.Examine || t.res.NoInstalled != "" {
			continue
		}
		paths, err := filesOf(ctx, im, t)
		if err != nil {
			if ctx.Err() != nil {
				return 0, 0, ctx.Err()
			}
			t.res.NoInstalled = err.Error()
			continue
		}
		lists[i] = paths
		for _, p := range paths {
			digest[p] = digest[p] || want
		}
	}
	results, files, bytes, err := readAll(ctx, f, digest, o.Workers)
	if err != nil {
		return 0, 0, err
	}
	for i, t := range targets {
		if lists[i] == nil {
			continue
		}
		var (
			manifest strings.Builder
			n        int
			exec     bool
			failed   error
		)
		for _, p := range lists[i] {
			r := results[p]
			if r.err != nil && failed == nil {
				failed = r.err
			}
			if !r.present {
				continue
			}
			n++
			exec = exec || r.executable
			if t.res.Artifact == nil {
				manifest.WriteString(r.sha256 + "  " + p + "\n")
			}
		}
		switch {
		case failed != nil:
			t.res.NoInstalled = "reading its files failed: " + failed.Error()
		case n == 0:
			t.res.NoInstalled = "none of the paths its package database lists is a regular file in the image (only directories and links, or removed by a later layer)"
		case t.res.Artifact == nil:
			sum := sha256.Sum256([]byte(manifest.String()))
			t.res.Installed = &Installed{SHA256: hex.EncodeToString(sum[:]), Files: n, Executable: exec}
		default:
			t.res.Installed = &Installed{Files: n, Executable: exec}
		}
	}
	return files, bytes, nil
}

// filesOf lists a target's installed files, sorted and without duplicates.
func filesOf(ctx context.Context, im *pkgdb.Image, t *target) ([]string, error) {
	var (
		paths []string
		err   error
	)
	switch {
	case t.rec.Deb >= 0:
		paths, err = im.DebFiles(ctx, t.rec.Deb)
		if errors.Is(err, pkgdb.ErrNoFileList) {
			return nil, errors.New("dpkg keeps no list of its files (no /var/lib/dpkg/info/*.list)")
		}
	case t.rec.Dist != nil:
		paths, err = t.rec.Dist.InstalledFiles(ctx, im.Files())
		if errors.Is(err, pkgdb.ErrNoRecord) {
			return nil, errors.New("its dist-info has no RECORD, installed-files.txt or top_level.txt")
		}
	case t.rec.NpmDir != "":
		var under []string
		under, err = im.Files().Under(ctx, t.rec.NpmDir)
		nested := t.rec.NpmDir + "/node_modules/"
		for _, p := range under {
			if !strings.HasPrefix(p, nested) {
				paths = append(paths, p)
			}
		}
	default:
		return nil, errors.New("bom-attest does not know where its files are")
	}
	if err != nil {
		return nil, err
	}
	out := append([]string(nil), paths...)
	sort.Strings(out)
	return slices.Compact(out), nil
}

var elfMagic = []byte("\x7fELF")

// readAll reads every path of want: whole (SHA-256) when want says so, else only its first
// bytes (is it an ELF file?). Paths that are one file (a link and its target, a path through a
// linked directory) are read once: each is looked up first, in parallel, then each file read.
func readAll(ctx context.Context, f pkgdb.Files, want map[string]bool, workers int) (map[string]fileResult, int, int64, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	infos := make([]pkgdb.Info, len(paths))
	errs := make([]error, len(paths))
	if err := parallel(ctx, len(paths), workers, func(i int, _ []byte) {
		infos[i], errs[i] = f.Stat(paths[i])
	}); err != nil {
		return nil, 0, 0, err
	}
	out := make(map[string]fileResult, len(paths))
	real := map[string]int{}          // real path → index in files
	fileOf := make([]int, len(paths)) // path i → index in files
	var files []string                // the files to read, each once
	var fileInfo []pkgdb.Info
	var full []bool
	for i, p := range paths {
		switch {
		case errors.Is(errs[i], fs.ErrNotExist):
			out[p] = fileResult{}
			continue
		case errs[i] != nil:
			out[p] = fileResult{err: errs[i]}
			continue
		case !infos[i].Regular():
			out[p] = fileResult{}
			continue
		}
		r := infos[i].Real
		if r == "" {
			r = p
		}
		j, ok := real[r]
		if !ok {
			j = len(files)
			real[r] = j
			files = append(files, p)
			fileInfo = append(fileInfo, infos[i])
			full = append(full, false)
		}
		fileOf[i] = j
		full[j] = full[j] || want[p]
	}
	results := make([]fileResult, len(files))
	if err := parallel(ctx, len(files), workers, func(i int, buf []byte) {
		results[i] = readOne(ctx, f, files[i], fileInfo[i], full[i], buf)
	}); err != nil {
		return nil, 0, 0, err
	}
	var n int
	var bytes int64
	for _, r := range results {
		if r.sha256 != "" {
			n++
			bytes += r.size
		}
	}
	for i, p := range paths {
		if _, done := out[p]; done {
			continue
		}
		res := results[fileOf[i]]
		// The execute bit is the path's own (the target's, through a link).
		res.executable = res.executable || infos[i].Mode&0o111 != 0
		out[p] = res
	}
	return out, n, bytes, nil
}

// parallel calls fn(i, buf) for i in [0, n) on workers goroutines, each with a buffer of its
// own, and stops handing out work when ctx ends.
func parallel(ctx context.Context, n, workers int, fn func(i int, buf []byte)) error {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128<<10)
			for i := range next {
				fn(i, buf)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}

// readOne reads the regular file at p, which Stat described as info.
func readOne(ctx context.Context, f pkgdb.Files, p string, info pkgdb.Info, full bool, buf []byte) fileResult {
	r := fileResult{present: true, executable: info.Mode&0o111 != 0, size: info.Size}
	if !full && r.executable {
		return r
	}
	rc, err := pkgdb.OpenStat(f, p, info)
	if err != nil {
		return fileResult{err: err}
	}
	defer rc.Close()
	if !full {
		var head [4]byte
		n, _ := io.ReadFull(rc, head[:])
		r.executable = bytes.Equal(head[:n], elfMagic)
		return r
	}
	h := sha256.New()
	var n int64
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return fileResult{err: err}
		}
		k, err := rc.Read(buf)
		if k > 0 {
			if first && k >= 4 && bytes.Equal(buf[:4], elfMagic) {
				r.executable = true
			}
			first = false
			h.Write(buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fileResult{err: fmt.Errorf("%s: %w", p, err)}
		}
	}
	r.sha256, r.size = hex.EncodeToString(h.Sum(nil)), n
	return r
}
