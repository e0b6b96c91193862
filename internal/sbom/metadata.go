package sbom

import "github.com/CycloneDX/cyclonedx-go"

// Metadata is who makes the SBOM and supplies the image it describes (inputs sbom-author,
// supplier-name, supplier-url, supplier-email).
type Metadata struct {
	Author   Party // metadata.authors
	Supplier Party // metadata.supplier; at CycloneDX 1.6 and later also metadata.manufacturer
}

// ApplyMetadata sets the document's authors, supplier and (from 1.6, where CycloneDX has it)
// manufacturer: the organisation that made the BOM, with the contact BSI asks of an SBOM's
// creator. An empty party leaves its fields out rather than guess.
func ApplyMetadata(bom *cyclonedx.BOM, m Metadata, v cyclonedx.SpecVersion) {
	if bom.Metadata == nil {
		bom.Metadata = &cyclonedx.Metadata{}
	}
	md := bom.Metadata
	md.Authors, md.Supplier, md.Manufacturer = nil, nil, nil
	if !m.Author.empty() {
		c := cyclonedx.OrganizationalContact{Name: m.Author.Name}
		if len(m.Author.Emails) > 0 {
			c.Email = m.Author.Emails[0]
		}
		md.Authors = &[]cyclonedx.OrganizationalContact{c}
	}
	if !m.Supplier.empty() {
		md.Supplier = m.Supplier.entity()
		if v >= cyclonedx.SpecVersion1_6 {
			md.Manufacturer = m.Supplier.entity()
		}
	}
}
