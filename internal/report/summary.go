package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
)

// Run is what one run did, for the job summary.
type Run struct {
	Version       string
	DryRun        bool
	DryRunReason  string
	SubjectName   string
	SubjectDigest string
	IsIndex       bool
	ResolvedTag   string
	SpecVersion   string
	Platforms     []Platform
	Sections      []Section // later stages' tables: pedigree, models, attestations
	Warnings      []string
	Stages        []Stage
	Err           error
}

// Platform is one SBOM written.
type Platform struct {
	Platform string
	Digest   string
	File     string
	Stats    Stats
}

// Stage is one timed stage.
type Stage struct {
	Name string
	Took time.Duration
}

// Section is a titled table a stage contributes.
type Section struct {
	Title  string
	Intro  string
	Header []string
	Rows   [][]string
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

// Markdown renders the job summary.
func Markdown(r *Run) string {
	var b strings.Builder
	title := r.SubjectName
	if title == "" {
		title = "image"
	}
	fmt.Fprintf(&b, "## bom-attest: %s\n\n", cell(title))
	switch {
	case r.Err != nil:
		fmt.Fprintf(&b, "> [!CAUTION]\n> **Failed:** %s\n\n", quoteLines(r.Err.Error()))
	case r.DryRun:
		fmt.Fprintf(&b, "> [!NOTE]\n> **Dry run**: documents were written as files; nothing was signed or published. Why: %s.\n\n", quoteLines(r.DryRunReason))
	default:
		fmt.Fprintf(&b, "> [!TIP]\n> Documents written, signed and published.\n\n")
	}

	b.WriteString("| | |\n|---|---|\n")
	row(&b, "Image", code(r.SubjectName))
	if r.SubjectDigest != "" {
		kind := "image manifest"
		if r.IsIndex {
			kind = "multi-platform index"
		}
		row(&b, "Subject digest", code(r.SubjectDigest)+" ("+kind+")")
	}
	if r.ResolvedTag != "" {
		row(&b, "Resolved from tag", code(r.ResolvedTag)+" ⚠️ pass subject-digest to attest exactly what you built")
	}
	if r.SpecVersion != "" {
		row(&b, "CycloneDX", r.SpecVersion)
	}
	row(&b, "bom-attest", code(r.Version))
	b.WriteString("\n")

	if len(r.Platforms) > 0 {
		b.WriteString("### SBOMs\n\n| Platform | Manifest digest | Components | File |\n|---|---|---:|---|\n")
		for _, p := range r.Platforms {
			fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", cell(p.Platform), code(short(p.Digest)), p.Stats.Total, code(p.File))
		}
		b.WriteString("\n")
		st := r.Platforms[0].Stats
		label := ""
		if len(r.Platforms) > 1 {
			label = " (" + r.Platforms[0].Platform + ")"
		}
		fmt.Fprintf(&b, "### Components%s\n\n| Type | Count |\n|---|---:|\n", cell(label))
		for _, kv := range sorted(st.ByType, 0) {
			fmt.Fprintf(&b, "| %s | %d |\n", cell(kv.k), kv.v)
		}
		b.WriteString("\n| Ecosystem | Count |\n|---|---:|\n")
		for _, kv := range sorted(st.ByEcosystem, 0) {
			fmt.Fprintf(&b, "| %s | %d |\n", cell(kv.k), kv.v)
		}
		if len(st.Licenses) > 0 {
			b.WriteString("\n#### Top licenses\n\n| License | Components |\n|---|---:|\n")
			for _, kv := range sorted(st.Licenses, 10) {
				fmt.Fprintf(&b, "| %s | %d |\n", cell(kv.k), kv.v)
			}
		}
		b.WriteString("\n")
	}

	for _, s := range r.Sections {
		fmt.Fprintf(&b, "### %s\n\n", cell(s.Title))
		if s.Intro != "" {
			fmt.Fprintf(&b, "%s\n\n", cell(s.Intro))
		}
		if len(s.Rows) == 0 {
			continue
		}
		b.WriteString("| " + strings.Join(mapCells(s.Header), " | ") + " |\n")
		b.WriteString(strings.Repeat("|---", len(s.Header)) + "|\n")
		for _, r := range s.Rows {
			b.WriteString("| " + strings.Join(mapCells(r), " | ") + " |\n")
		}
		b.WriteString("\n")
	}

	if len(r.Warnings) > 0 {
		b.WriteString("### Warnings\n\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", cell(w))
		}
		b.WriteString("\n")
	}
	if len(r.Stages) > 0 {
		b.WriteString("<details><summary>Timings</summary>\n\n| Stage | Time |\n|---|---:|\n")
		for _, s := range r.Stages {
			fmt.Fprintf(&b, "| %s | %s |\n", cell(s.Name), s.Took.Round(time.Millisecond))
		}
		b.WriteString("\n</details>\n\n")
	}
	return b.String()
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

func row(b *strings.Builder, k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }

// cell makes text from the image or the user safe inside a Markdown table: no HTML, no pipes,
// no line breaks that would end the row.
func cell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func mapCells(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		if strings.HasPrefix(s, "`") && strings.HasSuffix(s, "`") && len(s) > 1 {
			out[i] = code(s[1 : len(s)-1])
			continue
		}
		out[i] = cell(s)
	}
	return out
}

// Code marks s as code in a cell; sections use it for digests and paths.
func Code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s) + "`"
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

func quoteLines(s string) string { return strings.ReplaceAll(cell2(s), "\n", "\n> ") }

func cell2(s string) string { return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s) }
