package sbom

import (
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
)

// cpeFreeTypes are the Syft package types (syft:package:type) whose Grype matcher, as Grype
// configures it by default, matches by distribution or ecosystem and never by CPE: dpkg and
// RPM (CPEs only for end-of-life distributions, off by default), Python, npm, Ruby gems, Java
// archives and Jenkins plugins, .NET, Go modules, Rust crates, Hex and Erlang/OTP. For these
// the guessed CPE candidates change no match, so the attested document leaves them out. Every
// other type (binaries, apk, anything Grype's stock matcher takes) keeps all of them. The
// Grype test (grype_test.go) holds this list to Grype's own matchers.
var cpeFreeTypes = map[string]bool{
	"deb": true, "rpm": true,
	"python": true, "npm": true, "gem": true,
	"java-archive": true, "jenkins-plugin": true,
	"dotnet": true, "go-module": true, "rust-crate": true,
	"hex": true, "erlang-otp": true,
}

const (
	cpeProperty      = "syft:cpe23"
	locationPrefix   = "syft:location:"
	keptLocationPath = "syft:location:0:path"
	typeProperty     = "syft:package:type"
)

// leanComponent makes c, a shallow copy the caller owns, the attested document's version of
// itself (see EncodeAttested), without touching what c shares with the BOM, and says what it
// dropped from c and the components nested in it.
func leanComponent(c *cyclonedx.Component) Omitted {
	var o Omitted
	if c.Components != nil {
		sub := append([]cyclonedx.Component(nil), *c.Components...)
		for i := range sub {
			o.add(leanComponent(&sub[i]))
		}
		c.Components = &sub
	}
	if c.Properties == nil {
		return o
	}
	props := *c.Properties
	dropCPEs := false
	for _, p := range props {
		if p.Name == typeProperty {
			dropCPEs = cpeFreeTypes[p.Value]
		}
	}
	var own Omitted
	kept := make([]cyclonedx.Property, 0, len(props))
	for _, p := range props {
		switch {
		case p.Name == cpeProperty && dropCPEs:
			own.CPEs++
		case strings.HasPrefix(p.Name, locationPrefix) && p.Name != keptLocationPath:
			own.Locations++
		default:
			kept = append(kept, p)
		}
	}
	if !own.Any() {
		return o
	}
	own.Components = 1
	if len(kept) == 0 {
		c.Properties = nil
	} else {
		c.Properties = &kept
	}
	o.add(own)
	return o
}
