package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestOutputsHeredoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output")
	var o Outputs
	o.Set("sbom-path", "out/sbom.cdx.json")
	// A value that tries to end a fixed delimiter and smuggle in another output.
	o.Set("evil", "line1\nEOF\ninjected=yes\nghadelimiter_")
	o.Set("sbom-path", "out/sbom.linux-amd64.cdx.json") // set twice: last wins, order kept
	if err := o.Write(path, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	re := regexp.MustCompile(`(?s)^sbom-path<<(ghadelimiter_[0-9a-f]{32})\nout/sbom.linux-amd64.cdx.json\n(ghadelimiter_[0-9a-f]{32})\nevil<<(ghadelimiter_[0-9a-f]{32})\nline1\nEOF\ninjected=yes\nghadelimiter_\n(ghadelimiter_[0-9a-f]{32})\n$`)
	m := re.FindStringSubmatch(string(b))
	if m == nil || m[1] != m[2] || m[3] != m[4] || m[1] == m[3] {
		t.Fatalf("GITHUB_OUTPUT =\n%s", b)
	}
	if got := strings.Join(o.Keys(), ","); got != "sbom-path,evil" {
		t.Errorf("keys = %s", got)
	}
}

func TestOutputsLocal(t *testing.T) {
	var o Outputs
	o.Set("dry-run", "true")
	var buf bytes.Buffer
	if err := o.Write("", &buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "dry-run=true\n" {
		t.Errorf("local outputs = %q", buf.String())
	}
}

// TestOutputsLocalHostile prints values that try to start lines of their own.
func TestOutputsLocalHostile(t *testing.T) {
	var o, held Outputs
	o.Set("dry-run", "true")
	held.Set("sbom-path", "out\n::stop-commands::x/sbom.cdx.json")
	held.Set("mlbom-path", "a\r::warning::y ##[error]z")
	o.Add(&held)
	var buf bytes.Buffer
	if err := o.Write("", &buf); err != nil {
		t.Fatal(err)
	}
	want := "dry-run=true\nsbom-path=out\\n::stop-commands::x/sbom.cdx.json\nmlbom-path=a\\r::warning::y #\\#[error]z\n"
	if buf.String() != want {
		t.Errorf("local outputs = %q, want %q", buf.String(), want)
	}
}

func TestOutputsUnwritable(t *testing.T) {
	var o Outputs
	o.Set("a", "b")
	err := o.Write(filepath.Join(t.TempDir(), "missing", "out"), nil)
	if err == nil || !strings.Contains(err.Error(), "GITHUB_OUTPUT") {
		t.Fatalf("err = %v", err)
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		name    string
		actions bool
		want    []string
	}{
		{"actions", true, []string{"::add-mask::s3cr3t\n", "::group::scan\n", "scan: done in 1.5s\n::endgroup::\n", "::warning::careful\n", "::error::bad%0Ainput\n"}},
		{"local", false, []string{"==> scan\n", "scan: done in 1.5s\n", "warning: careful\n", "error: bad\ninput\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLog(&buf, tt.actions)
			clock := time.Unix(0, 0)
			l.now = func() time.Time { return clock }
			l.Mask("s3cr3t")
			done := l.Stage("scan")
			clock = clock.Add(1500 * time.Millisecond)
			if d := done(); d != 1500*time.Millisecond {
				t.Errorf("stage took %s", d)
			}
			l.Warningf("careful")
			l.Errorf("bad\ninput")
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, buf.String())
				}
			}
			if !tt.actions && strings.Contains(buf.String(), "s3cr3t") {
				t.Error("a local run printed the secret")
			}
		})
	}
}

func TestCount(t *testing.T) {
	comps := []cyclonedx.Component{
		{Type: cyclonedx.ComponentTypeLibrary, PackageURL: "pkg:deb/debian/libc6@2.36", Licenses: &cyclonedx.Licenses{{License: &cyclonedx.License{ID: "LGPL-2.1"}}}},
		{Type: cyclonedx.ComponentTypeLibrary, PackageURL: "pkg:pypi/nova@32.1.0", Licenses: &cyclonedx.Licenses{{Expression: "Apache-2.0 OR MIT"}},
			Components: &[]cyclonedx.Component{{Type: cyclonedx.ComponentTypeFile, Name: "x"}}},
		{Type: cyclonedx.ComponentTypeOS, Name: "debian"},
	}
	s := Count(&cyclonedx.BOM{Components: &comps})
	if s.Total != 4 || s.ByType["library"] != 2 || s.ByType["file"] != 1 || s.ByEcosystem["deb"] != 1 || s.ByEcosystem["pypi"] != 1 ||
		s.Licenses["LGPL-2.1"] != 1 || s.Licenses["Apache-2.0 OR MIT"] != 1 {
		t.Errorf("Count = %+v", s)
	}
}

