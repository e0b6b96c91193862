package statement

import (
	"encoding/base64"
	"testing"
)

// TestBundlePredicateType: the type is read from the DSSE payload of a bundle; anything that
// cannot be read gives "", never a guess.
func TestBundlePredicateType(t *testing.T) {
	bundle := func(payload string) []byte {
		return []byte(`{"dsseEnvelope": {"payloadType": "application/vnd.in-toto+json", "payload": "` + payload + `"}}`)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name   string
		bundle []byte
		want   string
	}{
		{name: "statement", bundle: bundle(b64(`{"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://cyclonedx.org/bom"}`)), want: PredicateCycloneDX},
		{name: "statement without a type", bundle: bundle(b64(`{"_type": "https://in-toto.io/Statement/v1"}`))},
		{name: "payload not base64", bundle: bundle("not base64!")},
		{name: "payload not JSON", bundle: bundle(b64("predicateType: x"))},
		{name: "payload not a string", bundle: []byte(`{"dsseEnvelope": {"payload": 1}}`)},
		{name: "no envelope", bundle: []byte(`{"messageSignature": {}}`)},
		{name: "not JSON", bundle: []byte("{")},
		{name: "empty", bundle: nil},
	} {
		if got := BundlePredicateType(tc.bundle); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
