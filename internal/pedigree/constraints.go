package pedigree

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/bom-attest/bom-attest/internal/patchtext"
)

// Bounds on a constraints file: it is a short, hand-kept list, so anything far larger is a
// wrong file, and the parser must not let such a file decide how much it allocates.
const (
	maxConstraintErrors  = 10
	maxConstraintEntries = 10000
)

// constraint is one pin of a pip-style constraints file.
type constraint struct {
	line    int
	name    string // as written
	op      string // "==" or "==="
	version string
	marker  string // environment marker after ';', if any
	was     string // version before the override, from a "was X" comment
	reason  string // the rest of the comment (a CVE, a bug)
}

var (
	reqLine = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(===|==|~=|!=|<=|>=|<|>)\s*(\S*)\s*(.*)$`)
	pinVer  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+!_-]*$`)
	wasRe   = regexp.MustCompile(`(?i)(?:^|[\s,;(])was:?\s+v?([A-Za-z0-9][A-Za-z0-9.+!_-]*)`)
	nameOf  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*`)
)

// parseConstraints reads a pip constraints file of pins such as
// "cryptography===44.0.1  # CVE-2025-XXXX, was 44.0.0". name is the file as the user gave it,
// used in messages. Every malformed line is reported, up to maxConstraintErrors.
func parseConstraints(r io.Reader, name string) ([]constraint, error) {
	cr := &countingReader{r: r}
	lr := patchtext.NewLineReader(cr, maxConstraintsFile+1)
	var (
		out    []constraint
		errs   []error
		lineNo int
		cont   strings.Builder
		start  int
	)
	fail := func(n int, format string, args ...any) {
		if len(errs) < maxConstraintErrors {
			errs = append(errs, fmt.Errorf("constraint-overrides: %s:%d: %w: %s", name, n, ErrConstraint, fmt.Sprintf(format, args...)))
		}
	}
	seen := map[string]int{}
	for {
		raw, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("constraint-overrides: %s: %w: %w", name, ErrConstraint, err)
		}
		if len(errs) >= maxConstraintErrors {
			break
		}
		lineNo++
		if cr.n > maxConstraintsFile {
			return nil, tooLargeConstraints(name)
		}
		if len(raw) >= patchtext.MaxLine {
			fail(lineNo, "line longer than %d bytes", patchtext.MaxLine)
			continue
		}
		line := string(raw)
		// pip joins a line ending in a backslash with the next one.
		if body, ok := strings.CutSuffix(line, `\`); ok {
			if cont.Len() == 0 {
				start = lineNo
			}
			if cont.Len()+len(body) < patchtext.MaxLine {
				cont.WriteString(body)
			}
			continue
		}
		n := lineNo
		if cont.Len() > 0 {
			cont.WriteString(line)
			line, n = cont.String(), start
			cont.Reset()
		}
		c, ok, msg := parseConstraintLine(line)
		if msg != "" {
			fail(n, "%s", msg)
			continue
		}
		if !ok {
			continue
		}
		c.line = n
		key := normalize("pypi", c.name)
		if prev, dup := seen[key]; dup {
			fail(n, "%s is pinned again (first on line %d)", c.name, prev)
			continue
		}
		if len(out) >= maxConstraintEntries {
			fail(n, "more than %d pins", maxConstraintEntries)
			break
		}
		seen[key] = n
		out = append(out, c)
	}
	if cr.n > maxConstraintsFile {
		return nil, tooLargeConstraints(name)
	}
	if cont.Len() > 0 {
		fail(start, "line continues past the end of the file")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parseConstraintLine parses one logical line. ok is false for a blank or comment line; msg
// says what is wrong with a malformed one.
func parseConstraintLine(line string) (c constraint, ok bool, msg string) {
	req, comment := splitComment(line)
	req = strings.TrimSpace(req)
	if req == "" {
		return c, false, ""
	}
	if strings.HasPrefix(req, "-") {
		return c, false, fmt.Sprintf("%q: pip options are not overrides; list pins such as name===1.2.3", clip(req))
	}
	spec, marker, _ := strings.Cut(req, ";")
	spec = strings.TrimSpace(spec)
	m := reqLine.FindStringSubmatch(spec)
	if m == nil {
		if n := nameOf.FindString(spec); n != "" && strings.Contains(spec[len(n):], "@") {
			return c, false, fmt.Sprintf("%q: a URL requirement is not a version pin; want %s===VERSION", clip(req), n)
		}
		if n := nameOf.FindString(spec); n != "" {
			return c, false, fmt.Sprintf("%q: no version pin; want %s===VERSION", clip(req), n)
		}
		return c, false, fmt.Sprintf("%q: not a requirement; want name===VERSION", clip(req))
	}
	c.name, c.op, c.version = m[1], m[3], m[4]
	rest := strings.TrimSpace(m[5])
	if c.op != "==" && c.op != "===" {
		return c, false, fmt.Sprintf("%q: %s is a range; an override pins one version with == or ===", clip(req), c.op)
	}
	if c.version == "" {
		return c, false, fmt.Sprintf("%q: no version after %s", clip(req), c.op)
	}
	if strings.ContainsAny(c.version, ",") || strings.HasPrefix(rest, ",") {
		return c, false, fmt.Sprintf("%q: more than one specifier; an override pins one version", clip(req))
	}
	if strings.Contains(c.version, "*") {
		return c, false, fmt.Sprintf("%q: %s is a wildcard, not a version", clip(req), c.version)
	}
	if !pinVer.MatchString(c.version) {
		return c, false, fmt.Sprintf("%q: %q is not a version", clip(req), c.version)
	}
	for _, f := range strings.Fields(rest) {
		if !strings.HasPrefix(f, "--hash=") {
			return c, false, fmt.Sprintf("%q: unexpected %q after the version", clip(req), clip(f))
		}
	}
	var mk []string
	for _, f := range strings.Fields(marker) {
		if !strings.HasPrefix(f, "--hash=") {
			mk = append(mk, f)
		}
	}
	c.marker = strings.Join(mk, " ")
	c.was, c.reason = parseComment(comment)
	return c, true, ""
}

// splitComment cuts a pip comment: "#" at the start of the line or after whitespace.
func splitComment(line string) (req, comment string) {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i], strings.TrimSpace(line[i+1:])
		}
	}
	return line, ""
}

// parseComment reads "CVE-2025-XXXX, was 44.0.0" into the previous version and the reason.
func parseComment(comment string) (was, reason string) {
	if loc := wasRe.FindStringSubmatchIndex(comment); loc != nil {
		was = strings.TrimRight(comment[loc[2]:loc[3]], ".")
		comment = comment[:loc[0]] + " " + comment[loc[1]:]
	}
	reason = strings.Trim(comment, " \t,;:-")
	if strings.HasPrefix(reason, "(") && strings.HasSuffix(reason, ")") && strings.Count(reason, "(") == 1 {
		reason = strings.TrimSpace(reason[1 : len(reason)-1])
	}
	return was, reason
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// sameVersion reports whether installed satisfies the pin: === compares the strings, == the
// PEP 440 release (so 44.0 equals 44.0.0, and a local label is ignored unless pinned).
func sameVersion(op, pinned, installed string) bool {
	p, i := strings.ToLower(strings.TrimSpace(pinned)), strings.ToLower(strings.TrimSpace(installed))
	if op == "===" {
		return p == i
	}
	if !strings.Contains(p, "+") {
		i, _, _ = strings.Cut(i, "+")
	}
	return compareVersions(p, i) == 0 && suffixOf(p) == suffixOf(i)
}

// compareVersions orders two versions by their numeric release and pre/post-release marker;
// good enough to say "upgraded" or "downgraded", which is all the property needs.
func compareVersions(a, b string) int {
	ra, sa := release(a)
	rb, sb := release(b)
	for k := 0; k < max(len(ra), len(rb)); k++ {
		var x, y uint64
		if k < len(ra) {
			x = ra[k]
		}
		if k < len(rb) {
			y = rb[k]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	wa, wb := suffixWeight(sa), suffixWeight(sb)
	switch {
	case wa < wb:
		return -1
	case wa > wb:
		return 1
	}
	return strings.Compare(sa, sb)
}

func release(v string) ([]uint64, string) {
	v = strings.TrimPrefix(strings.ToLower(v), "v")
	if _, after, ok := strings.Cut(v, "!"); ok {
		v = after
	}
	var out []uint64
	for len(out) < 32 {
		j := 0
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		if j == 0 {
			break
		}
		n, err := strconv.ParseUint(v[:j], 10, 64)
		if err != nil {
			break
		}
		out = append(out, n)
		v = v[j:]
		if len(v) > 1 && v[0] == '.' && v[1] >= '0' && v[1] <= '9' {
			v = v[1:]
			continue
		}
		break
	}
	return out, v
}

func suffixOf(v string) string {
	_, s := release(v)
	return strings.TrimLeft(s, ".-_")
}

// suffixWeight places pre-releases before the release and post-releases after it.
func suffixWeight(s string) int {
	s = strings.TrimLeft(s, ".-_")
	switch {
	case s == "" || strings.HasPrefix(s, "+"):
		return 0
	case hasAnyPrefix(s, "dev", "rc", "pre", "a", "b", "c"):
		return -1
	case hasAnyPrefix(s, "post", "rev", "r") || s[0] >= '0' && s[0] <= '9':
		return 1
	}
	return 0
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
