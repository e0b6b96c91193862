package pedigree

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/patchtext"
)

// Sentinel errors, wrapped with the input and file at fault; callers branch with errors.Is.
var (
	ErrOptions    = errors.New("bad option")
	ErrPatchesDir = errors.New("not a readable directory")
	ErrNotPatch   = patchtext.ErrNotPatch
	ErrUnreadable = errors.New("cannot read")
	ErrEscape     = errors.New("escapes patches-dir")
	ErrLayout     = errors.New("unsupported patch tree layout")
	ErrSeries     = errors.New("bad series entry")
	ErrDuplicate  = errors.New("duplicate")
	ErrUnmatched  = errors.New("matches no component in the image")
	ErrAmbiguous  = errors.New("matches components in more than one ecosystem")
	ErrConstraint = errors.New("bad constraint")
	ErrTooLarge   = localfile.ErrTooLarge // a file or tree over its limit; the message says which
)

// DefaultMaxInlineDiff is the largest patch embedded as diff.text when no patches-base-url is
// given; a larger one is recorded without its text, with a warning.
const DefaultMaxInlineDiff = 512 << 10

// Unmatched is what a patch for a component the image does not have gets (input unmatched-patches).
type Unmatched string

const (
	UnmatchedError Unmatched = "error" // the run fails, naming close component names
	UnmatchedWarn  Unmatched = "warn"  // a warning in the log and summary
)

// Options are the pedigree inputs, as config validated them.
type Options struct {
	PatchesDir      string    // patches-dir; "" means no patches
	BaseURL         string    // patches-base-url; "" embeds each diff inline
	ConstraintsFile string    // constraint-overrides; "" means none; shown in messages as given
	Unmatched       Unmatched // unmatched-patches; the zero value is UnmatchedError
	Namespace       string    // property-namespace; required
	MaxInlineDiff   int       // bytes; 0 means DefaultMaxInlineDiff
}

// Patched is one component the stage changed, for the job summary table.
type Patched struct {
	Name     string
	Version  string
	PURL     string
	Patches  int      // patches recorded in its pedigree
	Resolves []string // issue ids its patches resolve (LP#N, CVE-…, …)
	Override string   // the constraint-override property value, or ""
}

// Result says what Apply recorded.
type Result struct {
	Components []Patched // sorted by name, version, purl
	Warnings   []string  // for the job summary: unmatched patches in warn mode, overrides not in effect, …
}

// PatchedCount is the number of components that received at least one patch (the
// patched-count output); components with only a constraint override are not counted.
func (r *Result) PatchedCount() int {
	if r == nil {
		return 0
	}
	n := 0
	for _, c := range r.Components {
		if c.Patches > 0 {
			n++
		}
	}
	return n
}

// plan is what will be written to one component.
type plan struct {
	comp     *component
	patches  []cyclonedx.Patch
	commits  []cyclonedx.Commit
	notes    []string
	resolves []string
	override string
	names    map[string]string // patch file name → its path, to catch two patches with one name
}

