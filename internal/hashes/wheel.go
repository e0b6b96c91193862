package hashes

import (
	"slices"
	"sort"
	"strings"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// wheelTags expands a wheel file name's compressed tag sets (PEP 425: "py2.py3-none-any") into
// the tags WHEEL lists, one per line. ok is false for a name that is not a wheel's, or that
// belongs to another distribution.
func wheelTags(filename, dist string) (tags []string, ok bool) {
	base, isWheel := strings.CutSuffix(strings.ToLower(filename), ".whl")
	if !isWheel {
		return nil, false
	}
	parts := strings.Split(base, "-")
	if len(parts) != 5 && len(parts) != 6 {
		return nil, false
	}
	if pkgdb.NormalizeName(parts[0]) != pkgdb.NormalizeName(dist) {
		return nil, false
	}
	n := len(parts)
	py, abi, plat := strings.Split(parts[n-3], "."), strings.Split(parts[n-2], "."), strings.Split(parts[n-1], ".")
	if len(py)*len(abi)*len(plat) > 4096 {
		return nil, false
	}
	for _, a := range py {
		for _, b := range abi {
			for _, c := range plat {
				tags = append(tags, a+"-"+b+"-"+c)
			}
		}
	}
	return normTags(tags), true
}

func normTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, strings.ToLower(strings.TrimSpace(t)))
	}
	sort.Strings(out)
	return slices.Compact(out)
}
