package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func buildInfo(mainVersion string, settings map[string]string, deps ...*debug.Module) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Path: "github.com/bom-attest/bom-attest",
		Main: debug.Module{Path: "github.com/bom-attest/bom-attest", Version: mainVersion}, Deps: deps}
	for k, v := range settings {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
	}
	return bi
}

var (
	syft      = &debug.Module{Path: "github.com/anchore/syft", Version: "v1.54.1"}
	grype     = &debug.Module{Path: "github.com/anchore/grype", Version: "v0.115.0"}
	sigstore  = &debug.Module{Path: "github.com/sigstore/sigstore-go", Version: "v1.3.0"}
	cyclonedx = &debug.Module{Path: "github.com/CycloneDX/cyclonedx-go", Version: "v0.12.0"}
	other     = &debug.Module{Path: "github.com/google/go-containerregistry", Version: "v0.22.1"}
)

func TestFromBuildInfo(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{{
		name: "release build: -X wins over the build info", version: "v1.2.3", commit: rev,
		bi: buildInfo("(devel)", map[string]string{"GOOS": "linux", "GOARCH": "arm64"}, cyclonedx, other, sigstore, syft),
		want: Info{Version: "v1.2.3", Commit: rev, GoVersion: "go1.26.8", Platform: "linux/arm64", Libraries: []Library{
			{"syft", syft.Path, "v1.54.1"}, {"sigstore-go", sigstore.Path, "v1.3.0"}, {"cyclonedx-go", cyclonedx.Path, "v0.12.0"}}},
	}, {
		name: "go install @version: the module version stands in for dev", version: "dev",
		bi:   buildInfo("v1.4.0", map[string]string{"GOOS": "linux", "GOARCH": "amd64"}, syft),
		want: Info{Version: "v1.4.0", GoVersion: "go1.26.8", Platform: "linux/amd64", Libraries: []Library{{"syft", syft.Path, "v1.54.1"}}},
	}, {
		name: "local build in a checkout: VCS stamp, modified tree", version: "dev",
		bi:   buildInfo("(devel)", map[string]string{"vcs.revision": rev, "vcs.modified": "true", "GOOS": "linux", "GOARCH": "amd64"}),
		want: Info{Version: "dev", Commit: rev, Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"},
	}, {
		name: "-X commit wins over the VCS stamp", version: "v1.2.3", commit: "feedface",
		bi:   buildInfo("(devel)", map[string]string{"vcs.revision": rev, "GOOS": "linux", "GOARCH": "amd64"}),
		want: Info{Version: "v1.2.3", Commit: "feedface", GoVersion: "go1.26.8", Platform: "linux/amd64"},
	}, {
		name: "grype listed once linked, in its fixed place", version: "v1.2.3",
		bi: buildInfo("(devel)", map[string]string{"GOOS": "linux", "GOARCH": "amd64"}, sigstore, grype, syft),
		want: Info{Version: "v1.2.3", GoVersion: "go1.26.8", Platform: "linux/amd64", Libraries: []Library{
			{"syft", syft.Path, "v1.54.1"}, {"grype", grype.Path, "v0.115.0"}, {"sigstore-go", sigstore.Path, "v1.3.0"}}},
	}, {
		name: "a replaced module reports what was linked", version: "v1.2.3",
		bi: buildInfo("(devel)", map[string]string{"GOOS": "linux", "GOARCH": "amd64"},
			&debug.Module{Path: syft.Path, Version: "v1.54.1", Replace: &debug.Module{Path: "github.com/fork/syft", Version: "v1.54.2-fix"}},
			&debug.Module{Path: cyclonedx.Path, Version: "v0.12.0", Replace: &debug.Module{Path: "../cyclonedx-go"}}),
		want: Info{Version: "v1.2.3", GoVersion: "go1.26.8", Platform: "linux/amd64", Libraries: []Library{
			{"syft", syft.Path, "v1.54.2-fix"}, {"cyclonedx-go", cyclonedx.Path, "replaced by ../cyclonedx-go"}}},
	}, {
		name: "no build info", version: "dev",
		want: Info{Version: "dev", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.version, tc.commit, tc.bi)
			if got.String() != tc.want.String() || got.Commit != tc.want.Commit || got.Modified != tc.want.Modified ||
				len(got.Libraries) != len(tc.want.Libraries) {
				t.Fatalf("got\n%#v\nwant\n%#v", got, tc.want)
			}
			for i := range got.Libraries {
				if got.Libraries[i] != tc.want.Libraries[i] {
					t.Errorf("library %d: got %+v, want %+v", i, got.Libraries[i], tc.want.Libraries[i])
				}
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, GoVersion: "go1.26.8",
		Platform: "linux/amd64", Libraries: []Library{{"syft", syft.Path, "v1.54.1"}, {"cyclonedx-go", cyclonedx.Path, "v0.12.0"}}}
	want := `bom-attest v1.2.3
commit:       0123456789abcdef0123456789abcdef01234567 (modified)
go:           go1.26.8 linux/amd64
syft:         v1.54.1
cyclonedx-go: v0.12.0
`
	if got := i.String(); got != want {
		t.Errorf("String:\n%s\nwant\n%s", got, want)
	}
	if got, want := i.Short(), "v1.2.3 (commit 0123456789ab (modified), go1.26.8, syft v1.54.1, cyclonedx-go v0.12.0)"; got != want {
		t.Errorf("Short = %q, want %q", got, want)
	}
	if got := (Info{Version: "dev", GoVersion: "go1.26.8"}).Short(); !strings.Contains(got, "commit unknown") {
		t.Errorf("Short without a commit = %q, want it to say the commit is unknown", got)
	}
}

// The test binary is a real build: Get reads its build info, whatever the -X flags said.
func TestGetReadsThisBinary(t *testing.T) {
	i := Get()
	if i.Version == "" || i.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v: want a version and this binary's Go %s", i, runtime.Version())
	}
	if Get().String() != i.String() {
		t.Error("Get is not stable")
	}
}
