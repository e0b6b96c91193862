package pedigree

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
)

// testBOM is the component list of an image like the seed's, with a nested component so the
// walk into Components is exercised.
func testBOM() *cyclonedx.BOM {
	lib := cyclonedx.ComponentTypeLibrary
	return &cyclonedx.BOM{
		BOMFormat:   cyclonedx.BOMFormat,
		SpecVersion: cyclonedx.SpecVersion1_6,
		Components: &[]cyclonedx.Component{
			{BOMRef: "c1", Type: lib, Name: "nova", Version: "32.1.0", PackageURL: "pkg:pypi/nova@32.1.0"},
			{BOMRef: "c2", Type: lib, Name: "oslo.messaging", Version: "14.9.0", PackageURL: "pkg:pypi/oslo.messaging@14.9.0"},
			{BOMRef: "c3", Type: lib, Name: "cryptography", Version: "44.0.1", PackageURL: "pkg:pypi/cryptography@44.0.1"},
			{BOMRef: "c4", Type: lib, Name: "libxml2", Version: "2.9.14+dfsg-1.3~deb12u1", PackageURL: "pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3~deb12u1?arch=amd64&distro=debian-12"},
			{BOMRef: "c5", Type: lib, Name: "python3.11", Version: "3.11.2-6", PackageURL: "pkg:deb/debian/python3.11@3.11.2-6?arch=amd64&distro=debian-12"},
			{BOMRef: "c6", Type: cyclonedx.ComponentTypeApplication, Name: "dashboard", Version: "1.0", Components: &[]cyclonedx.Component{
				{BOMRef: "c7", Type: lib, Name: "Jinja2", Version: "3.1.4", PackageURL: "pkg:pypi/Jinja2@3.1.4"},
			}},
		},
	}
}

func find(bom *cyclonedx.BOM, name string) *cyclonedx.Component {
	var walk func(cs *[]cyclonedx.Component) *cyclonedx.Component
	walk = func(cs *[]cyclonedx.Component) *cyclonedx.Component {
		if cs == nil {
			return nil
		}
		for i := range *cs {
			if (*cs)[i].Name == name {
				return &(*cs)[i]
			}
			if c := walk((*cs)[i].Components); c != nil {
				return c
			}
		}
		return nil
	}
	return walk(bom.Components)
}

// writeTree creates files under dir. A body "symlink:TARGET" makes a symlink, "dir:" an empty
// directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(body, "symlink:"):
			if err := os.Symlink(strings.TrimPrefix(body, "symlink:"), p); err != nil {
				t.Fatal(err)
			}
		case body == "dir:":
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// apply is what a run does for one platform: Load, then Apply.
func apply(bom *cyclonedx.BOM, opts Options) (*Result, error) {
	set, err := Load(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	return Apply(bom, set)
}

// wantErrors fails t unless err is each of want's errors (one, or several joined).
func wantErrors(t *testing.T, err, want error) {
	t.Helper()
	all := []error{want}
	if j, ok := want.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	}
	for _, w := range all {
		if !errors.Is(err, w) {
			t.Errorf("err = %.1000v, want %v", err, w)
		}
	}
}

func patchText(subject, trailers string) string {
	return "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n" +
		"From: Ada Example <ada@example.org>\nDate: Tue, 14 Oct 2025 10:22:31 +0200\n" +
		"Subject: [PATCH] " + subject + "\n\nBody.\n\n" + trailers + "---\n" +
		"diff --git a/f.py b/f.py\n--- a/f.py\n+++ b/f.py\n@@ -1 +1 @@\n-a\n+b\n"
}

