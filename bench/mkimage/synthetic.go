package main

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strings"
)

// synthetic writes into tw one layer of a Debian-style root filesystem that holds n dpkg
// packages with three files each and n/4 Python packages installed as dist-info directories:
// the shape of a large distribution image, with no mirror, root or chroot needed to make it.
// The same n always gives the same bytes.
func synthetic(tw *tar.Writer, n int) error {
	files := map[string]string{
		"etc/os-release": `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
		"etc/debian_version": "12.11\n",
	}
	var status strings.Builder
	for i := range n {
		name := debName(i)
		version := fmt.Sprintf("1.%d.%d-%d", i/100, i%100, 1+i%3)
		owned := []string{
			"usr/bin/" + name,
			"usr/lib/x86_64-linux-gnu/lib" + name + ".so.1",
			"usr/share/doc/" + name + "/copyright",
		}
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\n", name)
		fmt.Fprintf(&status, "Installed-Size: %d\nMaintainer: Synthetic Maintainers <synth@example.org>\nArchitecture: amd64\n", 8+i%64)
		if i%5 == 0 {
			// Every fifth binary package comes from a differently named source package, as
			// lib* packages do.
			fmt.Fprintf(&status, "Source: %s-src\n", name)
		}
		fmt.Fprintf(&status, "Version: %s\n", version)
		if i > 0 {
			// A tree of dependencies (each on the one at half its index), so the SBOM has
			// a dependency graph to build as a real distribution's does.
			fmt.Fprintf(&status, "Depends: %s (>= 1.0)\n", debName(i/2))
		}
		fmt.Fprintf(&status, "Description: synthetic package %d\n The benchmark's stand-in for a distribution package.\n\n", i)
		var list, sums strings.Builder
		for _, dir := range []string{"/usr", "/usr/bin", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/share/doc", "/usr/share/doc/" + name} {
			list.WriteString(dir + "\n")
		}
		for k, f := range owned {
			body := fmt.Sprintf("%s file %d\n", name, k)
			if strings.HasSuffix(f, "/copyright") {
				body = copyright(name, i)
			}
			files[f] = body
			list.WriteString("/" + f + "\n")
			fmt.Fprintf(&sums, "%032x  %s\n", uint64(i)*3+uint64(k)+1, f)
		}
		files["var/lib/dpkg/info/"+name+".list"] = list.String()
		files["var/lib/dpkg/info/"+name+".md5sums"] = sums.String()
	}
	files["var/lib/dpkg/status"] = status.String()
	for i := range n / 4 {
		name := fmt.Sprintf("synth-py-%05d", i)
		module := strings.ReplaceAll(name, "-", "_")
		version := fmt.Sprintf("%d.%d.%d", 1+i%7, i/50, i%50)
		site := "usr/lib/python3/dist-packages/"
		info := site + module + "-" + version + ".dist-info/"
		files[info+"METADATA"] = fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: synthetic Python package %d\nHome-page: https://example.org/%s\nAuthor: Synthetic Authors\nAuthor-email: synth@example.org\nLicense: MIT\n\n%s is the benchmark's stand-in for a Python package.\n", name, version, i, name, name)
		files[info+"INSTALLER"] = "debian\n"
		files[info+"top_level.txt"] = module + "\n"
		files[site+module+"/__init__.py"] = fmt.Sprintf("__version__ = %q\n", version)
		files[info+"RECORD"] = fmt.Sprintf("%[1]s/__init__.py,,\n%[2]sMETADATA,,\n%[2]sINSTALLER,,\n%[2]stop_level.txt,,\n%[2]sRECORD,,\n",
			module, strings.TrimPrefix(info, site))
	}
	return writeTree(tw, files)
}

func debName(i int) string {
	if i%5 == 0 {
		return fmt.Sprintf("libsynth%05d", i)
	}
	return fmt.Sprintf("synth-%05d", i)
}

// copyright is a machine-readable Debian copyright file, so the dpkg cataloger finds a licence.
func copyright(name string, i int) string {
	licence := []string{"GPL-2+", "MIT", "Apache-2.0", "BSD-3-clause"}[i%4]
	return fmt.Sprintf("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: %s\n\nFiles: *\nCopyright: 2025 Synthetic Authors\nLicense: %s\n", name, licence)
}

// writeTree writes files (path → contents) in lexical order, each directory ahead of what it holds.
func writeTree(tw *tar.Writer, files map[string]string) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, name := range names {
		var parents []string
		for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for k := len(parents) - 1; k >= 0; k-- {
			dirs[parents[k]] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[k] + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		mode := int64(0o644)
		if strings.HasPrefix(name, "usr/bin/") {
			mode = 0o755
		}
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return err
		}
	}
	return nil
}
