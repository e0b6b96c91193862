package modelfile

import (
	"io"
	"path"
	"slices"
	"strings"
)

// Role says how a file takes part in a model.
type Role int

const (
	// Weights is a weight file: hashed whole, its header read from the same stream, and
	// searched for everywhere in an image by the scan.
	Weights Role = iota + 1
	// Companion is a small file beside the weights that describes them (config.json, the model
	// card); it is read, not hashed.
	Companion
)

// A Reader reads what one file says about its model from a stream of the file's bytes. size is
// the file's size, negative when unknown; every length the file claims is checked against it.
// A Reader returns a nil Header and no error for a file that is not a model's (an
// application's config.json, a README without front matter).
type Reader func(r io.Reader, size int64) (Header, error)

// Header is what one file says about its model: *Safetensors, *GGUF, *ONNX, *HFConfig or
// *ModelCard.
type Header interface {
	// Format is the name of the format that read it, as Format.Name.
	Format() string
}

// Parts is implemented by a header that names other files holding part of the model (an ONNX
// model's external data), as the file wrote them: relative to its directory, and untrusted.
type Parts interface {
	Parts() []string
}

// Format is one kind of file the model stage reads, chosen by file name as Syft's catalogers
// are: adding a format is adding an entry to formats.
type Format struct {
	Name string // safetensors, gguf, …; the ML-BOM's model:format
	// Pattern matches the file's base name (path.Match): "*.gguf". A companion's pattern is a
	// literal name, looked for beside the weights.
	Pattern string
	Role    Role
	Read    Reader
}

// Glob is the pattern that finds the format's files anywhere in an image.
func (f Format) Glob() string { return "**/" + f.Pattern }

var formats = []Format{
	{Name: "safetensors", Pattern: "*.safetensors", Role: Weights, Read: header(parseSafetensors)},
	{Name: "gguf", Pattern: "*.gguf", Role: Weights, Read: header(parseGGUF)},
	{Name: "onnx", Pattern: "*.onnx", Role: Weights, Read: header(parseONNX)},
	{Name: "config.json", Pattern: "config.json", Role: Companion, Read: readHFConfig},
	{Name: "README.md", Pattern: "README.md", Role: Companion, Read: readModelCard},
}

// header adapts a parser of one concrete header type to a Reader.
func header[T Header](parse func(io.Reader, int64) (T, error)) Reader {
	return func(r io.Reader, size int64) (Header, error) {
		h, err := parse(r, size)
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// otherWeights are weight files no reader knows (PyTorch, TensorFlow, Keras, external data, …):
// under a declared directory they are hashed as the model's weights, but the scan does not
// look for them, since most of these extensions also name files that are not models.
var otherWeights = []string{
	".onnx_data", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".keras", ".pb", ".tflite", ".msgpack",
	".mlmodel", ".pte", ".npz", ".ggml", ".llamafile", ".ot", ".params", ".joblib", ".pkl",
	".pickle", ".mar", ".nemo", ".engine", ".plan",
}

// Lookup finds the format of the file at p by its base name.
func Lookup(p string) (Format, bool) {
	base := path.Base(p)
	for _, f := range formats {
		if ok, _ := path.Match(f.Pattern, strings.ToLower(base)); ok && f.Role == Weights {
			return f, true
		}
		if f.Role == Companion && base == f.Pattern {
			return f, true
		}
	}
	return Format{}, false
}

// Of lists the formats with the given role, in registry order.
func Of(role Role) []Format {
	var out []Format
	for _, f := range formats {
		if f.Role == role {
			out = append(out, f)
		}
	}
	return out
}

// ScanGlobs are the globs the image scan searches for: every weight format with a reader.
func ScanGlobs() []string {
	var out []string
	for _, f := range Of(Weights) {
		out = append(out, f.Glob())
	}
	return out
}

// IsWeights reports whether the file at p holds model weights, by its extension: a format with
// a reader, or one of the formats hashed without reading them.
func IsWeights(p string) bool {
	if f, ok := Lookup(p); ok {
		return f.Role == Weights
	}
	return slices.Contains(otherWeights, strings.ToLower(path.Ext(p)))
}

// WeightExtensions lists the extensions IsWeights accepts, sorted, for error messages.
func WeightExtensions() []string {
	out := slices.Clone(otherWeights)
	for _, f := range Of(Weights) {
		out = append(out, strings.TrimPrefix(f.Pattern, "*"))
	}
	slices.Sort(out)
	return out
}
