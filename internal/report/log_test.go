package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
)

// hostile is text an image, a file or a server could put in front of the log.
var hostile = []string{
	"::stop-commands::pwn",
	"::warning::pwned",
	"\n::set-output name=x::y",
	"%0A::error::pwned",
	"\r::add-mask::x",
	"x\r\n::group::pwned",
	"  ::endgroup::",
	"\u2028::notice::pwned",
	"\u0085::error::pwned",
	"##[set-output name=x;]y",
	"#[stop-commands]pwn", // next to a trusted "#"
	":stop-commands::pwn", // next to a trusted ":"
	"\x1b[2J\x00\x01",
	"%25%0D%0A",
}

// formats are shapes a caller may use: a verb first, a verb after white space, after a trusted
// colon or hash, after a trusted line break, in the middle, quoted.
var formats = []string{"%s", "  %s", ":%s", "#%s", "wrote %s (%d bytes)", "a\n%s", "%v: done", "%q", "%[1]s|%[1]s"}

// commandLines returns the workflow commands in out as the runner would read them: every line,
// split where the runner splits, with leading white space trimmed, that starts with "::"; and
// the lines that hold the runner's older "##[" syntax anywhere.
func commandLines(out string) (cmds, legacy []string) {
	for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }) {
		t := strings.TrimLeftFunc(line, unicode.IsSpace)
		if strings.HasPrefix(t, "::") {
			name, _, _ := strings.Cut(t[2:], "::")
			name, _, _ = strings.Cut(name, " ")
			cmds = append(cmds, name)
		}
		if strings.Contains(line, "##[") {
			legacy = append(legacy, line)
		}
	}
	return cmds, legacy
}

func TestLogHostileArguments(t *testing.T) {
	methods := []struct {
		name string
		call func(l *Log, format string, a ...any)
		cmds []string // the commands this call itself writes in Actions
	}{
		{"Infof", (*Log).Infof, nil},
		{"Noticef", (*Log).Noticef, []string{"notice"}},
		{"Warningf", (*Log).Warningf, []string{"warning"}},
		{"Errorf", (*Log).Errorf, []string{"error"}},
		{"Stage", func(l *Log, format string, a ...any) { l.Stage(a[0].(string))() }, []string{"group", "endgroup"}},
		{"error value", func(l *Log, format string, a ...any) { l.Errorf(format, errors.New(a[0].(string))) }, []string{"error"}},
	}
	for _, actions := range []bool{true, false} {
		for _, m := range methods {
			for _, format := range formats {
				for _, h := range hostile {
					var buf bytes.Buffer
					l := NewLog(&buf, actions)
					args := []any{h}
					if strings.Count(format, "%") > 1 && !strings.Contains(format, "[1]") {
						args = append(args, 42)
					}
					m.call(l, format, args...)
					out := buf.String()
					cmds, legacy := commandLines(out)
					want := m.cmds
					if !actions {
						want = nil
					}
					if strings.Join(cmds, ",") != strings.Join(want, ",") {
						t.Errorf("actions=%v %s(%q, %q): commands %q, want %q:\n%s", actions, m.name, format, h, cmds, want, out)
					}
					if len(legacy) > 0 {
						t.Errorf("actions=%v %s(%q, %q): the runner's older syntax got through: %q", actions, m.name, format, h, legacy)
					}
					if strings.ContainsAny(out, "\r\x00\x01\x1b\u2028\u0085") {
						t.Errorf("actions=%v %s(%q, %q): a control character got through: %q", actions, m.name, format, h, out)
					}
				}
			}
		}
	}
}

func TestLogLines(t *testing.T) {
	tests := []struct {
		name    string
		actions bool
		log     func(l *Log)
		want    string
	}{
		{"verb first is led", false, func(l *Log) { l.Infof("%s %s", "linux/amd64", "sha256:ab") }, "- linux/amd64 sha256:ab\n"},
		{"trusted start is not", false, func(l *Log) { l.Infof("wrote %s", "out/sbom.cdx.json") }, "wrote out/sbom.cdx.json\n"},
		{"numbers are not text", false, func(l *Log) { l.Infof("%d components", 3) }, "3 components\n"},
		{"durations are not text", false, func(l *Log) { l.Infof("%s: done", 1500*time.Millisecond) }, "1.5s: done\n"},
		{"a rune is text", false, func(l *Log) { l.Infof("%c%c::x", '\n', ':') }, "- \\n:::x\n"},
		{"empty argument first", false, func(l *Log) { l.Infof("%s%s", "", "x") }, "- x\n"},
		{"empty argument then trusted", false, func(l *Log) { l.Infof("%sdone", "") }, "done\n"},
		{"argument line break escaped", false, func(l *Log) { l.Infof("wrote %s", "a\nb\rc") }, "wrote a\\nb\\rc\n"},
		{"format line break kept", false, func(l *Log) { l.Infof("a\nb") }, "a\nb\n"},
		{"format line break then argument", false, func(l *Log) { l.Infof("a\n%s", "::x") }, "a\n- ::x\n"},
		{"trusted colon plus argument", false, func(l *Log) { l.Infof(":%s", ":x::y") }, "- ::x::y\n"},
		{"legacy syntax broken up", false, func(l *Log) { l.Infof("#%s", "#[stop-commands]x") }, "#\\#[stop-commands]x\n"},
		{"quoted verb", false, func(l *Log) { l.Infof("got %q", "a\nb") }, "got \"a\\nb\"\n"},
		{"local annotation", false, func(l *Log) { l.Warningf("%s", "::x\ny") }, "warning: ::x\\ny\n"},
		{"local annotation format lines", false, func(l *Log) { l.Errorf("bad\n%s", "::x") }, "error: bad\n- ::x\n"},
		{"annotation data", true, func(l *Log) { l.Errorf("bad\n%s", "50%\n::x") }, "::error::bad%0A50%25\\n::x\n"},
		{"stage name", true, func(l *Log) { l.Stage("scan \n::warning::x")() }, "::group::scan \\n::warning::x\n- scan \\n::warning::x: done in 0s\n::endgroup::\n"},
		{"stage name locally", false, func(l *Log) { l.Stage("scan")() }, "==> scan\n- scan: done in 0s\n"},
		{"mask", true, func(l *Log) { l.Mask("a%b\nc") }, "::add-mask::a%25b%0Ac\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLog(&buf, tt.actions)
			l.now = func() time.Time { return time.Unix(0, 0) }
			tt.log(l)
			if buf.String() != tt.want {
				t.Errorf("got  %q\nwant %q", buf.String(), tt.want)
			}
		})
	}
}
