package config

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/check"
)

func TestComplianceInputs(t *testing.T) {
	img := "ghcr.io/acme/app@" + digest
	base := map[string]string{"INPUT_IMAGE": img, "GITHUB_REPOSITORY": "acme/app", "GITHUB_SERVER_URL": "https://github.com"}
	load := func(extra map[string]string) (*Config, error) {
		kv := map[string]string{}
		for k, v := range base {
			kv[k] = v
		}
		for k, v := range extra {
			kv["INPUT_"+k] = v
		}
		return Load(nil, env(kv), io.Discard)
	}

	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Compliance) != 2 || c.ComplianceFailUnder >= 0 || c.ResolveHashes || c.HashDownloads {
		t.Errorf("defaults: compliance %v, fail-under %v, resolve %v, downloads %v", c.Compliance, c.ComplianceFailUnder, c.ResolveHashes, c.HashDownloads)
	}
	if c.PyPIURL != "https://pypi.org" || strings.Join(c.DebianArchiveURLs, " ") != "https://deb.debian.org/debian https://deb.debian.org/debian-security" {
		t.Errorf("registries: %s, %v", c.PyPIURL, c.DebianArchiveURLs)
	}
	if c.SBOMAuthor != "acme" || c.SupplierName != "acme" || c.SupplierURL != "https://github.com/acme" || c.SupplierEmail != "" {
		t.Errorf("defaults from the repository: author %q, supplier %q %q %q", c.SBOMAuthor, c.SupplierName, c.SupplierURL, c.SupplierEmail)
	}

	c, err = load(map[string]string{"COMPLIANCE": "bsi", "COMPLIANCE-FAIL-UNDER": "87.5", "RESOLVE-HASHES": "true", "HASH-DOWNLOADS": "true",
		"PYPI-URL": "http://127.0.0.1:8080/", "DEBIAN-ARCHIVE-URLS": "https://mirror.example/debian\nhttp://localhost:9/d",
		"SBOM-AUTHOR": "Jane Doe <jane@acme.example>", "SUPPLIER-NAME": "Acme Ltd", "SUPPLIER-EMAIL": "security@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Compliance) != 1 || c.Compliance[0] != check.BSI || c.ComplianceFailUnder != 87.5 || !c.HashDownloads || c.PyPIURL != "http://127.0.0.1:8080" || len(c.DebianArchiveURLs) != 2 {
		t.Errorf("set: %+v", c)
	}
	// Another supplier than the owner does not get the owner's URL.
	if c.SupplierName != "Acme Ltd" || c.SupplierURL != "" || c.SBOMAuthor != "Jane Doe <jane@acme.example>" {
		t.Errorf("supplier %q %q, author %q", c.SupplierName, c.SupplierURL, c.SBOMAuthor)
	}
	if c, err := load(map[string]string{"COMPLIANCE": "none"}); err != nil || c.Compliance != nil {
		t.Errorf("none: %v, %v", c.Compliance, err)
	}

	tests := []struct {
		name  string
		input map[string]string
		want  string
	}{
		{"compliance nist", map[string]string{"COMPLIANCE": "nist"}, "compliance"},
		{"fail-under over 100", map[string]string{"COMPLIANCE-FAIL-UNDER": "101"}, "compliance-fail-under"},
		{"fail-under not a number", map[string]string{"COMPLIANCE-FAIL-UNDER": "high"}, "compliance-fail-under"},
		{"fail-under without a report", map[string]string{"COMPLIANCE": "none", "COMPLIANCE-FAIL-UNDER": "50"}, "compliance-fail-under"},
		{"resolve-hashes yes", map[string]string{"RESOLVE-HASHES": "yes"}, "resolve-hashes"},
		{"downloads without resolve", map[string]string{"HASH-DOWNLOADS": "true"}, "hash-downloads"},
		{"pypi over plain http", map[string]string{"PYPI-URL": "http://pypi.example"}, "pypi-url"},
		{"debian archive not a url", map[string]string{"DEBIAN-ARCHIVE-URLS": "https://deb.debian.org/debian,deb.debian.org"}, "debian-archive-urls"},
		{"author two lines", map[string]string{"SBOM-AUTHOR": "Jane\n::warning::x"}, "sbom-author"},
		{"author bad address", map[string]string{"SBOM-AUTHOR": "Jane <jane>"}, "sbom-author"},
		{"supplier url ftp", map[string]string{"SUPPLIER-URL": "ftp://acme.example"}, "supplier-url"},
		{"supplier email with name", map[string]string{"SUPPLIER-EMAIL": "Acme <security@acme.example>"}, "supplier-email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.input)
			var errs Errors
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &errs) {
				t.Fatalf("err = %v", err)
			}
			found := false
			for _, fe := range errs {
				found = found || fe.Input == tt.want
			}
			if !found {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}
