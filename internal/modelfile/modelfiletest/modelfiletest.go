package modelfiletest

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// Tensor is one tensor of a .safetensors file.
type Tensor struct {
	Name  string
	DType string // F32, F16, BF16, I64, I32, U8, I8, BOOL, F64
	Shape []int
}

var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1, "F64": 8}

// Safetensors writes a .safetensors file: u64 little-endian header length, the JSON header
// (padded with spaces to 8-byte alignment, as huggingface/safetensors does), then the tensor
// data in header order.
func Safetensors(meta map[string]string, tensors ...Tensor) []byte {
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	var data []byte
	for _, t := range tensors {
		n := dtypeSize[t.DType]
		for _, d := range t.Shape {
			n *= d
		}
		header[t.Name] = map[string]any{"dtype": t.DType, "shape": t.Shape, "data_offsets": []int{len(data), len(data) + n}}
		for i := 0; i < n; i++ {
			data = append(data, byte(i*31+len(t.Name)))
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

// GGUF value types and ONNX field numbers, from the GGUF spec and onnx.proto3. They are written
// out here, not shared with the readers, so a reader with a wrong number fails its tests.
const (
	ggufU32    = 4
	ggufF32    = 6
	ggufBool   = 7
	ggufString = 8
	ggufArray  = 9
	ggufU64    = 10

	onnxIRVersion       = 1
	onnxProducerName    = 2
	onnxProducerVersion = 3
	onnxDomain          = 4
	onnxModelVersion    = 5
	onnxDocString       = 6
	onnxGraph           = 7
	onnxOpsetImport     = 8
	graphName           = 2
	graphInitializer    = 5
	tensorExternalData  = 13
	tensorDataLocation  = 14
	tensorLocExternal   = 1
)

// KV is one metadata key/value of a GGUF file; Val is a string, uint32, uint64, float32,
// bool, or []string (an array of strings, like a tokenizer vocabulary).
type KV struct {
	Key string
	Val any
}

type GGUFTensor struct {
	Name string
	Dims []uint64
	Type uint32 // ggml type: 0 F32, 1 F16, 8 Q8_0, 12 Q4_K, …
}

// GGUF writes a GGUF v3 file: magic, version, tensor count, key/value count, the key/values,
// the tensor infos, padding to general.alignment (32), and the tensor data.
func GGUF(kvs []KV, tensors []GGUFTensor) []byte {
	le := binary.LittleEndian
	str := func(b []byte, s string) []byte {
		b = le.AppendUint64(b, uint64(len(s)))
		return append(b, s...)
	}
	b := []byte("GGUF")
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, uint64(len(tensors)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = str(b, kv.Key)
		switch v := kv.Val.(type) {
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
			panic("GGUF: unsupported value type")
		}
	}
	offset := uint64(0)
	sizes := make([]uint64, len(tensors))
	for i, t := range tensors {
		n := uint64(4)
		for _, d := range t.Dims {
			n *= d
		}
		sizes[i] = n
		b = str(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, t.Type)
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

// ONNXSpec describes an ONNX model to write.
type ONNXSpec struct {
	IRVersion       uint64
	Producer        string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	Doc             string
	GraphName       string
	Opsets          map[string]int64
	InlineWeights   int      // bytes of raw_data in an initializer stored inline
	External        []string // external data locations, one initializer each
}

// ONNX writes a ModelProto (onnx.proto3) with protowire: top-level fields in field-number
// order, as protobuf serializers emit them, so opset_import comes after the whole graph.
func ONNX(s ONNXSpec) []byte {
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
	graph = strField(graph, graphName, s.GraphName)
	if s.InlineWeights > 0 {
		var t []byte
		dims := protowire.AppendVarint(nil, uint64(s.InlineWeights/4))
		t = msg(t, 1, dims) // packed repeated int64 dims
		t = varint(t, 2, 1) // FLOAT
		t = strField(t, 8, "weight")
		raw := make([]byte, s.InlineWeights)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		t = msg(t, 9, raw)
		graph = msg(graph, graphInitializer, t)
	}
	for i, loc := range s.External {
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
	b = varint(b, onnxIRVersion, s.IRVersion)
	b = strField(b, onnxProducerName, s.Producer)
	b = strField(b, onnxProducerVersion, s.ProducerVersion)
	if s.Domain != "" {
		b = strField(b, onnxDomain, s.Domain)
	}
	if s.ModelVersion != 0 {
		b = varint(b, onnxModelVersion, uint64(s.ModelVersion))
	}
	if s.Doc != "" {
		b = strField(b, onnxDocString, s.Doc)
	}
	b = msg(b, onnxGraph, graph)
	domains := make([]string, 0, len(s.Opsets))
	for d := range s.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		var op []byte
		if d != "" {
			op = strField(op, 1, d)
		}
		op = varint(op, 2, uint64(s.Opsets[d]))
		b = msg(b, onnxOpsetImport, op)
	}
	return b
}
