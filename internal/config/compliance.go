package config

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"github.com/bom-attest/bom-attest/internal/check"
)

// compliance reads the inputs of the compliance stage: which standards, the gate, the
// resolver's registries, and who authors and supplies the SBOM (by default the repository's
// owner, on its GitHub server).
func (v *validator) compliance(c *Config, raw map[string]string, gh GitHub) {
	switch v.oneOf(raw, "compliance", "none", "cisa", "bsi", "all") {
	case "cisa":
		c.Compliance = []check.Standard{check.CISA}
	case "bsi":
		c.Compliance = []check.Standard{check.BSI}
	case "all":
		c.Compliance = []check.Standard{check.CISA, check.BSI}
	}
	c.ComplianceFailUnder = -1
	if s := raw["compliance-fail-under"]; s != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		switch {
		case err != nil || f < 0 || f > 100:
			v.add("compliance-fail-under", "must be a percentage from 0 to 100, got %q", s)
		case raw["compliance"] == "none":
			v.add("compliance-fail-under", "is set but compliance is none; the gate needs a report")
		default:
			c.ComplianceFailUnder = f
		}
	}
	c.ResolveHashes = v.boolean(raw, "resolve-hashes")
	c.HashDownloads = v.boolean(raw, "hash-downloads")
	if c.HashDownloads && !c.ResolveHashes && !v.failed("resolve-hashes") {
		v.add("hash-downloads", "is true but resolve-hashes is not; downloads need resolve-hashes: true")
	}
	c.PyPIURL = v.endpoint(raw, "pypi-url")
	for _, u := range List(raw["debian-archive-urls"]) {
		if u = v.endpoint(map[string]string{"debian-archive-urls": u}, "debian-archive-urls"); u != "" {
			c.DebianArchiveURLs = append(c.DebianArchiveURLs, u)
		}
	}

	var owner, ownerURL string
	if o, _, ok := strings.Cut(gh.Repository, "/"); ok && o != "" {
		owner = o
		if gh.ServerURL != "" {
			ownerURL = strings.TrimSuffix(gh.ServerURL, "/") + "/" + o
		}
	}
	c.SBOMAuthor = v.oneLine(raw, "sbom-author", owner)
	if a := c.SBOMAuthor; strings.Contains(a, "<") {
		if _, err := mail.ParseAddress(a); err != nil {
			v.add("sbom-author", "must be a name, or a name and an address such as Jane Doe <jane@example.org>, got %q", a)
		}
	}
	c.SupplierName = v.oneLine(raw, "supplier-name", owner)
	c.SupplierURL = v.httpURL(raw, "supplier-url")
	if c.SupplierURL == "" && raw["supplier-url"] == "" && raw["supplier-name"] == "" {
		c.SupplierURL = ownerURL
	}
	c.SupplierEmail = raw["supplier-email"]
	if m := c.SupplierEmail; m != "" {
		if a, err := mail.ParseAddress(m); err != nil || a.Address != m || a.Name != "" {
			v.add("supplier-email", "must be an e-mail address such as security@example.org, got %q", m)
			c.SupplierEmail = ""
		}
	}
}

// oneLine reads an input that is one line of at most 255 characters, or def when it is empty.
func (v *validator) oneLine(raw map[string]string, input, def string) string {
	s := raw[input]
	if s == "" {
		return def
	}
	if len(s) > 255 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		v.add(input, "must be one line of at most 255 characters, got %q", s)
		return ""
	}
	return s
}
