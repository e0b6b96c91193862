package pkgdb

import (
	"regexp"
	"strings"
)

// OSRelease is what /etc/os-release says, the fields bom-attest uses.
type OSRelease struct {
	Name      string // Debian GNU/Linux
	HomeURL   string // https://www.debian.org/
	ID        string // debian, ubuntu, …
	VersionID string // 12
	Codename  string // bookworm; only lower-case letters, or ""
}

var codenameRE = regexp.MustCompile(`^[a-z]{2,32}$`)

// ReadOSRelease reads /etc/os-release (or /usr/lib/os-release); the zero value when neither is
// there. A codename is kept only when it is a plain word, as it goes into archive URLs.
func ReadOSRelease(f Files) OSRelease {
	var b []byte
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		var err error
		if b, err = ReadFile(f, p, 64<<10); err == nil {
			break
		}
	}
	var o OSRelease
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		if len(v) > 256 {
			continue
		}
		switch k {
		case "NAME":
			o.Name = v
		case "HOME_URL":
			o.HomeURL = v
		case "ID":
			o.ID = v
		case "VERSION_ID":
			o.VersionID = v
		case "VERSION_CODENAME":
			if codenameRE.MatchString(v) {
				o.Codename = v
			}
		}
	}
	return o
}
