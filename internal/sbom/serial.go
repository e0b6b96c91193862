package sbom

import (
	"encoding/json"
	"fmt"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// serialNamespace is the UUID namespace of derived serial numbers.
var serialNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/bom-attest/bom-attest#serialNumber"))

// DeriveSerial sets bom's serialNumber to a name-based UUID (version 5) over the document
// itself with the serial number left out, so the same content always gets the same serial
// number and different content a different one. Run calls it when SOURCE_DATE_EPOCH asks for
// reproducible output, where a random serial number would be all that tells two runs apart.
func DeriveSerial(bom *cyclonedx.BOM) error {
	bom.SerialNumber = ""
	canonical, err := json.Marshal(bom)
	if err != nil {
		return fmt.Errorf("sbom: serial number: %w", err)
	}
	bom.SerialNumber = uuid.NewSHA1(serialNamespace, canonical).URN()
	return nil
}
