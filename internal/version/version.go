package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Version is set at build time: -ldflags "-X github.com/bom-attest/bom-attest/internal/version.Version=v1.2.3".
// Left at "dev", the main module's version from the build info stands in, so
// `go install …@v1.2.3` still reports v1.2.3.
var Version = "dev"

// Commit is set at build time (-X …/internal/version.Commit=<sha>) where the build records no
// VCS information of its own: a docker build, whose context has no .git.
var Commit = ""

// Library is one linked module whose version is part of what bom-attest is.
type Library struct {
	Name    string // short name, e.g. "syft"
	Path    string // module path
	Version string // as linked, after any replace directive
}

// libraries are the modules that decide what the documents say: the cataloguer, the
// vulnerability matcher, the signer and the CycloneDX encoder. One that is not linked into this
// binary is left out, so Grype shows up by itself once a stage links it.
var libraries = [...]struct{ name, path string }{
	{"syft", "github.com/anchore/syft"},
	{"grype", "github.com/anchore/grype"},
	{"sigstore-go", "github.com/sigstore/sigstore-go"},
	{"cyclonedx-go", "github.com/CycloneDX/cyclonedx-go"},
}

// Info is what `bom-attest --version` prints.
type Info struct {
	Version   string
	Commit    string // VCS revision; empty when the build recorded none
	Modified  bool   // built from a working tree with uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH
	Libraries []Library
}

// Get returns the running binary's Info. The build info is read once.
func Get() Info { return get() }

var get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(Version, Commit, bi)
})

func fromBuildInfo(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if (info.Version == "" || info.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		info.Platform = goos + "/" + goarch
	}
	for _, lib := range libraries {
		for _, d := range bi.Deps {
			if d.Path != lib.path {
				continue
			}
			v := d.Version
			if r := d.Replace; r != nil {
				v = r.Version
				if v == "" { // replaced by a directory
					v = "replaced by " + r.Path
				}
			}
			info.Libraries = append(info.Libraries, Library{Name: lib.name, Path: lib.path, Version: v})
		}
	}
	return info
}

// String is the --version text: the version on the first line, then one "name: value" line each.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bom-attest %s\n", i.Version)
	rows := [][2]string{{"commit", i.commit(false)}, {"go", i.GoVersion + " " + i.Platform}}
	for _, l := range i.Libraries {
		rows = append(rows, [2]string{l.Name, l.Version})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s %s\n", width+1, r[0]+":", r[1])
	}
	return b.String()
}

// Short is the same on one line, for the job summary:
// "v1.2.3 (commit 0123456789ab, go1.26.8, syft v1.54.1, sigstore-go v1.3.0, cyclonedx-go v0.12.0)".
func (i Info) Short() string {
	parts := []string{"commit " + i.commit(true), i.GoVersion}
	for _, l := range i.Libraries {
		parts = append(parts, l.Name+" "+l.Version)
	}
	return i.Version + " (" + strings.Join(parts, ", ") + ")"
}

func (i Info) commit(short bool) string {
	c := i.Commit
	if c == "" {
		return "unknown"
	}
	if short && len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += " (modified)"
	}
	return c
}

// UserAgent is how bom-attest names itself to registries and APIs.
func UserAgent() string { return "bom-attest/" + Get().Version }
