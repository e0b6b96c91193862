package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Marker is the file that makes a directory inside output-dir one the action made for an image
// of a run of several. RemoveStale descends only into directories that hold it, so a directory
// of the user's own is never emptied because its files have the action's names.
const Marker = ".bom-attest-image"

// markerTemp is the marker's temporary file, left by a write cut short.
var markerTemp = regexp.MustCompile(`^` + regexp.QuoteMeta(Marker) + `\.tmp-[0-9]+$`)

const markerText = "bom-attest wrote the files of one image here; the next run with this output-dir removes them.\n"

// Image is what a run's image directory is named from.
type Image struct {
	Name   string // repository, e.g. ghcr.io/acme/app
	Digest string // sha256:<hex>
}

// safeDir is what a directory name taken from a repository may look like: one path component
// of a repository name, which is this already, checked again as it becomes a path.
var safeDir = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// digestHex is the hex of a sha256 digest, whose start tells images apart.
var digestHex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// maxBase bounds the part of a directory name taken from the repository, which may be far
// longer than a readable name; what is appended to tell images apart still fits in maxDir.
const (
	maxBase = 100
	maxDir  = 200
)

// ImageDirs names the directory of each image of a run of several, in order: the last
// component of its repository (ghcr.io/acme/app → app). Images whose names would be the same,
// or a name that is one of the action's own file names or in reserved, get the first 12 hex
// digits of their digest appended (app-0123456789ab), and what is still the same a number
// (app-0123456789ab-2), so every image has its own directory and the same list of images
// always gets the same names.
func ImageDirs(images []Image, reserved ...string) []string {
	base := make([]string, len(images))
	count := map[string]int{}
	for i, img := range images {
		base[i] = path.Base(img.Name)
		if !safeDir.MatchString(base[i]) {
			base[i] = "image"
		}
		base[i] = base[i][:min(len(base[i]), maxBase)]
		count[base[i]]++
	}
	taken := func(n string) bool {
		return ownName.MatchString(n) || strings.HasPrefix(n, ".") || slices.Contains(reserved, n)
	}
	names := make([]string, len(images))
	used := map[string]bool{}
	for i, img := range images {
		n := base[i]
		if hex := strings.TrimPrefix(img.Digest, "sha256:"); (count[n] > 1 || taken(n)) && digestHex.MatchString(hex) {
			n += "-" + hex[:12]
		}
		unique := n
		for k := 2; used[unique] || taken(unique); k++ {
			unique = fmt.Sprintf("%s-%d", n, k)
		}
		used[unique] = true
		names[i] = unique
	}
	return names
}

// Sub creates the directory name in d for one image's files, marks it as the action's, and
// returns it. The directory must be a plain name: it is one level below output-dir.
func (d *Dir) Sub(name string) (*Dir, error) {
	if !safeDir.MatchString(name) || len(name) > maxDir || ownName.MatchString(name) {
		return nil, fmt.Errorf("%w: bad directory name %q", ErrOutputDir, name)
	}
	p := filepath.Join(d.Path, name)
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: create %s: %v", ErrOutputDir, p, err)
	}
	// Mkdir follows nothing, but what was already there may be a link or a file.
	if st, err := os.Lstat(p); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s exists and is not a directory", ErrOutputDir, p)
	}
	if d.chown != nil {
		if err := d.chown(p); err != nil {
			return nil, fmt.Errorf("%w: chown %s: %v", ErrOutputDir, p, err)
		}
	}
	sub := &Dir{Path: p, chown: d.chown}
	if _, err := sub.Write(Marker, []byte(markerText)); err != nil {
		return nil, err
	}
	return sub, nil
}

// removeStaleImageDir empties the image directory name of an earlier run: the action's own
// files in it, then the marker, then the directory when nothing else is left. It reaches the
// directory through an os.Root of output-dir, so a directory swapped for a link cannot lead
// outside, and inside it removes only regular files, as RemoveStale does.
func (d *Dir) removeStaleImageDir(parent *os.Root, name string) ([]string, error) {
	root, err := parent.OpenRoot(name)
	if err != nil {
		return nil, nil // gone, or not a directory after all: nothing of ours
	}
	defer root.Close()
	if st, err := root.Lstat(Marker); err != nil || !st.Mode().IsRegular() {
		return nil, nil // not made by the action
	}
	f, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrOutputDir, name, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrOutputDir, name, err)
	}
	var removed []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !(ownName.MatchString(n) || markerTemp.MatchString(n)) {
			continue
		}
		if err := root.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("%w: remove %s/%s left by an earlier run: %v", ErrOutputDir, name, n, err)
		}
		removed = append(removed, name+"/"+n)
	}
	if err := root.Remove(Marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, fmt.Errorf("%w: remove %s/%s: %v", ErrOutputDir, name, Marker, err)
	}
	// A directory that still holds something of the user's stays, unmarked.
	_ = parent.Remove(name)
	return removed, nil
}
