package check

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

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
	// component is each version's schema of one component, what the document's components
	// array holds every item to (see Validate).
	component  map[cyclonedx.SpecVersion]*jsonschema.Schema
	compileErr error
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
	component = map[cyclonedx.SpecVersion]*jsonschema.Schema{}
	for _, v := range SpecVersions {
		s, err := c.Compile(baseURL + "bom-" + v.String() + ".SNAPSHOT.schema.json")
		if err != nil {
			compileErr = fmt.Errorf("check: compile schema %s: %w", v, err)
			return
		}
		compiled[v] = s
		s, err = c.Compile(baseURL + "bom-" + v.String() + ".SNAPSHOT.schema.json" + componentPointer)
		if err != nil {
			compileErr = fmt.Errorf("check: compile schema %s: %w", v, err)
			return
		}
		component[v] = s
	}
}

// Compile compiles the schemas Validate checks against, which takes a tenth of a second; a
// caller with a core to spare calls it ahead of the first Validate. Validate reports its errors.
func Compile() { compileOnce.Do(compileAll) }

// Validate checks doc, a CycloneDX JSON document, against the official schema for specVersion.
//
// The components are checked one by one, on every core, and the rest of the document with an
// empty components array. The schemas hold the components array to three things only (each
// item a component, no two items equal: TestComponentsSchema pins that), so that is the same
// check as one of the whole document. It does not hold a large image's document decoded at
// once (ten times its size), and takes half the time.
func Validate(doc []byte, specVersion cyclonedx.SpecVersion) error {
	compileOnce.Do(compileAll)
	if compileErr != nil {
		return compileErr
	}
	s, ok := compiled[specVersion]
	if !ok {
		return fmt.Errorf("%w %q (want one of %v)", ErrSpecVersion, specVersion, SpecVersions)
	}
	rest, items, ok := splitComponents(doc)
	if !ok {
		// Not shaped as expected (not JSON, no components array, or two): the whole document.
		return validateWhole(s, doc, specVersion)
	}
	if err := validateWhole(s, rest, specVersion); err != nil {
		return err
	}
	return validateComponents(component[specVersion], items, specVersion)
}

func validateWhole(s *jsonschema.Schema, doc []byte, specVersion cyclonedx.SpecVersion) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrSchema, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%w %s: %v", ErrSchema, specVersion, err)
	}
	return nil
}

const componentPointer = "#/definitions/component"

// splitComponents returns doc with its top-level components array emptied, and that array's
// items. ok is false unless doc is one JSON object with exactly one components member, an array.
func splitComponents(doc []byte) (rest []byte, items []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	start, end := -1, -1
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		if t != "components" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, false
			}
			continue
		}
		if start >= 0 {
			return nil, nil, false // the last would count; let the whole document be checked
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil, nil, false
		}
		start = int(dec.InputOffset()) - 1
		for dec.More() {
			var item json.RawMessage
			if err := dec.Decode(&item); err != nil {
				return nil, nil, false
			}
			items = append(items, item)
		}
		if t, err := dec.Token(); err != nil || t != json.Delim(']') {
			return nil, nil, false
		}
		end = int(dec.InputOffset())
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') || start < 0 {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, false
	}
	if doc[start] != '[' || doc[end-1] != ']' {
		return nil, nil, false
	}
	rest = make([]byte, 0, len(doc)-(end-start)+2)
	rest = append(append(append(rest, doc[:start]...), "[]"...), doc[end:]...)
	return rest, items, true
}

// validateComponents holds every item to the component schema s, and the items to being
// unique, as the components array's uniqueItems does: by value (object members in any order,
// numbers by what they are worth). Of several invalid items, the first is reported.
func validateComponents(s *jsonschema.Schema, items []json.RawMessage, specVersion cyclonedx.SpecVersion) error {
	errs := make([]error, len(items))
	sums := make([][sha256.Size]byte, len(items))
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Go(func() {
			var buf []byte
			for i := int(next.Add(1) - 1); i < len(items); i = int(next.Add(1) - 1) {
				v, err := jsonschema.UnmarshalJSON(bytes.NewReader(items[i]))
				if err != nil {
					errs[i] = fmt.Errorf("%w: not JSON: components/%d: %v", ErrSchema, i, err)
					continue
				}
				if err := s.Validate(v); err != nil {
					errs[i] = fmt.Errorf("%w %s: components/%d: %v", ErrSchema, specVersion, i, err)
					continue
				}
				buf = appendValue(buf[:0], v)
				sums[i] = sha256.Sum256(buf)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	seen := make(map[[sha256.Size]byte]int, len(items))
	for i, sum := range sums {
		if j, ok := seen[sum]; ok {
			return fmt.Errorf("%w %s: components/%d and components/%d are equal, and the schema wants them unique", ErrSchema, specVersion, j, i)
		}
		seen[sum] = i
	}
	return nil
}

// appendValue appends v, a decoded JSON value, to b in a form two values share exactly when
// JSON Schema holds them equal (as the validator's uniqueItems does): object members sorted,
// numbers as exact fractions, every value tagged with its type and every string with its
// length.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = strconv.AppendInt(append(b, '{'), int64(len(keys)), 10)
		for _, k := range keys {
			b = appendValue(appendString(b, k), v[k])
		}
		return b
	case []any:
		b = strconv.AppendInt(append(b, '['), int64(len(v)), 10)
		for _, x := range v {
			b = appendValue(b, x)
		}
		return b
	case string:
		return appendString(append(b, 's'), v)
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(v)); ok {
			return appendString(append(b, 'n'), r.RatString())
		}
		return appendString(append(b, '?'), string(v)) // equal to nothing else, as in the validator
	case bool:
		if v {
			return append(b, 't')
		}
		return append(b, 'f')
	case nil:
		return append(b, '0')
	}
	return fmt.Appendf(b, "?%T", v)
}

func appendString(b []byte, s string) []byte {
	return append(append(strconv.AppendInt(b, int64(len(s)), 10), ':'), s...)
}
