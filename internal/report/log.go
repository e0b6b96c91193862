package report

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/sethvargo/go-githubactions"
)

// Log writes progress. In Actions it uses workflow commands (groups, annotations, masks);
// locally it writes plain lines a person reads in a terminal. Every method follows the rule in
// the package documentation: the format is trusted, the arguments are not.
type Log struct {
	w       io.Writer
	actions bool
	gha     *githubactions.Action
	now     func() time.Time
}

// NewLog returns a Log writing to w; actions selects workflow-command output.
func NewLog(w io.Writer, actions bool) *Log {
	// The action object only formats commands (and escapes their data and properties the
	// runner's way); config is the one reader of the environment.
	gha := githubactions.New(githubactions.WithWriter(w), githubactions.WithGetenv(func(string) string { return "" }))
	return &Log{w: w, actions: actions, gha: gha, now: time.Now}
}

// Mask tells the runner to hide s in every later log line. Call it as soon as a secret is read.
func (l *Log) Mask(s string) {
	if l.actions && s != "" {
		l.gha.AddMask(s)
	}
}

// Stage opens a log group for one stage; the returned func closes it and reports the time taken.
// The name is untrusted as a whole: stage names carry platform strings from the image.
func (l *Log) Stage(name string) func() time.Duration {
	start := l.now()
	if l.actions {
		l.gha.Group(escapeLine(name))
	} else {
		l.Infof("==> %s", name)
	}
	return func() time.Duration {
		d := l.now().Sub(start).Round(time.Millisecond)
		l.Infof("%s: done in %s", name, d)
		if l.actions {
			l.gha.EndGroup()
		}
		return d
	}
}

// Infof writes a plain line.
func (l *Log) Infof(format string, a ...any) { l.plain("", render(format, a)) }

// Noticef writes a notice annotation.
func (l *Log) Noticef(format string, a ...any) {
	if l.actions {
		l.gha.Noticef("%s", plainText(render(format, a)))
		return
	}
	l.plain("notice: ", render(format, a))
}

// Warningf writes a warning annotation.
func (l *Log) Warningf(format string, a ...any) {
	if l.actions {
		l.gha.Warningf("%s", plainText(render(format, a)))
		return
	}
	l.plain("warning: ", render(format, a))
}

// Errorf writes an error annotation.
func (l *Log) Errorf(format string, a ...any) {
	if l.actions {
		l.gha.Errorf("%s", plainText(render(format, a)))
		return
	}
	l.plain("error: ", render(format, a))
}

// The runner parses a line as a command when it starts with "::" after leading white space,
// and — its older syntax — when "##[" appears anywhere in it.
const (
	commandKey    = "::"
	legacyCommand = "##["
	// untrustedLead starts a line that would otherwise begin with an argument or with "::".
	untrustedLead = "- "
)

// Arguments are marked while a line is assembled so the line rule can tell where they are.
// Escaped arguments hold no control characters, so the marks cannot come from them.
const (
	argOpen  = '\x00'
	argClose = '\x01'
)

// render formats a with format, each argument escaped and marked; see untrusted.
func render(format string, a []any) string {
	wrapped := make([]any, len(a))
	for i, v := range a {
		wrapped[i] = untrusted{v}
	}
	// A carriage return in the format would end the line for the runner as a newline does.
	return strings.ReplaceAll(fmt.Sprintf(format, wrapped...), "\r", "")
}

// untrusted formats its value with the verb and flags it was given, then escapes and marks the
// result. A number or a truth value is not text — it prints as digits, signs and words only —
// unless it is printed as a character (%c, %q, %U).
type untrusted struct{ v any }

func (u untrusted) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), u.v)
	if isNumber(u.v) && !strings.ContainsRune("cqU", verb) {
		io.WriteString(f, s)
		return
	}
	io.WriteString(f, string(argOpen)+escapeArg(s)+string(argClose))
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
		float32, float64, bool, time.Duration:
		return true
	}
	return false
}

// plain writes rendered as lines: each line after the first of a message begins with its own
// trusted text or with untrustedLead, and prefix (trusted) starts the first.
func (l *Log) plain(prefix, rendered string) {
	var b strings.Builder
	for i, line := range strings.Split(rendered, "\n") {
		lead := prefix
		if i > 0 || prefix == "" {
			if startsUntrusted(line) {
				lead = untrustedLead
			} else {
				lead = ""
			}
		}
		b.WriteString(lead + unmark(line) + "\n")
	}
	io.WriteString(l.w, b.String())
}

// startsUntrusted reports whether line, as the runner reads it (leading white space ignored),
// begins with an argument's text or with "::".
func startsUntrusted(line string) bool {
	if strings.HasPrefix(strings.TrimLeftFunc(unmark(line), unicode.IsSpace), commandKey) {
		return true
	}
	in := false
	for _, r := range line {
		switch {
		case r == argOpen:
			in = true
		case r == argClose:
			in = false
		case unicode.IsSpace(r):
		default:
			return in
		}
	}
	return false
}

// unmark removes the argument marks and breaks up the runner's older command syntax, which a
// trusted format next to an argument could otherwise assemble.
func unmark(s string) string {
	s = strings.NewReplacer(string(argOpen), "", string(argClose), "").Replace(s)
	return strings.ReplaceAll(s, legacyCommand, `#\#[`)
}

// plainText is rendered without its marks, for an annotation's message: the line rule is moot
// after "::error::", and the message's own line breaks are the format's, escaped as command
// data by the Action.
func plainText(rendered string) string { return unmark(rendered) }

// escapeLine is untrusted text on its own: a group title, an output value printed locally.
func escapeLine(s string) string { return unmark(escapeArg(s)) }

// escapeArg makes untrusted text unable to start or break a line: line breaks and every other
// control character become visible Go-style escapes.
func escapeArg(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == 0x85 || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xa0):
			// NEL, the Unicode line and paragraph separators and the C1 controls end lines or
			// drive terminals in some readers.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
