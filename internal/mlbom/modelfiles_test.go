package mlbom

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// The writers below produce model files from their format specifications, so the parsers are
// tested against files laid out the way the format's own writers lay them out.

// stTensor is one tensor of a .safetensors file.
type stTensor struct {
	name  string
	dtype string
	shape []int
}

var stDtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1, "F64": 8}

// safetensorsBytes writes a .safetensors file: u64 little-endian header length, the JSON header
// (padded with spaces to 8-byte alignment, as huggingface/safetensors does), then the tensor
// data in header order.
func safetensorsBytes(meta map[string]string, tensors ...stTensor) []byte {
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	var data []byte
	for _, t := range tensors {
		n := stDtypeSize[t.dtype]
		for _, d := range t.shape {
			n *= d
		}
		header[t.name] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int{len(data), len(data) + n}}
		for i := 0; i < n; i++ {
			data = append(data, byte(i*31+len(t.name)))
		}
	}
	js, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(out, js...)
	return append(out, data...)
}

// ggufKV is one metadata key/value of a GGUF file; val is a string, uint32, uint64, float32,
// bool, or []string (an array of strings, like a tokenizer vocabulary).
type ggufKV struct {
	key string
	val any
}

type ggufTensor struct {
	name string
	dims []uint64
	typ  uint32
}

// ggufBytes writes a GGUF v3 file: magic, version, tensor count, key/value count, the key/values,
// the tensor infos, padding to general.alignment (32), and the tensor data.
func ggufBytes(kvs []ggufKV, tensors []ggufTensor) []byte {
	le := binary.LittleEndian
	str := func(b []byte, s string) []byte {
		b = le.AppendUint64(b, uint64(len(s)))
		return append(b, s...)
	}
	b := le.AppendUint32(nil, ggufMagic)
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, uint64(len(tensors)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = str(b, kv.key)
		switch v := kv.val.(type) {
		case string:
			b = le.AppendUint32(b, ggufString)
			b = str(b, v)
		case uint32:
			b = le.AppendUint32(b, ggufU32)
			b = le.AppendUint32(b, v)
		case uint64:
			b = le.AppendUint32(b, ggufU64)
			b = le.AppendUint64(b, v)
		case float32:
			b = le.AppendUint32(b, ggufF32)
			b = le.AppendUint32(b, math.Float32bits(v))
		case bool:
			b = le.AppendUint32(b, ggufBool)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case []string:
			b = le.AppendUint32(b, ggufArray)
			b = le.AppendUint32(b, ggufString)
			b = le.AppendUint64(b, uint64(len(v)))
			for _, s := range v {
				b = str(b, s)
			}
		case []uint32:
			b = le.AppendUint32(b, ggufArray)
			b = le.AppendUint32(b, ggufU32)
			b = le.AppendUint64(b, uint64(len(v)))
			for _, x := range v {
				b = le.AppendUint32(b, x)
			}
		default:
			panic("ggufBytes: unsupported value type")
		}
	}
	offset := uint64(0)
	sizes := make([]uint64, len(tensors))
	for i, t := range tensors {
		n := uint64(4)
		for _, d := range t.dims {
			n *= d
		}
		sizes[i] = n
		b = str(b, t.name)
		b = le.AppendUint32(b, uint32(len(t.dims)))
		for _, d := range t.dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, t.typ)
		b = le.AppendUint64(b, offset)
		offset += (n + 31) / 32 * 32
	}
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	for i := range tensors {
		start := len(b)
		for j := uint64(0); j < sizes[i]; j++ {
			b = append(b, byte(j*13+uint64(i)))
		}
		for (len(b)-start)%32 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// onnxSpec describes an ONNX model to write.
type onnxSpec struct {
	irVersion       uint64
	producer        string
	producerVersion string
	domain          string
	modelVersion    int64
	doc             string
	graphName       string
	opsets          map[string]int64
	inlineWeights   int      // bytes of raw_data in an initializer stored inline
	external        []string // external data locations, one initializer each
}

// onnxBytes writes a ModelProto (onnx.proto3) with protowire: top-level fields in field-number
// order, as protobuf serializers emit them, so opset_import comes after the whole graph.
func onnxBytes(s onnxSpec) []byte {
	msg := func(b []byte, num protowire.Number, body []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	strField := func(b []byte, num protowire.Number, v string) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendString(b, v)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}

	var node []byte
	node = strField(node, 1, "input")
	node = strField(node, 1, "weight")
	node = strField(node, 2, "output")
	node = strField(node, 3, "matmul_0")
	node = strField(node, 4, "MatMul")

	var graph []byte
	graph = msg(graph, 1, node)
	graph = strField(graph, graphName, s.graphName)
	if s.inlineWeights > 0 {
		var t []byte
		dims := protowire.AppendVarint(nil, uint64(s.inlineWeights/4))
		t = msg(t, 1, dims) // packed repeated int64 dims
		t = varint(t, 2, 1) // FLOAT
		t = strField(t, 8, "weight")
		raw := make([]byte, s.inlineWeights)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		t = msg(t, 9, raw)
		graph = msg(graph, graphInitializer, t)
	}
	for i, loc := range s.external {
		var t []byte
		t = msg(t, 1, protowire.AppendVarint(nil, 16))
		t = varint(t, 2, 1)
		t = strField(t, 8, "external_"+string(rune('a'+i)))
		for _, kv := range [][2]string{{"location", loc}, {"offset", "0"}, {"length", "64"}} {
			var e []byte
			e = strField(e, 1, kv[0])
			e = strField(e, 2, kv[1])
			t = msg(t, tensorExternalData, e)
		}
		t = varint(t, tensorDataLocation, tensorLocExternal)
		graph = msg(graph, graphInitializer, t)
	}
	var in, out []byte
	in = strField(in, 1, "input")
	out = strField(out, 1, "output")
	graph = msg(graph, 11, in)
	graph = msg(graph, 12, out)

	var b []byte
	b = varint(b, onnxIRVersion, s.irVersion)
	b = strField(b, onnxProducerName, s.producer)
	b = strField(b, onnxProducerVersion, s.producerVersion)
	if s.domain != "" {
		b = strField(b, onnxDomain, s.domain)
	}
	if s.modelVersion != 0 {
		b = varint(b, onnxModelVersion, uint64(s.modelVersion))
	}
	if s.doc != "" {
		b = strField(b, onnxDocString, s.doc)
	}
	b = msg(b, onnxGraph, graph)
	domains := make([]string, 0, len(s.opsets))
	for d := range s.opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		var op []byte
		if d != "" {
			op = strField(op, 1, d)
		}
		op = varint(op, 2, uint64(s.opsets[d]))
		b = msg(b, onnxOpsetImport, op)
	}
	return b
}
