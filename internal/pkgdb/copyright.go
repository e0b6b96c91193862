package pkgdb

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

const maxCopyright = 4 << 20

// ErrNotMachineReadable means a Debian copyright file does not follow the machine-readable
// format (DEP-5), so no licence can be concluded from it.
var ErrNotMachineReadable = errors.New("not a machine-readable copyright file")

// Copyright is what a machine-readable Debian copyright file says about licences: the licence
// of each Files paragraph (or of the header, when it has no Files paragraph), as written.
type Copyright struct {
	Path     string
	Licenses []string // distinct short names or expressions, e.g. "GPL-2+", "BSD-3-clause or Expat"
}

var copyrightFields = map[string]bool{"format": true, "files": true, "license": true}

// ReadCopyright reads /usr/share/doc/<pkg>/copyright.
func ReadCopyright(ctx context.Context, f Files, pkg string) (*Copyright, error) {
	if pkg == "" || strings.ContainsAny(pkg, "/\x00") || pkg == "." || pkg == ".." {
		return nil, fmt.Errorf("%q: not a package name", pkg)
	}
	name := path.Join("/usr/share/doc", pkg, "copyright")
	rc, err := openRegular(f, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c := &Copyright{Path: name}
	var header string
	first, machine := true, false
	seen := map[string]bool{}
	err = ReadParagraphs(ctx, newLimitedReader(rc, maxCopyright, name), copyrightFields, func(p Paragraph) error {
		if first {
			first = false
			f := p["format"]
			machine = strings.Contains(f, "copyright-format/1.0") || strings.Contains(strings.ToLower(f), "dep5") || strings.Contains(f, "dep-5")
			if !machine {
				return ErrNotMachineReadable
			}
			header = firstLine(p["license"])
			return nil
		}
		if _, ok := p["files"]; !ok {
			return nil
		}
		if l := firstLine(p["license"]); l != "" && !seen[l] {
			seen[l] = true
			c.Licenses = append(c.Licenses, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !machine {
		return nil, fmt.Errorf("%s: %w", name, ErrNotMachineReadable)
	}
	if len(c.Licenses) == 0 && header != "" {
		c.Licenses = []string{header}
	}
	return c, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}
