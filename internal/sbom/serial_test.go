package sbom_test

import (
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/bom-attest/bom-attest/internal/sbom"
)

func TestDeriveSerial(t *testing.T) {
	doc := func(name, serial string) *cyclonedx.BOM {
		b := cyclonedx.NewBOM()
		b.SerialNumber = serial
		b.Components = &[]cyclonedx.Component{{Type: cyclonedx.ComponentTypeLibrary, Name: name}}
		return b
	}
	derive := func(b *cyclonedx.BOM) string {
		t.Helper()
		if err := sbom.DeriveSerial(b); err != nil {
			t.Fatal(err)
		}
		return b.SerialNumber
	}
	a := derive(doc("a", "urn:uuid:"+uuid.NewString()))
	if u, err := uuid.Parse(a); err != nil || u.Version() != 5 || a[:9] != "urn:uuid:" {
		t.Fatalf("serial %q is not a version 5 UUID URN", a)
	}
	if b := derive(doc("a", "urn:uuid:"+uuid.NewString())); b != a {
		t.Errorf("same content, serial %s then %s: the old serial number leaked into the new", a, b)
	}
	if c := derive(doc("b", "")); c == a {
		t.Error("different content, same serial number")
	}
	again := doc("a", "")
	derive(again)
	if derive(again) != a {
		t.Error("deriving twice changes the serial number")
	}
}

// TestDeriveSerialReproducible scans the sample image twice: with derived serial numbers the two
// documents are the same bytes.
func TestDeriveSerialReproducible(t *testing.T) {
	var docs [2][]byte
	for i := range docs {
		res := scanSample(t)
		if err := sbom.DeriveSerial(res.BOM); err != nil {
			t.Fatal(err)
		}
		var err error
		if docs[i], err = sbom.Encode(res.BOM, cyclonedx.SpecVersion1_6); err != nil {
			t.Fatal(err)
		}
	}
	if string(docs[0]) != string(docs[1]) {
		t.Errorf("two scans differ:\n%s", firstDiff(string(indent(t, docs[0])), string(indent(t, docs[1]))))
	}
}
