package modelfile

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Limits for GGUF headers. The format stores every length and count as a u64 the file claims;
// each is checked against these and against the bytes left in the file before it is used.
const (
	ggufMagic         = 0x46554747 // "GGUF" little-endian
	maxGGUFKV         = 1 << 20
	maxGGUFTensors    = 1 << 22
	maxGGUFKeyLen     = 1 << 16 // the spec caps keys at 65535 bytes
	maxGGUFKeptString = 4 << 10 // longer values are skipped, not kept
	maxGGUFTensorName = 1 << 16
	maxGGUFDims       = 8 // ggml uses 4; anything past 8 is corrupt
	maxGGUFDepth      = 4 // arrays of arrays of …
	maxGGUFKept       = 512
)

// GGUF is what the key/value header and tensor table of one .gguf file say.
type GGUF struct {
	Version       uint32
	Tensors       uint64
	Parameters    uint64
	Architecture  string
	Name          string
	ModelVersion  string
	License       string
	Description   string
	Quantization  string
	ContextLength uint64
	BaseModels    []string
	Datasets      []string
	DTypes        []string
}

// Format implements Header.
func (*GGUF) Format() string { return "gguf" }

// GGUF metadata value types.
const (
	ggufU8 = iota
	ggufI8
	ggufU16
	ggufI16
	ggufU32
	ggufI32
	ggufF32
	ggufBool
	ggufString
	ggufArray
	ggufU64
	ggufI64
	ggufF64
)

// ggufFixedSize is the encoded size of each fixed-width value type.
var ggufFixedSize = map[uint32]uint64{
	ggufU8: 1, ggufI8: 1, ggufBool: 1, ggufU16: 2, ggufI16: 2, ggufU32: 4, ggufI32: 4, ggufF32: 4,
	ggufU64: 8, ggufI64: 8, ggufF64: 8,
}

