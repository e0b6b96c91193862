package sbom

import (
	"net/mail"
	"net/url"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
)

// Party is a person or organisation and the contact known for it.
type Party struct {
	Name   string
	Emails []string
	URL    string
}

// Contact reports whether p has an e-mail address or a URL, as BSI asks of a creator.
func (p Party) Contact() bool { return len(p.Emails) > 0 || p.URL != "" }

func (p Party) empty() bool { return p.Name == "" && !p.Contact() }

// entity is p as a CycloneDX organizational entity: the name, the URL and each e-mail address
// as a contact.
func (p Party) entity() *cyclonedx.OrganizationalEntity {
	e := &cyclonedx.OrganizationalEntity{Name: p.Name}
	if p.URL != "" {
		e.URL = &[]string{p.URL}
	}
	if len(p.Emails) > 0 {
		cs := make([]cyclonedx.OrganizationalContact, len(p.Emails))
		for i, m := range p.Emails {
			cs[i] = cyclonedx.OrganizationalContact{Email: m}
		}
		e.Contact = &cs
	}
	return e
}

// Limits on a party read from the image: a name or address longer than this is not a name.
const (
	maxPartyName = 256
	maxEmails    = 8
)

// ParseAddresses reads "Name <a@example.org>, Other <b@example.org>" (RFC 5322, as Debian's
// Maintainer field and Python's Author-email write it), or a bare address. It returns the first
// display name and the addresses that look like e-mail addresses.
func ParseAddresses(s string) (name string, emails []string) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 4096 {
		return "", nil
	}
	if list, err := mail.ParseAddressList(s); err == nil {
		for _, a := range list {
			if name == "" {
				name = a.Name
			}
			if validEmail(a.Address) && len(emails) < maxEmails {
				emails = append(emails, a.Address)
			}
		}
		return clip(name), emails
	}
	// Not RFC 5322 (a name with a comma or a dot, unquoted): take "Name <address>" apart by hand.
	if open := strings.LastIndexByte(s, '<'); open >= 0 && strings.HasSuffix(s, ">") {
		addr := s[open+1 : len(s)-1]
		name = strings.TrimSpace(strings.Trim(strings.TrimSpace(s[:open]), `"`))
		if validEmail(addr) {
			emails = []string{addr}
		}
		return clip(name), emails
	}
	if validEmail(s) {
		return "", []string{s}
	}
	return clip(s), nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxPartyName {
		return ""
	}
	return s
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && len(s) <= 254 &&
		!strings.ContainsAny(s, " \t\r\n<>,;\"\\()[]") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// webURL keeps an http(s) URL with a host, without credentials.
func webURL(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2048 {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	u.User = nil
	return u.String()
}

// parseNpmPerson reads npm's one-line person format, "Name <email> (url)", as Syft writes a
// package.json author (followed by its maintainers, ", "-separated: the author is the first).
func parseNpmPerson(s string) Party {
	var p Party
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ", "); i >= 0 && strings.ContainsAny(s[:i], ">)") {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '('); i >= 0 && strings.HasSuffix(s, ")") {
		p.URL = webURL(s[i+1 : len(s)-1])
		s = strings.TrimSpace(s[:i])
	}
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			if addr := s[i+1 : i+j]; validEmail(addr) {
				p.Emails = []string{addr}
			}
			s = strings.TrimSpace(s[:i])
		}
	}
	p.Name = clip(s)
	return p
}
