package run

import (
	"errors"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/statement"
)

// TestSBOMTooLarge: an attested SBOM over GitHub's limit is refused with its size, the full
// document beside it, the inputs that make it smaller and the one that lets the rest be attested.
func TestSBOMTooLarge(t *testing.T) {
	err := sbomTooLarge("sbom.linux-amd64.cdx.json", 17<<20+1, "out/sbom.full.linux-amd64.cdx.json", []check.Standard{check.CISA, check.BSI})
	if !errors.Is(err, statement.ErrTooLarge) {
		t.Fatalf("%v: not statement.ErrTooLarge", err)
	}
	for _, want := range []string{"sbom.linux-amd64.cdx.json:", "17.0 MiB (17825793 bytes)", "out/sbom.full.linux-amd64.cdx.json", "16 MiB", "nothing was signed", "attestations: mlbom,provenance", "compliance: cisa", "compliance: none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	err = sbomTooLarge("sbom.cdx.json", 20<<20, "", nil)
	if strings.Contains(err.Error(), "already without") {
		t.Errorf("no full document, but the error points at one: %v", err)
	}
	if strings.Contains(err.Error(), "compliance") {
		t.Errorf("no compliance fields to leave out, but the error suggests it: %v", err)
	}
	if err := sbomTooLarge("sbom.cdx.json", 20<<20, "", []check.Standard{check.CISA}); !strings.Contains(err.Error(), "compliance: none") || strings.Contains(err.Error(), "compliance: cisa") {
		t.Errorf("CISA's elements only: the error should suggest compliance: none alone: %v", err)
	}
}
