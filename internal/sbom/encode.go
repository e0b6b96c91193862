package sbom

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"
)

// Omitted counts what the attested document leaves out of the full one.
type Omitted struct {
	Components int // components that lost at least one property
	CPEs       int // guessed CPE candidates (syft:cpe23) left out
	Locations  int // syft:location properties left out
	FoundBy    int // syft:package:foundBy properties left out
	Creators   int // Syft's publisher or author strings left out where the manufacturer says the same
}

// Any reports whether the attested document differs from the full one.
func (o Omitted) Any() bool { return o.CPEs+o.Locations+o.FoundBy+o.Creators > 0 }

// Encode writes bom as compact JSON at spec version v. For an SBOM Generate made, that is the
// attested document: the representation of lean.go. Compact, because the document is also the
// attestation's predicate and GitHub refuses predicates over 16 MiB: indentation alone adds 40%
// to a large SBOM. Fields v lacks are dropped by cyclonedx-go's converter; bom itself is left as
// it was.
func Encode(bom *cyclonedx.BOM, v cyclonedx.SpecVersion) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := encode(&buf, bom, v, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeFull is the full document WriteFull writes.
func (r *Result) EncodeFull(v cyclonedx.SpecVersion) ([]byte, Omitted, error) {
	var buf bytes.Buffer
	o, err := r.WriteFull(&buf, v)
	if err != nil {
		return nil, Omitted{}, err
	}
	return buf.Bytes(), o, nil
}

// WriteFull writes the full document to w: r.BOM as Encode writes it, with every package's
// properties as Syft writes them — the CPE candidates and locations the attested document
// leaves out put back from Syft's model, where Syft has them. It returns what the attested one
// leaves out; with nothing left out the two documents are the same.
func (r *Result) WriteFull(w io.Writer, v cyclonedx.SpecVersion) (Omitted, error) {
	if r.cpesDeferred {
		return Omitted{}, errors.New("sbom: the full SBOM needs the CPEs GenerateCPEs has not made yet")
	}
	var full func([]cyclonedx.Component) Omitted
	if r.Syft != nil {
		pkgs := r.packages()
		at := make(map[artifact.ID]int, len(pkgs))
		for i := range pkgs {
			at[pkgs[i].ID()] = i
		}
		full = func(comps []cyclonedx.Component) Omitted {
			return fullComponents(r.Syft, pkgs, r.candidates, at, comps)
		}
	}
	return encode(w, r.BOM, v, full)
}

// componentChunk is how many components go through cyclonedx-go's converter at a time. The
// converter deep-copies what it is given (through gob) before converting it; given the whole
// BOM, that copy and its gob buffer are as large again as the BOM. A chunk at a time, the copy
// is a few hundred components, and the output is byte for byte what one call would write.
const componentChunk = 256

// encode writes bom at spec version v to w the way cyclonedx-go's EncodeVersion does, without
// copying the whole BOM: everything but the components is converted and encoded in one call,
// the components chunk by chunk, and the components array is put back where the BOM's field
// order has it. A non-nil each changes each chunk (a copy) before it is written and says what
// it did.
func encode(w io.Writer, bom *cyclonedx.BOM, v cyclonedx.SpecVersion, each func([]cyclonedx.Component) Omitted) (Omitted, error) {
	head := *bom
	head.Components = nil
	fields, err := encodeObject(&head, v)
	if err != nil {
		return Omitted{}, err
	}
	var o Omitted
	bw := &errWriter{w: w}
	bw.write("{")
	// cyclonedx-go's copy (gob) turns an empty components array into none, so it writes none.
	first, pending := true, bom.Components != nil && len(*bom.Components) > 0
	next := func() {
		if !first {
			bw.write(",")
		}
		first = false
	}
	for _, f := range fields {
		if pending && bomFieldOrder[f.key] > bomFieldOrder["components"] {
			next()
			if o, err = writeComponents(bw, *bom.Components, v, each); err != nil {
				return Omitted{}, err
			}
			pending = false
		}
		next()
		key, _ := json.Marshal(f.key)
		bw.writeBytes(key)
		bw.write(":")
		bw.writeBytes(f.value)
	}
	if pending {
		next()
		if o, err = writeComponents(bw, *bom.Components, v, each); err != nil {
			return Omitted{}, err
		}
	}
	// json.Encoder ends a value with a newline; cyclonedx-go's EncodeVersion wrote one too.
	bw.write("}\n")
	if bw.err != nil {
		return Omitted{}, fmt.Errorf("encode CycloneDX %s: %w", v, bw.err)
	}
	return o, nil
}

// writeComponents writes "components":[...]. The chunks are made (each) and encoded on every
// core at once and written in order: on a large image the full document's chunks are seconds of
// CPU, and only as many chunks as there are cores are held at a time.
func writeComponents(bw *errWriter, comps []cyclonedx.Component, v cyclonedx.SpecVersion, each func([]cyclonedx.Component) Omitted) (Omitted, error) {
	type encoded struct {
		buf *bytes.Buffer // of chunkBuffers, holding arr
		arr []byte
		o   Omitted
		err error
	}
	n := (len(comps) + componentChunk - 1) / componentChunk
	results := make([]chan encoded, n)
	for i := range results {
		results[i] = make(chan encoded, 1)
	}
	slots, done := make(chan struct{}, runtime.GOMAXPROCS(0)), make(chan struct{})
	defer close(done)
	go func() {
		for i := range n {
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			go func() {
				start := i * componentChunk
				chunk := slices.Clone(comps[start:min(start+componentChunk, len(comps))])
				var r encoded
				if each != nil {
					r.o = each(chunk)
				}
				r.buf, r.arr, r.err = encodeChunk(chunk, v, start)
				results[i] <- r
			}()
		}
	}()
	bw.write(`"components":[`)
	var o Omitted
	for i, res := range results {
		r := <-res
		<-slots
		if r.err != nil {
			return Omitted{}, r.err
		}
		o.add(r.o)
		if i > 0 && len(r.arr) > 2 {
			bw.write(",")
		}
		bw.writeBytes(r.arr[1 : len(r.arr)-1])
		chunkBuffers.Put(r.buf)
	}
	bw.write("]")
	return o, nil
}

// chunkBuffers hold encoded chunks: a chunk of the full document is about a megabyte, and a
// buffer grown to that size for every chunk was a tenth of what encoding allocates.
var chunkBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodeChunk is the JSON array of chunk, the components from start on, as cyclonedx-go
// writes it at v: arr, which is part of buf, a buffer of chunkBuffers. chunk is the caller's
// copy; its components' properties are swapped out while it is encoded.
//
// The converter gob-copies what it is given. Most of a large image's document is properties
// (the full one's CPE candidates and locations alone are two thirds of it), which no supported
// spec version converts and whose gob copy encodes as they are. So each component's
// properties go through the converter as a placeholder that names them, and are encoded here,
// as cyclonedx-go encodes them, where the placeholder came out.
func encodeChunk(chunk []cyclonedx.Component, v cyclonedx.SpecVersion, start int) (buf *bytes.Buffer, arr []byte, err error) {
	props, marks := swapProperties(chunk)
	buf = chunkBuffers.Get().(*bytes.Buffer)
	arr, err = encodeArray(buf, chunk, v, start)
	if err == nil && marks > 0 {
		out := chunkBuffers.Get().(*bytes.Buffer)
		out.Reset()
		if spliceProperties(out, arr, props, marks) {
			chunkBuffers.Put(buf)
			return out, out.Bytes(), nil
		}
		chunkBuffers.Put(out)
		// Not as the placeholders were put in: the converter's own way, with the properties.
		restoreProperties(chunk, props)
		arr, err = encodeArray(buf, chunk, v, start)
	}
	if err != nil {
		chunkBuffers.Put(buf)
		return nil, nil, err
	}
	return buf, arr, nil
}

// encodeArray encodes chunk at v into buf (reset first) and returns the components array,
// which is part of buf.
func encodeArray(buf *bytes.Buffer, chunk []cyclonedx.Component, v cyclonedx.SpecVersion, start int) ([]byte, error) {
	buf.Reset()
	if err := encodeVersionTo(buf, &cyclonedx.BOM{Components: &chunk}, v); err != nil {
		return nil, err
	}
	// What comes before the components depends on v alone; the array is taken from between
	// that and the object's end rather than by reading the whole encoding back as JSON.
	if head, err := chunkHead(v); err == nil {
		out := buf.Bytes()
		if arr, ok := bytes.CutPrefix(out, head); ok {
			if arr, ok = bytes.CutSuffix(arr, []byte("}\n")); ok && len(arr) >= 2 && arr[0] == '[' && arr[len(arr)-1] == ']' {
				return arr, nil
			}
		}
	}
	fields, err := splitObject(bytes.NewReader(buf.Bytes()), v)
	if err != nil {
		return nil, err
	}
	var arr json.RawMessage
	for _, f := range fields {
		if f.key == "components" {
			arr = f.value
		}
	}
	if len(arr) < 2 || arr[0] != '[' || arr[len(arr)-1] != ']' {
		return nil, fmt.Errorf("encode CycloneDX %s: components %d to %d did not encode as an array", v, start, start+len(chunk))
	}
	return arr, nil
}

// placeholderName names the property that stands in for a component's properties while the
// converter copies it: a NUL and a nonce of this process, so that no property of an image's
// can be taken for one, even one made to look like it.
var placeholderName = func() string {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic(err)
	}
	return "\x00bom-attest placeholder " + hex.EncodeToString(nonce[:])
}()

