package sbom

import (
	"sort"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// compositions states how complete the dependencies of each component are. A Debian package's
// are complete when dpkg's status database was read whole and every one of its Depends and
// Pre-Depends is satisfied by an installed package, whose edge the graph then has (added here
// when Syft's graph lacks it: Syft does not read "perl:any"); incomplete when one is not
// satisfied. Every other component's are unknown: a Python or npm package names what it needs
// with markers and ranges bom-attest does not evaluate. The image's own inventory is unknown
// too: software no package database lists is not in it.
func (e *Enrichment) compositions(bom *cyclonedx.BOM, im *pkgdb.Image, recs []pkgdb.Record) {
	comps := *bom.Components
	var complete, incomplete, unknown []cyclonedx.BOMReference
	debRef := map[int]string{}
	for i, r := range recs {
		if r.Type == "deb" && r.Deb >= 0 && comps[i].BOMRef != "" {
			debRef[r.Deb] = comps[i].BOMRef
		}
	}
	var unsatisfied map[int]bool
	if im.Dpkg != nil && im.Dpkg.Complete {
		unsatisfied = e.debDependencies(bom, im, debRef)
	}
	for i := range comps {
		c := &comps[i]
		if c.BOMRef == "" || c.Type == cyclonedx.ComponentTypeFile {
			continue
		}
		r := recs[i]
		switch {
		case r.Type == "deb" && r.Deb >= 0 && unsatisfied != nil && !unsatisfied[r.Deb]:
			complete = append(complete, cyclonedx.BOMReference(c.BOMRef))
		case r.Type == "deb" && r.Deb >= 0 && unsatisfied != nil:
			incomplete = append(incomplete, cyclonedx.BOMReference(c.BOMRef))
			e.Gaps.Set(c.BOMRef, check.FieldDependencies, check.WhyUnknown, "a Depends of its dpkg entry is satisfied by no installed package")
		default:
			unknown = append(unknown, cyclonedx.BOMReference(c.BOMRef))
			why := "bom-attest cannot tell whether every dependency of " + kindOf(r.Type) + " was found"
			if r.Type == "deb" {
				why = "the dpkg status database was not read whole (or names more dependencies than bom-attest checks)"
			}
			e.Gaps.Set(c.BOMRef, check.FieldDependencies, check.WhyUnknown, why)
		}
	}
	var out []cyclonedx.Composition
	if bom.Metadata != nil && bom.Metadata.Component != nil && bom.Metadata.Component.BOMRef != "" {
		out = append(out, cyclonedx.Composition{Aggregate: cyclonedx.CompositionAggregateUnknown,
			Assemblies: &[]cyclonedx.BOMReference{cyclonedx.BOMReference(bom.Metadata.Component.BOMRef)}})
	}
	for _, g := range []struct {
		agg  cyclonedx.CompositionAggregate
		refs []cyclonedx.BOMReference
	}{{cyclonedx.CompositionAggregateComplete, complete}, {cyclonedx.CompositionAggregateIncomplete, incomplete}, {cyclonedx.CompositionAggregateUnknown, unknown}} {
		if len(g.refs) > 0 {
			refs := g.refs
			out = append(out, cyclonedx.Composition{Aggregate: g.agg, Dependencies: &refs})
		}
	}
	if len(out) > 0 {
		bom.Compositions = &out
	}
}

func kindOf(t string) string {
	switch t {
	case "pypi":
		return "a Python package"
	case "npm":
		return "an npm package"
	case "deb":
		return "a Debian package"
	}
	return "a component no package database lists"
}

// debDependencies checks every installed package's Depends and Pre-Depends against what is
// installed (names and Provides, arch qualifiers such as ":any" ignored) and adds to the graph
// the edge of each satisfied clause it lacks. It returns the packages with a clause nothing
// installed satisfies.
func (e *Enrichment) debDependencies(bom *cyclonedx.BOM, im *pkgdb.Image, debRef map[int]string) map[int]bool {
	pkgs := im.Dpkg.Packages
	provides := map[string][]int{}
	for i, p := range pkgs {
		provides[p.Name] = append(provides[p.Name], i)
		for _, pv := range splitList(p.Provides) {
			if n := depName(pv); n != "" && n != p.Name {
				provides[n] = append(provides[n], i)
			}
		}
	}
	var deps []cyclonedx.Dependency
	if bom.Dependencies != nil {
		deps = *bom.Dependencies
	}
	index := map[string]int{}
	edges := map[string]map[string]bool{}
	for i, d := range deps {
		index[d.Ref] = i
		set := map[string]bool{}
		if d.Dependencies != nil {
			for _, r := range *d.Dependencies {
				set[r] = true
			}
		}
		edges[d.Ref] = set
	}
	unsatisfied := map[int]bool{}
	changed := map[string]bool{}
	// A hostile status database (thousands of packages providing one name, each depending on
	// it) must not make this quadratic: past the budget, no completeness is claimed.
	budget := 50 * (len(pkgs) + 1000)
	for i, p := range pkgs {
		ref, ok := debRef[i]
		if !ok {
			continue
		}
		for _, clause := range splitList(p.Depends + "," + p.PreDepends) {
			var first string
			has := false
			for _, alt := range strings.Split(clause, "|") {
				provs := provides[depName(alt)]
				if budget -= len(provs) + 1; budget < 0 {
					return nil
				}
				for _, j := range provs {
					to, ok := debRef[j]
					if !ok || j == i {
						continue
					}
					if first == "" {
						first = to
					}
					has = has || edges[ref][to]
				}
			}
			switch {
			case has:
			case first == "":
				unsatisfied[i] = true
			default:
				if edges[ref] == nil {
					edges[ref] = map[string]bool{}
				}
				edges[ref][first] = true
				changed[ref] = true
				e.AddedEdges++
			}
		}
	}
	for ref := range changed {
		list := make([]string, 0, len(edges[ref]))
		for to := range edges[ref] {
			list = append(list, to)
		}
		sort.Strings(list)
		if i, ok := index[ref]; ok {
			deps[i].Dependencies = &list
		} else {
			deps = append(deps, cyclonedx.Dependency{Ref: ref, Dependencies: &list})
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Ref < deps[j].Ref })
	if len(deps) > 0 {
		bom.Dependencies = &deps
	}
	return unsatisfied
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// depName is the package name of one alternative of a Depends clause: "perl:any (>= 5.36)
// [amd64] <!nocheck>" is perl.
func depName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " ([<"); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}
