// Package check validates CycloneDX documents against the official JSON schema of their spec
// version, so a document bom-attest writes is one every CycloneDX tool will read.
package check
