package pkgdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Where dpkg keeps its database.
const (
	dpkgStatus    = "/var/lib/dpkg/status"
	dpkgStatusDir = "/var/lib/dpkg/status.d" // distroless images: one file per package
	dpkgInfo      = "/var/lib/dpkg/info"
)

// Limits on dpkg's files: a status database of 20,000 packages is about 30 MiB; a package's
// file list a few MiB at most (the largest Debian packages list ~100,000 paths).
const (
	maxStatus     = 256 << 20
	maxStatusFile = 1 << 20
	maxFileList   = 32 << 20
	maxListLines  = 500_000
)

// DebPackage is one installed package of the dpkg database.
type DebPackage struct {
	Name, Version, Arch   string
	Source, SourceVersion string // the source package, and its version when it differs
	Maintainer            string
	Depends, PreDepends   string // as written, e.g. "libc6 (>= 2.34), perl:any | perl5"
	Provides              string
	MultiArchSame         bool // Multi-Arch: same, whose file list is named name:arch.list
}

// Dpkg is the dpkg database of an image.
type Dpkg struct {
	Packages []DebPackage
	// Complete is true when every status file was read whole, so the image's Debian packages
	// are all listed (a cataloger's coverage is known).
	Complete bool
	// StatusPath is the status file read (or the status.d directory).
	StatusPath string
}

var statusFields = map[string]bool{
	"package": true, "status": true, "version": true, "architecture": true, "source": true,
	"maintainer": true, "depends": true, "pre-depends": true, "provides": true, "multi-arch": true,
}

// ReadDpkg reads the dpkg status database; nil, nil when the image has none.
func ReadDpkg(ctx context.Context, f Files) (*Dpkg, []string, error) {
	var warnings []string
	d := &Dpkg{Complete: true}
	found := false
	if info, err := f.Stat(dpkgStatus); err == nil && info.Regular() {
		found = true
		d.StatusPath = dpkgStatus
		if err := readStatus(ctx, f, dpkgStatus, maxStatus, d, false); err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			d.Complete = false
			warnings = append(warnings, fmt.Sprintf("dpkg status %s not read whole: %v", dpkgStatus, err))
		}
	}
	if names, err := f.Glob(dpkgStatusDir + "/*"); err == nil && len(names) > 0 {
		if !found {
			d.StatusPath = dpkgStatusDir
		}
		found = true
		for _, name := range names {
			if strings.HasSuffix(name, ".md5sums") {
				continue
			}
			if err := readStatus(ctx, f, name, maxStatusFile, d, true); err != nil {
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				d.Complete = false
				warnings = append(warnings, fmt.Sprintf("dpkg status %s not read whole: %v", name, err))
			}
		}
	}
	if !found {
		return nil, nil, nil
	}
	return d, warnings, nil
}

func readStatus(ctx context.Context, f Files, name string, limit int64, d *Dpkg, statusD bool) error {
	rc, err := openRegular(f, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return ReadParagraphs(ctx, newLimitedReader(rc, limit, name), statusFields, func(p Paragraph) error {
		if p["package"] == "" || p["version"] == "" {
			return nil
		}
		// status.d entries have no Status field: they describe what is installed.
		if st := p["status"]; !statusD && !strings.HasSuffix(st, " installed") {
			return nil
		}
		src, srcVer := p["source"], ""
		if s, v, ok := strings.Cut(src, " ("); ok {
			src, srcVer = s, strings.TrimSuffix(v, ")")
		}
		d.Packages = append(d.Packages, DebPackage{
			Name: p["package"], Version: p["version"], Arch: p["architecture"],
			Source: src, SourceVersion: srcVer, Maintainer: p["maintainer"],
			Depends: p["depends"], PreDepends: p["pre-depends"], Provides: p["provides"],
			MultiArchSame: p["multi-arch"] == "same",
		})
		return nil
	})
}

// ErrNoFileList means dpkg keeps no list of a package's files (a distroless status.d entry, or
// an info directory removed to make the image smaller).
var ErrNoFileList = errors.New("no dpkg file list")

// FileList reads the paths dpkg installed for pkg, as its info/<name>[:arch].list says: files,
// directories and links alike, in dpkg's order.
func FileList(ctx context.Context, f Files, pkg DebPackage) ([]string, error) {
	names := []string{path.Join(dpkgInfo, pkg.Name+".list")}
	if pkg.Arch != "" {
		names = append([]string{path.Join(dpkgInfo, pkg.Name+":"+pkg.Arch+".list")}, names...)
	}
	for _, name := range names {
		rc, err := openRegular(f, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var out []string
		sc := bufio.NewScanner(newLimitedReader(rc, maxFileList, name))
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			if len(out)%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if p := strings.TrimSpace(sc.Text()); strings.HasPrefix(p, "/") {
				if len(out) >= maxListLines {
					return nil, fmt.Errorf("%s: %w: more than %d paths", name, ErrTooLarge, maxListLines)
				}
				out = append(out, p)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: %w", pkg.Name, ErrNoFileList)
}
