package mlbom

import (
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/github/go-spdx/v2/spdxexp"
)

// licenseChoices turns license strings from a manifest or model card into CycloneDX licenses:
// an SPDX id (model cards write them lower-case, apache-2.0) becomes its canonical id, a single
// SPDX expression an expression, anything else (llama3.2, a custom licence) a name.
func licenseChoices(values []string) *cyclonedx.Licenses {
	if len(values) == 0 {
		return nil
	}
	if len(values) == 1 && strings.ContainsAny(values[0], " ()") {
		norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions(values, spdxexp.ValidateLicensesOptions{})
		if len(invalid) == 0 && len(norm) == 1 {
			return &cyclonedx.Licenses{{Expression: norm[0]}}
		}
	}
	out := make(cyclonedx.Licenses, 0, len(values))
	for _, v := range values {
		if ok, id := spdxexp.ActiveLicense(v); ok {
			out = append(out, cyclonedx.LicenseChoice{License: &cyclonedx.License{ID: id}})
			continue
		}
		out = append(out, cyclonedx.LicenseChoice{License: &cyclonedx.License{Name: v}})
	}
	return &out
}
