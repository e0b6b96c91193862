package check

import (
	"errors"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
)

func TestValidate(t *testing.T) {
	minimal := func(v string) string {
		return `{"bomFormat":"CycloneDX","specVersion":"` + v + `","serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79","version":1,"components":[{"type":"library","name":"x","purl":"pkg:pypi/x@1.0"}]}`
	}
	tests := []struct {
		name, doc, version string
		err                error
	}{
		{"1.5 minimal", minimal("1.5"), "1.5", nil},
		{"1.6 minimal", minimal("1.6"), "1.6", nil},
		{"1.7 minimal", minimal("1.7"), "1.7", nil},
		{"bad component type", `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"gadget","name":"x"}]}`, "1.6", ErrSchema},
		{"missing bomFormat", `{"specVersion":"1.6"}`, "1.6", ErrSchema},
		{"bad serial", `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"nope"}`, "1.6", ErrSchema},
		{"ml model card needs 1.5+ type", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"machine-learning-model","name":"m","modelCard":{"modelParameters":{"task":"x"}}}]}`, "1.5", nil},
		{"not json", `{`, "1.6", ErrSchema},
		{"unknown version", minimal("1.4"), "1.4", ErrSpecVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc), specOf(tt.version))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Validate() = %v, want %v", err, tt.err)
			}
		})
	}
}

// specOf maps the table's "1.x" to cyclonedx-go's constant, as config does for the input.
func specOf(v string) cyclonedx.SpecVersion {
	var sv cyclonedx.SpecVersion
	if err := sv.UnmarshalJSON([]byte(`"` + v + `"`)); err != nil {
		return 0
	}
	return sv
}