func TestApply(t *testing.T) {
	dir := t.TempDir()
	nova1 := patchText("Fix one", "Closes-Bug: #2099999\nPartial-Bug: #2000001\nRelated-Bug: #2000002\n")
	writeTree(t, dir, map[string]string{
		"patches/nova/2025.2/0001-fix-one.patch":      nova1,
		"patches/nova/2025.2/0002-fix-two.patch":      patchText("Fix two, CVE-2025-0001", ""),
		"patches/nova/2025.2/README.md":               "not a patch, not looked at",
		"patches/Oslo_Messaging/2025.2/0001-x.patch":  patchText("x", ""),
		"patches/jinja2/0001-y.diff":                  patchText("y", "(cherry picked from commit 48b0687e05a5466a91cd5812d604fa37ad0943b4)\n"),
		"patches/deb:libxml2/series":                  "# order\nz/0002-b.patch\n\n0001-a.patch -p1\n",
		"patches/deb:libxml2/0001-a.patch":            "Description: a\nOrigin: vendor\n\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
		"patches/deb:libxml2/z/0002-b.patch":          "Description: b\nOrigin: upstream\n\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
		"patches/deb:libxml2/0003-unlisted.patch":     "--- a/x\n+++ b/x\n",
		"patches/python3.11/0001-huge.patch":          patchText("huge", "") + strings.Repeat("+x\n", 400),
		"patches/flask/0001-not-installed.patch":      patchText("z", ""),
		"patches/.git/config":                         "[core]\n",
		"overrides/constraints.txt":                   "cryptography===44.0.1  # CVE-2025-XXXX, was 44.0.0\noslo-messaging==14.8.0  # was 14.7.0\nrequests===2.32.4 ; python_version < '3'\n",
		"patches/deb:libxml2/z/.hidden-ignored.patch": "x",
	})
	bom := testBOM()
	res, err := apply(bom, Options{
		PatchesDir:      filepath.Join(dir, "patches"),
		ConstraintsFile: filepath.Join(dir, "overrides/constraints.txt"),
		Unmatched:       "warn",
		Namespace:       "acme",
		MaxInlineDiff:   1024,
	})
	if err != nil {
		t.Fatal(err)
	}

	cfile := filepath.Join(dir, "overrides/constraints.txt")
	wantRows := []Patched{
		{Name: "Jinja2", Version: "3.1.4", PURL: "pkg:pypi/Jinja2@3.1.4", Patches: 1},
		{Name: "cryptography", Version: "44.0.1", PURL: "pkg:pypi/cryptography@44.0.1", Override: "Upgraded from 44.0.0 via " + cfile + " (CVE-2025-XXXX)"},
		{Name: "libxml2", Version: "2.9.14+dfsg-1.3~deb12u1", PURL: "pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3~deb12u1?arch=amd64&distro=debian-12", Patches: 2},
		{Name: "nova", Version: "32.1.0", PURL: "pkg:pypi/nova@32.1.0", Patches: 2, Resolves: []string{"LP#2099999", "LP#2000001", "CVE-2025-0001"}},
		{Name: "oslo.messaging", Version: "14.9.0", PURL: "pkg:pypi/oslo.messaging@14.9.0", Patches: 1},
		{Name: "python3.11", Version: "3.11.2-6", PURL: "pkg:deb/debian/python3.11@3.11.2-6?arch=amd64&distro=debian-12", Patches: 1},
	}
	if diff := cmp.Diff(wantRows, res.Components); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if got := res.PatchedCount(); got != 5 {
		t.Errorf("PatchedCount() = %d, want 5", got)
	}
	wantWarnings := []string{
		"patches-dir: deb:libxml2/0003-unlisted.patch: not listed in deb:libxml2/series; not recorded",
		"patches-dir: flask/: matches no component in the image: no package flask (nothing similar among its 6 package names); its patches are not recorded",
		"patches-dir: python3.11/0001-huge.patch: ",
		"constraint-overrides: " + cfile + ":2: oslo-messaging==14.8.0: the image has oslo.messaging 14.9.0, so the override is not in effect there (pkg:pypi/oslo.messaging@14.9.0); not recorded",
		"constraint-overrides: " + cfile + ":3: requests===2.32.4: matches no component in the image: no pypi package requests",
	}
	if len(res.Warnings) != len(wantWarnings) {
		t.Fatalf("warnings = %q, want %d", res.Warnings, len(wantWarnings))
	}
	for i, w := range wantWarnings {
		if !strings.HasPrefix(res.Warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, res.Warnings[i], w)
		}
	}
	if !strings.Contains(res.Warnings[2], "inline diff limit; recorded without its text (set patches-base-url to link it)") {
		t.Errorf("inline cap warning = %q", res.Warnings[2])
	}

	nova := find(bom, "nova")
	ps := *nova.Pedigree.Patches
	if len(ps) != 2 || ps[0].Type != cyclonedx.PatchTypeBackport || ps[1].Type != cyclonedx.PatchTypeBackport {
		t.Fatalf("nova patches = %+v", ps)
	}
	// Without patches-base-url the diff is inline: the file itself, base64.
	if ps[0].Diff == nil || ps[0].Diff.Text == nil || ps[0].Diff.URL != "" {
		t.Fatalf("nova diff = %+v, want inline text", ps[0].Diff)
	}
	if ps[0].Diff.Text.ContentType != "text/x-diff" || ps[0].Diff.Text.Encoding != "base64" {
		t.Errorf("diff text = %+v", ps[0].Diff.Text)
	}
	raw, err := base64.StdEncoding.DecodeString(ps[0].Diff.Text.Content)
	if err != nil || string(raw) != nova1 {
		t.Errorf("inline diff does not decode to the patch file (err %v)", err)
	}
	wantIssues := []cyclonedx.Issue{
		{Type: "defect", ID: "LP#2099999", Description: "Resolved by patch nova/2025.2/0001-fix-one.patch", Source: &cyclonedx.Source{Name: "Launchpad", URL: "https://bugs.launchpad.net/bugs/2099999"}},
		{Type: "defect", ID: "LP#2000001", Description: "Partially resolved by patch nova/2025.2/0001-fix-one.patch", Source: &cyclonedx.Source{Name: "Launchpad", URL: "https://bugs.launchpad.net/bugs/2000001"}},
	}
	if diff := cmp.Diff(wantIssues, *ps[0].Resolves); diff != "" {
		t.Errorf("resolves (-want +got):\n%s", diff)
	}
	if want := "nova/2025.2/0001-fix-one.patch: Related-Bug LP#2000002 (https://bugs.launchpad.net/bugs/2000002)"; nova.Pedigree.Notes != want {
		t.Errorf("notes = %q, want %q", nova.Pedigree.Notes, want)
	}
	if cs := nova.Pedigree.Commits; cs == nil || len(*cs) != 2 || (*cs)[0].UID != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("commits = %+v", cs)
	}

	// The series decides the order, not the file names.
	lx := *find(bom, "libxml2").Pedigree.Patches
	if len(lx) != 2 || lx[0].Type != cyclonedx.PatchTypeCherryPick || lx[1].Type != cyclonedx.PatchTypeUnofficial {
		t.Errorf("libxml2 patch types = %v, %v; want cherry-pick (z/0002-b) then unofficial (0001-a)", lx[0].Type, lx[1].Type)
	}
	if j := find(bom, "Jinja2"); j.Pedigree == nil || (*j.Pedigree.Patches)[0].Type != cyclonedx.PatchTypeCherryPick {
		t.Errorf("nested Jinja2 pedigree = %+v", j.Pedigree)
	}
	if huge := (*find(bom, "python3.11").Pedigree.Patches)[0]; huge.Diff != nil {
		t.Errorf("over-cap patch diff = %+v, want none", huge.Diff)
	}
	crypto := find(bom, "cryptography")
	if crypto.Properties == nil || (*crypto.Properties)[0].Name != "acme:constraint-override" {
		t.Errorf("cryptography properties = %+v", crypto.Properties)
	}
	if find(bom, "oslo.messaging").Properties != nil {
		t.Errorf("an override not in effect was recorded")
	}
}

