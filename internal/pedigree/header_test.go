package pedigree

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
)

func fixture(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "patches", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lp(n string, partial bool) issueRef {
	return issueRef{issue: launchpadIssue(n), partial: partial}
}

func cve(id string) issueRef {
	return issueRef{issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeSecurity, ID: id,
		Source: &cyclonedx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id}}}
}

func defect(id, source, url string) issueRef {
	return issueRef{issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeDefect, ID: id, Source: &cyclonedx.Source{Name: source, URL: url}}}
}

const tinyDiff = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"

func TestParsePatchHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *header
		err  error
	}{
		{
			name: "format-patch with OpenStack trailers",
			in:   fixture(t, "nova/2025.2/0001-fix-live-migration-timeout-handling.patch"),
			want: &header{
				subject:  "Fix live migration timeout handling",
				kind:     cyclonedx.PatchTypeBackport,
				resolves: []issueRef{lp("2099999", false)},
				commit: &cyclonedx.Commit{
					UID:    "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
					Author: &cyclonedx.IdentifiableAction{Name: "Ada Example", Email: "ada@example.org", Timestamp: "2025-10-14T08:22:31Z"},
					Message: "Fix live migration timeout handling\n\n" +
						"When a live migration exceeds live_migration_completion_timeout the\n" +
						"compute manager aborts the migration but leaves the instance task_state\n" +
						"set to MIGRATING, so the instance cannot be migrated again without an\n" +
						"admin reset-state.\n\n" +
						"Reset the task state and record the migration as failed when the\n" +
						"timeout action fires.\n\n" +
						"Closes-Bug: #2099999\n" +
						"Change-Id: I5b3c2f0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b\n" +
						"Signed-off-by: Ada Example <ada@example.org>",
				},
			},
		},
		{
			name: "Related-Bug is a note, and an encoded author name is decoded",
			in:   fixture(t, "oslo.messaging/2025.2/0001-fix-rabbit-reconnect-on-connection-reset.patch"),
			want: &header{
				subject: "rabbit: reconnect when the broker resets the connection",
				kind:    cyclonedx.PatchTypeBackport,
				related: []string{"Related-Bug LP#2098765 (https://bugs.launchpad.net/bugs/2098765)"},
				commit:  &cyclonedx.Commit{UID: "8e41d0c7a2b95f6e3d1c0b9a8f7e6d5c4b3a2918", Author: &cyclonedx.IdentifiableAction{Name: "Björn Example", Email: "bjoern@example.org", Timestamp: "2025-10-02T16:05:47Z"}},
			},
		},
		{
			name: "CVE in a folded subject, GHSA in the body, cherry-picked",
			in:   fixture(t, "jinja2/0001-fix-cve-2024-56201-sandbox-breakout-through-filenames.patch"),
			want: &header{
				subject: "Fix CVE-2024-56201: sandbox breakout through malicious filenames",
				kind:    cyclonedx.PatchTypeCherryPick,
				resolves: []issueRef{cve("CVE-2024-56201"), {issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeSecurity, ID: "GHSA-gmj6-6f8f-6699",
					Source: &cyclonedx.Source{Name: "GitHub", URL: "https://github.com/advisories/GHSA-gmj6-6f8f-6699"}}}},
				commit: &cyclonedx.Commit{UID: "767b23617628419ae3709ccfb02f9602ae9fe51f", Author: &cyclonedx.IdentifiableAction{Name: "Ada Example", Email: "ada@example.org", Timestamp: "2024-12-20T17:12:00Z"}},
			},
		},
		{
			name: "DEP-3 from upstream",
			in:   fixture(t, "deb%3Alibxml2/upstream/CVE-2025-24928-fix-stack-overflow-in-xmlSnprintfElements.patch"),
			want: &header{
				subject: "Fix stack-buffer-overflow in xmlSnprintfElements",
				kind:    cyclonedx.PatchTypeCherryPick,
				resolves: []issueRef{
					cve("CVE-2025-24928"),
					defect("GNOME/libxml2#847", "gitlab.gnome.org", "https://gitlab.gnome.org/GNOME/libxml2/-/issues/847"),
					defect("Debian#1098320", "Debian", "https://bugs.debian.org/1098320"),
				},
				commit: &cyclonedx.Commit{URL: "https://gitlab.gnome.org/GNOME/libxml2/-/commit/858ca26c0689161a6b903a6682cc8a1cc10a0ea8"},
			},
		},
		{
			name: "DEP-3 vendor patch",
			in:   fixture(t, "deb%3Alibxml2/debian/0001-do-not-run-tests-that-need-network.patch"),
			want: &header{subject: "Do not run tests that need network access", kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "bare unified diff",
			in:   tinyDiff,
			want: &header{kind: cyclonedx.PatchTypeBackport},
		},
		{
			name: "Origin backport",
			in:   "Description: fix\nOrigin: backport, https://github.com/o/r/commit/0123abc\n---\n" + tinyDiff,
			want: &header{subject: "fix", kind: cyclonedx.PatchTypeBackport, commit: &cyclonedx.Commit{URL: "https://github.com/o/r/commit/0123abc"}},
		},
		{
			name: "Origin other",
			in:   "Description: local tweak\nOrigin: other\n\n" + tinyDiff,
			want: &header{subject: "local tweak", kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "Origin keyword wins over a cherry-pick line",
			in:   "Subject: x\nOrigin: vendor\n\n(cherry picked from commit 0123456789abcdef)\n" + tinyDiff,
			want: &header{subject: "x", kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "Origin without keyword, commit id",
			in:   "Origin: commit:0123456789abcdef0123\n(cherry picked from commit 0123456789abcdef0123)\n" + tinyDiff,
			want: &header{kind: cyclonedx.PatchTypeCherryPick, commit: &cyclonedx.Commit{UID: "0123456789abcdef0123"}},
		},
		{
			name: "Partial-Bug, several bugs on one line, Bug-Ubuntu, GitHub issue, lower-case cve",
			in: "Fix things\n\ncve-2025-1234 and CVE-2025-1234 again\n" +
				"Partial-Bug: #11\nCloses-Bug: #12, #13\n" +
				"Bug-Ubuntu: https://bugs.launchpad.net/ubuntu/+source/libxml2/+bug/2012345\n" +
				"Bug: https://github.com/pallets/jinja/issues/1999\n" +
				"Bug-Debian: 42\nBug-Fedora: not a url\n" + tinyDiff,
			want: &header{kind: cyclonedx.PatchTypeBackport, resolves: []issueRef{
				cve("CVE-2025-1234"), lp("11", true), lp("12", false), lp("13", false), lp("2012345", false),
				defect("pallets/jinja#1999", "GitHub", "https://github.com/pallets/jinja/issues/1999"),
				defect("Debian#42", "Debian", "https://bugs.debian.org/42"),
			}},
		},
		{
			name: "identifiers in the diff itself are not the patch's",
			in:   "Fix a typo\n---\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-# CVE-2020-0001\n+# CVE-2020-0002 Closes-Bug: #5\n",
			want: &header{kind: cyclonedx.PatchTypeBackport},
		},
		{
			name: "unparsable date is left out",
			in:   "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nFrom: someone\nDate: yesterday\nSubject: [PATCH 2/7] x\n\nbody\n---\ndiff --git a/x b/x\n",
			want: &header{subject: "x", kind: cyclonedx.PatchTypeBackport, commit: &cyclonedx.Commit{UID: "0123456789abcdef0123456789abcdef01234567", Author: &cyclonedx.IdentifiableAction{Name: "someone"}, Message: "x\n\nbody"}},
		},
		{
			name: "git binary patch",
			in:   "diff --git a/logo.png b/logo.png\nGIT binary patch\nliteral 5\n",
			want: &header{kind: cyclonedx.PatchTypeBackport},
		},
		{name: "empty", in: "", err: ErrNotPatch},
		{name: "plain text", in: "# Patches\n\nThese are our patches.\n", err: ErrNotPatch},
		{name: "separator without a diff", in: "Subject: x\n---\n file | 1 +\n", err: ErrNotPatch},
		{name: "minus without plus", in: "--- a/x\nnot a diff\n", err: ErrNotPatch},
		{name: "binary", in: "\x00\x01\x02\xff\xfe\n\x89PNG\r\n\x1a\n", err: ErrNotPatch},
		{name: "diff after the scan limit", in: strings.Repeat("text line\n", maxScan/10+1) + tinyDiff, err: ErrNotPatch},
		{
			name: "overlong line is cut, not fatal",
			in:   "Description: " + strings.Repeat("y", 3*maxLine) + "\n" + tinyDiff,
			want: &header{subject: strings.Repeat("y", maxLine-len("Description: ")), kind: cyclonedx.PatchTypeBackport},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePatchHeader(strings.NewReader(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			// Commit messages are long; tests that do not spell one out check the rest.
			if tt.want.commit != nil && tt.want.commit.Message == "" && got.commit != nil {
				got.commit.Message = ""
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(header{}, issueRef{})); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

// endless yields b forever and counts what it handed out.
type endless struct {
	b []byte
	n int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b[(e.n+int64(i))%int64(len(e.b))]
	}
	e.n += int64(len(p))
	return len(p), nil
}

func parseSeriesErr(r io.Reader) error {
	_, errs := parseSeries(r, "nova/series")
	return errors.Join(errs...)
}

// TestParsersBoundedOnHugeInput feeds endless input and checks the parsers stop after a fixed
// prefix and allocate a bounded amount, whatever the input.
func TestParsersBoundedOnHugeInput(t *testing.T) {
	tests := []struct {
		name  string
		chunk string
		parse func(io.Reader) error
		err   error
	}{
		{"header, one endless line", "A", func(r io.Reader) error { _, err := parsePatchHeader(r); return err }, ErrNotPatch},
		{"header, endless trailers", "Closes-Bug: #1234567\nCVE-2025-99999 GHSA-2345-6789-cfgh\n", func(r io.Reader) error { _, err := parsePatchHeader(r); return err }, ErrNotPatch},
		{"header, endless mail headers", "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nSubject: x\n X-A: b\n", func(r io.Reader) error { _, err := parsePatchHeader(r); return err }, ErrNotPatch},
		{"header, endless NULs", "\x00", func(r io.Reader) error { _, err := parsePatchHeader(r); return err }, ErrNotPatch},
		{"constraints, endless pins", "pkg===1.0\n", func(r io.Reader) error { _, err := parseConstraints(r, "c.txt"); return err }, ErrConstraint},
		{"constraints, one endless line", "x", func(r io.Reader) error { _, err := parseConstraints(r, "c.txt"); return err }, ErrConstraint},
		{"series, one endless line", "x", parseSeriesErr, ErrTooLarge},
		{"series, endless comments", "# order\n", parseSeriesErr, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &endless{b: []byte(tt.chunk)}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := tt.parse(src)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if src.n > 2*maxScan {
				t.Errorf("read %d bytes, want at most %d", src.n, 2*maxScan)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("read %d bytes, allocated %d bytes", src.n, alloc)
			if alloc > 4<<20 {
				t.Errorf("allocated %d bytes for endless input, want at most 4 MiB", alloc)
			}
		})
	}
}

func TestLineReader(t *testing.T) {
	in := "one\r\ntwo\n" + strings.Repeat("z", maxLine+10) + "\nlast"
	lr := newLineReader(bytes.NewReader([]byte(in)), 1<<20)
	var got []string
	for {
		l, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
	}
	want := []string{"one", "two", strings.Repeat("z", maxLine), "last"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
