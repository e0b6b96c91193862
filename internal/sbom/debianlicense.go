package sbom

import (
	"regexp"
	"strings"
)

// debianSPDX maps the short names Debian's machine-readable copyright format lists (and the
// spellings packages use for them) to SPDX identifiers. Keys are lower case.
var debianSPDX = map[string]string{
	"apache-1.0": "Apache-1.0", "apache-1.1": "Apache-1.1", "apache-2": "Apache-2.0", "apache-2.0": "Apache-2.0",
	"artistic": "Artistic-1.0-Perl", "artistic-1": "Artistic-1.0-Perl", "artistic-1.0": "Artistic-1.0-Perl", "artistic-2.0": "Artistic-2.0",
	"bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause",
	"bsl-1.0": "BSL-1.0", "boost-1.0": "BSL-1.0",
	"cc-by-3.0": "CC-BY-3.0", "cc-by-4.0": "CC-BY-4.0", "cc-by-sa-3.0": "CC-BY-SA-3.0", "cc-by-sa-4.0": "CC-BY-SA-4.0",
	"cc0": "CC0-1.0", "cc0-1.0": "CC0-1.0",
	"cddl-1.0": "CDDL-1.0", "cpl-1.0": "CPL-1.0", "curl": "curl",
	"epl-1.0": "EPL-1.0", "epl-2.0": "EPL-2.0", "expat": "MIT", "mit": "MIT",
	"gfdl-1.1": "GFDL-1.1-only", "gfdl-1.1+": "GFDL-1.1-or-later", "gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later",
	"gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later", "gfdl-nis": "GFDL-1.2-no-invariants-only",
	"gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later", "gpl-1.0+": "GPL-1.0-or-later",
	"gpl-2": "GPL-2.0-only", "gpl-2.0": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later", "gpl-2.0+": "GPL-2.0-or-later",
	"gpl-3": "GPL-3.0-only", "gpl-3.0": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later", "gpl-3.0+": "GPL-3.0-or-later",
	"agpl-3": "AGPL-3.0-only", "agpl-3.0": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later", "agpl-3.0+": "AGPL-3.0-or-later",
	"lgpl-2": "LGPL-2.0-only", "lgpl-2.0": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later", "lgpl-2.0+": "LGPL-2.0-or-later",
	"lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later", "lgpl-3": "LGPL-3.0-only", "lgpl-3.0": "LGPL-3.0-only",
	"lgpl-3+": "LGPL-3.0-or-later", "lgpl-3.0+": "LGPL-3.0-or-later",
	"isc": "ISC", "lppl-1.3c": "LPPL-1.3c", "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0",
	"openssl": "OpenSSL", "psf-2": "PSF-2.0", "python-2.0": "Python-2.0", "python": "Python-2.0",
	"ssleay": "SSLeay-standalone", "unicode-dfs-2016": "Unicode-DFS-2016", "x11": "X11",
	"zlib": "Zlib", "zpl-2.1": "ZPL-2.1", "bzip2-1.0.6": "bzip2-1.0.6", "ofl-1.1": "OFL-1.1",
	"wtfpl": "WTFPL", "0bsd": "0BSD", "unlicense": "Unlicense", "icu": "ICU", "libpng": "Libpng",
	"ntp": "NTP", "tcl": "TCL", "sleepycat": "Sleepycat", "beerware": "Beerware", "w3c": "W3C",
}

var refChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// debianExpression turns the licence of a Files paragraph ("GPL-2+ or Artistic",
// "BSD-3-clause and Expat") into an SPDX expression. A name with no SPDX identifier becomes
// LicenseRef-<name>; a "with … exception" clause, which SPDX spells with its own list of
// exception identifiers, makes the licence unreadable (ok false).
func debianExpression(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 512 {
		return "", false
	}
	words := strings.Fields(strings.NewReplacer(",", " , ").Replace(s))
	var out []string
	for _, w := range words {
		switch strings.ToLower(w) {
		case "or", "|":
			out = append(out, "OR")
		case "and", ",", "&":
			out = append(out, "AND")
		case "with":
			return "", false
		default:
			if id, ok := debianSPDX[strings.ToLower(w)]; ok {
				out = append(out, id)
			} else {
				ref := strings.Trim(refChars.ReplaceAllString(w, "-"), "-")
				if ref == "" {
					return "", false
				}
				out = append(out, "LicenseRef-"+ref)
			}
		}
	}
	// Operators must sit between licences.
	for i, w := range out {
		op := w == "OR" || w == "AND"
		if op == (i%2 == 0) || i == len(out)-1 && op {
			return "", false
		}
	}
	if len(out) == 0 {
		return "", false
	}
	return strings.Join(out, " "), true
}

// concludeDebian combines the licences of a package's Files paragraphs into the licence it is
// distributed under: all of them apply, each to its files.
func concludeDebian(licenses []string) (string, bool) {
	var parts []string
	seen := map[string]bool{}
	for _, l := range licenses {
		e, ok := debianExpression(l)
		if !ok {
			return "", false
		}
		if seen[e] {
			continue
		}
		seen[e] = true
		if strings.Contains(e, " ") {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return "", false
	}
	if len(parts) == 1 {
		return strings.Trim(parts[0], "()"), true
	}
	return strings.Join(parts, " AND "), true
}
