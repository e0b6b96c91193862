package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	mft "github.com/bom-attest/bom-attest/internal/modelfile/modelfiletest"
)

func TestParseSafetensors(t *testing.T) {
	good := mft.Safetensors(map[string]string{"format": "pt", "producer": "unit-test"},
		mft.Tensor{Name: "embed.weight", DType: "F16", Shape: []int{16, 8}},
		mft.Tensor{Name: "lm_head.weight", DType: "BF16", Shape: []int{8, 4}},
		mft.Tensor{Name: "norm.bias", DType: "F32", Shape: []int{8}},
	)
	hdrLen := binary.LittleEndian.Uint64(good)
	withLen := func(n uint64) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want *Safetensors
		err  error // nil: parses; errTruncated or a message match below
		msg  string
	}{
		{"three tensors", good, &Safetensors{Tensors: 3, Parameters: 128 + 32 + 8, DTypes: []string{"BF16", "F16", "F32"}, Metadata: map[string]string{"format": "pt", "producer": "unit-test"}}, nil, ""},
		{"no metadata", mft.Safetensors(nil, mft.Tensor{Name: "w", DType: "I8", Shape: []int{3, 3}}), &Safetensors{Tensors: 1, Parameters: 9, DTypes: []string{"I8"}}, nil, ""},
		{"scalar tensor", mft.Safetensors(nil, mft.Tensor{Name: "s", DType: "F32", Shape: []int{}}), &Safetensors{Tensors: 1, Parameters: 1, DTypes: []string{"F32"}}, nil, ""},
		{"empty file", nil, nil, errTruncated, ""},
		{"length past file", withLen(hdrLen + 1<<20), nil, errTruncated, ""},
		{"length over cap", withLen(1 << 40), nil, nil, "over the"},
		{"length u64 max", withLen(math.MaxUint64), nil, nil, "over the"},
		{"length zero", withLen(0), nil, nil, "too small"},
		{"not json", append(binary.LittleEndian.AppendUint64(nil, 8), "notjson!"...), nil, nil, "not a JSON object"},
		{"offsets past data", func() []byte {
			js := []byte(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1600]}}`)
			return append(binary.LittleEndian.AppendUint64(nil, uint64(len(js))), js...)
		}(), nil, errTruncated, ""},
		{"bad offsets", func() []byte {
			js := []byte(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`)
			return append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(js))), js...), 0, 0, 0, 0)
		}(), nil, nil, "data_offsets"},
		{"huge shape saturates", func() []byte {
			js := []byte(`{"w":{"dtype":"F32","shape":[18446744073709551615,18446744073709551615],"data_offsets":[0,0]}}`)
			return append(binary.LittleEndian.AppendUint64(nil, uint64(len(js))), js...)
		}(), &Safetensors{Tensors: 1, Parameters: math.MaxUint64, DTypes: []string{"F32"}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSafetensors(bytes.NewReader(tt.data), int64(len(tt.data)))
			checkParse(t, got, err, tt.want, tt.err, tt.msg)
		})
	}
}

