package patchtext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
)

// ErrNotPatch: no diff starts within the first MaxScan bytes.
var ErrNotPatch = errors.New("not a patch")

// Bounds on what is read of one patch. A patch tree is user input and a "patch" may be a huge or
// binary file, so the parser reads a fixed prefix in fixed-size lines whatever the file claims.
const (
	MaxScan       = 1 << 20  // bytes searched for the start of the diff
	maxHeaderText = 64 << 10 // bytes of header (commit message, DEP-3 fields) kept
	MaxLine       = 8 << 10  // bytes kept of one line; the rest of a longer line is skipped
	maxIssues     = 256      // resolves kept from one patch
)

// LineReader yields the lines of a bounded prefix of a reader, each cut to MaxLine bytes.
type LineReader struct {
	br  *bufio.Reader
	buf []byte
}

func NewLineReader(r io.Reader, limit int64) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(io.LimitReader(r, limit), 4096)}
}

// Next returns the next line without its line ending; the slice is valid until the next call.
func (l *LineReader) Next() ([]byte, error) {
	l.buf = l.buf[:0]
	read := false
	for {
		frag, err := l.br.ReadSlice('\n')
		read = read || len(frag) > 0
		if room := MaxLine - len(l.buf); room > 0 {
			l.buf = append(l.buf, frag[:min(room, len(frag))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (!errors.Is(err, io.EOF) || !read) {
			return nil, err
		}
		line := bytes.TrimSuffix(l.buf, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
}

// IssueRef is one issue a patch resolves; partial marks an OpenStack Partial-Bug.
type IssueRef struct {
	Issue   cyclonedx.Issue
	Partial bool
}

// Header is what a patch says about itself before its diff.
type Header struct {
	Subject  string
	Kind     cyclonedx.PatchType
	Resolves []IssueRef
	Related  []string // Related-Bug references, which inform but do not resolve
	Commit   *cyclonedx.Commit
}

var (
	mboxFrom  = regexp.MustCompile(`^From ([0-9a-f]{40}|[0-9a-f]{64}) `)
	fieldLine = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{0,63}):[ \t]*(.*)$`)
	cherry    = regexp.MustCompile(`\(cherry picked from commit ([0-9a-f]{7,64})\)`)
	cveRe     = regexp.MustCompile(`(?i)\bCVE-(\d{4})-(\d{4,19})\b`)
	ghsaRe    = regexp.MustCompile(`(?i)\bGHSA(-[23456789cfghjmpqrvwx]{4}){3}\b`)
	lpNumber  = regexp.MustCompile(`#?(\d{1,12})\b`)
	patchTag  = regexp.MustCompile(`^\s*\[[^\]]*\]\s*`)
)

// ParseHeader reads the header of one patch: a git format-patch mail, DEP-3 fields, or
// free text before the diff. It fails with ErrNotPatch when no diff starts within MaxScan bytes.
func ParseHeader(r io.Reader) (*Header, error) {
	lr := NewLineReader(r, MaxScan)
	h := &Header{}
	p := &headerParser{h: h, seenIssue: map[string]bool{}}

	const (
		stFirst = iota
		stMail
		stBody
		stDiff
	)
	state := stFirst
	var prevMinus bool
	found := false
	for !found {
		raw, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		if state == stFirst {
			state = stBody
			if m := mboxFrom.FindSubmatch(raw); m != nil {
				p.sha = string(m[1])
				state = stMail
				continue
			}
		}
		switch state {
		case stMail:
			if len(bytes.TrimSpace(raw)) == 0 {
				state = stBody
				continue
			}
			if p.textLen < maxHeaderText {
				p.textLen += len(raw) + 1
				p.mailLine(string(raw))
			}
		case stBody:
			if diffStart(raw) {
				state = stDiff
				prevMinus = bytes.HasPrefix(raw, []byte("--- "))
				found = bytes.HasPrefix(raw, []byte("diff --git "))
				continue
			}
			// Past maxHeaderText the header is no commit message any more; only the diff start
			// is still looked for, so work and memory stay bounded by the cap.
			if p.textLen < maxHeaderText {
				p.bodyLine(string(raw))
			}
		case stDiff:
			found = bytes.HasPrefix(raw, []byte("diff --git ")) ||
				string(raw) == "GIT binary patch" ||
				prevMinus && bytes.HasPrefix(raw, []byte("+++ "))
			prevMinus = bytes.HasPrefix(raw, []byte("--- "))
		}
	}
	if !found {
		return nil, ErrNotPatch
	}
	p.finish()
	return h, nil
}

// diffStart reports a line that ends the header: the format-patch "---" separator or the first
// line of a diff.
func diffStart(line []byte) bool {
	return string(bytes.TrimRight(line, " \t")) == "---" ||
		bytes.HasPrefix(line, []byte("--- ")) ||
		bytes.HasPrefix(line, []byte("diff ")) ||
		bytes.HasPrefix(line, []byte("Index: "))
}

type headerParser struct {
	h *Header

	// format-patch mail headers
	sha, from, date, mailSubject string
	lastMail                     string

	body      strings.Builder // commit message body, or free text
	textLen   int
	origin    string
	cherry    bool
	dep3Desc  string
	lastField string
	seenIssue map[string]bool
}

func (p *headerParser) mailLine(line string) {
	if (line[0] == ' ' || line[0] == '\t') && p.lastMail != "" {
		if p.lastMail == "subject" && len(p.mailSubject) < MaxLine {
			p.mailSubject += " " + strings.TrimSpace(line)
		}
		return
	}
	m := fieldLine.FindStringSubmatch(line)
	if m == nil {
		p.lastMail = ""
		return
	}
	p.lastMail = strings.ToLower(m[1])
	switch p.lastMail {
	case "from":
		p.from = m[2]
	case "date":
		p.date = m[2]
	case "subject":
		p.mailSubject = m[2]
	}
}

func (p *headerParser) bodyLine(line string) {
	p.body.WriteString(line)
	p.body.WriteByte('\n')
	p.textLen += len(line) + 1
	if line != "" && (line[0] == ' ' || line[0] == '\t') {
		if p.lastField == "description" && p.dep3Desc == "" {
			p.dep3Desc = strings.TrimSpace(line)
		}
		p.scanText(line)
		return
	}
	p.lastField = ""
	if !strings.Contains(line, ":") {
		// Not a field; only free text such as a cherry-pick line or an advisory id.
	} else if m := fieldLine.FindStringSubmatch(line); m != nil {
		key, val := strings.ToLower(m[1]), strings.TrimSpace(m[2])
		p.lastField = key
		switch {
		case key == "description" || key == "subject":
			if p.dep3Desc == "" {
				p.dep3Desc = val
			}
		case key == "origin":
			if p.origin == "" {
				p.origin = val
			}
		case key == "closes-bug" || key == "partial-bug":
			for _, n := range lpNumbers(val) {
				p.addIssue(launchpadIssue(n), key == "partial-bug")
			}
		case key == "related-bug":
			for _, n := range lpNumbers(val) {
				p.h.Related = append(p.h.Related, fmt.Sprintf("Related-Bug LP#%s (%s)", n, launchpadURL(n)))
			}
		case key == "bug" || strings.HasPrefix(key, "bug-"):
			vendor := ""
			if key != "bug" {
				vendor = m[1][len("bug-"):]
			}
			if is, ok := bugIssue(vendor, val); ok {
				p.addIssue(is, false)
			}
		}
	}
	if strings.Contains(line, "(cherry picked from") && cherry.MatchString(line) {
		p.cherry = true
	}
	p.scanText(line)
}

// scanText finds advisory identifiers anywhere in the header: a CVE or GHSA named in a subject
// or description is what the patch fixes.
func (p *headerParser) scanText(line string) {
	if !containsFold(line, "cve-") && !containsFold(line, "ghsa-") {
		return
	}
	for _, m := range cveRe.FindAllStringSubmatch(line, -1) {
		id := "CVE-" + m[1] + "-" + m[2]
		p.addIssue(cyclonedx.Issue{
			Type:   cyclonedx.IssueTypeSecurity,
			ID:     id,
			Source: &cyclonedx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id},
		}, false)
	}
	for _, m := range ghsaRe.FindAllString(line, -1) {
		id := "GHSA" + strings.ToLower(m[len("GHSA"):])
		p.addIssue(cyclonedx.Issue{
			Type:   cyclonedx.IssueTypeSecurity,
			ID:     id,
			Source: &cyclonedx.Source{Name: "GitHub", URL: "https://github.com/advisories/" + id},
		}, false)
	}
}

// containsFold reports whether s contains the lower-case ASCII sub, ignoring case, without
// allocating a lowered copy of s.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && (s[i+j]|0x20) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func (p *headerParser) addIssue(is cyclonedx.Issue, partial bool) {
	if p.seenIssue[is.ID] || len(p.h.Resolves) >= maxIssues {
		return
	}
	p.seenIssue[is.ID] = true
	p.h.Resolves = append(p.h.Resolves, IssueRef{Issue: is, Partial: partial})
}

func (p *headerParser) finish() {
	h := p.h
	subject := p.mailSubject
	if subject != "" {
		subject = decodeHeader(subject)
		subject = strings.TrimSpace(patchTag.ReplaceAllString(subject, ""))
		// The subject was not part of the body scan; a CVE in it counts all the same. Prepend
		// its issues so they come first, as a reader of the patch meets them.
		body := h.Resolves
		h.Resolves = nil
		for k := range p.seenIssue {
			delete(p.seenIssue, k)
		}
		p.scanText(subject)
		for _, r := range body {
			p.addIssue(r.Issue, r.Partial)
		}
	} else {
		subject = p.dep3Desc
	}
	h.Subject = subject

	switch originCategory(p.origin) {
	case "upstream":
		h.Kind = cyclonedx.PatchTypeCherryPick
	case "backport":
		h.Kind = cyclonedx.PatchTypeBackport
	case "vendor", "other":
		h.Kind = cyclonedx.PatchTypeUnofficial
	default:
		if p.cherry {
			h.Kind = cyclonedx.PatchTypeCherryPick
		} else {
			h.Kind = cyclonedx.PatchTypeBackport
		}
	}

	if p.sha != "" {
		c := &cyclonedx.Commit{UID: p.sha}
		msg := strings.TrimSpace(p.body.String())
		if subject != "" {
			msg = strings.TrimSpace(subject + "\n\n" + msg)
		}
		c.Message = msg
		if a := author(p.from, p.date); a != nil {
			c.Author = a
		}
		h.Commit = c
	} else if c := originCommit(p.origin); c != nil {
		h.Commit = c
	}
}

// originCategory returns the DEP-3 Origin keyword ("upstream", "backport", "vendor", "other"),
// or "" when the field has none (a bare URL, say).
func originCategory(origin string) string {
	o := strings.ToLower(strings.TrimSpace(origin))
	for _, k := range []string{"upstream", "backport", "vendor", "other"} {
		if rest, ok := strings.CutPrefix(o, k); ok && (rest == "" || strings.ContainsRune(",: \t", rune(rest[0]))) {
			return k
		}
	}
	return ""
}

// originCommit records the upstream commit a DEP-3 Origin points at, when it names one.
func originCommit(origin string) *cyclonedx.Commit {
	_, info, ok := strings.Cut(origin, ",")
	if !ok || originCategory(origin) == "" {
		info = origin
	}
	info = strings.TrimSpace(info)
	if id, ok := strings.CutPrefix(info, "commit:"); ok {
		id = strings.TrimSpace(id)
		if isHex(id) && len(id) >= 7 && len(id) <= 64 {
			return &cyclonedx.Commit{UID: id}
		}
		return nil
	}
	u, ok := httpURL(info)
	if !ok || !strings.Contains(u.Path, "/commit") {
		return nil
	}
	return &cyclonedx.Commit{URL: u.String()}
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}

// author builds the commit author from format-patch From: and Date: headers; a part that does
// not parse is left out rather than written in a form the schema rejects.
func author(from, date string) *cyclonedx.IdentifiableAction {
	a := &cyclonedx.IdentifiableAction{}
	if from != "" {
		if addr, err := mail.ParseAddress(from); err == nil {
			a.Name, a.Email = addr.Name, addr.Address
		} else {
			a.Name = decodeHeader(strings.TrimSpace(from))
		}
	}
	if date != "" {
		if t, err := mail.ParseDate(date); err == nil {
			a.Timestamp = t.UTC().Format(time.RFC3339)
		}
	}
	if *a == (cyclonedx.IdentifiableAction{}) {
		return nil
	}
	return a
}

func decodeHeader(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

func lpNumbers(val string) []string {
	var out []string
	for _, m := range lpNumber.FindAllStringSubmatch(val, 16) {
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil || n == 0 {
			continue
		}
		out = append(out, strconv.FormatUint(n, 10))
	}
	return out
}

func launchpadURL(n string) string { return "https://bugs.launchpad.net/bugs/" + n }

func launchpadIssue(n string) cyclonedx.Issue {
	return cyclonedx.Issue{
		Type:   cyclonedx.IssueTypeDefect,
		ID:     "LP#" + n,
		Source: &cyclonedx.Source{Name: "Launchpad", URL: launchpadURL(n)},
	}
}

var (
	lpBugPath    = regexp.MustCompile(`(?:^|/)(?:\+bug|bugs)/(\d{1,12})/?$`)
	githubIssue  = regexp.MustCompile(`^/([^/]+/[^/]+)/(?:issues|pull)/(\d{1,12})/?$`)
	gitlabIssue  = regexp.MustCompile(`^/(.+)/-/(?:issues|merge_requests)/(\d{1,12})/?$`)
	debbugsPath  = regexp.MustCompile(`^/(?:cgi-bin/bugreport\.cgi)?(\d{1,12})?/?$`)
	bareBugIDNum = regexp.MustCompile(`^#?(\d{1,12})$`)
)

// bugIssue turns a DEP-3 Bug or Bug-<Vendor> value into an issue, naming well-known trackers
// the way their users do (LP#N, Debian#N, owner/repo#N).
func bugIssue(vendor, val string) (cyclonedx.Issue, bool) {
	val = strings.TrimSpace(val)
	if i := strings.IndexAny(val, " \t"); i >= 0 {
		val = val[:i]
	}
	if m := bareBugIDNum.FindStringSubmatch(val); m != nil {
		switch strings.ToLower(vendor) {
		case "ubuntu":
			return launchpadIssue(m[1]), true
		case "debian":
			val = "https://bugs.debian.org/" + m[1]
		default:
			return cyclonedx.Issue{}, false
		}
	}
	u, ok := httpURL(val)
	if !ok {
		return cyclonedx.Issue{}, false
	}
	host := strings.ToLower(u.Hostname())
	is := cyclonedx.Issue{Type: cyclonedx.IssueTypeDefect, ID: u.String(), Source: &cyclonedx.Source{Name: vendor, URL: u.String()}}
	if is.Source.Name == "" {
		is.Source.Name = host
	}
	switch {
	case host == "launchpad.net" || strings.HasSuffix(host, ".launchpad.net"):
		if m := lpBugPath.FindStringSubmatch(u.Path); m != nil {
			return launchpadIssue(m[1]), true
		}
	case host == "bugs.debian.org":
		n := u.Query().Get("bug")
		if m := debbugsPath.FindStringSubmatch(u.Path); n == "" && m != nil {
			n = m[1]
		}
		if bareBugIDNum.MatchString(n) {
			is.ID, is.Source.Name = "Debian#"+n, "Debian"
		}
	case host == "github.com":
		if m := githubIssue.FindStringSubmatch(u.Path); m != nil {
			is.ID, is.Source.Name = m[1]+"#"+m[2], "GitHub"
		}
	default:
		if m := gitlabIssue.FindStringSubmatch(u.Path); m != nil {
			is.ID = m[1] + "#" + m[2]
		}
	}
	return is, true
}

// httpURL accepts an absolute http(s) URL with a host, the only kind worth writing to an SBOM.
func httpURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, false
	}
	return u, true
}
