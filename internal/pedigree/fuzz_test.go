package pedigree

import (
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseConstraints(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "overrides", "constraints.txt")); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	for _, s := range []string{
		"",
		"cryptography===44.0.1  # CVE-2025-XXXX, was 44.0.0\n",
		"requests[socks]==2.32.4 ; python_version >= \"3.9\" --hash=sha256:abc # was 2.32.3 (CVE-2024-47081)\n",
		"a===1 \\\n # was 0.9\n",
		"a>=1\n-c x\nb @ https://x\n===\nc==1.*\n",
		"a===1\nA===2\n",
		"\x00\xff===\xfe\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := parseConstraints(bytes.NewReader(data), "c.txt")
		if err != nil {
			if !errors.Is(err, ErrConstraint) {
				t.Fatalf("error %v is not ErrConstraint", err)
			}
			if !strings.Contains(err.Error(), "constraint-overrides: c.txt") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if c.line < 1 || c.name == "" || c.version == "" || (c.op != "==" && c.op != "===") {
				t.Fatalf("bad constraint %+v", c)
			}
			if strings.ContainsAny(c.version, " \t*,") {
				t.Fatalf("version %q", c.version)
			}
			k := normalize("pypi", c.name)
			if seen[k] {
				t.Fatalf("%s pinned twice without an error", c.name)
			}
			seen[k] = true
			_ = overrideText(c, "c.txt")
		}
	})
}

func FuzzParseSeries(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "patches", "deb%3Alibxml2", "series")); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	for _, s := range []string{
		"",
		"# order\nz/0002-b.patch -p1 --fuzz=0\n\n0001-a.patch   # upstream\n",
		"0001-a.patch 0002-b.patch\n",
		"/etc/passwd\n../../x.patch\n../shared/a.patch\n",
		"a.patch\n./a.patch\nz/../a.patch\n",
		". \n.. \n./\nnova\n",
		"a.patch\\\n#\r\n\x00\xff.patch\n",
	} {
		f.Add([]byte(s))
	}
	sentinels := []error{ErrSeries, ErrEscape, ErrDuplicate, ErrUnreadable, ErrTooLarge}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, errs := parseSeries(bytes.NewReader(data), "pypi:nova/2025.2/series")
		if len(errs) > maxSeriesErrors {
			t.Fatalf("%d errors, over the cap", len(errs))
		}
		for _, err := range errs {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known || !strings.HasPrefix(err.Error(), "patches-dir: pypi:nova/2025.2/series") {
				t.Fatalf("error %q has no sentinel or does not name the file", err)
			}
		}
		if len(entries) > maxPatches {
			t.Fatalf("%d entries, over the cap", len(entries))
		}
		seen := map[string]bool{}
		last := 0
		for _, e := range entries {
			if e.line <= last {
				t.Fatalf("line %d after line %d", e.line, last)
			}
			last = e.line
			if e.path != path.Join("pypi:nova/2025.2", e.name) || path.IsAbs(e.path) || e.path == ".." || strings.HasPrefix(e.path, "../") {
				t.Fatalf("entry %q resolves to %q, outside patches-dir or not where it points", e.name, e.path)
			}
			if strings.ContainsAny(e.name, " \t\n") || e.name == "" {
				t.Fatalf("entry %q is not one field", e.name)
			}
			if seen[e.path] {
				t.Fatalf("%q listed twice without an error", e.path)
			}
			seen[e.path] = true
		}
	})
}
