package pedigree

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Bounds on walking a patch tree, so a tree with a loop of directories or millions of files
// fails with a message instead of exhausting the runner.
const (
	maxDepth      = 6
	maxTreeFiles  = 20000
	maxSeriesFile = 1 << 20
)

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
	root     *os.Root
	fsys     fs.FS
	dirs     []patchDir
	errs     []error
	warnings []string
	files    int
}

func openTree(dir string) (*tree, error) {
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
	return &tree{root: root, fsys: root.FS()}, nil
}

func (t *tree) close() { _ = t.root.Close() }

func (t *tree) fail(err error) { t.errs = append(t.errs, err) }

// scan reads the layout: <component>/<release>/NNNN-slug.patch, <component>/*.patch, and a
// quilt/Debian series file, where present, giving the order.
func (t *tree) scan() {
	entries, err := fs.ReadDir(t.fsys, ".")
	if err != nil {
		t.fail(fmt.Errorf("patches-dir: %w: %w", ErrUnreadable, osReason(err)))
		return
	}
	for _, e := range entries {
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
		patches := t.scanComponent(name)
		if len(patches) == 0 {
			t.warnings = append(t.warnings, fmt.Sprintf("patches-dir: %s/: holds no patches", name))
			continue
		}
		t.dirs = append(t.dirs, patchDir{dir: name, typ: typ, name: pkg, patches: patches})
	}
}

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
	entries, err := fs.ReadDir(t.fsys, dir)
	if err != nil {
		t.fail(t.fileErr(dir+"/", err))
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
	entries, err := fs.ReadDir(t.fsys, dir)
	if err != nil {
		t.fail(t.fileErr(dir+"/", err))
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
	f, _, err := t.open(rel)
	if err != nil {
		t.fail(err)
		return g
	}
	defer f.Close()
	lr := newLineReader(f, maxSeriesFile)
	listed := map[string]int{}
	for n := 1; ; n++ {
		raw, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.fail(fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, osReason(err)))
			return g
		}
		line, _ := splitComment(string(raw))
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		entry := fields[0]
		for _, opt := range fields[1:] {
			if !strings.HasPrefix(opt, "-") {
				t.fail(fmt.Errorf("patches-dir: %s:%d: %w: %q: one patch per line, optionally followed by quilt options such as -p1", rel, n, ErrSeries, clip(line)))
				break
			}
		}
		if filepath.IsAbs(entry) || path.IsAbs(entry) {
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: absolute path", rel, n, clip(entry), ErrEscape))
			continue
		}
		full := path.Join(dir, entry)
		if full == ".." || strings.HasPrefix(full, "../") {
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w", rel, n, clip(entry), ErrEscape))
			continue
		}
		if first, dup := listed[full]; dup {
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: already listed on line %d", rel, n, clip(entry), ErrDuplicate, first))
			continue
		}
		listed[full] = n
		fi, err := t.root.Stat(full)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist) && !t.escapes(full):
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: no such file", rel, n, clip(entry), ErrSeries))
			continue
		case err != nil:
			t.fail(t.fileErr(full, err))
			continue
		case fi.IsDir():
			t.fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: a directory, not a patch", rel, n, clip(entry), ErrSeries))
			continue
		}
		g.patches = append(g.patches, full)
	}
	for _, p := range t.findPatches(dir, 3) {
		if _, ok := listed[p]; !ok {
			t.warnings = append(t.warnings, fmt.Sprintf("patches-dir: %s: not listed in %s; not recorded", p, rel))
		}
	}
	return g
}

// findPatches lists patch files under dir, depth levels down, without following symlinks to
// directories (a listed patch is checked when it is opened).
func (t *tree) findPatches(dir string, depth int) []string {
	if depth <= 0 || t.files > maxTreeFiles {
		return nil
	}
	entries, err := fs.ReadDir(t.fsys, dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		t.files++
		if t.files > maxTreeFiles {
			t.fail(fmt.Errorf("patches-dir: %s: %w: more than %d files", dir, ErrLayout, maxTreeFiles))
			return out
		}
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
	fi, err := t.root.Stat(rel)
	if err != nil {
		return nil, nil, t.fileErr(rel, err)
	}
	if !fi.Mode().IsRegular() {
		// Opening a FIFO or device could block or read forever.
		return nil, nil, fmt.Errorf("patches-dir: %s: %w: not a regular file (%s)", rel, ErrUnreadable, fi.Mode().Type())
	}
	f, err := t.root.Open(rel)
	if err != nil {
		return nil, nil, t.fileErr(rel, err)
	}
	return f, fi, nil
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
