package statement

import (
	"encoding/base64"
	"encoding/json"
)

// BundlePredicateType reads predicateType from the statement in a Sigstore bundle's DSSE
// payload, without verifying anything; "" if the bundle or its payload cannot be read. It serves
// labelling and explaining (which attestation a bundle claims to be), never trusting.
func BundlePredicateType(bundle []byte) string {
	var b struct {
		DSSEEnvelope struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if json.Unmarshal(bundle, &b) != nil {
		return ""
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return ""
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return ""
	}
	return st.PredicateType
}
