package report

import "testing"

func TestLink(t *testing.T) {
	for _, tc := range []struct{ text, url, want string }{
		{"CVE-2099-1001", "https://security-tracker.debian.org/tracker/CVE-2099-1001", "[CVE-2099-1001](https://security-tracker.debian.org/tracker/CVE-2099-1001)"},
		{"GHSA-x", "https://github.com/advisories/GHSA-x?a=(1)", "[GHSA-x](https://github.com/advisories/GHSA-x?a=%281%29)"},
		{"x](javascript:alert(1))", "https://ok.example/", `[x\](javascript:alert(1))](https://ok.example/)`},
		{"CVE-1", "javascript:alert(1)", "CVE-1"},
		{"CVE-1", "https://user:pw@evil.example/", "CVE-1"},
		{"CVE-1", "ftp://mirror/x", "CVE-1"},
		{"CVE-1", "", "CVE-1"},
		{"a|b<c>\nd", "https://x.example/a b|c`d", "[a\\|b&lt;c&gt; d](https://x.example/a%20b%7Cc%60d)"},
	} {
		// As a Section row shows it.
		if got := mapCells([]string{Link(tc.text, tc.url)})[0]; got != tc.want {
			t.Errorf("Link(%q, %q) = %q, want %q", tc.text, tc.url, got, tc.want)
		}
	}
}
