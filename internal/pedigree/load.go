package pedigree

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/patchtext"
)

// Set is the patch tree and constraints file of Options, read and checked once, before the
// image, and then applied to the SBOM of every platform. It holds no open file, and Apply
// does not change it.
type Set struct {
	opts        Options
	warnings    []string // about the tree itself, alike for every platform
	dirs        []loadedDir
	constraints []constraint
}

// loadedDir is one component directory of the tree with its patches read.
type loadedDir struct {
	patchDir
	patches []loadedPatch
}

// loadedPatch is one patch file, read: what Apply records for each component it patches.
type loadedPatch struct {
	rel   string
	patch cyclonedx.Patch
	hdr   *patchtext.Header
	warn  string // a note for the summary where the patch is recorded, e.g. over the inline limit
}

// Patches is the number of patch files read.
func (s *Set) Patches() int {
	n := 0
	for _, d := range s.dirs {
		n += len(d.patches)
	}
	return n
}

// Components is the number of component directories that hold patches.
func (s *Set) Components() int { return len(s.dirs) }

// Overrides is the number of pins read from the constraints file.
func (s *Set) Overrides() int { return len(s.constraints) }

// Load reads and checks opts.PatchesDir and opts.ConstraintsFile completely: every problem that
// does not need the image (an unreadable or non-regular file, a symlink leaving patches-dir, a
// file that is not a patch, a duplicate, a bad series entry, a malformed constraint, a file or
// tree over its limit) is reported together. Reads stop when ctx is done.
func Load(ctx context.Context, opts Options) (*Set, error) {
	opts, base, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Set{opts: opts}
	var errs []error
	if opts.PatchesDir != "" {
		t, err := openTree(ctx, opts.PatchesDir)
		if err != nil {
			return nil, err
		}
		defer t.close()
		t.scan()
		errs = append(errs, t.errs...)
		s.warnings = t.warnings
		if !t.over {
			errs = append(errs, s.readPatches(t, base)...)
		}
	}
	if opts.ConstraintsFile != "" {
		cons, err := loadConstraints(ctx, opts.ConstraintsFile)
		if err != nil {
			errs = append(errs, err)
		}
		s.constraints = cons
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pedigree: reading patches-dir and constraint-overrides: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func checkOptions(opts Options) (Options, string, error) {
	switch opts.Unmatched {
	case "":
		opts.Unmatched = UnmatchedError
	case UnmatchedError, UnmatchedWarn:
	default:
		return opts, "", fmt.Errorf("unmatched-patches: %w: %q; want error or warn", ErrOptions, opts.Unmatched)
	}
	opts.Namespace = strings.TrimSpace(opts.Namespace)
	if opts.Namespace == "" {
		return opts, "", fmt.Errorf("pedigree: %w: empty property namespace", ErrOptions)
	}
	if opts.MaxInlineDiff < 0 {
		return opts, "", fmt.Errorf("pedigree: %w: negative inline diff cap %d", ErrOptions, opts.MaxInlineDiff)
	}
	if opts.MaxInlineDiff == 0 {
		opts.MaxInlineDiff = DefaultMaxInlineDiff
	}
	base := strings.TrimSpace(opts.BaseURL)
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || u.Scheme == "" || u.Host == "" && u.Scheme != "file" {
			return opts, "", fmt.Errorf("patches-base-url: %w: %q is not an absolute URL", ErrOptions, base)
		}
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
	}
	return opts, base, nil
}

// readPatches reads every patch of the tree once, whichever components it will patch.
func (s *Set) readPatches(t *tree, base string) []error {
	var errs []error
	inline := int64(0) // diff text embedded so far
	for _, d := range t.dirs {
		ld := loadedDir{patchDir: d}
		for _, rel := range d.patches {
			if t.ctx.Err() != nil {
				return errs
			}
			lp, err := readPatch(t, rel, base, s.opts.MaxInlineDiff, &inline)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ld.patches = append(ld.patches, lp)
		}
		s.dirs = append(s.dirs, ld)
	}
	return errs
}

// readPatch reads one patch's header and, when it is to be embedded, its text; inline is the
// text embedded from the tree so far, kept under maxInlineTotal.
func readPatch(t *tree, rel, base string, maxInline int, inline *int64) (loadedPatch, error) {
	lp := loadedPatch{rel: rel}
	f, fi, err := t.open(rel)
	if err != nil {
		return lp, err
	}
	defer f.Close()
	if fi.Size() > maxPatchFile {
		return lp, fmt.Errorf("patches-dir: %s: %w: larger than %s, the limit for one patch file", rel, ErrTooLarge, localfile.Size(maxPatchFile))
	}
	r := localfile.Reader(t.ctx, f)
	hdr, err := patchtext.ParseHeader(r)
	switch {
	case errors.Is(err, ErrNotPatch):
		return lp, fmt.Errorf("patches-dir: %s: %w: no diff (a 'diff --git' line, or '---' and '+++' lines) in its first %d KiB", rel, ErrNotPatch, patchtext.MaxScan>>10)
	case err != nil:
		return lp, fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, osReason(err))
	}
	lp.hdr = hdr
	lp.patch.Type = hdr.Kind
	const link = "recorded without its text (set patches-base-url to link it)"
	switch {
	case base != "":
		lp.patch.Diff = &cyclonedx.Diff{URL: base + escapePath(rel)}
	case fi.Size() > int64(maxInline):
		lp.warn = fmt.Sprintf("patches-dir: %s: %d bytes, over the %d-byte inline diff limit; %s", rel, fi.Size(), maxInline, link)
	case *inline+fi.Size() > maxInlineTotal:
		lp.warn = fmt.Sprintf("patches-dir: %s: the patches before it already embed %s of diff text, the limit for one SBOM; %s", rel, localfile.Size(maxInlineTotal), link)
	default:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return lp, fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, osReason(err))
		}
		body, err := io.ReadAll(io.LimitReader(r, int64(maxInline)+1))
		switch {
		case err != nil:
			return lp, fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, osReason(err))
		case len(body) > maxInline:
			// The file grew since it was opened.
			lp.warn = fmt.Sprintf("patches-dir: %s: over the %d-byte inline diff limit; %s", rel, maxInline, link)
		default:
			*inline += int64(len(body))
			lp.patch.Diff = &cyclonedx.Diff{Text: &cyclonedx.AttachedText{
				ContentType: "text/x-diff",
				Encoding:    "base64",
				Content:     base64.StdEncoding.EncodeToString(body),
			}}
		}
	}
	return lp, nil
}

// loadConstraints reads the constraints file name, as the user gave it.
func loadConstraints(ctx context.Context, name string) ([]constraint, error) {
	f, fi, err := localfile.OpenWith(func(flag int) (*os.File, error) { return os.OpenFile(name, flag, 0) })
	if err != nil {
		return nil, fmt.Errorf("constraint-overrides: %s: %w: %w", name, ErrConstraint, osReason(err))
	}
	defer f.Close()
	if fi.Size() > maxConstraintsFile {
		return nil, tooLargeConstraints(name)
	}
	return parseConstraints(localfile.Reader(ctx, f), name)
}

func tooLargeConstraints(name string) error {
	return fmt.Errorf("constraint-overrides: %s: %w: %w: larger than %s; a constraints file is a short list of pins", name, ErrConstraint, ErrTooLarge, localfile.Size(maxConstraintsFile))
}
