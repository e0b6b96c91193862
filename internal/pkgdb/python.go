package pkgdb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Limits on a distribution's metadata files. METADATA holds the long description after its
// headers, which is not read; RECORD lists every installed file.
const (
	maxMetadataHeaders = 1 << 20
	maxWheelFile       = 64 << 10
	maxDirectURL       = 64 << 10
	maxRecord          = 32 << 20
	maxRecordLines     = 500_000
	maxTopLevel        = 64 << 10
)

// PythonDist is one installed Python distribution: a *.dist-info directory (or *.egg-info) and
// what its files say.
type PythonDist struct {
	Dir          string // e.g. /usr/lib/python3/dist-packages/requests-2.28.1.dist-info
	SitePackages string // the directory Dir is in
	EggInfo      bool
	Name         string
	Version      string

	Author, AuthorEmail         string
	Maintainer, MaintainerEmail string
	HomePage                    string
	ProjectURLs                 []ProjectURL
	License, LicenseExpression  string

	Installer string   // INSTALLER: pip, uv, … ("" when absent)
	Tags      []string // WHEEL's Tag: lines, e.g. cp311-cp311-manylinux_2_17_x86_64
	DirectURL *DirectURL
	TopLevel  []string // top_level.txt: the packages and modules the distribution installed
}

// ProjectURL is one Project-URL header: a label and a URL.
type ProjectURL struct{ Label, URL string }

// DirectURL is what direct_url.json (PEP 610) says of an archive installed from a URL.
type DirectURL struct {
	URL    string
	SHA256 string // hex, when the installer recorded it
}

var metadataFields = map[string]bool{
	"name": true, "version": true, "author": true, "author-email": true, "maintainer": true,
	"maintainer-email": true, "home-page": true, "project-url": true, "license": true, "license-expression": true,
}

// ReadPythonDists finds every dist-info and egg-info directory in the image and reads its
// metadata. A directory whose METADATA or PKG-INFO cannot be read is a warning.
func ReadPythonDists(ctx context.Context, f Files) ([]*PythonDist, []string, error) {
	var metas []string
	for _, pat := range []string{"/**/*.dist-info/METADATA", "/**/*.egg-info/PKG-INFO"} {
		found, err := f.Glob(pat)
		if err != nil {
			return nil, nil, err
		}
		metas = append(metas, found...)
	}
	sort.Strings(metas)
	var out []*PythonDist
	var warnings []string
	for i, m := range metas {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		d, err := readPythonDist(f, m)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("Python metadata %s not read: %v", m, err))
			continue
		}
		out = append(out, d)
	}
	return out, warnings, nil
}

func readPythonDist(f Files, metaPath string) (*PythonDist, error) {
	d := &PythonDist{Dir: path.Dir(metaPath)}
	d.SitePackages = path.Dir(d.Dir)
	d.EggInfo = strings.HasSuffix(d.Dir, ".egg-info")
	hdr, err := readHeaders(f, metaPath)
	if err != nil {
		return nil, err
	}
	first := func(k string) string {
		if v := hdr[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	d.Name, d.Version = first("name"), first("version")
	if d.Name == "" || d.Version == "" {
		return nil, errors.New("no Name or Version")
	}
	d.Author, d.AuthorEmail = first("author"), first("author-email")
	d.Maintainer, d.MaintainerEmail = first("maintainer"), first("maintainer-email")
	d.HomePage = first("home-page")
	d.License, d.LicenseExpression = first("license"), first("license-expression")
	for _, v := range hdr["project-url"] {
		label, u, ok := strings.Cut(v, ",")
		if ok {
			d.ProjectURLs = append(d.ProjectURLs, ProjectURL{Label: strings.TrimSpace(label), URL: strings.TrimSpace(u)})
		}
	}
	if b, err := ReadFile(f, path.Join(d.Dir, "INSTALLER"), 256); err == nil {
		d.Installer = strings.TrimSpace(string(b))
	}
	if b, err := ReadFile(f, path.Join(d.Dir, "WHEEL"), maxWheelFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "tag") {
				if t := strings.TrimSpace(v); t != "" {
					d.Tags = append(d.Tags, strings.ToLower(t))
				}
			}
		}
	}
	if b, err := ReadFile(f, path.Join(d.Dir, "direct_url.json"), maxDirectURL); err == nil {
		d.DirectURL = parseDirectURL(b)
	}
	if b, err := ReadFile(f, path.Join(d.Dir, "top_level.txt"), maxTopLevel); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.Contains(t, "..") {
				d.TopLevel = append(d.TopLevel, t)
			}
		}
	}
	return d, nil
}