func TestParseGGUF(t *testing.T) {
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = strings.Repeat("t", i%17)
	}
	good := mft.GGUF([]mft.KV{
		{Key: "general.architecture", Val: "llama"},
		{Key: "general.name", Val: "Tiny Llama Chat"},
		{Key: "general.version", Val: "v1.1"},
		{Key: "general.license", Val: "apache-2.0"},
		{Key: "general.file_type", Val: uint32(15)},
		{Key: "general.base_model.count", Val: uint32(1)},
		{Key: "general.base_model.0.name", Val: "TinyLlama 1.1B"},
		{Key: "general.base_model.0.organization", Val: "TinyLlama"},
		{Key: "general.base_model.0.repo_url", Val: "https://huggingface.co/TinyLlama/TinyLlama-1.1B-intermediate"},
		{Key: "general.dataset.count", Val: uint32(1)},
		{Key: "general.dataset.0.name", Val: "SlimPajama"},
		{Key: "general.dataset.0.repo_url", Val: "https://huggingface.co/datasets/cerebras/SlimPajama-627B"},
		{Key: "llama.context_length", Val: uint32(2048)},
		{Key: "llama.rope.freq_base", Val: float32(10000)},
		{Key: "tokenizer.ggml.tokens", Val: vocab},
		{Key: "tokenizer.ggml.token_type", Val: []uint32{1, 2, 3}},
		{Key: "general.quantized", Val: true},
	}, []mft.GGUFTensor{
		{Name: "token_embd.weight", Dims: []uint64{64, 32}, Type: 12},
		{Name: "output_norm.weight", Dims: []uint64{64}, Type: 0},
	})
	tests := []struct {
		name string
		data []byte
		want *GGUF
		err  error
		msg  string
	}{
		{"llama", good, &GGUF{
			Version: 3, Tensors: 2, Parameters: 64*32 + 64, Architecture: "llama", Name: "Tiny Llama Chat", ModelVersion: "v1.1",
			License: "apache-2.0", Quantization: "Q4_K_M", ContextLength: 2048,
			BaseModels: []string{"TinyLlama/TinyLlama-1.1B-intermediate"}, Datasets: []string{"cerebras/SlimPajama-627B"},
			DTypes: []string{"F32", "Q4_K"},
		}, nil, ""},
		{"no file type: dominant tensor type", mft.GGUF([]mft.KV{{Key: "general.architecture", Val: "qwen2"}}, []mft.GGUFTensor{{Name: "a", Dims: []uint64{100}, Type: 8}, {Name: "b", Dims: []uint64{10}, Type: 0}}),
			&GGUF{Version: 3, Tensors: 2, Parameters: 110, Architecture: "qwen2", Quantization: "Q8_0", DTypes: []string{"F32", "Q8_0"}}, nil, ""},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), nil, nil, "not a GGUF file"},
		{"version 1", append([]byte("GGUF"), 1, 0, 0, 0), nil, nil, "version 1"},
		{"truncated", good[:len(good)/3], nil, errTruncated, ""},
		{"kv count over cap", ggufHeaderOnly(0, 1<<40), nil, nil, "key/values"},
		{"tensor count over cap", ggufHeaderOnly(1<<40, 0), nil, nil, "tensors"},
		{"tensor count with no tensors", ggufHeaderOnly(1000, 0), nil, errTruncated, ""},
		{"key length u64 max", append(ggufHeaderOnly(0, 1), le64(math.MaxUint64)...), nil, nil, "key is"},
		{"string value longer than file", ggufOneKV(ggufString, le64(1<<50)), nil, errTruncated, ""},
		{"array count longer than file", ggufOneKV(ggufArray, append(le32(ggufString), le64(1<<60)...)), nil, errTruncated, ""},
		{"array of u64 count overflow", ggufOneKV(ggufArray, append(le32(ggufU64), le64(math.MaxUint64)...)), nil, errTruncated, ""},
		{"nested arrays too deep", ggufOneKV(ggufArray, bytes.Repeat(append(le32(ggufArray), le64(1)...), 6)), nil, nil, "nested deeper"},
		{"unknown value type", ggufOneKV(99, nil), nil, nil, "unknown value type"},
		{"too many dims", append(ggufHeaderOnly(1, 0), append(append(le64(1), 'x'), le32(1000)...)...), nil, nil, "dimensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGGUF(bytes.NewReader(tt.data), int64(len(tt.data)))
			checkParse(t, got, err, tt.want, tt.err, tt.msg)
		})
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func ggufHeaderOnly(tensors, kvs uint64) []byte {
	b := append([]byte("GGUF"), le32(3)...)
	b = append(b, le64(tensors)...)
	return append(b, le64(kvs)...)
}

// ggufOneKV is a header with one key/value of type typ whose encoded value is body.
func ggufOneKV(typ uint32, body []byte) []byte {
	b := ggufHeaderOnly(0, 1)
	b = append(b, le64(3)...)
	b = append(b, "k.k"...)
	b = append(b, le32(typ)...)
	return append(b, body...)
}