// placeholderHead is how the converter writes a placeholder array, up to its index.
var placeholderHead = func() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode([]cyclonedx.Property{{Name: placeholderName, Value: "0"}}); err != nil {
		panic(err)
	}
	head, _, _ := bytes.Cut(buf.Bytes(), []byte(`"0"}]`))
	return append(head, '"')
}()

// swapProperties puts in chunk, for each component with properties, a placeholder property
// whose value is the component's index, and returns the properties it took out and how many.
// A component with none (or an empty list, which the converter's copy drops) keeps what it has.
func swapProperties(chunk []cyclonedx.Component) ([]*[]cyclonedx.Property, int) {
	props := make([]*[]cyclonedx.Property, len(chunk))
	marks := make([][]cyclonedx.Property, len(chunk))
	n := 0
	for k := range chunk {
		p := chunk[k].Properties
		if p == nil || len(*p) == 0 {
			continue
		}
		props[k] = p
		marks[k] = []cyclonedx.Property{{Name: placeholderName, Value: strconv.Itoa(k)}}
		chunk[k].Properties = &marks[k]
		n++
	}
	return props, n
}

func restoreProperties(chunk []cyclonedx.Component, props []*[]cyclonedx.Property) {
	for k, p := range props {
		if p != nil {
			chunk[k].Properties = p
		}
	}
}

