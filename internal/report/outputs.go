package report

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Outputs are the step outputs, in the order they were set.
type Outputs struct {
	keys []string
	vals map[string]string
	json map[string]bool // outputs whose value is JSON (SetJSON)
}

// Set records output k.
func (o *Outputs) Set(k, v string) {
	if o.vals == nil {
		o.vals = map[string]string{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	delete(o.json, k)
}

// SetJSON records output k as v encoded as JSON (a list or object a workflow reads with
// fromJSON), and remembers that it is JSON, so Values gives it as a value of its own. v is a
// list or map of strings, numbers or JSON; were it not encodable, k would be its text.
func (o *Outputs) SetJSON(k string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		o.Set(k, fmt.Sprint(v))
		return
	}
	o.Set(k, string(b))
	if o.json == nil {
		o.json = map[string]bool{}
	}
	o.json[k] = true
}

// Add sets every output of from, in its order.
func (o *Outputs) Add(from *Outputs) {
	for _, k := range from.keys {
		o.Set(k, from.vals[k])
		if from.json[k] {
			if o.json == nil {
				o.json = map[string]bool{}
			}
			o.json[k] = true
		}
	}
}

// Values are the outputs for a JSON object of their own: a JSON output as its value, any
// other as a string.
func (o *Outputs) Values() map[string]any {
	m := make(map[string]any, len(o.keys))
	for _, k := range o.keys {
		if o.json[k] {
			m[k] = json.RawMessage(o.vals[k])
		} else {
			m[k] = o.vals[k]
		}
	}
	return m
}

// Get returns output k.
func (o *Outputs) Get(k string) string { return o.vals[k] }

// Keys lists the outputs set, in order.
func (o *Outputs) Keys() []string { return append([]string(nil), o.keys...) }

// Write appends the outputs to the runner's GITHUB_OUTPUT file, or prints name=value lines to
// local when there is none. Every value goes through a heredoc whose delimiter is random, so a
// value (a path, a message from a registry) cannot end it early and inject outputs. Printed, a
// value is escaped as a log argument is: it cannot start or break a line.
func (o *Outputs) Write(path string, local io.Writer) error {
	if path == "" {
		for _, k := range o.keys {
			fmt.Fprintf(local, "%s=%s\n", k, escapeLine(o.vals[k]))
		}
		return nil
	}
	var b strings.Builder
	for _, k := range o.keys {
		v := o.vals[k]
		delim, err := delimiter(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", k, delim, v, delim)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	return f.Close()
}

func delimiter(v string) (string, error) {
	for {
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		d := "ghadelimiter_" + hex.EncodeToString(buf)
		if !strings.Contains(v, d) {
			return d, nil
		}
	}
}

// AppendSummary adds Markdown to the job summary file.
func AppendSummary(path, markdown string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	if _, err := f.WriteString(markdown); err != nil {
		f.Close()
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	return f.Close()
}
