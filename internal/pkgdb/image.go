package pkgdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Image is what an image's package managers recorded, read once per platform.
type Image struct {
	OS     OSRelease
	Dpkg   *Dpkg     // nil without a dpkg database
	Apt    *AptLists // nil without apt package lists
	Python []*PythonDist
	// Warnings name the files that could not be read as expected.
	Warnings []string

	files Files

	indexOnce   sync.Once
	debs        map[DebKey]int
	distsAt     map[string]*PythonDist
	distsByName map[string][]*PythonDist

	ownersOnce sync.Once
	owners     map[string]int // path → index in Dpkg.Packages
	lists      map[int][]string
	listErrs   map[int]error
}

// Read reads the image's package records through f. Only a cancelled ctx or a failure of f
// itself is an error; what the image holds that cannot be read is a warning.
func Read(ctx context.Context, f Files) (*Image, error) {
	im := &Image{files: f, OS: ReadOSRelease(f)}
	d, w, err := ReadDpkg(ctx, f)
	if err != nil {
		return nil, err
	}
	im.Dpkg, im.Warnings = d, append(im.Warnings, w...)
	if d != nil {
		installed := map[DebKey]bool{}
		for _, p := range d.Packages {
			installed[DebKey{p.Name, p.Version, p.Arch}] = true
		}
		apt, w, err := ReadAptLists(ctx, f, func(k DebKey) bool { return installed[k] })
		if err != nil {
			return nil, err
		}
		im.Apt, im.Warnings = apt, append(im.Warnings, w...)
	}
	py, w, err := ReadPythonDists(ctx, f)
	if err != nil {
		return nil, err
	}
	im.Python, im.Warnings = py, append(im.Warnings, w...)
	return im, nil
}

// Files is the file system the image was read from.
func (im *Image) Files() Files { return im.files }

// DebFiles lists the paths dpkg installed for the i-th package of im.Dpkg, read once.
func (im *Image) DebFiles(ctx context.Context, i int) ([]string, error) {
	im.loadOwners(ctx)
	if err, ok := im.listErrs[i]; ok {
		return nil, err
	}
	if l, ok := im.lists[i]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("package %d: %w", i, ErrNoFileList)
}

// Owner is the index in Dpkg.Packages of the package that installed path, when one did.
func (im *Image) Owner(ctx context.Context, path string) (int, bool) {
	im.loadOwners(ctx)
	i, ok := im.owners[path]
	return i, ok
}

// loadOwners reads every package's file list once: the lists answer both "which files does
// this package have" and "which package has this file".
func (im *Image) loadOwners(ctx context.Context) {
	im.ownersOnce.Do(func() {
		im.owners, im.lists, im.listErrs = map[string]int{}, map[int][]string{}, map[int]error{}
		if im.Dpkg == nil {
			return
		}
		for i, p := range im.Dpkg.Packages {
			l, err := FileList(ctx, im.files, p)
			if err != nil {
				im.listErrs[i] = err
				if !errors.Is(err, ErrNoFileList) && ctx.Err() == nil {
					im.Warnings = append(im.Warnings, fmt.Sprintf("dpkg file list of %s not read: %v", p.Name, err))
				}
				continue
			}
			im.lists[i] = l
			for _, path := range l {
				if _, taken := im.owners[path]; !taken {
					im.owners[path] = i
				}
			}
		}
	})
}
