package report

import (
	"fmt"
	"html"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Markdown is Markdown the action vouches for: it goes into the summary as it is. An untyped
// string constant becomes Markdown without a conversion, as constants are the action's own
// words; anything else gets here through Text, Code, Link or Markdownf, which escape what they
// are given, or through an explicit Markdown(...) conversion a reviewer can see.
//
// A Markdown value is one line and reads the same in a table cell, a list item, a heading or a
// paragraph.
type Markdown string

// Text renders s, from wherever it came, as literal text. HTML is escaped as entities; every
// character that could open a link, an image, emphasis, code, math or a table cell is
// backslash-escaped, and a leading "#" that would open a heading; whatever GitHub would turn
// into a link on its own (https://…, www.…, name@host.tld) is set in a code span. Parentheses
// stay as they are: without an unescaped "[" they start nothing. Line breaks become spaces.
func Text(s string) Markdown {
	s = oneLine(s)
	var b strings.Builder
	last := 0
	for _, m := range autolinkRE.FindAllStringIndex(s, -1) {
		b.WriteString(escapeText(s[last:m[0]]))
		// Sentence punctuation after a URL reads as the sentence's, not the URL's, as GitHub's
		// own autolinker has it; it stays out of the span while what is left still needs one.
		end := m[1]
		for end > m[0] {
			w, c := s[m[0]:end-1], s[end-1]
			closing := c == ')' && strings.Count(w, "(") < strings.Count(w, ")")+1
			if !strings.ContainsRune(".,;:!?'\"", rune(c)) && !closing || !autolinkRE.MatchString(w) {
				break
			}
			end--
		}
		b.WriteString(string(Code(s[m[0]:end])))
		b.WriteString(escapeText(s[end:m[1]]))
		last = m[1]
	}
	b.WriteString(escapeText(s[last:]))
	md := b.String()
	// At the start of a list item or a heading, "#" would open a heading of its own; elsewhere
	// it is text (and "LP#123" should read as written).
	if t := strings.TrimLeft(md, " "); strings.HasPrefix(t, "#") {
		md = md[:len(md)-len(t)] + `\` + t
	}
	return Markdown(md)
}

// Texts renders each of s with Text, for a table row of plain text.
func Texts(s ...string) []Markdown {
	out := make([]Markdown, len(s))
	for i, v := range s {
		out[i] = Text(v)
	}
	return out
}

// autolinkRE matches a word (a run without white space) that GitHub, or another renderer, may
// link without being asked: one with a scheme (https://…), a www. host, or an e-mail address —
// whose local part renderers read generously, so any word with an "@" and a dot after it. This
// also catches purls such as pkg:pypi/a@1.2.3, harmlessly.
var autolinkRE = regexp.MustCompile(`\S*(?:://|(?i:www)\.|@[^\s@]*\.)\S*`)

var textEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "!", `\!`,
	"~", `\~`, "$", `\$`, "|", `\|`,
)

func escapeText(s string) string { return textEscaper.Replace(s) }

// oneLine turns line breaks and other control characters into spaces: a line break would end
// a table row or a list item, and the rest have no business in a summary.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

// Code renders s as a code span: nothing inside is read as Markdown or HTML. The fence is one
// backtick longer than the longest run of backticks in s, as CommonMark needs. A pipe would end
// a table cell even inside a code span, so it is written between spans, escaped.
func Code(s string) Markdown {
	s = oneLine(s)
	parts := strings.Split(s, "|")
	for i, p := range parts {
		parts[i] = codeSpan(p)
	}
	return Markdown(strings.Join(parts, `\|`))
}

func codeSpan(s string) string {
	if s == "" {
		return ""
	}
	fence := strings.Repeat("`", longestBackticks(s)+1)
	// CommonMark strips one space from each end of a span that has both, and a backtick next to
	// the fence would join it: pad in those cases so the span holds exactly s.
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ") && strings.Trim(s, " ") != "") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// Link renders u as a link when it is an absolute https URL of plain URL characters; anything
// else — another scheme, a space, a quote, a bracket — is rendered with Text. The bare form is
// used where GitHub takes the whole URL as the link; otherwise the <…> form, which has no
// exceptions.
func Link(u string) Markdown {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || !linkRE.MatchString(u) {
		return Text(u)
	}
	if strings.ContainsAny(u[len(u)-1:], `?!.,:*_~')`) || strings.ContainsAny(u, "&(") {
		return Markdown("<" + u + ">")
	}
	return Markdown(u)
}

// Anchor renders text as a link to target, both hostile (an advisory's id and URL): the text is
// rendered with Text, and the link is made only when target is an absolute http(s) URL of plain
// URL characters, with the parentheses that would end it percent-encoded. Otherwise it is the
// text alone.
func Anchor(text, target string) Markdown {
	t := Text(text)
	p, err := url.Parse(target)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || !linkRE.MatchString(target) {
		return t
	}
	return Markdown("[" + string(t) + "](" + strings.NewReplacer("(", "%28", ")", "%29").Replace(target) + ")")
}

var linkRE = regexp.MustCompile(`^[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]+$`)

// Markdownf formats like fmt.Sprintf with format as trusted Markdown: an argument that is
// Markdown goes in as it is; any other is formatted with its verb and rendered with Text.
func Markdownf(format string, a ...any) Markdown {
	w := make([]any, len(a))
	for i, v := range a {
		if md, ok := v.(Markdown); ok {
			w[i] = string(md)
		} else {
			w[i] = textArg{v}
		}
	}
	return Markdown(fmt.Sprintf(format, w...))
}

type textArg struct{ v any }

func (t textArg) Format(f fmt.State, verb rune) {
	io.WriteString(f, string(Text(fmt.Sprintf(fmt.FormatString(f, verb), t.v))))
}

// render sets the file in a fenced code block inside <details>: the fence is longer than any run
// of backticks in the text, so no line of it can close the block, and the summary is HTML-escaped
// text, as Markdown is not read inside the summary element.
func (c Collapsed) render() string {
	text := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, strings.TrimRight(c.Text, "\n"))
	fence := strings.Repeat("`", max(3, longestBackticks(text)+1))
	lang := c.Lang
	if !langRE.MatchString(lang) {
		lang = ""
	}
	return "<details><summary>" + html.EscapeString(oneLine(c.Summary)) + "</summary>\n\n" +
		fence + lang + "\n" + text + "\n" + fence + "\n\n</details>\n\n"
}

var langRE = regexp.MustCompile(`^[a-z0-9]+$`)

// longestBackticks is the longest run of backticks in s: a fence must be longer to hold s.
func longestBackticks(s string) int {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