// parseGGUF reads a GGUF v2/v3 header: magic, version, tensor count, key/value count, the
// key/values, then the tensor table (name, dims, ggml type, offset). Arrays (the tokenizer's
// vocabulary, often 100k strings) are skipped element by element, never buffered.
func parseGGUF(r io.Reader, size int64) (*GGUF, error) {
	w := newWireReader(r, size)
	magic, err := w.u32()
	if err != nil {
		return nil, fmt.Errorf("gguf: magic: %w", err)
	}
	if magic != ggufMagic {
		return nil, fmt.Errorf("gguf: not a GGUF file (magic %#x)", magic)
	}
	h := &GGUF{}
	if h.Version, err = w.u32(); err != nil {
		return nil, fmt.Errorf("gguf: version: %w", err)
	}
	if h.Version != 2 && h.Version != 3 {
		return nil, fmt.Errorf("gguf: version %d is not supported (want 2 or 3)", h.Version)
	}
	if h.Tensors, err = w.u64(); err != nil {
		return nil, fmt.Errorf("gguf: tensor count: %w", err)
	}
	kvCount, err := w.u64()
	if err != nil {
		return nil, fmt.Errorf("gguf: key/value count: %w", err)
	}
	if kvCount > maxGGUFKV {
		return nil, fmt.Errorf("gguf: %d key/values is more than the %d allowed", kvCount, maxGGUFKV)
	}
	if h.Tensors > maxGGUFTensors {
		return nil, fmt.Errorf("gguf: %d tensors is more than the %d allowed", h.Tensors, maxGGUFTensors)
	}

	kept := map[string]string{}
	for i := uint64(0); i < kvCount; i++ {
		key, err := ggufReadString(w, maxGGUFKeyLen, "key")
		if err != nil {
			return nil, fmt.Errorf("gguf: key/value %d: %w", i, err)
		}
		typ, err := w.u32()
		if err != nil {
			return nil, fmt.Errorf("gguf: %.64q: value type: %w", key, err)
		}
		keep := len(kept) < maxGGUFKept && (strings.HasPrefix(key, "general.") || strings.HasSuffix(key, ".context_length"))
		val, err := ggufValue(w, typ, keep, 0)
		if err != nil {
			return nil, fmt.Errorf("gguf: %.64q: %w", key, err)
		}
		if keep && val != "" {
			kept[key] = val
		}
	}

	typeParams := map[string]uint64{}
	for i := uint64(0); i < h.Tensors; i++ {
		if _, err := ggufReadString(w, maxGGUFTensorName, "tensor name"); err != nil {
			return nil, fmt.Errorf("gguf: tensor %d: %w", i, err)
		}
		nDims, err := w.u32()
		if err != nil {
			return nil, fmt.Errorf("gguf: tensor %d: dims: %w", i, err)
		}
		if nDims > maxGGUFDims {
			return nil, fmt.Errorf("gguf: tensor %d has %d dimensions, more than %d", i, nDims, maxGGUFDims)
		}
		count := uint64(1)
		for d := uint32(0); d < nDims; d++ {
			dim, err := w.u64()
			if err != nil {
				return nil, fmt.Errorf("gguf: tensor %d: dim %d: %w", i, d, err)
			}
			count = mulSat(count, dim)
		}
		typ, err := w.u32()
		if err != nil {
			return nil, fmt.Errorf("gguf: tensor %d: type: %w", i, err)
		}
		if _, err := w.u64(); err != nil { // offset into the data section
			return nil, fmt.Errorf("gguf: tensor %d: offset: %w", i, err)
		}
		h.Parameters = addSat(h.Parameters, count)
		if name := ggmlTypeName(typ); len(typeParams) < 64 || typeParams[name] > 0 {
			typeParams[name] = addSat(typeParams[name], count)
		}
	}

	h.Architecture = kept["general.architecture"]
	h.Name = kept["general.name"]
	h.ModelVersion = kept["general.version"]
	h.License = kept["general.license"]
	h.Description = kept["general.description"]
	if h.Architecture != "" {
		if v, err := strconv.ParseUint(kept[h.Architecture+".context_length"], 10, 64); err == nil {
			h.ContextLength = v
		}
	}
	if ft, err := strconv.ParseUint(kept["general.file_type"], 10, 32); err == nil {
		h.Quantization = ggufFileTypeName(uint32(ft))
	}
	for name := range typeParams {
		h.DTypes = append(h.DTypes, name)
	}
	slices.Sort(h.DTypes)
	if h.Quantization == "" {
		h.Quantization = dominantType(typeParams)
	}
	h.BaseModels = ggufList(kept, "general.base_model")
	h.Datasets = ggufList(kept, "general.dataset")
	return h, nil
}

// ggufList collects general.base_model.N.{organization,name,repo_url}-style entries in order.
// A Hugging Face repo URL is turned into its org/name id; otherwise organization/name is used.
func ggufList(kept map[string]string, prefix string) []string {
	var out []string
	for i := 0; i < 32; i++ {
		p := fmt.Sprintf("%s.%d.", prefix, i)
		name, org, repo := kept[p+"name"], kept[p+"organization"], kept[p+"repo_url"]
		if name == "" && repo == "" {
			if i > 0 {
				break
			}
			continue
		}
		if id, ok := strings.CutPrefix(repo, "https://huggingface.co/"); ok && id != "" {
			out = append(out, strings.TrimPrefix(id, "datasets/"))
			continue
		}
		if org != "" && name != "" && !strings.Contains(name, "/") {
			name = org + "/" + name
		}
		if name == "" {
			name = repo
		}
		out = append(out, name)
	}
	return out
}

func dominantType(params map[string]uint64) string {
	best, bestN := "", uint64(0)
	for name, n := range params {
		if n > bestN || (n == bestN && name < best) {
			best, bestN = name, n
		}
	}
	return best
}

