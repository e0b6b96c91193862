package pedigree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// Bounds on walking a patch tree, so a tree with millions of files or patches fails with a
// message instead of exhausting the runner.
const (
	maxTreeFiles = 20000 // directory entries read, over the whole tree
	maxPatches   = 10000 // patches recorded from one tree
)

// walkLimits are the bounds a walk applies: the constants above, which tests lower so a tree
// over them is quick to build.
var walkLimits = struct{ files, patches int }{maxTreeFiles, maxPatches}

// patchDir is one top-level directory of the patch tree: the patches for one component, in
// the order they are applied.
type patchDir struct {
	dir     string // as named in the tree, e.g. "pypi:oslo.messaging"
	typ     string // ecosystem prefix (a purl type), or ""
	name    string // package name
	patches []string
}

// tree is a patch tree opened so that nothing read through it can leave patches-dir.
type tree struct {
	ctx      context.Context
	root     *os.Root
	dirs     []patchDir
	errs     []error
	warnings []string
	files    int  // directory entries read so far, against walkLimits.files
	over     bool // a limit was passed; the walk stops and no patch is read
}

func openTree(ctx context.Context, dir string) (*tree, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("patches-dir: %s: %w: no such directory", dir, ErrPatchesDir)
	case err != nil:
		return nil, fmt.Errorf("patches-dir: %s: %w: %w", dir, ErrPatchesDir, osReason(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("patches-dir: %s: %w: a file, not a directory", dir, ErrPatchesDir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("patches-dir: %s: %w: %w", dir, ErrPatchesDir, osReason(err))
	}
	return &tree{ctx: ctx, root: root}, nil
}

func (t *tree) close() { _ = t.root.Close() }

func (t *tree) fail(err error) { t.errs = append(t.errs, err) }

// scan reads the layout: <component>/<release>/NNNN-slug.patch, <component>/*.patch, and a
// quilt/Debian series file, where present, giving the order.
func (t *tree) scan() {
	entries, err := t.readDir(".")
	if err != nil {
		if !errors.Is(err, errStopped) && t.ctx.Err() == nil {
			t.fail(fmt.Errorf("patches-dir: %w: %w", ErrUnreadable, osReason(err)))
		}
		return
	}
	patches := 0
	for _, e := range entries {
		if t.stopped() {
			return
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		isDir, ok := t.kind(name, e)
		if !ok {
			continue
		}
		if !isDir {
			if isPatchName(name) || name == "series" {
				t.fail(fmt.Errorf("patches-dir: %s: %w: patches live in a directory named after their component (<component>/%s or <component>/<release>/%s)", name, ErrLayout, name, name))
			}
			continue
		}
		typ, pkg := splitEcosystem(name)
		files := t.scanComponent(name)
		if t.stopped() {
			return
		}
		if len(files) == 0 {
			t.warnings = append(t.warnings, fmt.Sprintf("patches-dir: %s/: holds no patches", name))
			continue
		}
		if patches += len(files); patches > walkLimits.patches {
			t.over = true
			t.fail(fmt.Errorf("patches-dir: %w: more than %d patches; point patches-dir at the patches of this image", ErrTooLarge, walkLimits.patches))
			return
		}
		t.dirs = append(t.dirs, patchDir{dir: name, typ: typ, name: pkg, patches: files})
	}
}

// stopped reports a walk that must not go on: the run was cancelled, or the tree is too big.
func (t *tree) stopped() bool { return t.over || t.ctx.Err() != nil }

// readDir lists a directory of the tree, sorted by name, counting its entries against
// maxTreeFiles before holding them all.
func (t *tree) readDir(rel string) ([]fs.DirEntry, error) {
	f, err := t.root.OpenFile(rel, localfile.OpenFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []fs.DirEntry
	for {
		if err := t.ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := f.ReadDir(256)
		if t.files += len(batch); t.files > walkLimits.files {
			if !t.over {
				t.over = true
				t.fail(fmt.Errorf("patches-dir: %w: more than %d files and directories; point patches-dir at the patches of this image", ErrTooLarge, walkLimits.files))
			}
			return nil, errStopped
		}
		out = append(out, batch...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// errStopped is returned by a read after the walk stopped; the reason is already recorded.
var errStopped = errors.New("walk stopped")

// kind says whether rel is a directory, following a symlink only as far as the root allows.
// ok is false (and an error recorded) for a symlink that escapes or dangles.
func (t *tree) kind(rel string, e fs.DirEntry) (isDir, ok bool) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.IsDir(), true
	}
	fi, err := t.root.Stat(rel)
	if err != nil {
		t.fail(t.fileErr(rel, err))
		return false, false
	}
	return fi.IsDir(), true
}

type group struct {
	dir     string
	patches []string
}

func (t *tree) scanComponent(dir string) []string {
	entries, err := t.readDir(dir)
	if err != nil {
		t.failRead(dir+"/", err)
		return nil
	}
	if hasEntry(entries, "series") {
		return t.seriesGroup(dir).patches
	}
	var groups []group
	var direct []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || name == "series" {
			continue
		}
		rel := dir + "/" + name
		isDir, ok := t.kind(rel, e)
		if !ok {
			continue
		}
		if !isDir {
			if isPatchName(name) {
				direct = append(direct, rel)
			}
			continue
		}
		if g := t.releaseGroup(rel); len(g.patches) > 0 {
			groups = append(groups, g)
		}
	}
	if len(direct) > 0 {
		groups = append([]group{{dir: dir, patches: direct}}, groups...)
	}
	if len(groups) > 1 {
		var where []string
		for _, g := range groups {
			where = append(where, g.dir+"/")
		}
		t.fail(fmt.Errorf("patches-dir: %s/: %w: patches in %s; a component's patches belong to one release directory (point patches-dir at a tree for the image's release, or list them in %s/series)", dir, ErrLayout, strings.Join(where, " and "), dir))
		return nil
	}
	if len(groups) == 0 {
		return nil
	}
	return groups[0].patches
}

// releaseGroup reads one <component>/<release>/ directory.
func (t *tree) releaseGroup(dir string) group {
	entries, err := t.readDir(dir)
	if err != nil {
		t.failRead(dir+"/", err)
		return group{dir: dir}
	}
	if hasEntry(entries, "series") {
		return t.seriesGroup(dir)
	}
	g := group{dir: dir}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		rel := dir + "/" + name
		isDir, ok := t.kind(rel, e)
		if !ok {
			continue
		}
		if !isDir {
			if isPatchName(name) {
				g.patches = append(g.patches, rel)
			}
			continue
		}
		for _, deep := range t.findPatches(rel, 3) {
			t.fail(fmt.Errorf("patches-dir: %s: %w: too deep; expected <component>/<release>/NNNN-name.patch, or a series file listing it", deep, ErrLayout))
		}
	}
	return g
}

// seriesGroup reads dir/series, whose lines name the patches in the order they apply.
func (t *tree) seriesGroup(dir string) group {
	g := group{dir: dir}
	rel := dir + "/series"
	f, fi, err := t.open(rel)
	if err != nil {
		t.fail(err)
		return g
	}
	defer f.Close()
	if fi.Size() > maxSeriesFile {
		t.fail(tooLargeSeries(rel))
		return g
	}
	entries, errs := parseSeries(localfile.Reader(t.ctx, f), rel)
	t.errs = append(t.errs, errs...)
	if entries == nil && len(errs) > 0 {
		return g
	}
	listed := map[string]bool{}
	names := map[string]string{}
	for _, e := range entries {
		listed[e.path] = true
		entry := clip(e.name)
		fi, err := t.root.Stat(e.path)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist) && !t.escapes(e.path):
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: no such file", rel, e.line, entry, ErrSeries))
			continue
		case err != nil:
			t.fail(t.fileErr(e.path, err))
			continue
		case fi.IsDir():
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: a directory, not a patch", rel, e.line, entry, ErrSeries))
			continue
		}
		// Patches are told apart by file name in the SBOM; two of one name in one series would
		// read as one patch applied twice.
		base := path.Base(e.path)
		if first, dup := names[base]; dup {
			t.fail(fmt.Errorf("patches-dir: %s: %w: %s has the same name and is listed in the same series (%s)", e.path, ErrDuplicate, first, rel))
			continue
		}
		names[base] = e.path
		g.patches = append(g.patches, e.path)
	}
	for _, p := range t.findPatches(dir, 3) {
		if !listed[p] {
			t.warnings = append(t.warnings, fmt.Sprintf("patches-dir: %s: not listed in %s; not recorded", p, rel))
		}
	}
	return g
}

// findPatches lists patch files under dir, depth levels down, without following symlinks to
// directories (a listed patch is checked when it is opened).
func (t *tree) findPatches(dir string, depth int) []string {
	if depth <= 0 || t.stopped() {
		return nil
	}
	entries, err := t.readDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		rel := dir + "/" + e.Name()
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case e.IsDir():
			out = append(out, t.findPatches(rel, depth-1)...)
		case isPatchName(e.Name()):
			out = append(out, rel)
		}
	}
	return out
}

