package check

import (
	"encoding/json"
	"sync"
)

var (
	spdxOnce sync.Once
	spdxIDs  map[string]bool
)

// SPDXLicense reports whether id is on the SPDX licence list the vendored CycloneDX schemas
// accept as a license.id (licence and exception identifiers alike).
func SPDXLicense(id string) bool {
	spdxOnce.Do(func() {
		spdxIDs = map[string]bool{}
		raw, err := schemas.ReadFile("schema/spdx.SNAPSHOT.schema.json")
		if err != nil {
			return
		}
		var s struct {
			Enum []string `json:"enum"`
		}
		if json.Unmarshal(raw, &s) == nil {
			for _, e := range s.Enum {
				spdxIDs[e] = true
			}
		}
	})
	return spdxIDs[id]
}
