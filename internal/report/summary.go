package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
)

// Run is what one run did, for the job summary. Strings are text from wherever they came and
// are escaped when rendered; Markdown fields hold what the action wrote itself.
type Run struct {
	Version      string
	DryRun       bool
	DryRunReason Markdown
	SpecVersion  string
	// Images are the run's images in the order given, one for a run of one image. The summary of
	// a run of several groups what it says by image.
	Images   []*Image
	Warnings []string
	Stages   []Stage
	Err      error
}

// Image is what a run did for one image.
type Image struct {
	SubjectName   string
	SubjectDigest string
	IsIndex       bool
	ResolvedTag   string
	Platforms     []Platform
	Sections      []Section // later stages' tables: pedigree, models, attestations
	Warnings      []string
	// Err is why this image failed, in a run of several (a run of one has only Run.Err).
	Err error
	// Outcomes account, after a failure, for each piece of work the run set out to do for the
	// image.
	Outcomes []Outcome
}

// Platform is one SBOM written.
type Platform struct {
	Platform string
	Digest   string
	File     string
	Stats    Stats
	// FullFile is the full SBOM written next to File when the attested one leaves part of
	// Syft's evidence out; LeftOut says what.
	FullFile string
	LeftOut  string
}

// Stage is one timed stage.
type Stage struct {
	Name string
	Took time.Duration
}

// Section is a titled table a stage contributes. Title and Header are text; Intro and the
// cells are Markdown, so a cell from the image must go through Text (or Texts, Code, Link) to
// get there, and only the action's own constants go in unescaped.
type Section struct {
	Title  string
	Intro  Markdown
	Header []string
	Rows   [][]Markdown
	// Collapsed are files shown after the table, each in a block the reader opens.
	Collapsed []Collapsed
}

// Collapsed is a file shown in a <details> block: Summary is the action's own words for it,
// Text the file, set as a fenced code block of language Lang (e.g. yaml).
type Collapsed struct {
	Summary string
	Lang    string
	Text    string
}

// Outcome is one piece of work — a document written, signed, published — and whether it got
// done before the run failed.
type Outcome struct {
	What string
	Done bool
}

// Stats counts an SBOM's components.
type Stats struct {
	Total       int
	ByType      map[string]int
	ByEcosystem map[string]int
	Licenses    map[string]int
}

// Count tallies bom's components by type, by ecosystem (purl type) and by license.
func Count(bom *cyclonedx.BOM) Stats {
	s := Stats{ByType: map[string]int{}, ByEcosystem: map[string]int{}, Licenses: map[string]int{}}
	if bom == nil || bom.Components == nil {
		return s
	}
	var walk func([]cyclonedx.Component)
	walk = func(cs []cyclonedx.Component) {
		for _, c := range cs {
			s.Total++
			s.ByType[string(c.Type)]++
			if eco := purlType(c.PackageURL); eco != "" {
				s.ByEcosystem[eco]++
			}
			if c.Licenses != nil {
				for _, l := range *c.Licenses {
					switch {
					case l.Expression != "":
						s.Licenses[l.Expression]++
					case l.License != nil && l.License.ID != "":
						s.Licenses[l.License.ID]++
					case l.License != nil && l.License.Name != "":
						s.Licenses[l.License.Name]++
					}
				}
			}
			if c.Components != nil {
				walk(*c.Components)
			}
		}
	}
	walk(*bom.Components)
	return s
}

func purlType(p string) string {
	rest, ok := strings.CutPrefix(p, "pkg:")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "/")
	return t
}

// Summary renders the job summary: for a run of one image, that image's; for several, a table
// of the images and how each fared, then each image's part under a heading of its own.
func Summary(r *Run) string {
	if len(r.Images) > 1 {
		return summaryOfImages(r)
	}
	img := &Image{}
	if len(r.Images) == 1 {
		img = r.Images[0]
	}
	var b strings.Builder
	title := img.SubjectName
	if title == "" {
		title = "image"
	}
	fmt.Fprintf(&b, "## bom-attest: %s\n\n", Text(title))
	status(&b, r)
	if r.Err != nil {
		outcomes(&b, img.Outcomes)
	}
	b.WriteString("| | |\n|---|---|\n")
	imageRows(&b, img)
	runRows(&b, r)
	b.WriteString("\n")
	imageBody(&b, img)
	warnings(&b, append(append([]string(nil), r.Warnings...), img.Warnings...))
	timings(&b, r.Stages)
	return b.String()
}

