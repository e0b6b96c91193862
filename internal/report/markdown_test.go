package report

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
)

// gfm renders Markdown as GitHub does for the parts that matter here: tables, autolinked URLs
// and e-mail addresses, strikethrough, and raw HTML passed through (so a test sees any that
// gets out, where GitHub's sanitizer might hide it).
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))

func renderMD(t testing.TB, md string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := gfm.Convert([]byte(md), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// visible is the text a reader sees in rendered HTML.
func visible(h string) string { return html.UnescapeString(tagRE.ReplaceAllString(h, "")) }

// hostileMarkdown is text an image or a file could bring into the summary.
var hostileMarkdown = []string{
	"[click](https://evil.example/x)",
	"![tracker](https://evil.example/p.png)",
	"[ref]\n\n[ref]: https://evil.example",
	"<img src=https://evil.example/p.png>",
	"<a href='https://evil.example'>x</a>",
	"<https://evil.example>",
	"https://evil.example/a_b*c",
	"see www.evil.example now",
	"mail me@evil.example",
	"pkg:pypi/nova@32.1.0",
	"`code` and ``more``",
	"**bold** _em_ ~~strike~~ $x^2$",
	"a | b | c",
	"# heading",
	"  ## indented heading",
	"&lt;script&gt; &#x3C;b&#x3E;",
	`back\slash \[x\](y)`,
	"line\nbreak\r\n| x | y |\n|---|---|",
	"` leading backtick",
	"  spaced  ",
	"ftp://x.example/`|`",
}

// forbidden are elements text must never turn into.
var forbidden = []string{"<a ", "<img", "<script", "<em>", "<strong>", "<del>", "<h1", "<h2", "<h3", "<table", "<ul", "<ol", "<br"}

func TestTextRendersAsText(t *testing.T) {
	for _, s := range hostileMarkdown {
		md := string(Text(s))
		// In a paragraph and in a table cell: the same text, nothing else.
		para := renderMD(t, md)
		cell := renderMD(t, "| h |\n|---|\n| "+md+" |\n")
		item := renderMD(t, "- "+md+"\n")
		for where, out := range map[string]string{"paragraph": para, "cell": strings.TrimPrefix(cell, "<table>"), "list item": strings.TrimPrefix(item, "<ul>")} {
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("Text(%q) in a %s renders %s:\n%s", s, where, f, out)
				}
			}
		}
		want := strings.TrimSpace(oneLine(s))
		if got := strings.TrimSpace(visible(para)); got != want {
			t.Errorf("Text(%q) reads %q, want %q", s, got, want)
		}
		if n := strings.Count(cell, "<td"); n != 1 {
			t.Errorf("Text(%q) in a table makes %d cells:\n%s", s, n, cell)
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sha256:ab", "`sha256:ab`"},
		{"a`b", "``a`b``"},
		{"``x", "``` ``x ```"},
		{"a|b", "`a`\\|`b`"},
		{" x ", "`  x  `"},
		{"", ""},
		{"a\nb", "`a b`"},
	}
	for _, tt := range tests {
		if got := string(Code(tt.in)); got != tt.want {
			t.Errorf("Code(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in == "" {
			continue
		}
		out := renderMD(t, "| h |\n|---|\n| "+string(Code(tt.in))+" |\n")
		if got, want := visible(out), oneLine(tt.in); !strings.Contains(got, want) || strings.Count(out, "<td") != 1 {
			t.Errorf("Code(%q) renders %q", tt.in, out)
		}
	}
}

func TestLink(t *testing.T) {
	tests := []struct {
		in   string
		link bool
	}{
		{"https://github.com/acme/app/attestations/42", true},
		{"https://github.com/acme/app/.github/workflows/ci.yml@refs/pull/7/merge", true},
		{"https://example.com/a_b.", true},
		{"https://example.com/?a=1&b=2", true},
		{"http://example.com/x", false},
		{"javascript:alert(1)", false},
		{"https://example.com/x)[y](https://evil.example", false},
		{"https://example.com/a b", false},
		{"https://user@example.com/", false},
		{"https://example.com/<x>", false},
	}
	for _, tt := range tests {
		out := renderMD(t, "| h |\n|---|\n| "+string(Link(tt.in))+" |\n")
		want := `<a href="` + html.EscapeString(tt.in) + `">`
		if tt.link != strings.Contains(out, want) {
			t.Errorf("Link(%q) = %q renders %s", tt.in, Link(tt.in), out)
		}
		if strings.Count(out, "<a ") > 1 || (!tt.link && strings.Contains(out, "<a ")) {
			t.Errorf("Link(%q) renders an unexpected link: %s", tt.in, out)
		}
		if !strings.Contains(visible(out), tt.in) {
			t.Errorf("Link(%q) does not read as the URL: %s", tt.in, out)
		}
	}
}

func TestMarkdownf(t *testing.T) {
	got := Markdownf("%s (%d files) by %s, %s", Code("ab…"), 3, "[x](https://evil.example)", Link("https://github.com/a"))
	want := Markdown("`ab…` (3 files) by `[x](https://evil.example)`, https://github.com/a")
	if got != want {
		t.Errorf("Markdownf = %q, want %q", got, want)
	}
}

func FuzzText(f *testing.F) {
	for _, s := range hostileMarkdown {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		md := string(Text(s))
		if strings.ContainsAny(md, "\n\r") {
			t.Fatalf("Text(%q) = %q spans lines", s, md)
		}
		out := renderMD(t, "| h |\n|---|\n| "+md+" |\n")
		for _, f := range forbidden[:5] {
			if strings.Contains(strings.TrimPrefix(out, "<table>"), f) {
				t.Fatalf("Text(%q) = %q renders %s: %s", s, md, f, out)
			}
		}
		if n := strings.Count(out, "<td"); n != 1 {
			t.Fatalf("Text(%q) = %q makes %d cells: %s", s, md, n, out)
		}
	})
}

func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ text, url, want string }{
		{"CVE-2099-1001", "https://security-tracker.debian.org/tracker/CVE-2099-1001", "[CVE-2099-1001](https://security-tracker.debian.org/tracker/CVE-2099-1001)"},
		{"GHSA-x", "https://github.com/advisories/GHSA-x?a=(1)", "[GHSA-x](https://github.com/advisories/GHSA-x?a=%281%29)"},
		{"CVE-1", "javascript:alert(1)", "CVE-1"},
		{"CVE-1", "https://user:pw@evil.example/", "CVE-1"},
		{"CVE-1", "ftp://mirror/x", "CVE-1"},
		{"CVE-1", "", "CVE-1"},
		{"CVE-1", "https://x.example/a b|c`d", "CVE-1"},
	} {
		if got := string(Anchor(tc.text, tc.url)); got != tc.want {
			t.Errorf("Anchor(%q, %q) = %q, want %q", tc.text, tc.url, got, tc.want)
		}
	}
	// Hostile text cannot close the link or start another: one link, to the target, in a cell.
	got := renderMD(t, "| h |\n|---|\n| "+string(Anchor("x](javascript:alert(1)) ![i](https://evil.example/p.png) <b>", "https://ok.example/"))+" |\n")
	if strings.Count(got, "<a ") != 1 || !strings.Contains(got, `href="https://ok.example/"`) || strings.Contains(got, "<img") || strings.Contains(got, "<b>") {
		t.Errorf("Anchor renders\n%s", got)
	}
}