func sampleRun() *Run {
	return &Run{
		Version: "v1.2.3", DryRun: true, DryRunReason: "no OIDC token in this job", SpecVersion: "1.6",
		Images:   []*Image{sampleImage()},
		Warnings: []string{"image is a tag <b>", "<img src=https://evil.example/p.png> _x_"},
		Stages:   []Stage{{Name: "scan linux/amd64", Took: 1234 * time.Millisecond}},
	}
}

func sampleImage() *Image {
	return &Image{
		SubjectName: "ghcr.io/acme/voice-agent", SubjectDigest: "sha256:" + strings.Repeat("ab", 32), IsIndex: true,
		ResolvedTag: "ghcr.io/acme/voice-agent:main",
		Platforms: []Platform{
			{Platform: "linux/amd64", Digest: "sha256:" + strings.Repeat("cd", 32), File: "out/sbom.linux-amd64.cdx.json",
				Stats: Stats{Total: 3, ByType: map[string]int{"library": 2, "operating-system": 1}, ByEcosystem: map[string]int{"pypi": 2}, Licenses: map[string]int{"Apache-2.0": 2}}},
			{Platform: "linux/arm64/v8", Digest: "sha256:" + strings.Repeat("ef", 32), File: "out/sbom.linux-arm64-v8.cdx.json", Stats: Stats{Total: 3}},
		},
		Sections: []Section{
			{Title: "Pedigree", Header: []string{"Component", "Resolves"}, Rows: [][]Markdown{Texts("nova|<script>", "LP#2099999")}},
			// What a model card or a constraints comment could hold, next to what the action links itself.
			{Title: "Models [x](https://evil.example)", Intro: Markdownf("Declared in %s.", "![t](https://evil.example/p.png)"),
				Header: []string{"Model", "License", "Attestation"},
				Rows: [][]Markdown{{Text("voice`intent`"), Text("[MIT](https://evil.example) **bold** www.evil.example me@evil.example"),
					Link("https://github.com/acme/voice-agent/attestations/42")}}},
		},
	}
}

// checkGolden compares a rendered summary with testdata/name, which -update rewrites.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("summary differs from %s (go test -update):\n%s", golden, got)
	}
}

func TestMarkdownGolden(t *testing.T) {
	got := Summary(sampleRun())
	checkGolden(t, "summary.md", got)
	for _, bad := range []string{"<script>", "<b>"} {
		if strings.Contains(got, bad) {
			t.Errorf("summary lets %s through unescaped", bad)
		}
	}
	// Rendered, the only link is the one the action made, and no image or HTML got in.
	out := renderMD(t, got)
	if links := regexp.MustCompile(`<a href="([^"]*)"`).FindAllStringSubmatch(out, -1); len(links) != 1 || links[0][1] != "https://github.com/acme/voice-agent/attestations/42" {
		t.Errorf("summary links %v, want only the attestation", links)
	}
	for _, bad := range []string{"<img", "<script", "<em>", "evil.example\">"} {
		if strings.Contains(out, bad) {
			t.Errorf("rendered summary holds %s", bad)
		}
	}
}

func TestSummaryFailureGolden(t *testing.T) {
	r := sampleRun()
	r.Err = errors.New("sign sbom.linux-arm64-v8: fulcio: 503 from [x](https://evil.example)\nsecond line")
	r.Images[0].Outcomes = []Outcome{
		{What: "SBOM for linux/amd64: out/sbom.linux-amd64.cdx.json", Done: true},
		{What: "SBOM for linux/arm64/v8 <b>", Done: false},
	}
	got := Summary(r)
	checkGolden(t, "summary-failed.md", got)
	for _, w := range []string{"### Done before the failure", "- ✅ done: SBOM for linux/amd64", "- ❌ not done: SBOM for linux/arm64/v8 &lt;b&gt;"} {
		if !strings.Contains(got, w) {
			t.Errorf("failure summary lacks %q", w)
		}
	}
	if strings.Contains(renderMD(t, got), `href="https://evil.example`) {
		t.Error("the error message became a link")
	}
}

func TestMarkdownFailure(t *testing.T) {
	r := sampleRun()
	r.Err = errors.New("image: digest mismatch\nsecond line")
	got := Summary(r)
	if !strings.Contains(got, "> [!CAUTION]\n> **Failed:** image: digest mismatch\n> second line") {
		t.Errorf("failure not shown as a quoted alert:\n%s", got)
	}
}

func TestAppendSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary")
	if err := AppendSummary(path, "a\n"); err != nil {
		t.Fatal(err)
	}
	if err := AppendSummary(path, "b\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" {
		t.Errorf("summary = %q", b)
	}
}
