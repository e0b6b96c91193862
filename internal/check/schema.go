package check

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"path"
	"sync"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema/*.json
var schemas embed.FS

// ErrSchema is returned (wrapped) when a document does not validate against its schema.
var ErrSchema = errors.New("not valid against the CycloneDX schema")

// ErrSpecVersion is returned for a spec version without a vendored schema.
var ErrSpecVersion = errors.New("unsupported CycloneDX spec version")

// SpecVersions lists the spec versions bom-attest writes and validates.
var SpecVersions = []cyclonedx.SpecVersion{cyclonedx.SpecVersion1_5, cyclonedx.SpecVersion1_6, cyclonedx.SpecVersion1_7}

const baseURL = "http://cyclonedx.org/schema/"

var (
	compileOnce sync.Once
	compiled    map[cyclonedx.SpecVersion]*jsonschema.Schema
	compileErr  error
)

func compileAll() {
	c := jsonschema.NewCompiler()
	// The schemas declare "format" keywords (iri-reference, date-time, …); asserting them makes the
	// check as strict as the reference validators.
	c.AssertFormat()
	entries, err := schemas.ReadDir("schema")
	if err != nil {
		compileErr = err
		return
	}
	for _, e := range entries {
		raw, err := schemas.ReadFile(path.Join("schema", e.Name()))
		if err != nil {
			compileErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			compileErr = fmt.Errorf("check: embedded schema %s: %w", e.Name(), err)
			return
		}
		if err := c.AddResource(baseURL+e.Name(), doc); err != nil {
			compileErr = fmt.Errorf("check: embedded schema %s: %w", e.Name(), err)
			return
		}
	}
	compiled = map[cyclonedx.SpecVersion]*jsonschema.Schema{}
	for _, v := range SpecVersions {
		s, err := c.Compile(baseURL + "bom-" + v.String() + ".SNAPSHOT.schema.json")
		if err != nil {
			compileErr = fmt.Errorf("check: compile schema %s: %w", v, err)
			return
		}
		compiled[v] = s
	}
}

// Validate checks doc, a CycloneDX JSON document, against the official schema for specVersion.
func Validate(doc []byte, specVersion cyclonedx.SpecVersion) error {
	compileOnce.Do(compileAll)
	if compileErr != nil {
		return compileErr
	}
	s, ok := compiled[specVersion]
	if !ok {
		return fmt.Errorf("%w %q (want one of %v)", ErrSpecVersion, specVersion, SpecVersions)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrSchema, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%w %s: %v", ErrSchema, specVersion, err)
	}
	return nil
}