// spliceProperties writes arr to out with each placeholder array replaced by the properties
// it stands for, encoded as cyclonedx-go encodes them. It reports false, with out partly
// written, unless it found exactly the marks placeholders, in order.
func spliceProperties(out *bytes.Buffer, arr []byte, props []*[]cyclonedx.Property, marks int) bool {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	out.Grow(len(arr) * 2)
	found, last := 0, -1
	for {
		i := bytes.Index(arr, placeholderHead)
		if i < 0 {
			break
		}
		out.Write(arr[:i])
		rest := arr[i+len(placeholderHead):]
		end := bytes.Index(rest, []byte(`"}]`))
		if end < 0 {
			return false
		}
		k, err := strconv.Atoi(string(rest[:end]))
		if err != nil || k <= last || k >= len(props) || props[k] == nil {
			return false
		}
		if err := enc.Encode(*props[k]); err != nil {
			return false
		}
		out.Truncate(out.Len() - 1) // the Encoder's newline
		arr = rest[end+len(`"}]`):]
		found, last = found+1, k
	}
	out.Write(arr)
	return found == marks
}

// chunkHead is what cyclonedx-go writes before the components array of a BOM that has nothing
// but components, at spec version v: the members the converter sets, then "components":.
var chunkHead = func() func(cyclonedx.SpecVersion) ([]byte, error) {
	var (
		mu    sync.Mutex
		heads = map[cyclonedx.SpecVersion][]byte{}
	)
	return func(v cyclonedx.SpecVersion) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if h, ok := heads[v]; ok {
			return h, nil
		}
		// One component: the converter's gob copy makes an empty array nil.
		buf, err := encodeVersion(&cyclonedx.BOM{Components: &[]cyclonedx.Component{{Name: "probe"}}}, v)
		if err != nil {
			return nil, err
		}
		// Nothing before the components is a string of the document's, so the first match is
		// the member name.
		const key = `"components":`
		i := bytes.Index(buf.Bytes(), []byte(key+"["))
		if i < 0 {
			return nil, fmt.Errorf("encode CycloneDX %s: no components in %q", v, buf.Bytes())
		}
		h := bytes.Clone(buf.Bytes()[:i+len(key)])
		heads[v] = h
		return h, nil
	}
}()

