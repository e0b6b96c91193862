package sbom

import (
	"testing"

	"github.com/bom-attest/bom-attest/internal/check"
)

// Every identifier the Debian table maps to must be one the CycloneDX schema accepts.
func TestDebianSPDXTableIsSPDX(t *testing.T) {
	for k, v := range debianSPDX {
		if !check.SPDXLicense(v) {
			t.Errorf("debianSPDX[%q] = %q, not on the SPDX list", k, v)
		}
	}
}
