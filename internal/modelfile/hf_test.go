package modelfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testcost"
	"github.com/bom-attest/bom-attest/internal/yamldata"
)

func TestParseHFConfig(t *testing.T) {
	archs := make([]string, 40)
	for i := range archs {
		archs[i] = fmt.Sprintf(`"Arch%d"`, i)
	}
	tests := []struct {
		name string
		data string
		want *HFConfig
		msg  string // an error saying this, when want is nil and msg is not ""
	}{
		{"model", `{"_name_or_path": "org/base", "architectures": ["BertModel"], "model_type": "bert", "torch_dtype": "float16", "vocab_size": 30522}`,
			&HFConfig{NameOrPath: "org/base", ModelType: "bert", Architectures: []string{"BertModel"}, TorchDType: "float16"}, ""},
		{"an application's config", `{"port": 8080, "debug": true}`, nil, ""},
		{"architectures kept up to 32", `{"architectures": [` + strings.Join(archs, ",") + `]}`,
			&HFConfig{Architectures: strings.Split(strings.ReplaceAll(strings.Join(archs[:32], ","), `"`, ""), ",")}, ""},
		{"nested configs", `{"model_type": "llava", "text_config": {"rope_scaling": {"factor": [1, [2, {"x": 3}]]}}}`, &HFConfig{ModelType: "llava"}, ""},
		{"brackets in strings do not nest", `{"model_type": "` + strings.Repeat("[{", 200) + `\"]"}`, &HFConfig{ModelType: strings.Repeat("[{", 200) + `"]`}, ""},
		{"not JSON", `{"model_type": `, nil, "config.json: unexpected end of JSON input"},
		{"wrong type", `{"architectures": "BertModel"}`, nil, "config.json: json: cannot unmarshal"},
		{"nested too deep", `{"model_type": "x", "a": ` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`, nil, "nested too deep: more than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkReader(t, readHFConfig, tt.data, tt.want, "config.json: ", tt.msg)
		})
	}
}

// checkReader reads data with read and checks the header is want (nil: none), or, when msg is
// not "", that the error starts with prefix and says msg.
func checkReader[T Header](t *testing.T, read Reader, data string, want T, prefix, msg string) {
	t.Helper()
	h, err := read(strings.NewReader(data), int64(len(data)))
	if msg != "" {
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), msg) {
			t.Fatalf("error %v, want one saying %q", err, msg)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(want).IsNil() {
		if h != nil {
			t.Fatalf("got %+v, want no header", h)
		}
		return
	}
	if !reflect.DeepEqual(h, Header(want)) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
}

// TestReadHFConfigTooLarge: a config.json over the limit is refused, not truncated (a truncated
// document would be misread) and not read whole.
func TestReadHFConfigTooLarge(t *testing.T) {
	big := io.MultiReader(strings.NewReader(`{"model_type": "bert", "pad": "`), zeros{})
	_, err := readHFConfig(big, -1)
	if err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Fatalf("error %v, want larger than 4 MiB", err)
	}
}

// zeros is an endless stream, as /dev/zero would be.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestParseModelCard(t *testing.T) {
	full := "---\nlicense: other\nlicense_name: llama3.2\ndatasets:\n  - stanfordnlp/imdb\n  - ''\nbase_model: meta-llama/Llama-3.2-1B\npipeline_tag: text-generation\nlanguage: [en, de]\ntags: [a, b]\n---\n# Card\n"
	tests := []struct {
		name string
		data string
		want *ModelCard
		msg  string
	}{
		{"card", full, &ModelCard{Licenses: []string{"other"}, LicenseName: "llama3.2", Datasets: []string{"stanfordnlp/imdb"},
			BaseModels: []string{"meta-llama/Llama-3.2-1B"}, PipelineTag: "text-generation", Languages: []string{"en", "de"}}, ""},
		{"byte order mark and CRLF", "\ufeff---\r\nlicense: mit\r\n---\r\n", &ModelCard{Licenses: []string{"mit"}}, ""},
		{"no front matter", "# just a README\n", nil, ""},
		{"unterminated front matter", "---\nlicense: mit\n", nil, ""},
		{"empty front matter", "---\n---\n", &ModelCard{}, ""},
		{"null values", "---\nlicense:\nbase_model: ~\n---\n", &ModelCard{}, ""},
		{"anchor", "---\nlicense: &l mit\ndatasets: [*l]\n---\n", nil, "line 2: YAML anchors and aliases are not allowed: &l"},
		{"not a mapping", "---\n- a\n- b\n---\n", nil, "line 2: not a mapping"},
		{"lines of the README", "\n\n---\ntags: [a]\nlicense: &l mit\n---\n", nil, "line 5: YAML anchors"},
		{"duplicate key", "---\nlicense: mit\nlicense: apache-2.0\n---\n", nil, `line 3: key "license" appears twice`},
		{"nested too deep", "---\nx: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n---\n", nil, "nested too deep"},
		{"not YAML", "---\nlicense: [mit\n---\n", nil, "not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkReader(t, readModelCard, tt.data, tt.want, "README.md front matter: ", tt.msg)
		})
	}
}