// summaryOfImages is the summary of a run of several images.
func summaryOfImages(r *Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## bom-attest: %d images\n\n", len(r.Images))
	status(&b, r)
	b.WriteString("| Image | Subject digest | Result |\n|---|---|---|\n")
	for _, img := range r.Images {
		tableRow(&b, []Markdown{Code(img.SubjectName), Code(short(img.SubjectDigest)), imageResult(r, img)})
	}
	b.WriteString("\n| | |\n|---|---|\n")
	runRows(&b, r)
	b.WriteString("\n")
	warnings(&b, r.Warnings)
	for _, img := range r.Images {
		fmt.Fprintf(&b, "## %s\n\n", Text(img.SubjectName))
		if img.Err != nil {
			fmt.Fprintf(&b, "> [!CAUTION]\n> **Failed:** %s\n\n", quoteLines(img.Err.Error()))
		}
		outcomes(&b, img.Outcomes)
		b.WriteString("| | |\n|---|---|\n")
		imageRows(&b, img)
		b.WriteString("\n")
		imageBody(&b, img)
		warnings(&b, img.Warnings)
	}
	timings(&b, r.Stages)
	return b.String()
}

// imageResult is how one image of several fared, in a word or its error's first line.
func imageResult(r *Run, img *Image) Markdown {
	if img.Err != nil {
		first, _, _ := strings.Cut(img.Err.Error(), "\n")
		return "❌ " + Text(first)
	}
	for _, o := range img.Outcomes {
		if !o.Done {
			return "❌ not finished: see below"
		}
	}
	if r.DryRun {
		return "✅ written (dry run)"
	}
	return "✅ written, signed and published"
}

// status is the alert at the top: failed, dry run, or done.
func status(b *strings.Builder, r *Run) {
	switch {
	case r.Err != nil:
		fmt.Fprintf(b, "> [!CAUTION]\n> **Failed:** %s\n\n", quoteLines(r.Err.Error()))
	case r.DryRun:
		fmt.Fprintf(b, "> [!NOTE]\n> **Dry run**: documents were written as files; nothing was signed or published. Why: %s.\n\n", r.DryRunReason)
	default:
		fmt.Fprintf(b, "> [!TIP]\n> Documents written, signed and published.\n\n")
	}
}

func outcomes(b *strings.Builder, list []Outcome) {
	if len(list) == 0 {
		return
	}
	b.WriteString("### Done before the failure\n\n")
	for _, o := range list {
		mark := "❌ not done:"
		if o.Done {
			mark = "✅ done:"
		}
		fmt.Fprintf(b, "- %s %s\n", mark, Text(o.What))
	}
	b.WriteString("\n")
}

// imageRows are the rows of the facts table about an image.
func imageRows(b *strings.Builder, img *Image) {
	row(b, "Image", Code(img.SubjectName))
	if img.SubjectDigest != "" {
		kind := "image manifest"
		if img.IsIndex {
			kind = "multi-platform index"
		}
		row(b, "Subject digest", Code(img.SubjectDigest)+" ("+Markdown(kind)+")")
	}
	if img.ResolvedTag != "" {
		row(b, "Resolved from tag", Code(img.ResolvedTag)+" ⚠️ pass subject-digest to attest exactly what you built")
	}
}

// runRows are the rows of the facts table about the run as a whole.
func runRows(b *strings.Builder, r *Run) {
	if r.SpecVersion != "" {
		row(b, "CycloneDX", Text(r.SpecVersion))
	}
	row(b, "bom-attest", Code(r.Version))
}

