package outdir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// ErrOutputDir wraps failures to create or write output-dir.
var ErrOutputDir = errors.New("output-dir")

// Dir is output-dir.
type Dir struct {
	Path  string
	chown func(string) error // nil: leave ownership alone
}

// Open creates path if needed. When this process is root and path lies inside workspace, files
// it writes are given the workspace's owner: the runner runs container actions as root, and
// root-owned files in the workspace break later steps and the next checkout.
func Open(path, workspace string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrOutputDir, path, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("%w: create %s: %v", ErrOutputDir, path, err)
	}
	d := &Dir{Path: abs, chown: Owner(abs, workspace)}
	if d.chown != nil {
		// The directories between workspace and output-dir that we created need it too.
		for p := abs; within(p, workspace) && p != filepath.Clean(workspace); p = filepath.Dir(p) {
			if err := d.chown(p); err != nil {
				return nil, fmt.Errorf("%w: chown %s: %v", ErrOutputDir, p, err)
			}
		}
	}
	return d, nil
}

// Owner returns a func giving a path the workspace's owner when this process is root, path lies
// inside workspace, and the workspace belongs to someone else; nil when nothing needs it. The
// func leaves paths outside the workspace alone.
func Owner(path, workspace string) func(string) error {
	abs, err := filepath.Abs(path)
	if err != nil || os.Geteuid() != 0 || workspace == "" || !within(abs, workspace) {
		return nil
	}
	st, err := os.Stat(workspace)
	if err != nil {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	uid, gid := int(sys.Uid), int(sys.Gid)
	return func(p string) error {
		if !within(p, workspace) {
			return nil
		}
		return os.Lchown(p, uid, gid)
	}
}

func within(p, dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Write stores data as name in the directory: written to a temporary file, synced, then
// renamed, so a reader never sees half a document and a failed run leaves no partial file.
func (d *Dir) Write(name string, data []byte) (string, error) {
	path, _, err := d.WriteFrom(name, func(w io.Writer) (bool, error) {
		_, err := w.Write(data)
		return true, err
	})
	return path, err
}

// WriteFrom stores what write writes as name, the way Write stores data, without holding the
// document in memory: a large one is written as it is encoded. When write returns keep false,
// or an error, nothing is stored and path is empty. size is the bytes written.
func (d *Dir) WriteFrom(name string, write func(io.Writer) (keep bool, err error)) (path string, size int64, err error) {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return "", 0, fmt.Errorf("%w: bad file name %q", ErrOutputDir, name)
	}
	dst := filepath.Join(d.Path, name)
	tmp, err := os.CreateTemp(d.Path, "."+name+".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrOutputDir, err)
	}
	discard := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	cleanup := func(err error) (string, int64, error) {
		discard()
		return "", 0, fmt.Errorf("%w: write %s: %v", ErrOutputDir, dst, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	keep, err := write(bw)
	if err != nil {
		discard()
		return "", 0, err
	}
	if !keep {
		discard()
		return "", 0, nil
	}
	if err := bw.Flush(); err != nil {
		return cleanup(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return cleanup(err)
	}
	if err := tmp.Sync(); err != nil {
		return cleanup(err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return cleanup(err)
	}
	if err := tmp.Close(); err != nil {
		return cleanup(err)
	}
	if d.chown != nil {
		if err := d.chown(tmp.Name()); err != nil {
			return cleanup(err)
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return cleanup(err)
	}
	return dst, st.Size(), nil
}

// ownName matches the file names the action writes into output-dir — documents, unsigned
// statements, bundles, the compliance report and the admission policy — and the temporary files
// of a write that was cut short. A new kind of file the action writes belongs here too.
var ownName = regexp.MustCompile(`^` + ownNames + `$|^\.` + ownNames + `\.tmp-[0-9]+$`)

const ownNames = `(sbom(\.[^/]+)?\.(cdx|intoto|sigstore)\.json` +
	`|(mlbom|vulnerabilities)\.(cdx|intoto|sigstore)\.json` +
	`|(provenance|image-signature)\.(intoto|sigstore)\.json` +
	`|compliance\.json|kyverno-policy\.yaml)`

// RemoveStale removes what an earlier run left in the directory under the action's own file
// names (and under also's), so that no file from before can be taken for this run's. Only
// regular files go, directly in the directory or in an image directory an earlier run of several
// images made (one holding Marker, see Sub), which goes too once empty; it descends into no
// other subdirectory and leaves symbolic links (and what they point at), named pipes and
// devices alone, so nothing outside the directory can be reached through it. It returns the
// names removed, relative to the directory.
func (d *Dir) RemoveStale(also ...string) ([]string, error) {
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutputDir, err)
	}
	root, err := os.OpenRoot(d.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutputDir, err)
	}
	defer root.Close()
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			gone, err := d.removeStaleImageDir(root, name)
			removed = append(removed, gone...)
			if err != nil {
				return removed, err
			}
			continue
		}
		if !e.Type().IsRegular() || !(ownName.MatchString(name) || slices.Contains(also, name)) {
			continue
		}
		// os.Remove unlinks the name itself: were it swapped for a link since ReadDir, the
		// link goes, not its target.
		if err := os.Remove(filepath.Join(d.Path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("%w: remove %s left by an earlier run: %v", ErrOutputDir, name, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}
