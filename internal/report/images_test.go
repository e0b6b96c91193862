package report

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A run of several images: a table of how each fared, then each image's part under its own
// heading, with its own failure and what was done before it; run-wide warnings once.
func TestSummaryOfImagesGolden(t *testing.T) {
	r := sampleRun()
	r.DryRun = false
	r.Err = errors.New("1 of 2 images failed: ghcr.io/acme/<b>worker</b>")
	worker := &Image{SubjectName: "ghcr.io/acme/<b>worker</b>", SubjectDigest: "sha256:" + strings.Repeat("12", 32),
		Err:      errors.New("image: layer 1 sha256:… of manifest sha256:…: [x](https://evil.example) blob unknown\nsecond line"),
		Outcomes: []Outcome{{What: "SBOM for linux/amd64 (worker/sbom.cdx.json)"}},
		Warnings: []string{"only this image's <i>"}}
	r.Images = append(r.Images, worker)
	got := Summary(r)
	checkGolden(t, "summary-images.md", got)
	for _, want := range []string{
		"## bom-attest: 2 images",
		"| `ghcr.io/acme/voice-agent` | `sha256:abababababab…` | ✅ written, signed and published |",
		"| `ghcr.io/acme/<b>worker</b>` | `sha256:121212121212…` | ❌ image: layer 1 sha256:… of manifest sha256:…: `[x](https://evil.example)` blob unknown |",
		"## ghcr.io/acme/&lt;b&gt;worker&lt;/b&gt;\n\n> [!CAUTION]\n> **Failed:** image: layer 1",
		"### Done before the failure\n\n- ❌ not done: SBOM for linux/amd64 (worker/sbom.cdx.json)",
		"### Warnings\n\n- only this image's &lt;i&gt;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "image is a tag") != 1 || strings.Count(got, "<details><summary>Timings") != 1 {
		t.Error("run-wide warnings or timings are not shown once")
	}
	// Each image's SBOM table comes under its heading.
	if i, j := strings.Index(got, "## ghcr.io/acme/voice-agent"), strings.Index(got, "### SBOMs"); i < 0 || j < i {
		t.Errorf("the first image's SBOMs are not under its heading")
	}
	if html := renderMD(t, got); strings.Contains(html, `href="https://evil.example`) || strings.Contains(html, "<b>") || strings.Contains(html, "<i>") {
		t.Error("an image name or error got into the summary unescaped")
	}
}

func TestOutputsValues(t *testing.T) {
	var o, all Outputs
	o.Set("sbom-path", "out/[1].json")
	o.SetJSON("sbom-paths", []string{"out/a.json", "out/b.json"})
	o.Set("component-count", "12")
	o.SetJSON("later-a-string", []string{"x"})
	o.Set("later-a-string", "plain")
	all.Add(&o)
	b, err := json.Marshal(all.Values())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"component-count":"12","later-a-string":"plain","sbom-path":"out/[1].json","sbom-paths":["out/a.json","out/b.json"]}`
	if string(b) != want {
		t.Errorf("Values = %s, want %s", b, want)
	}
	if all.Get("sbom-paths") != `["out/a.json","out/b.json"]` {
		t.Errorf("a JSON output's value is %q", all.Get("sbom-paths"))
	}
}