func TestApplyBaseURL(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"pypi:oslo.messaging/2025.2/0001-a b.patch": patchText("a", "")})
	for _, base := range []string{"https://github.com/c5c3/forge/blob/stable/1.0/patches/", "https://github.com/c5c3/forge/blob/stable/1.0/patches"} {
		bom := testBOM()
		if _, err := apply(bom, Options{PatchesDir: dir, BaseURL: base, Namespace: "bom-attest"}); err != nil {
			t.Fatal(err)
		}
		d := (*find(bom, "oslo.messaging").Pedigree.Patches)[0].Diff
		want := "https://github.com/c5c3/forge/blob/stable/1.0/patches/pypi:oslo.messaging/2025.2/0001-a%20b.patch"
		if d == nil || d.URL != want || d.Text != nil {
			t.Errorf("base %q: diff = %+v, want url %q", base, d, want)
		}
	}
}

func TestApplyNothingToDo(t *testing.T) {
	bom := testBOM()
	res, err := apply(bom, Options{Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	if res.PatchedCount() != 0 || len(res.Components) != 0 || len(res.Warnings) != 0 {
		t.Errorf("result = %+v, want empty", res)
	}
	if diff := cmp.Diff(testBOM(), bom); diff != "" {
		t.Errorf("bom changed (-want +got):\n%s", diff)
	}
}

func TestApplyErrors(t *testing.T) {
	good := patchText("ok", "")
	ambiguous := func() *cyclonedx.BOM {
		b := testBOM()
		*b.Components = append(*b.Components, cyclonedx.Component{Type: cyclonedx.ComponentTypeLibrary, Name: "libxml2", Version: "2.9.14", PackageURL: "pkg:pypi/libxml2@2.9.14"})
		return b
	}
	tests := []struct {
		name  string
		files map[string]string // under patches-dir; "../x" lands beside it
		opts  func(o *Options, dir string)
		bom   func() *cyclonedx.BOM
		setup func(t *testing.T, dir string)
		err   error
		text  []string // parts the message must contain, such as the file at fault
		// asNobody marks a case that needs permission bits to bite: as root it is run as nobody.
		asNobody bool
		// onImage marks a problem only the image shows (Apply's); every other one Load finds,
		// before the image is pulled.
		onImage bool
	}{
		{
			name: "missing dir",
			opts: func(o *Options, dir string) { o.PatchesDir = filepath.Join(dir, "nope") },
			err:  ErrPatchesDir, text: []string{"patches-dir: ", "nope: not a readable directory: no such directory"},
		},
		{
			name:  "patches-dir is a file",
			files: map[string]string{"../file": "x"},
			opts:  func(o *Options, dir string) { o.PatchesDir = filepath.Join(dir, "file") },
			err:   ErrPatchesDir, text: []string{"a file, not a directory"},
		},
		{
			name:  "file that is not a patch",
			files: map[string]string{"nova/2025.2/0001-ok.patch": good, "nova/2025.2/0002-notes.patch": "Remember to rebase these.\n"},
			err:   ErrNotPatch, text: []string{"patches-dir: nova/2025.2/0002-notes.patch: not a patch: no diff"},
		},
		{
			name:  "dangling symlink",
			files: map[string]string{"nova/2025.2/0001-gone.patch": "symlink:0000-missing.patch"},
			err:   ErrUnreadable, text: []string{"patches-dir: nova/2025.2/0001-gone.patch: cannot read: no such file or directory"},
		},
		{
			name:     "unreadable file",
			files:    map[string]string{"nova/2025.2/0001-secret.patch": good},
			asNobody: true,
			setup: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, "patches/nova/2025.2/0001-secret.patch"), 0); err != nil {
					t.Fatal(err)
				}
			},
			err: ErrUnreadable, text: []string{"patches-dir: nova/2025.2/0001-secret.patch: cannot read: permission denied"},
		},
		{
			// A FIFO would block a reader that opened it; it must be refused, not read.
			name:  "named pipe",
			files: map[string]string{"nova/2025.2/0001-ok.patch": good},
			setup: func(t *testing.T, dir string) {
				if err := mkfifo(filepath.Join(dir, "patches/nova/2025.2/0002-pipe.patch")); err != nil {
					t.Skipf("no named pipes here: %v", err)
				}
			},
			err: ErrUnreadable, text: []string{"patches-dir: nova/2025.2/0002-pipe.patch: cannot read: not a regular file"},
		},
		{
			name:  "symlink escaping patches-dir, relative",
			files: map[string]string{"../outside.patch": good, "nova/2025.2/0001-out.patch": "symlink:../../../outside.patch"},
			err:   ErrEscape, text: []string{"patches-dir: nova/2025.2/0001-out.patch: escapes patches-dir"},
		},
		{
			name:  "symlink escaping patches-dir, absolute",
			files: map[string]string{"nova/2025.2/0001-abs.patch": "symlink:/etc/hostname"},
			err:   ErrEscape, text: []string{"patches-dir: nova/2025.2/0001-abs.patch: escapes patches-dir"},
		},
		{
			name:  "symlink escaping through a directory",
			files: map[string]string{"../elsewhere/2025.2/0001-x.patch": good, "nova": "symlink:../elsewhere"},
			err:   ErrEscape, text: []string{"patches-dir: nova: escapes patches-dir"},
		},
		{
			name:  "series entry escaping",
			files: map[string]string{"../x.patch": good, "nova/series": "../../x.patch\n"},
			err:   ErrEscape, text: []string{"patches-dir: nova/series:1: ../../x.patch: escapes patches-dir"},
		},
		{
			name:  "series entry missing",
			files: map[string]string{"nova/series": "0001-a.patch\n0002-missing.patch\n", "nova/0001-a.patch": good},
			err:   ErrSeries, text: []string{"patches-dir: nova/series:2: 0002-missing.patch: bad series entry: no such file"},
		},
		{
			name:  "series entry twice",
			files: map[string]string{"nova/series": "0001-a.patch\n0001-a.patch\n", "nova/0001-a.patch": good},
			err:   ErrDuplicate, text: []string{"patches-dir: nova/series:2: 0001-a.patch: duplicate: already listed on line 1"},
		},
		{
			name:    "name matching nothing",
			files:   map[string]string{"novaa/2025.2/0001-x.patch": good},
			onImage: true,
			err:     ErrUnmatched, text: []string{"patches-dir: novaa/: matches no component in the image: no package novaa (close names in the image: nova)"},
		},
		{
			name:    "prefixed name matching nothing",
			files:   map[string]string{"deb:libxml/0001-x.patch": good},
			onImage: true,
			err:     ErrUnmatched, text: []string{"patches-dir: deb:libxml/: matches no component in the image: no deb package libxml (close names in the image: libxml2)"},
		},
		{
			name:    "two patches with one name",
			files:   map[string]string{"oslo.messaging/2025.2/0001-fix.patch": good, "pypi:oslo-messaging/2025.2/0001-fix.patch": good},
			onImage: true,
			err:     ErrDuplicate, text: []string{"patches-dir: pypi:oslo-messaging/2025.2/0001-fix.patch: duplicate: oslo.messaging/2025.2/0001-fix.patch has the same name and patches the same component (pkg:pypi/oslo.messaging@14.9.0)"},
		},
		{
			name:    "name in two ecosystems",
			files:   map[string]string{"libxml2/0001-x.patch": good},
			bom:     ambiguous,
			onImage: true,
			err:     ErrAmbiguous, text: []string{"patches-dir: libxml2/: matches components in more than one ecosystem; name the ecosystem in the directory name: deb:libxml2 or pypi:libxml2"},
		},
		{
			name:  "two releases",
			files: map[string]string{"nova/2025.1/0001-a.patch": good, "nova/2025.2/0001-a.patch": good},
			err:   ErrLayout, text: []string{"patches-dir: nova/: unsupported patch tree layout: patches in nova/2025.1/ and nova/2025.2/"},
		},
		{
			name:  "patch at the top",
			files: map[string]string{"0001-a.patch": good},
			err:   ErrLayout, text: []string{"patches-dir: 0001-a.patch: unsupported patch tree layout"},
		},
		{
			name:  "patch too deep",
			files: map[string]string{"nova/2025.2/extra/0001-a.patch": good},
			err:   ErrLayout, text: []string{"patches-dir: nova/2025.2/extra/0001-a.patch: unsupported patch tree layout: too deep"},
		},
		{
			name:  "malformed constraints line",
			files: map[string]string{"../constraints.txt": "cryptography===44.0.1\ncryptography-vectors 44.0.1\n"},
			opts: func(o *Options, dir string) {
				o.PatchesDir, o.ConstraintsFile = "", filepath.Join(dir, "constraints.txt")
			},
			err: ErrConstraint, text: []string{"constraint-overrides: ", "constraints.txt:2: bad constraint: \"cryptography-vectors 44.0.1\""},
		},
		{
			name:  "override for a package not in the image",
			files: map[string]string{"../constraints.txt": "# pins\nrequests===2.32.4  # was 2.32.3\n"},
			opts: func(o *Options, dir string) {
				o.PatchesDir, o.ConstraintsFile = "", filepath.Join(dir, "constraints.txt")
			},
			onImage: true,
			err:     ErrUnmatched, text: []string{"constraints.txt:2: requests===2.32.4: matches no component in the image: no pypi package requests"},
		},
		{
			name: "missing constraints file",
			opts: func(o *Options, dir string) { o.PatchesDir, o.ConstraintsFile = "", filepath.Join(dir, "nope.txt") },
			err:  ErrConstraint, text: []string{"constraint-overrides: ", "nope.txt: bad constraint: no such file or directory"},
		},
		{
			name: "bad unmatched-patches",
			opts: func(o *Options, dir string) { o.Unmatched = "ignore" },
			err:  ErrOptions, text: []string{`unmatched-patches: bad option: "ignore"`},
		},
		{
			name: "bad patches-base-url",
			opts: func(o *Options, dir string) { o.BaseURL = "patches/" },
			err:  ErrOptions, text: []string{`patches-base-url: bad option: "patches/" is not an absolute URL`},
		},
		{
			// The problems of the files are all found before the image; a patch for nothing in
			// the image (novaa) can only be told once the image is scanned.
			name:  "every problem at once",
			files: map[string]string{"novaa/0001-x.patch": good, "nova/0001-notes.patch": "notes\n", "deb:libxml2/series": "/etc/x.patch\n", "../constraints.txt": "x 1\n"},
			opts:  func(o *Options, dir string) { o.ConstraintsFile = filepath.Join(dir, "constraints.txt") },
			err:   errors.Join(ErrNotPatch, ErrEscape, ErrConstraint), text: []string{"nova/0001-notes.patch", "deb:libxml2/series:1", "constraints.txt:1"},
		},
		{
			name:    "every problem with the image at once",
			files:   map[string]string{"novaa/0001-x.patch": good, "libxml2/0001-x.patch": good, "../constraints.txt": "requests===2.32.4\n"},
			opts:    func(o *Options, dir string) { o.ConstraintsFile = filepath.Join(dir, "constraints.txt") },
			bom:     ambiguous,
			onImage: true,
			err:     errors.Join(ErrUnmatched, ErrAmbiguous), text: []string{"novaa/", "libxml2/", "constraints.txt:1: requests===2.32.4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.asNobody && os.Geteuid() == 0 {
				// Permission bits do not stop root (CI runs as root), so the case runs in a copy
				// of this test binary as nobody, where they do.
				rerunAsNobody(t)
				return
			}
			dir := t.TempDir()
			files := map[string]string{}
			for rel, body := range tt.files {
				if r, ok := strings.CutPrefix(rel, "../"); ok {
					files[r] = body
				} else {
					files["patches/"+rel] = body
				}
			}
			if err := os.MkdirAll(filepath.Join(dir, "patches"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeTree(t, dir, files)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			opts := Options{PatchesDir: filepath.Join(dir, "patches"), Namespace: "bom-attest"}
			if tt.opts != nil {
				tt.opts(&opts, dir)
			}
			mk := testBOM
			if tt.bom != nil {
				mk = tt.bom
			}
			bom := mk()
			set, err := Load(context.Background(), opts)
			switch {
			case err == nil && !tt.onImage:
				t.Fatalf("Load() = nil error; want %v before the image is read", tt.err)
			case err != nil && tt.onImage:
				t.Fatalf("Load() = %v; want it to pass and Apply to fail with %v", err, tt.err)
			case err == nil:
				var res *Result
				res, err = Apply(bom, set)
				if err == nil {
					t.Fatalf("Apply() = %+v, nil; want %v", res, tt.err)
				}
			}
			wantErrors(t, err, tt.err)
			for _, part := range tt.text {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("err = %q, want it to contain %q", err, part)
				}
			}
			if diff := cmp.Diff(mk(), bom); diff != "" {
				t.Errorf("bom changed on error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	ix := newIndex(testBOM())
	tests := []struct {
		typ, name string
		want      []string // bom-refs
	}{
		{"", "nova", []string{"c1"}},
		{"", "oslo.messaging", []string{"c2"}},
		{"", "oslo-messaging", []string{"c2"}},
		{"", "Oslo_Messaging", []string{"c2"}},
		{"pypi", "OSLO__messaging", []string{"c2"}},
		{"deb", "oslo.messaging", nil},
		{"deb", "libxml2", []string{"c4"}},
		{"deb", "LIBXML2", nil}, // exact for deb
		{"", "jinja2", []string{"c7"}},
		{"", "python3-11", nil}, // not PEP 503 for deb
	}
	for _, tt := range tests {
		var got []string
		for _, cs := range ix.lookup(tt.typ, tt.name) {
			for _, c := range cs {
				got = append(got, c.c.BOMRef)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("lookup(%q, %q) (-want +got):\n%s", tt.typ, tt.name, diff)
		}
	}
}

func TestParsePURL(t *testing.T) {
	tests := []struct {
		in   string
		want purlName
		ok   bool
	}{
		{"pkg:pypi/nova@32.1.0", purlName{typ: "pypi", name: "nova"}, true},
		{"pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3?arch=amd64&distro=debian-12", purlName{typ: "deb", namespace: "debian", name: "libxml2"}, true},
		{"pkg:npm/%40angular/core@17.0.0#sub/path", purlName{typ: "npm", namespace: "@angular", name: "core"}, true},
		{"pkg:golang/github.com/a/b@v1", purlName{typ: "golang", namespace: "github.com/a", name: "b"}, true},
		{"pkg:PyPI/Nova", purlName{typ: "pypi", name: "Nova"}, true},
		{"pypi/nova@1", purlName{}, false},
		{"pkg:pypi", purlName{}, false},
		{"pkg:pypi/@1", purlName{}, false},
	}
	for _, tt := range tests {
		got, ok := parsePURL(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parsePURL(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