func TestParseONNX(t *testing.T) {
	spec := mft.ONNXSpec{
		IRVersion: 9, Producer: "pytorch", ProducerVersion: "2.4.0", Domain: "ai.example", ModelVersion: 3,
		Doc: "tiny sentiment classifier", GraphName: "main_graph", Opsets: map[string]int64{"": 17, "com.microsoft": 1},
		InlineWeights: 4096, External: []string{"model.onnx_data", "../escape.bin"},
	}
	good := mft.ONNX(spec)
	tests := []struct {
		name string
		data []byte
		want *ONNX
		err  error
		msg  string
	}{
		{"model", good, &ONNX{
			IRVersion: 9, ProducerName: "pytorch", ProducerVersion: "2.4.0", Domain: "ai.example", ModelVersion: 3,
			DocString: "tiny sentiment classifier", GraphName: "main_graph", Opsets: []string{"ai.onnx=17", "com.microsoft=1"},
			External: []string{"model.onnx_data", "../escape.bin"},
		}, nil, ""},
		{"empty", nil, nil, nil, "not an ONNX model"},
		{"truncated in graph", good[:len(good)/2], nil, errTruncated, ""},
		{"graph length beyond file", append(protowire.AppendTag(nil, onnxGraph, protowire.BytesType), protowire.AppendVarint(nil, 1<<62)...), nil, errTruncated, ""},
		{"string length beyond file", append(protowire.AppendTag(nil, onnxProducerName, protowire.BytesType), protowire.AppendVarint(nil, 1<<20)...), nil, errTruncated, ""},
		{"group wire type", protowire.AppendTag(nil, 9, protowire.StartGroupType), nil, nil, "wire type"},
		{"field zero", []byte{0x00}, nil, nil, "invalid field number"},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), nil, nil, "overflow"},
		{"graph field overruns graph", func() []byte {
			inner := protowire.AppendTag(nil, graphName, protowire.BytesType)
			inner = protowire.AppendVarint(inner, 50) // claims 50 bytes; the graph holds 2 more
			inner = append(inner, "ab"...)
			b := protowire.AppendTag(nil, onnxGraph, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(len(inner)))
			return append(append(b, inner...), make([]byte, 60)...)
		}(), nil, errTruncated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseONNX(bytes.NewReader(tt.data), int64(len(tt.data)))
			checkParse(t, got, err, tt.want, tt.err, tt.msg)
		})
	}
}

func checkParse[T any](t *testing.T, got *T, err error, want *T, wantErr error, msg string) {
	t.Helper()
	if want != nil {
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parse = %+v\nwant   %+v", got, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("parse = %+v, want an error", got)
	}
	if wantErr != nil && !errors.Is(err, wantErr) {
		t.Fatalf("parse error %v, want %v", err, wantErr)
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Fatalf("parse error %q does not mention %q", err, msg)
	}
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileLengthsStayBounded feeds each parser files that claim huge lengths and counts, with
// and without a known file size (a stream), and checks that memory follows the bytes present.
func TestHostileLengthsStayBounded(t *testing.T) {
	hostile := map[string]struct {
		parse func(io.Reader, int64) error
		data  []byte
	}{
		"safetensors header 99 MiB claimed": {parseST, le64(99 << 20)},
		"safetensors header u64 max":        {parseST, le64(math.MaxUint64)},
		"gguf 1M key/values claimed":        {parseGG, ggufHeaderOnly(0, maxGGUFKV)},
		"gguf 4M tensors claimed":           {parseGG, ggufHeaderOnly(maxGGUFTensors, 0)},
		"gguf key 64 KiB claimed":           {parseGG, append(ggufHeaderOnly(0, 1), le64(maxGGUFKeyLen)...)},
		"gguf string 2^50 claimed":          {parseGG, ggufOneKV(ggufString, le64(1<<50))},
		"gguf array 2^60 strings":           {parseGG, ggufOneKV(ggufArray, append(le32(ggufString), le64(1<<60)...))},
		"gguf tensor name 64 KiB claimed":   {parseGG, append(ggufHeaderOnly(1, 0), le64(maxGGUFTensorName)...)},
		"onnx graph 2^62 claimed":           {parseOX, append(protowire.AppendTag(nil, onnxGraph, protowire.BytesType), protowire.AppendVarint(nil, 1<<62)...)},
		"onnx doc string 2^40 claimed":      {parseOX, append(protowire.AppendTag(nil, onnxDocString, protowire.BytesType), protowire.AppendVarint(nil, 1<<40)...)},
		"onnx initializer 64 KiB claimed": {parseOX, func() []byte {
			inner := protowire.AppendTag(nil, graphInitializer, protowire.BytesType)
			inner = protowire.AppendVarint(inner, maxONNXInitHeader)
			b := protowire.AppendTag(nil, onnxGraph, protowire.BytesType)
			b = protowire.AppendVarint(b, maxONNXInitHeader+8)
			return append(b, inner...)
		}()},
	}
	const limit = 256 << 10
	for name, h := range hostile {
		for _, size := range []int64{int64(len(h.data)), -1} {
			var err error
			n := allocated(func() { err = h.parse(bytes.NewReader(h.data), size) })
			if err == nil {
				t.Errorf("%s (size %d): parsed without error", name, size)
			}
			if n > limit {
				t.Errorf("%s (size %d): allocated %d bytes for a %d-byte file (limit %d)", name, size, n, len(h.data), limit)
			}
		}
	}
}

func parseST(r io.Reader, size int64) error { _, err := parseSafetensors(r, size); return err }
func parseGG(r io.Reader, size int64) error { _, err := parseGGUF(r, size); return err }
func parseOX(r io.Reader, size int64) error { _, err := parseONNX(r, size); return err }

// Allocation budgets for fuzzing: a parser may allocate a fixed allowance for buffers plus a
// multiple of its input, never more. JSON decoding builds maps from what is there; a YAML
// parser builds a node of a few hundred bytes for a token as short as two.
const (
	binaryPerByte = 64
	yamlPerByte   = 512
)

func fuzzParser(f *testing.F, perByte uint64, parse func(io.Reader, int64) error, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	// runtime/metrics reads the allocation counter without stopping the world, which keeps
	// the fuzzer fast; ReadMemStats would dominate each run.
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocs := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), -1} {
			before := allocs()
			_ = parse(bytes.NewReader(data), size)
			if n := allocs() - before; n > 1<<20+perByte*uint64(len(data)) {
				t.Fatalf("size %d: allocated %d bytes for %d bytes of input", size, n, len(data))
			}
		}
	})
}

