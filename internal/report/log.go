package report

import (
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// Log writes progress. In Actions it uses workflow commands (groups, annotations, masks);
// locally it writes plain lines a person reads in a terminal.
type Log struct {
	w       io.Writer
	actions bool
	gha     *githubactions.Action
	now     func() time.Time
}

// NewLog returns a Log writing to w; actions selects workflow-command output.
func NewLog(w io.Writer, actions bool) *Log {
	// The action object only formats commands here; config is the one reader of the environment.
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
func (l *Log) Stage(name string) func() time.Duration {
	start := l.now()
	if l.actions {
		l.gha.Group(name)
	} else {
		fmt.Fprintf(l.w, "==> %s\n", name)
	}
	return func() time.Duration {
		d := l.now().Sub(start).Round(time.Millisecond)
		fmt.Fprintf(l.w, "%s: done in %s\n", name, d)
		if l.actions {
			l.gha.EndGroup()
		}
		return d
	}
}

// Infof writes a plain line.
func (l *Log) Infof(format string, a ...any) { fmt.Fprintf(l.w, format+"\n", a...) }

// Noticef writes a notice annotation.
func (l *Log) Noticef(format string, a ...any) {
	if l.actions {
		l.gha.Noticef(format, a...)
		return
	}
	fmt.Fprintf(l.w, "notice: "+format+"\n", a...)
}

// Warningf writes a warning annotation.
func (l *Log) Warningf(format string, a ...any) {
	if l.actions {
		l.gha.Warningf(format, a...)
		return
	}
	fmt.Fprintf(l.w, "warning: "+format+"\n", a...)
}

// Errorf writes an error annotation.
func (l *Log) Errorf(format string, a ...any) {
	if l.actions {
		l.gha.Errorf(format, a...)
		return
	}
	fmt.Fprintf(l.w, "error: "+format+"\n", a...)
}
