package sbom

import (
	"regexp"
	"strings"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		in, name string
		emails   []string
	}{
		{"GNU Libc Maintainers <debian-glibc@lists.debian.org>", "GNU Libc Maintainers", []string{"debian-glibc@lists.debian.org"}},
		{"Jane Doe <jane@example.org>, bob@example.org", "Jane Doe", []string{"jane@example.org", "bob@example.org"}},
		{"me@kennethreitz.org", "", []string{"me@kennethreitz.org"}},
		// Not RFC 5322 (an unquoted dot), as Debian's Maintainer often is.
		{"Jr. Maintainer, Esq. <jr@example.org>", "Jr. Maintainer, Esq.", []string{"jr@example.org"}},
		{"Just A Name", "Just A Name", nil},
		{"Bad <not an address>", "Bad", nil},
		{"", "", nil},
		{strings.Repeat("x", 300), "", nil},
	}
	for _, tt := range tests {
		name, emails := ParseAddresses(tt.in)
		if name != tt.name || strings.Join(emails, ",") != strings.Join(tt.emails, ",") {
			t.Errorf("ParseAddresses(%.40q) = %q, %v; want %q, %v", tt.in, name, emails, tt.name, tt.emails)
		}
	}
}

func TestParseNpmPerson(t *testing.T) {
	p := parseNpmPerson("Sindre Sorhus <sindresorhus@gmail.com> (https://sindresorhus.com)")
	if p.Name != "Sindre Sorhus" || strings.Join(p.Emails, ",") != "sindresorhus@gmail.com" || p.URL != "https://sindresorhus.com" {
		t.Errorf("%+v", p)
	}
	if p := parseNpmPerson("Ann <ann@example.org> (https://ann.example), Bob <bob@example.org>"); p.Name != "Ann" || p.URL != "https://ann.example" || p.Emails[0] != "ann@example.org" {
		t.Errorf("author and maintainers: %+v", p)
	}
	if p := parseNpmPerson("TJ (javascript:alert(1))"); p.URL != "" {
		t.Errorf("a javascript: URL kept: %+v", p)
	}
	if p := parseNpmPerson(""); !p.empty() {
		t.Errorf("%+v", p)
	}
}

func TestRetypeRepository(t *testing.T) {
	c := cyclonedx.Component{ExternalReferences: &[]cyclonedx.ExternalReference{
		{Type: cyclonedx.ERTypeDistribution, URL: "git+https://github.com/babel/babel.git"},
		{Type: cyclonedx.ERTypeDistribution, URL: "https://github.com/vercel/ms"},
		{Type: cyclonedx.ERTypeDistribution, URL: "https://deb.debian.org/debian/pool/main/n/node-ms/node-ms_2.1.3_all.deb", Hashes: &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: "00"}}},
	}}
	retypeRepository(&c)
	if (*c.ExternalReferences)[0].Type != cyclonedx.ERTypeVCS || (*c.ExternalReferences)[1].Type != cyclonedx.ERTypeVCS || (*c.ExternalReferences)[2].Type != cyclonedx.ERTypeDistribution {
		t.Errorf("%+v", *c.ExternalReferences)
	}
}

func TestDebianExpression(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"GPL-2+", "GPL-2.0-or-later", true},
		{"GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0-Perl", true},
		{"BSD-3-clause and Expat", "BSD-3-Clause AND MIT", true},
		{"public-domain", "LicenseRef-public-domain", true},
		{"GPL-2+ with OpenSSL exception", "", false},
		{"or GPL-2", "", false},
		{"GPL-2 or", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := debianExpression(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("debianExpression(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := concludeDebian([]string{"Expat", "GPL-2+", "Expat", "LGPL-2.1+ or MIT"}); !ok || got != "MIT AND GPL-2.0-or-later AND (LGPL-2.1-or-later OR MIT)" {
		t.Errorf("concludeDebian = %q, %v", got, ok)
	}
	if got, ok := concludeDebian([]string{"Zlib"}); !ok || got != "Zlib" {
		t.Errorf("one licence: %q, %v", got, ok)
	}
}

var exprToken = regexp.MustCompile(`^(\(|\)|AND|OR|LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9.+-]+)$`)

// FuzzDebianLicence: whatever a copyright file's License lines say, a conclusion is an SPDX
// expression of identifiers, LicenseRefs, AND, OR and parentheses, or none.
func FuzzDebianLicence(f *testing.F) {
	f.Add("GPL-2+ or Artistic", "BSD-3-clause, and Expat")
	f.Add("with", "(((")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, ok := concludeDebian([]string{a, b})
		if !ok {
			return
		}
		for _, tok := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(got)) {
			if !exprToken.MatchString(tok) {
				t.Fatalf("%q from %q, %q: token %q", got, a, b, tok)
			}
		}
		if strings.Count(got, "(") != strings.Count(got, ")") {
			t.Fatalf("unbalanced %q", got)
		}
	})
}
