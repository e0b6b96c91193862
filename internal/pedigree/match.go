package pedigree

import (
	"net/url"
	"regexp"
	"sort"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/suggest"
)

// purlName is the part of a package URL that identifies a package across versions.
type purlName struct {
	typ, namespace, name string
}

// parsePURL extracts type, namespace and name from a package URL. It is deliberately lenient:
// a component whose purl it cannot read is simply not a match candidate.
func parsePURL(s string) (purlName, bool) {
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return purlName{}, false
	}
	rest = strings.TrimLeft(rest, "/")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[:i]
	}
	typ, rest, ok := strings.Cut(rest, "/")
	if !ok || typ == "" {
		return purlName{}, false
	}
	rest = strings.Trim(rest, "/")
	ns, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		ns, name = rest[:i], rest[i+1:]
	}
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if n, err := url.PathUnescape(ns); err == nil {
		ns = n
	}
	if name == "" {
		return purlName{}, false
	}
	return purlName{typ: strings.ToLower(typ), namespace: ns, name: name}, true
}

var pep503Separators = regexp.MustCompile(`[-_.]+`)

// normalize maps a package name to the form its ecosystem compares names in: PEP 503 for
// PyPI, where oslo.messaging, oslo-messaging and Oslo_Messaging are one project; exact elsewhere,
// because Debian package names (and most others) are already canonical.
func normalize(typ, name string) string {
	if typ == "pypi" {
		return pep503Separators.ReplaceAllString(strings.ToLower(name), "-")
	}
	return name
}

// component is one BOM component that patches or overrides may target.
type component struct {
	c    *cyclonedx.Component
	purl purlName
}

// index finds BOM components by ecosystem and normalized name.
type index struct {
	byKey map[string][]*component
	types []string // purl types present, sorted, for unprefixed lookups
	names []string // distinct component names, sorted, for "did you mean" hints
}

func newIndex(bom *cyclonedx.BOM) *index {
	ix := &index{byKey: map[string][]*component{}}
	seenType, seenName := map[string]bool{}, map[string]bool{}
	var walk func(cs *[]cyclonedx.Component)
	walk = func(cs *[]cyclonedx.Component) {
		if cs == nil {
			return
		}
		for i := range *cs {
			c := &(*cs)[i]
			if p, ok := parsePURL(c.PackageURL); ok {
				k := p.typ + "/" + normalize(p.typ, p.name)
				ix.byKey[k] = append(ix.byKey[k], &component{c: c, purl: p})
				if !seenType[p.typ] {
					seenType[p.typ] = true
					ix.types = append(ix.types, p.typ)
				}
				if !seenName[p.name] {
					seenName[p.name] = true
					ix.names = append(ix.names, p.name)
				}
			}
			walk(c.Components)
		}
	}
	if bom != nil {
		walk(bom.Components)
	}
	sort.Strings(ix.types)
	sort.Strings(ix.names)
	return ix
}

// lookup returns the components named name in ecosystem typ, or in every ecosystem when typ is
// empty, grouped by ecosystem so a caller can tell an ambiguous name from a match.
func (ix *index) lookup(typ, name string) map[string][]*component {
	out := map[string][]*component{}
	types := ix.types
	if typ != "" {
		types = []string{strings.ToLower(typ)}
	}
	for _, t := range types {
		if cs := ix.byKey[t+"/"+normalize(t, name)]; len(cs) > 0 {
			out[t] = cs
		}
	}
	return out
}

// closeNames lists up to five component names that look like name, closest first, so an
// error for a typo can say what the user probably meant.
func (ix *index) closeNames(name string) []string {
	want := normalize("pypi", name)
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range ix.names {
		got := normalize("pypi", n)
		if len(got) > 4*len(want)+8 || len(want) > 4*len(got)+8 {
			continue
		}
		d := suggest.Distance(want, got)
		limit := max(2, len(want)/3)
		if d <= limit || (len(want) >= 4 && len(got) >= 4 && (strings.Contains(got, want) || strings.Contains(want, got))) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < 5; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// splitEcosystem reads a patch directory name such as "pypi:oslo.messaging" into its optional
// ecosystem prefix (a purl type) and the package name.
func splitEcosystem(dir string) (typ, name string) {
	if t, n, ok := strings.Cut(dir, ":"); ok && validPURLType(t) && n != "" {
		return strings.ToLower(t), n
	}
	return "", dir
}

func validPURLType(t string) bool {
	if t == "" {
		return false
	}
	for i, r := range t {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '+' || r == '-'):
		default:
			return false
		}
	}
	return true
}