// TestModelCardHostile: a card from an image that is a billion laughs, or endless, costs what its
// first megabyte costs.
func TestModelCardHostile(t *testing.T) {
	var laughs strings.Builder
	laughs.WriteString("---\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&laughs, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	laughs.WriteString("license: [")
	for laughs.Len() < 200<<10 {
		laughs.WriteString("*l8, ")
	}
	laughs.WriteString("*l8]\n---\n")
	tests := map[string]io.Reader{
		"billion laughs": strings.NewReader(laughs.String()),
		"endless":        io.MultiReader(strings.NewReader("---\nlicense: mit\n"), zeros{}),
		"endless line":   io.MultiReader(strings.NewReader("---\nlicense: "), bytes.NewReader(bytes.Repeat([]byte("a"), 8<<20))),
	}
	for name, r := range tests {
		var err error
		took, alloc := testcost.Measure(func() { _, err = readModelCard(r, -1) })
		if name == "billion laughs" && !errors.Is(err, yamldata.ErrAlias) {
			t.Errorf("%s: %v; want the aliases refused", name, err)
		}
		if took > time.Second {
			t.Errorf("%s: took %v of CPU", name, took)
		}
		if alloc > 64<<20 {
			t.Errorf("%s: allocated %d MiB", name, alloc>>20)
		}
	}
}

func FuzzHFConfig(f *testing.F) {
	fuzzParser(f, binaryPerByte, readConfig,
		[]byte(`{"_name_or_path": "org/base", "architectures": ["BertModel"], "model_type": "bert", "torch_dtype": "float16"}`),
		[]byte(`{"text_config": {"architectures": [["x"]]}, "model_type": "\"[{"}`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`{"architectures": "x"}`),
	)
}

func FuzzModelCard(f *testing.F) {
	fuzzParser(f, yamlPerByte, readCard,
		[]byte("---\nlicense: apache-2.0\ndatasets:\n  - stanfordnlp/imdb\nbase_model: [a/b, c/d]\npipeline_tag: text-classification\nlanguage: en\n---\n# card\n"),
		[]byte("---\nlicense: &l mit\ndatasets: [*l, *l]\n---\n"),
		[]byte("---\nx: [[[[[[[[[[{a: {b: [1]}}]]]]]]]]]]\n---\n"),
		[]byte("\ufeff---\r\nlicense:\r\n  - mit\r\n  - ~\r\n---"),
		[]byte("---\n- a\n---\n"),
	)
}

func readConfig(r io.Reader, size int64) error { _, err := readHFConfig(r, size); return err }
func readCard(r io.Reader, size int64) error   { _, err := readModelCard(r, size); return err }