// Apply records the patches and pins of set on the matching components of bom, in place. It
// reads no file: set was read by Load, once for every platform. Every problem found is reported
// together; on any error bom is left unchanged.
func Apply(bom *cyclonedx.BOM, set *Set) (*Result, error) {
	if bom == nil {
		return nil, fmt.Errorf("pedigree: %w: no SBOM", ErrOptions)
	}
	if set == nil {
		return nil, fmt.Errorf("pedigree: %w: no patches or constraints loaded", ErrOptions)
	}
	opts := set.opts
	ix := newIndex(bom)
	plans := map[*cyclonedx.Component]*plan{}
	planFor := func(c *component) *plan {
		p := plans[c.c]
		if p == nil {
			p = &plan{comp: c, names: map[string]string{}}
			plans[c.c] = p
		}
		return p
	}
	res := &Result{Warnings: append([]string(nil), set.warnings...)}
	var errs []error

	// targets[i] are the components set.dirs[i] patches; nil for a directory whose problem is
	// already reported, or that is skipped (skip[i]) because it matches nothing in warn mode.
	targets := make([][]*component, len(set.dirs))
	skip := make([]bool, len(set.dirs))
	for i, d := range set.dirs {
		hits := ix.lookup(d.typ, d.name)
		switch len(hits) {
		case 0:
			err := unmatched(ix, "patches-dir: "+d.dir+"/", d.typ, d.name)
			if opts.Unmatched == UnmatchedWarn {
				res.Warnings = append(res.Warnings, err.Error()+"; its patches are not recorded")
				skip[i] = true
				continue
			}
			errs = append(errs, err)
			continue
		case 1:
		default:
			var alts []string
			for _, typ := range sortedKeys(hits) {
				alts = append(alts, typ+":"+d.name)
			}
			errs = append(errs, fmt.Errorf("patches-dir: %s/: %w; name the ecosystem in the directory name: %s", d.dir, ErrAmbiguous, strings.Join(alts, " or ")))
			continue
		}
		for _, cs := range hits {
			targets[i] = cs
		}
		for _, c := range targets[i] {
			p := planFor(c)
			for _, lp := range d.patches {
				name := path.Base(lp.rel)
				if first, dup := p.names[name]; dup {
					errs = append(errs, fmt.Errorf("patches-dir: %s: %w: %s has the same name and patches the same component (%s)", lp.rel, ErrDuplicate, first, c.c.PackageURL))
					continue
				}
				p.names[name] = lp.rel
			}
		}
	}
	for i, d := range set.dirs {
		if skip[i] {
			continue
		}
		for _, lp := range d.patches {
			if lp.warn != "" {
				res.Warnings = append(res.Warnings, lp.warn)
			}
			for _, c := range targets[i] {
				addPatch(planFor(c), lp.rel, lp.patch, lp.hdr)
			}
		}
	}

	if opts.ConstraintsFile != "" {
		errs = append(errs, applyConstraints(ix, planFor, set.constraints, opts.ConstraintsFile, res)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, p := range plans {
		write(p, opts.Namespace)
		row := Patched{Name: p.comp.c.Name, Version: p.comp.c.Version, PURL: p.comp.c.PackageURL, Patches: len(p.patches), Resolves: p.resolves, Override: p.override}
		if row.Patches > 0 || row.Override != "" {
			res.Components = append(res.Components, row)
		}
	}
	sort.Slice(res.Components, func(i, j int) bool {
		a, b := res.Components[i], res.Components[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.PURL < b.PURL
	})
	return res, nil
}

// unmatched explains a name that matches nothing, with the names in the image it resembles.
func unmatched(ix *index, where, typ, name string) error {
	what := "package " + name
	if typ != "" {
		what = typ + " package " + name
	}
	detail := "no " + what
	if close := ix.closeNames(name); len(close) > 0 {
		detail += " (close names in the image: " + strings.Join(close, ", ") + ")"
	} else {
		detail += fmt.Sprintf(" (nothing similar among its %d package names)", len(ix.names))
	}
	return fmt.Errorf("%s: %w: %s", where, ErrUnmatched, detail)
}

// escapePath makes a tree path a URL path, segment by segment, keeping its slashes.
func escapePath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func addPatch(p *plan, rel string, patch cyclonedx.Patch, hdr *patchtext.Header) {
	// One patch file may apply to several components (a package installed twice); each gets
	// its own copy so a later stage editing one does not edit the other.
	if patch.Diff != nil {
		d := *patch.Diff
		if d.Text != nil {
			text := *d.Text
			d.Text = &text
		}
		patch.Diff = &d
	}
	if len(hdr.Resolves) > 0 {
		issues := make([]cyclonedx.Issue, 0, len(hdr.Resolves))
		for _, r := range hdr.Resolves {
			is := r.Issue
			if is.Source != nil {
				src := *is.Source
				is.Source = &src
			}
			if r.Partial {
				is.Description = "Partially resolved by patch " + rel
			} else {
				is.Description = "Resolved by patch " + rel
			}
			issues = append(issues, is)
			if !contains(p.resolves, is.ID) {
				p.resolves = append(p.resolves, is.ID)
			}
		}
		patch.Resolves = &issues
	}
	p.patches = append(p.patches, patch)
	if hdr.Commit != nil {
		c := *hdr.Commit
		if c.Author != nil {
			a := *c.Author
			c.Author = &a
		}
		p.commits = append(p.commits, c)
	}
	for _, r := range hdr.Related {
		p.notes = append(p.notes, rel+": "+r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// write puts a plan on its component, after anything the SBOM already said.
func write(p *plan, ns string) {
	c := p.comp.c
	if len(p.patches) > 0 || len(p.commits) > 0 || len(p.notes) > 0 {
		if c.Pedigree == nil {
			c.Pedigree = &cyclonedx.Pedigree{}
		}
		ped := c.Pedigree
		if len(p.patches) > 0 {
			var all []cyclonedx.Patch
			if ped.Patches != nil {
				all = append(all, *ped.Patches...)
			}
			all = append(all, p.patches...)
			ped.Patches = &all
		}
		if len(p.commits) > 0 {
			var all []cyclonedx.Commit
			if ped.Commits != nil {
				all = append(all, *ped.Commits...)
			}
			all = append(all, p.commits...)
			ped.Commits = &all
		}
		if len(p.notes) > 0 {
			notes := strings.Join(p.notes, "\n")
			if ped.Notes != "" {
				notes = ped.Notes + "\n" + notes
			}
			ped.Notes = notes
		}
	}
	if p.override != "" {
		var props []cyclonedx.Property
		if c.Properties != nil {
			props = append(props, *c.Properties...)
		}
		props = append(props, cyclonedx.Property{Name: ns + ":constraint-override", Value: p.override})
		c.Properties = &props
	}
}

// applyConstraints records each pin of the constraints file name on the components it is in effect for.
func applyConstraints(ix *index, planFor func(*component) *plan, cons []constraint, name string, res *Result) []error {
	var errs []error
	for _, c := range cons {
		where := fmt.Sprintf("constraint-overrides: %s:%d: %s%s%s", name, c.line, c.name, c.op, c.version)
		hits := ix.lookup("pypi", c.name)["pypi"]
		if len(hits) == 0 {
			err := unmatched(ix, where, "pypi", c.name)
			if c.marker != "" {
				// The marker may exclude this interpreter; the pin then rightly matches nothing.
				res.Warnings = append(res.Warnings, err.Error()+"; its marker ("+c.marker+") may exclude it")
				continue
			}
			errs = append(errs, err)
			continue
		}
		for _, comp := range hits {
			if !sameVersion(c.op, c.version, comp.c.Version) {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: the image has %s %s, so the override is not in effect there (%s); not recorded", where, comp.c.Name, comp.c.Version, comp.c.PackageURL))
				continue
			}
			planFor(comp).override = overrideText(c, name)
		}
	}
	return errs
}

// overrideText is the constraint-override property value, e.g.
// "Upgraded from 44.0.0 via overrides/constraints.txt (CVE-2025-XXXX)".
func overrideText(c constraint, file string) string {
	var s string
	if c.was != "" {
		verb := "Changed"
		switch compareVersions(c.version, c.was) {
		case 1:
			verb = "Upgraded"
		case -1:
			verb = "Downgraded"
		}
		s = fmt.Sprintf("%s from %s via %s", verb, c.was, file)
	} else {
		s = fmt.Sprintf("Pinned to %s via %s", c.version, file)
	}
	if c.reason != "" {
		s += " (" + c.reason + ")"
	}
	return s
}