func hasEntry(entries []fs.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

func isPatchName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".patch" || ext == ".diff"
}

// open opens a regular file of the tree for reading.
func (t *tree) open(rel string) (*os.File, fs.FileInfo, error) {
	f, fi, err := localfile.OpenWith(func(flag int) (*os.File, error) { return t.root.OpenFile(rel, flag, 0) })
	switch {
	case errors.Is(err, localfile.ErrNotRegular):
		return nil, nil, fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, err)
	case err != nil:
		return nil, nil, t.fileErr(rel, err)
	}
	return f, fi, nil
}

// failRead records a directory that could not be listed, unless the walk stopped.
func (t *tree) failRead(rel string, err error) {
	if !errors.Is(err, errStopped) && t.ctx.Err() == nil {
		t.fail(t.fileErr(rel, err))
	}
}

// fileErr explains why rel could not be reached: a symlink out of patches-dir, or an
// ordinary failure to read.
func (t *tree) fileErr(rel string, err error) error {
	if t.escapes(rel) {
		return fmt.Errorf("patches-dir: %s: %w (symlinks must point inside patches-dir)", strings.TrimSuffix(rel, "/"), ErrEscape)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("patches-dir: %s: %w: %w (a dangling symlink?)", strings.TrimSuffix(rel, "/"), ErrUnreadable, osReason(err))
	}
	return fmt.Errorf("patches-dir: %s: %w: %w", strings.TrimSuffix(rel, "/"), ErrUnreadable, osReason(err))
}

// escapes reports whether resolving rel's symlinks leaves the root. os.Root refuses such
// paths with an unexported error, so this walks the path itself to tell the user why.
func (t *tree) escapes(rel string) bool {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	var cur []string
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return true
			}
			cur = cur[:len(cur)-1]
			continue
		}
		here := path.Join(append(append([]string{}, cur...), p)...)
		fi, err := t.root.Lstat(here)
		if err != nil {
			return false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = append(cur, p)
			continue
		}
		if hops++; hops > 40 {
			return false
		}
		target, err := t.root.Readlink(here)
		if err != nil {
			return false
		}
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return true
		}
		parts = append(strings.Split(filepath.ToSlash(target), "/"), parts...)
	}
	return false
}

// osReason strips the operation and path from an *fs.PathError: messages name the file
// relative to patches-dir themselves.
func osReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
