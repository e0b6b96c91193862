package hashes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// pypiRelease is the part of PyPI's JSON answer for one release bom-attest uses.
type pypiRelease struct {
	files []pypiFile
}

type pypiFile struct {
	Filename    string `json:"filename"`
	URL         string `json:"url"`
	PackageType string `json:"packagetype"` // bdist_wheel, sdist, …
	Size        int64  `json:"size"`
	Digests     struct {
		SHA256 string `json:"sha256"`
	} `json:"digests"`
}

// resolvePyPI looks up, for each Python component not installed by a .deb and without a
// recorded artifact, the file of its release on PyPI that was installed: the wheel whose tags
// are the ones its WHEEL lists, or else the release's one sdist.
func (r *Resolver) resolvePyPI(ctx context.Context, targets []*target, fail func(*target, string, ...any)) {
	var wg sync.WaitGroup
	for _, t := range targets {
		if t.rec.Type != "pypi" || t.res.Artifact != nil || t.rec.Owner >= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := r.pypiArtifact(ctx, t)
			if err != nil {
				fail(t, "PyPI: %v", err)
				t.res.NoArtifact = "PyPI lookup failed: " + err.Error()
				return
			}
			t.res.Artifact, t.res.NoArtifact = a, ""
		}()
	}
	wg.Wait()
}

func (r *Resolver) pypiArtifact(ctx context.Context, t *target) (*Artifact, error) {
	key := strings.ToLower(t.rec.Name) + "@" + t.rec.Version
	rel, err := cached(r, r.pypi, key).get(func() (*pypiRelease, error) {
		return r.fetchRelease(ctx, t.rec.Name, t.rec.Version)
	})
	if err != nil {
		return nil, err
	}
	var tags []string
	if t.rec.Dist != nil {
		tags = normTags(t.rec.Dist.Tags)
	}
	var wheel, sdist []pypiFile
	for _, f := range rel.files {
		switch f.PackageType {
		case "bdist_wheel":
			if ft, ok := wheelTags(f.Filename, t.rec.Name); ok && len(tags) > 0 && slices.Equal(ft, tags) {
				wheel = append(wheel, f)
			}
		case "sdist":
			sdist = append(sdist, f)
		}
	}
	var chosen pypiFile
	switch {
	case len(wheel) == 1:
		chosen = wheel[0]
	case len(wheel) > 1:
		return nil, fmt.Errorf("%d wheels of %s %s have the tags its WHEEL lists", len(wheel), t.rec.Name, t.rec.Version)
	case len(sdist) == 1:
		// No published wheel has its tags: pip built the wheel from this sdist.
		chosen = sdist[0]
	case len(tags) == 0:
		return nil, fmt.Errorf("%s %s: %w: no WHEEL tags to choose a file by, and no single sdist", t.rec.Name, t.rec.Version, ErrNotFound)
	default:
		return nil, fmt.Errorf("%s %s: %w: no file with the tags %s", t.rec.Name, t.rec.Version, ErrNotFound, strings.Join(tags, ", "))
	}
	a := &Artifact{Kind: KindResolved, From: "PyPI", URL: chosen.URL, Filename: chosen.Filename,
		SHA256: chosen.Digests.SHA256, Size: chosen.Size}
	if len(sdist) == 1 {
		a.SourceURL = sdist[0].URL
	}
	return a, nil
}

func (r *Resolver) fetchRelease(ctx context.Context, name, version string) (*pypiRelease, error) {
	u := r.o.PyPIURL + "/pypi/" + url.PathEscape(name) + "/" + url.PathEscape(version) + "/json"
	var answer struct {
		URLs []pypiFile `json:"urls"`
	}
	err := r.get(ctx, u, maxPyPIJSON, r.o.Timeout, func(body io.Reader) error {
		if err := json.NewDecoder(body).Decode(&answer); err != nil {
			return fmt.Errorf("GET %s: not PyPI's JSON: %w", redact(u), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(r.o.PyPIURL)
	rel := &pypiRelease{}
	for _, f := range answer.URLs {
		f.Digests.SHA256 = strings.ToLower(f.Digests.SHA256)
		if err := checkFile(f, base); err != nil {
			continue
		}
		rel.files = append(rel.files, f)
	}
	if len(rel.files) == 0 {
		return nil, fmt.Errorf("%s %s: %w: PyPI lists no usable file", name, version, ErrNotFound)
	}
	return rel, nil
}

// checkFile accepts a file entry of PyPI's answer only with a plain file name, a SHA-256 and
// an https URL (or, for a loopback PyPI, a URL on the same host).
func checkFile(f pypiFile, base *url.URL) error {
	if !pkgdb.IsHexDigest(f.Digests.SHA256, 64) {
		return errors.New("no SHA-256")
	}
	if f.Filename == "" || path.Base(f.Filename) != f.Filename || strings.ContainsAny(f.Filename, "\x00\\") || len(f.Filename) > 255 {
		return errors.New("not a file name")
	}
	u, err := url.Parse(f.URL)
	if err != nil || u.Host == "" {
		return errors.New("not a URL")
	}
	if u.Scheme != "https" && !(u.Scheme == base.Scheme && u.Host == base.Host) {
		return errors.New("not an https URL")
	}
	if f.Size < 0 {
		return errors.New("negative size")
	}
	return nil
}