// ggufReadString reads a u64 length and that many bytes; a claimed length over limit is an error.
func ggufReadString(w *wireReader, limit uint64, what string) (string, error) {
	n, err := w.u64()
	if err != nil {
		return "", fmt.Errorf("%s length: %w", what, err)
	}
	b, err := w.bytes(n, limit, what)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ggufValue reads (keep) or skips one value of type typ, returning scalars as text.
func ggufValue(w *wireReader, typ uint32, keep bool, depth int) (string, error) {
	if size, ok := ggufFixedSize[typ]; ok {
		if !keep {
			return "", w.skip(size, "value")
		}
		var buf [8]byte
		b, err := w.bytes(size, 8, "value")
		if err != nil {
			return "", err
		}
		copy(buf[:], b)
		return ggufScalar(typ, buf), nil
	}
	switch typ {
	case ggufString:
		n, err := w.u64()
		if err != nil {
			return "", fmt.Errorf("string length: %w", err)
		}
		if !keep || n > maxGGUFKeptString {
			return "", w.skip(n, "string")
		}
		b, err := w.bytes(n, maxGGUFKeptString, "string")
		return string(b), err
	case ggufArray:
		if depth >= maxGGUFDepth {
			return "", fmt.Errorf("arrays nested deeper than %d", maxGGUFDepth)
		}
		elem, err := w.u32()
		if err != nil {
			return "", fmt.Errorf("array type: %w", err)
		}
		count, err := w.u64()
		if err != nil {
			return "", fmt.Errorf("array count: %w", err)
		}
		minSize, ok := ggufFixedSize[elem]
		switch {
		case elem == ggufString:
			minSize = 8
		case elem == ggufArray:
			minSize = 12
		case !ok:
			return "", fmt.Errorf("array of unknown type %d", elem)
		}
		// Every element takes at least minSize bytes, so a count the rest of the file cannot
		// hold is refused here instead of being looped over.
		if count > w.remaining()/minSize {
			return "", fmt.Errorf("array of %d elements does not fit in the %d bytes left: %w", count, w.remaining(), errTruncated)
		}
		if ok {
			return "", w.skip(count*minSize, "array")
		}
		for i := uint64(0); i < count; i++ {
			if _, err := ggufValue(w, elem, false, depth+1); err != nil {
				return "", fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown value type %d", typ)
}

func ggufScalar(typ uint32, b [8]byte) string {
	le := func(n int) uint64 {
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	switch typ {
	case ggufU8, ggufU16, ggufU32, ggufU64:
		return strconv.FormatUint(le(int(ggufFixedSize[typ])), 10)
	case ggufI8:
		return strconv.FormatInt(int64(int8(b[0])), 10)
	case ggufI16:
		return strconv.FormatInt(int64(int16(le(2))), 10)
	case ggufI32:
		return strconv.FormatInt(int64(int32(le(4))), 10)
	case ggufI64:
		return strconv.FormatInt(int64(le(8)), 10)
	case ggufF32:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(le(4)))), 'g', -1, 32)
	case ggufF64:
		return strconv.FormatFloat(math.Float64frombits(le(8)), 'g', -1, 64)
	case ggufBool:
		return strconv.FormatBool(b[0] != 0)
	}
	return ""
}

// ggmlTypes names ggml tensor types by their enum value (ggml.h).
var ggmlTypes = map[uint32]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
	10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
	17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
	24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
	35: "TQ2_0", 39: "MXFP4",
}

func ggmlTypeName(t uint32) string {
	if n, ok := ggmlTypes[t]; ok {
		return n
	}
	return "type" + strconv.FormatUint(uint64(t), 10)
}

// ggufFileTypes names general.file_type values (llama_ftype in llama.h).
var ggufFileTypes = []string{
	"F32", "F16", "Q4_0", "Q4_1", "Q4_1_SOME_F16", "Q4_2", "Q4_3", "Q8_0", "Q5_0", "Q5_1", "Q2_K",
	"Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ2_XXS",
	"IQ2_XS", "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ3_M", "IQ2_S", "IQ2_M",
	"IQ4_XS", "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "MXFP4",
}

func ggufFileTypeName(t uint32) string {
	if int(t) < len(ggufFileTypes) {
		return ggufFileTypes[t]
	}
	return "file_type" + strconv.FormatUint(uint64(t), 10)
}