func FuzzSafetensorsHeader(f *testing.F) {
	fuzzParser(f, binaryPerByte, parseST,
		mft.Safetensors(map[string]string{"format": "pt"}, mft.Tensor{Name: "a", DType: "F16", Shape: []int{4, 4}}, mft.Tensor{Name: "b", DType: "F32", Shape: []int{2}}),
		mft.Safetensors(nil, mft.Tensor{Name: "s", DType: "I8", Shape: nil}),
		le64(math.MaxUint64),
		append(le64(1<<26), `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`...),
		append(le64(60), `{"__metadata__":{"k":[1,2]},"a":{"shape":[99999999999999999999]}}`...),
	)
}

func FuzzGGUFHeader(f *testing.F) {
	fuzzParser(f, binaryPerByte, parseGG,
		mft.GGUF([]mft.KV{{Key: "general.architecture", Val: "llama"}, {Key: "llama.context_length", Val: uint32(4096)}, {Key: "general.file_type", Val: uint32(7)}, {Key: "tokenizer.ggml.tokens", Val: []string{"a", "bb", ""}}},
			[]mft.GGUFTensor{{Name: "w", Dims: []uint64{8, 8}, Type: 8}}),
		ggufHeaderOnly(math.MaxUint64, math.MaxUint64),
		ggufOneKV(ggufArray, append(le32(ggufArray), le64(1<<40)...)),
		ggufOneKV(ggufString, le64(math.MaxUint64)),
		append(ggufHeaderOnly(1, 0), append(le64(1), 'w', 4, 0, 0, 0)...),
	)
}

func FuzzONNXHeader(f *testing.F) {
	fuzzParser(f, binaryPerByte, parseOX,
		mft.ONNX(mft.ONNXSpec{IRVersion: 8, Producer: "skl2onnx", GraphName: "g", Opsets: map[string]int64{"": 13}, InlineWeights: 64, External: []string{"w.bin"}}),
		append(protowire.AppendTag(nil, onnxGraph, protowire.BytesType), protowire.AppendVarint(nil, math.MaxUint64)...),
		append(protowire.AppendTag(nil, onnxOpsetImport, protowire.BytesType), protowire.AppendVarint(nil, 1<<30)...),
		bytes.Repeat([]byte{0x3a, 0x02, 0x2a, 0x00}, 8),
	)
}
