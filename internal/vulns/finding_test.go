package vulns

import (
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/grype/grype/vulnerability"
)

// The same vulnerability in the same package version on several platforms is one finding to a
// reader, in the counts and in the summary's lists alike; a VEX statement for one platform
// only leaves it open on the others.
func TestDistinct(t *testing.T) {
	pkg := Package{Name: "openssl", Version: "3.0.1", Type: "deb"}
	notAffected := &Analysis{State: cyclonedx.IASNotAffected}
	fs := []Finding{
		{ID: "CVE-1", Severity: vulnerability.HighSeverity, Package: pkg},                       // amd64
		{ID: "CVE-1", Severity: vulnerability.HighSeverity, Package: pkg},                       // arm64
		{ID: "CVE-2", Severity: vulnerability.LowSeverity, Package: pkg, Analysis: notAffected}, // amd64
		{ID: "CVE-2", Severity: vulnerability.LowSeverity, Package: pkg},                        // arm64: no statement
		{ID: "CVE-1", Severity: vulnerability.HighSeverity, Package: Package{Name: "openssl", Version: "3.0.2", Type: "deb"}},
	}
	open, suppressed := Distinct(fs)
	if len(open) != 3 || len(suppressed) != 1 || suppressed[0].ID != "CVE-2" {
		t.Errorf("open %v, suppressed %v", open, suppressed)
	}
	if c := Count(fs); c.Total() != 3 || c.High != 2 || c.String() != "0 critical, 2 high, 0 medium, 1 low, 0 negligible, 0 unknown" {
		t.Errorf("Count = %v", c)
	}
}

func TestLink(t *testing.T) {
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{DataSource: "https://a", Advisories: []vulnerability.Advisory{{Link: "https://b"}}, URLs: []string{"https://c"}}, "https://a"},
		{Finding{Advisories: []vulnerability.Advisory{{Link: ""}, {Link: "https://b"}}, URLs: []string{"https://c"}}, "https://b"},
		{Finding{URLs: []string{"https://c"}}, "https://c"},
		{Finding{}, ""},
	}
	for _, tt := range tests {
		if got := tt.f.Link(); got != tt.want {
			t.Errorf("Link() = %q, want %q", got, tt.want)
		}
	}
}
