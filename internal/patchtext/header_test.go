package patchtext

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
)

func fixture(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pedigree", "testdata", "patches", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lp(n string, partial bool) IssueRef {
	return IssueRef{Issue: launchpadIssue(n), Partial: partial}
}

func cve(id string) IssueRef {
	return IssueRef{Issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeSecurity, ID: id,
		Source: &cyclonedx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id}}}
}

func defect(id, source, url string) IssueRef {
	return IssueRef{Issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeDefect, ID: id, Source: &cyclonedx.Source{Name: source, URL: url}}}
}

const tinyDiff = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Header
		err  error
	}{
		{
			name: "format-patch with OpenStack trailers",
			in:   fixture(t, "nova/2025.2/0001-fix-live-migration-timeout-handling.patch"),
			want: &Header{
				Subject:  "Fix live migration timeout handling",
				Kind:     cyclonedx.PatchTypeBackport,
				Resolves: []IssueRef{lp("2099999", false)},
				Commit: &cyclonedx.Commit{
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
			want: &Header{
				Subject: "rabbit: reconnect when the broker resets the connection",
				Kind:    cyclonedx.PatchTypeBackport,
				Related: []string{"Related-Bug LP#2098765 (https://bugs.launchpad.net/bugs/2098765)"},
				Commit:  &cyclonedx.Commit{UID: "8e41d0c7a2b95f6e3d1c0b9a8f7e6d5c4b3a2918", Author: &cyclonedx.IdentifiableAction{Name: "Björn Example", Email: "bjoern@example.org", Timestamp: "2025-10-02T16:05:47Z"}},
			},
		},
		{
			name: "CVE in a folded subject, GHSA in the body, cherry-picked",
			in:   fixture(t, "jinja2/0001-fix-cve-2024-56201-sandbox-breakout-through-filenames.patch"),
			want: &Header{
				Subject: "Fix CVE-2024-56201: sandbox breakout through malicious filenames",
				Kind:    cyclonedx.PatchTypeCherryPick,
				Resolves: []IssueRef{cve("CVE-2024-56201"), {Issue: cyclonedx.Issue{Type: cyclonedx.IssueTypeSecurity, ID: "GHSA-gmj6-6f8f-6699",
					Source: &cyclonedx.Source{Name: "GitHub", URL: "https://github.com/advisories/GHSA-gmj6-6f8f-6699"}}}},
				Commit: &cyclonedx.Commit{UID: "767b23617628419ae3709ccfb02f9602ae9fe51f", Author: &cyclonedx.IdentifiableAction{Name: "Ada Example", Email: "ada@example.org", Timestamp: "2024-12-20T17:12:00Z"}},
			},
		},
		{
			name: "DEP-3 from upstream",
			in:   fixture(t, "deb%3Alibxml2/upstream/CVE-2025-24928-fix-stack-overflow-in-xmlSnprintfElements.patch"),
			want: &Header{
				Subject: "Fix stack-buffer-overflow in xmlSnprintfElements",
				Kind:    cyclonedx.PatchTypeCherryPick,
				Resolves: []IssueRef{
					cve("CVE-2025-24928"),
					defect("GNOME/libxml2#847", "gitlab.gnome.org", "https://gitlab.gnome.org/GNOME/libxml2/-/issues/847"),
					defect("Debian#1098320", "Debian", "https://bugs.debian.org/1098320"),
				},
				Commit: &cyclonedx.Commit{URL: "https://gitlab.gnome.org/GNOME/libxml2/-/commit/858ca26c0689161a6b903a6682cc8a1cc10a0ea8"},
			},
		},
		{
			name: "DEP-3 vendor patch",
			in:   fixture(t, "deb%3Alibxml2/debian/0001-do-not-run-tests-that-need-network.patch"),
			want: &Header{Subject: "Do not run tests that need network access", Kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "bare unified diff",
			in:   tinyDiff,
			want: &Header{Kind: cyclonedx.PatchTypeBackport},
		},
		{
			name: "Origin backport",
			in:   "Description: fix\nOrigin: backport, https://github.com/o/r/commit/0123abc\n---\n" + tinyDiff,
			want: &Header{Subject: "fix", Kind: cyclonedx.PatchTypeBackport, Commit: &cyclonedx.Commit{URL: "https://github.com/o/r/commit/0123abc"}},
		},
		{
			name: "Origin other",
			in:   "Description: local tweak\nOrigin: other\n\n" + tinyDiff,
			want: &Header{Subject: "local tweak", Kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "Origin keyword wins over a cherry-pick line",
			in:   "Subject: x\nOrigin: vendor\n\n(cherry picked from commit 0123456789abcdef)\n" + tinyDiff,
			want: &Header{Subject: "x", Kind: cyclonedx.PatchTypeUnofficial},
		},
		{
			name: "Origin without keyword, commit id",
			in:   "Origin: commit:0123456789abcdef0123\n(cherry picked from commit 0123456789abcdef0123)\n" + tinyDiff,
			want: &Header{Kind: cyclonedx.PatchTypeCherryPick, Commit: &cyclonedx.Commit{UID: "0123456789abcdef0123"}},
		},
		{
			name: "Partial-Bug, several bugs on one line, Bug-Ubuntu, GitHub issue, lower-case cve",
			in: "Fix things\n\ncve-2025-1234 and CVE-2025-1234 again\n" +
				"Partial-Bug: #11\nCloses-Bug: #12, #13\n" +
				"Bug-Ubuntu: https://bugs.launchpad.net/ubuntu/+source/libxml2/+bug/2012345\n" +
				"Bug: https://github.com/pallets/jinja/issues/1999\n" +
				"Bug-Debian: 42\nBug-Fedora: not a url\n" + tinyDiff,
			want: &Header{Kind: cyclonedx.PatchTypeBackport, Resolves: []IssueRef{
				cve("CVE-2025-1234"), lp("11", true), lp("12", false), lp("13", false), lp("2012345", false),
				defect("pallets/jinja#1999", "GitHub", "https://github.com/pallets/jinja/issues/1999"),
				defect("Debian#42", "Debian", "https://bugs.debian.org/42"),
			}},
		},
		{
			name: "identifiers in the diff itself are not the patch's",
			in:   "Fix a typo\n---\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-# CVE-2020-0001\n+# CVE-2020-0002 Closes-Bug: #5\n",
			want: &Header{Kind: cyclonedx.PatchTypeBackport},
		},
		{
			name: "unparsable date is left out",
			in:   "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nFrom: someone\nDate: yesterday\nSubject: [PATCH 2/7] x\n\nbody\n---\ndiff --git a/x b/x\n",
			want: &Header{Subject: "x", Kind: cyclonedx.PatchTypeBackport, Commit: &cyclonedx.Commit{UID: "0123456789abcdef0123456789abcdef01234567", Author: &cyclonedx.IdentifiableAction{Name: "someone"}, Message: "x\n\nbody"}},
		},
		{
			name: "git binary patch",
			in:   "diff --git a/logo.png b/logo.png\nGIT binary patch\nliteral 5\n",
			want: &Header{Kind: cyclonedx.PatchTypeBackport},
		},
		{name: "empty", in: "", err: ErrNotPatch},
		{name: "plain text", in: "# Patches\n\nThese are our patches.\n", err: ErrNotPatch},
		{name: "separator without a diff", in: "Subject: x\n---\n file | 1 +\n", err: ErrNotPatch},
		{name: "minus without plus", in: "--- a/x\nnot a diff\n", err: ErrNotPatch},
		{name: "binary", in: "\x00\x01\x02\xff\xfe\n\x89PNG\r\n\x1a\n", err: ErrNotPatch},
		{name: "diff after the scan limit", in: strings.Repeat("text line\n", MaxScan/10+1) + tinyDiff, err: ErrNotPatch},
		{
			name: "overlong line is cut, not fatal",
			in:   "Description: " + strings.Repeat("y", 3*MaxLine) + "\n" + tinyDiff,
			want: &Header{Subject: strings.Repeat("y", MaxLine-len("Description: ")), Kind: cyclonedx.PatchTypeBackport},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(strings.NewReader(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			// Commit messages are long; tests that do not spell one out check the rest.
			if tt.want.Commit != nil && tt.want.Commit.Message == "" && got.Commit != nil {
				got.Commit.Message = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseHeaderBoundedOnHugeInput feeds endless input and checks the header parser stops after a fixed
// prefix and allocate a bounded amount, whatever the input.
func TestLineReader(t *testing.T) {
	in := "one\r\ntwo\n" + strings.Repeat("z", MaxLine+10) + "\nlast"
	lr := NewLineReader(bytes.NewReader([]byte(in)), 1<<20)
	var got []string
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
	}
	want := []string{"one", "two", strings.Repeat("z", MaxLine), "last"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// seedPatches adds every fixture patch to the corpus, so fuzzing starts from real shapes.
func seedPatches(f *testing.F) {
	err := filepath.WalkDir(filepath.Join("..", "pedigree", "testdata", "patches"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzParseHeader(f *testing.F) {
	seedPatches(f)
	for _, s := range []string{
		"",
		tinyDiff,
		"Description: x\nOrigin: upstream, https://example.org/commit/1\nBug-Debian: 1\n---\n" + tinyDiff,
		"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nFrom: =?UTF-8?q?A?= <a@b>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: [PATCH] CVE-2024-0001\n\nCloses-Bug: #1\nPartial-Bug: #2\nRelated-Bug: #3\n(cherry picked from commit abcdef0)\n---\ndiff --git a/x b/x\n",
		"GHSA-2345-6789-cfgh cve-1999-0001\n--- a\n+++ b\n",
		"\x00\xff\n--- \n+++ \n",
	} {
		f.Add([]byte(s))
	}
	kinds := map[cyclonedx.PatchType]bool{cyclonedx.PatchTypeBackport: true, cyclonedx.PatchTypeCherryPick: true, cyclonedx.PatchTypeUnofficial: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotPatch) {
				t.Fatalf("error %v is not ErrNotPatch", err)
			}
			return
		}
		if !kinds[h.Kind] {
			t.Fatalf("patch type %q", h.Kind)
		}
		if len(h.Resolves) > maxIssues {
			t.Fatalf("%d resolves, over the cap", len(h.Resolves))
		}
		if len(h.Subject) > 2*MaxLine {
			t.Fatalf("subject of %d bytes", len(h.Subject))
		}
		seen := map[string]bool{}
		for _, r := range h.Resolves {
			is := r.Issue
			if is.ID == "" || seen[is.ID] {
				t.Fatalf("empty or repeated issue id %q", is.ID)
			}
			seen[is.ID] = true
			if is.Type != cyclonedx.IssueTypeDefect && is.Type != cyclonedx.IssueTypeSecurity {
				t.Fatalf("issue type %q", is.Type)
			}
			if is.Source == nil || !absoluteURL(is.Source.URL) {
				t.Fatalf("issue %q source %+v has no absolute URL", is.ID, is.Source)
			}
		}
		if c := h.Commit; c != nil {
			if c.URL != "" && !absoluteURL(c.URL) {
				t.Fatalf("commit url %q", c.URL)
			}
			if len(c.Message) > maxHeaderText+2*MaxLine {
				t.Fatalf("commit message of %d bytes", len(c.Message))
			}
			if a := c.Author; a != nil && a.Timestamp != "" {
				if _, err := time.Parse(time.RFC3339, a.Timestamp); err != nil {
					t.Fatalf("author timestamp %q: %v", a.Timestamp, err)
				}
			}
		}
	})
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
