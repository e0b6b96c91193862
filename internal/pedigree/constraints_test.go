package pedigree

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConstraints(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []constraint
		err     error
		errText string // a part the message must contain
	}{
		{
			name: "seed line",
			in:   "# overrides\n\ncryptography===44.0.1  # CVE-2025-XXXX, was 44.0.0\n",
			want: []constraint{{line: 3, name: "cryptography", op: "===", version: "44.0.1", was: "44.0.0", reason: "CVE-2025-XXXX"}},
		},
		{
			name: "== with marker, extras, hash, was first",
			in:   "requests[socks]==2.32.4 ; python_version >= \"3.9\" --hash=sha256:abc # was 2.32.3 (CVE-2024-47081)\n",
			want: []constraint{{line: 1, name: "requests", op: "==", version: "2.32.4", marker: `python_version >= "3.9"`, was: "2.32.3", reason: "CVE-2024-47081"}},
		},
		{
			name: "no comment",
			in:   "oslo.messaging===14.9.0\n",
			want: []constraint{{line: 1, name: "oslo.messaging", op: "===", version: "14.9.0"}},
		},
		{
			name: "continuation line",
			in:   "urllib3===2.5.0 \\\n  # was 2.4.0\n",
			want: []constraint{{line: 1, name: "urllib3", op: "===", version: "2.5.0", was: "2.4.0"}},
		},
		{name: "empty file", in: "", want: nil},
		{name: "no operator", in: "cryptography 44.0.1\n", err: ErrConstraint, errText: "c.txt:1: bad constraint: \"cryptography 44.0.1\": no version pin; want cryptography===VERSION"},
		{name: "range", in: "ok===1\ncryptography>=44\n", err: ErrConstraint, errText: "c.txt:2:"},
		{name: "no version", in: "cryptography===\n", err: ErrConstraint, errText: "no version after ==="},
		{name: "no name", in: "===44.0.1\n", err: ErrConstraint, errText: "not a requirement"},
		{name: "two specifiers", in: "a==1.0,<2\n", err: ErrConstraint, errText: "more than one specifier"},
		{name: "wildcard", in: "a==1.*\n", err: ErrConstraint, errText: "wildcard"},
		{name: "pip option", in: "-c upper-constraints.txt\n", err: ErrConstraint, errText: "pip options"},
		{name: "url requirement", in: "a @ https://example.org/a.whl\n", err: ErrConstraint, errText: "URL requirement"},
		{name: "junk after version", in: "a==1.0 b==2.0\n", err: ErrConstraint, errText: "unexpected"},
		{name: "duplicate after normalization", in: "oslo.messaging===1\nOslo_Messaging===2\n", err: ErrConstraint, errText: "c.txt:2: bad constraint: Oslo_Messaging is pinned again (first on line 1)"},
		{name: "dangling continuation", in: "a===1 \\", err: ErrConstraint, errText: "continues past the end"},
		{name: "every bad line is reported", in: "a 1\nb 2\n", err: ErrConstraint, errText: "c.txt:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConstraints(strings.NewReader(tt.in), "c.txt")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "constraint-overrides: c.txt:") || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %q, want it to name the input, file and line and contain %q", err, tt.errText)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(constraint{})); diff != "" {
				t.Errorf("constraints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverrideText(t *testing.T) {
	tests := []struct {
		c    constraint
		want string
	}{
		{constraint{version: "44.0.1", was: "44.0.0", reason: "CVE-2025-XXXX"}, "Upgraded from 44.0.0 via overrides/constraints.txt (CVE-2025-XXXX)"},
		{constraint{version: "1.9", was: "1.10"}, "Downgraded from 1.10 via overrides/constraints.txt"},
		{constraint{version: "2.0", was: "2.0rc1"}, "Upgraded from 2.0rc1 via overrides/constraints.txt"},
		{constraint{version: "2.0.post1", was: "2.0"}, "Upgraded from 2.0 via overrides/constraints.txt"},
		{constraint{version: "2.0", was: "2.0.0"}, "Changed from 2.0.0 via overrides/constraints.txt"},
		{constraint{version: "3.1", reason: "LP#1"}, "Pinned to 3.1 via overrides/constraints.txt (LP#1)"},
	}
	for _, tt := range tests {
		if got := overrideText(tt.c, "overrides/constraints.txt"); got != tt.want {
			t.Errorf("overrideText(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestSameVersion(t *testing.T) {
	tests := []struct {
		op, pinned, installed string
		want                  bool
	}{
		{"===", "44.0.1", "44.0.1", true},
		{"===", "44.0", "44.0.0", false},
		{"==", "44.0", "44.0.0", true},
		{"==", "44.0.1", "44.0.1+local", true},
		{"==", "44.0.1+local", "44.0.1", false},
		{"==", "44.0.1", "44.0.2", false},
		{"==", "2.0rc1", "2.0", false},
		{"==", "2.0RC1", "2.0rc1", true},
	}
	for _, tt := range tests {
		if got := sameVersion(tt.op, tt.pinned, tt.installed); got != tt.want {
			t.Errorf("sameVersion(%q, %q, %q) = %v, want %v", tt.op, tt.pinned, tt.installed, got, tt.want)
		}
	}
}