func (o *Omitted) add(p Omitted) {
	o.Components += p.Components
	o.CPEs += p.CPEs
	o.Locations += p.Locations
	o.FoundBy += p.FoundBy
	o.Creators += p.Creators
}

// field is one member of a JSON object, in the order it was written.
type field struct {
	key   string
	value json.RawMessage
}

// encodeObject converts and encodes bom with cyclonedx-go and returns its top-level members.
func encodeObject(bom *cyclonedx.BOM, v cyclonedx.SpecVersion) ([]field, error) {
	buf, err := encodeVersion(bom, v)
	if err != nil {
		return nil, err
	}
	return splitObject(buf, v)
}

// encodeVersion is what cyclonedx-go's EncodeVersion writes of bom at v: compact, and with
// <, > and & as they are.
func encodeVersion(bom *cyclonedx.BOM, v cyclonedx.SpecVersion) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	if err := encodeVersionTo(&buf, bom, v); err != nil {
		return nil, err
	}
	return &buf, nil
}

// encodeVersionTo is encodeVersion into buf.
func encodeVersionTo(buf *bytes.Buffer, bom *cyclonedx.BOM, v cyclonedx.SpecVersion) error {
	if err := cyclonedx.NewBOMEncoder(buf, cyclonedx.BOMFileFormatJSON).SetEscapeHTML(false).EncodeVersion(bom, v); err != nil {
		return fmt.Errorf("encode CycloneDX %s: %w", v, err)
	}
	return nil
}

// splitObject returns the top-level members of the JSON object r holds, in order.
func splitObject(r io.Reader, v cyclonedx.SpecVersion) ([]field, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("encode CycloneDX %s: not a JSON object", v)
	}
	var fields []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("encode CycloneDX %s: %w", v, err)
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("encode CycloneDX %s: member name %v", v, t)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("encode CycloneDX %s: %s: %w", v, key, err)
		}
		fields = append(fields, field{key, raw})
	}
	return fields, nil
}

// bomFieldOrder is the position of each JSON member of cyclonedx.BOM in its struct, the order
// encoding/json writes them in, so the components go back where one EncodeVersion call puts them.
var bomFieldOrder = func() map[string]int {
	order := map[string]int{}
	t := reflect.TypeFor[cyclonedx.BOM]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			order[name] = i
		}
	}
	if _, ok := order["components"]; !ok {
		panic("sbom: cyclonedx.BOM has no components member")
	}
	return order
}()

// errWriter keeps the first write error, so a sequence of writes is checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) write(s string) {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

func (e *errWriter) writeBytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// String says in words what the attested document leaves out, for the summary.
func (o Omitted) String() string {
	var parts []string
	if o.CPEs > 0 {
		parts = append(parts, fmt.Sprintf("%d guessed CPE candidates (syft:cpe23) of packages Grype matches without CPEs", o.CPEs))
	}
	if o.Locations > 0 {
		parts = append(parts, fmt.Sprintf("%d further locations (syft:location, all but each package's first path)", o.Locations))
	}
	if o.FoundBy > 0 {
		parts = append(parts, fmt.Sprintf("%d cataloger names (syft:package:foundBy)", o.FoundBy))
	}
	if o.Creators > 0 {
		parts = append(parts, fmt.Sprintf("%d publisher or author strings repeated by the manufacturer (or supplier) bom-attest adds", o.Creators))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	if len(parts) > 2 {
		parts = []string{strings.Join(parts[:len(parts)-1], ", "), parts[len(parts)-1]}
	}
	return fmt.Sprintf("%s, of %d components", strings.Join(parts, " and "), o.Components)
}