// imageBody is an image's SBOMs, its first SBOM's components, and its stages' sections.
func imageBody(b *strings.Builder, img *Image) {
	if len(img.Platforms) > 0 {
		b.WriteString("### SBOMs\n\n| Platform | Manifest digest | Components | File |\n|---|---|---:|---|\n")
		for _, p := range img.Platforms {
			fmt.Fprintf(b, "| %s | %s | %d | %s |\n", Text(p.Platform), Code(short(p.Digest)), p.Stats.Total, Code(p.File))
		}
		b.WriteString("\n")
		for _, p := range img.Platforms {
			if p.FullFile == "" {
				continue
			}
			fmt.Fprintf(b, "The attested SBOM %s leaves out %s; every component is in it. The full SBOM, with all of Syft's evidence, is %s (not attested).\n\n",
				Code(p.File), Text(p.LeftOut), Code(p.FullFile))
		}
		st := img.Platforms[0].Stats
		label := ""
		if len(img.Platforms) > 1 {
			label = " (" + img.Platforms[0].Platform + ")"
		}
		fmt.Fprintf(b, "### Components%s\n\n| Type | Count |\n|---|---:|\n", Text(label))
		for _, kv := range sorted(st.ByType, 0) {
			fmt.Fprintf(b, "| %s | %d |\n", Text(kv.k), kv.v)
		}
		b.WriteString("\n| Ecosystem | Count |\n|---|---:|\n")
		for _, kv := range sorted(st.ByEcosystem, 0) {
			fmt.Fprintf(b, "| %s | %d |\n", Text(kv.k), kv.v)
		}
		if len(st.Licenses) > 0 {
			b.WriteString("\n#### Top licenses\n\n| License | Components |\n|---|---:|\n")
			for _, kv := range sorted(st.Licenses, 10) {
				fmt.Fprintf(b, "| %s | %d |\n", Text(kv.k), kv.v)
			}
		}
		b.WriteString("\n")
	}
	for _, s := range img.Sections {
		fmt.Fprintf(b, "### %s\n\n", Text(s.Title))
		if s.Intro != "" {
			fmt.Fprintf(b, "%s\n\n", oneLine(string(s.Intro)))
		}
		if len(s.Rows) > 0 {
			tableRow(b, Texts(s.Header...))
			b.WriteString(strings.Repeat("|---", len(s.Header)) + "|\n")
			for _, r := range s.Rows {
				tableRow(b, r)
			}
			b.WriteString("\n")
		}
		for _, c := range s.Collapsed {
			b.WriteString(c.render())
		}
	}
}

func warnings(b *strings.Builder, list []string) {
	if len(list) == 0 {
		return
	}
	b.WriteString("### Warnings\n\n")
	for _, w := range list {
		fmt.Fprintf(b, "- %s\n", Text(w))
	}
	b.WriteString("\n")
}

func timings(b *strings.Builder, stages []Stage) {
	if len(stages) == 0 {
		return
	}
	b.WriteString("<details><summary>Timings</summary>\n\n| Stage | Time |\n|---|---:|\n")
	for _, s := range stages {
		fmt.Fprintf(b, "| %s | %s |\n", Text(s.Name), s.Took.Round(time.Millisecond))
	}
	b.WriteString("\n</details>\n\n")
}

type kv struct {
	k string
	v int
}

func sorted(m map[string]int, limit int) []kv {
	var out []kv
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].v != out[j].v {
			return out[i].v > out[j].v
		}
		return out[i].k < out[j].k
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func row(b *strings.Builder, k string, v Markdown) {
	fmt.Fprintf(b, "| %s | %s |\n", k, oneLine(string(v)))
}

// tableRow writes cells as one row. A Markdown value is one line already; oneLine keeps a
// careless conversion from ending the row early.
func tableRow(b *strings.Builder, cells []Markdown) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + oneLine(string(c)) + " |")
	}
	b.WriteString("\n")
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

// quoteLines renders s as text inside a quote block, one quoted line per line of s.
func quoteLines(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = string(Text(l))
	}
	return strings.Join(lines, "\n> ")
}