// readHeaders reads the RFC 822 headers of METADATA / PKG-INFO, up to the blank line before the
// description, keeping the fields bom-attest uses (several Project-URL lines). A header's
// continuation lines are joined with spaces, up to 256 KiB a header.
func readHeaders(f Files, name string) (map[string][]string, error) {
	rc, err := openRegular(f, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(newLimitedReader(rc, maxMetadataHeaders, name), 16<<10)
	type entry struct {
		key string
		b   strings.Builder
	}
	var (
		entries []*entry
		last    *entry
		counts  = map[string]int{}
	)
	done := func() map[string][]string {
		hdr := map[string][]string{}
		for _, e := range entries {
			hdr[e.key] = append(hdr[e.key], e.b.String())
		}
		return hdr
	}
	for {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, ErrTooLarge) && len(entries) > 0 {
				// Headers come first; a description that runs past the limit loses nothing read.
				return done(), nil
			}
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return done(), nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if v := bytes.TrimSpace(line); last != nil && last.b.Len()+1+len(v) <= maxDeb822Value {
				last.b.WriteByte(' ')
				last.b.Write(v)
			}
		} else if k, v, ok := bytes.Cut(line, []byte(":")); ok {
			key := strings.ToLower(string(bytes.TrimSpace(k)))
			last = nil
			if metadataFields[key] && counts[key] < 64 {
				counts[key]++
				last = &entry{key: key}
				last.b.Write(bytes.TrimSpace(v))
				entries = append(entries, last)
			}
		}
		if errors.Is(err, io.EOF) {
			return done(), nil
		}
	}
}

func parseDirectURL(b []byte) *DirectURL {
	var v struct {
		URL         string `json:"url"`
		ArchiveInfo *struct {
			Hash   string            `json:"hash"`
			Hashes map[string]string `json:"hashes"`
		} `json:"archive_info"`
	}
	if json.Unmarshal(b, &v) != nil || v.URL == "" || v.ArchiveInfo == nil {
		return nil
	}
	u, err := url.Parse(v.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") {
		return nil
	}
	d := &DirectURL{URL: v.URL}
	if s := strings.ToLower(v.ArchiveInfo.Hashes["sha256"]); hex64(s) {
		d.SHA256 = s
	} else if alg, s, ok := strings.Cut(v.ArchiveInfo.Hash, "="); ok && alg == "sha256" && hex64(strings.ToLower(s)) {
		d.SHA256 = strings.ToLower(s)
	}
	return d
}

// ArchiveName is the file name of the archive a direct URL points at ("" for none).
func (u *DirectURL) ArchiveName() string {
	pu, err := url.Parse(u.URL)
	if err != nil {
		return ""
	}
	name := path.Base(pu.Path)
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// ErrNoRecord means a distribution names none of its files: no RECORD (Debian's Python
// packages drop it), no installed-files.txt, no top_level.txt.
var ErrNoRecord = errors.New("no list of installed files")

// InstalledFiles lists the absolute paths of the files the distribution installed, from RECORD
// (dist-info) or installed-files.txt (egg-info); without either, the files under the packages
// top_level.txt names and the metadata directory itself.
func (d *PythonDist) InstalledFiles(ctx context.Context, f Files) ([]string, error) {
	if d.EggInfo {
		if paths, err := d.lines(f, "installed-files.txt", d.Dir); err == nil {
			return paths, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	} else if paths, err := d.record(f); err == nil {
		return paths, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(d.TopLevel) == 0 {
		return nil, fmt.Errorf("%s: %w", d.Dir, ErrNoRecord)
	}
	seen := map[string]bool{}
	var out []string
	add := func(paths []string) {
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, dir := range append([]string{d.Dir}, d.topLevelDirs()...) {
		under, err := f.Under(ctx, dir)
		if err != nil {
			return nil, err
		}
		add(under)
	}
	for _, t := range d.TopLevel {
		mod := path.Join(d.SitePackages, t+".py")
		if info, err := f.Stat(mod); err == nil && info.Regular() {
			add([]string{mod})
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *PythonDist) topLevelDirs() []string {
	var out []string
	for _, t := range d.TopLevel {
		out = append(out, path.Join(d.SitePackages, t))
	}
	return out
}

// record reads RECORD: CSV rows of path, hash, size, paths relative to site-packages.
func (d *PythonDist) record(f Files) ([]string, error) {
	rc, err := openRegular(f, path.Join(d.Dir, "RECORD"))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := csv.NewReader(newLimitedReader(rc, maxRecord, path.Join(d.Dir, "RECORD")))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var out []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s/RECORD: %w", d.Dir, err)
		}
		if len(rec) == 0 || rec[0] == "" {
			continue
		}
		if len(out) >= maxRecordLines {
			return nil, fmt.Errorf("%s/RECORD: %w: more than %d files", d.Dir, ErrTooLarge, maxRecordLines)
		}
		out = append(out, d.abs(rec[0]))
	}
	return out, nil
}

func (d *PythonDist) lines(f Files, name, rel string) ([]string, error) {
	b, err := ReadFile(f, path.Join(d.Dir, name), maxRecord)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if p := strings.TrimSpace(line); p != "" {
			if len(out) >= maxRecordLines {
				return nil, fmt.Errorf("%s/%s: %w: more than %d files", d.Dir, name, ErrTooLarge, maxRecordLines)
			}
			if strings.HasPrefix(p, "/") {
				out = append(out, path.Clean(p))
			} else {
				out = append(out, path.Join(rel, p))
			}
		}
	}
	return out, nil
}

// abs makes a RECORD path (relative to site-packages, "../../bin/x" for scripts) absolute.
func (d *PythonDist) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(d.SitePackages, p)
}

var pep503 = regexp.MustCompile(`[-_.]+`)

// NormalizeName is a Python distribution name as PEP 503 compares them.
func NormalizeName(name string) string {
	return strings.ToLower(pep503.ReplaceAllString(name, "-"))
}
