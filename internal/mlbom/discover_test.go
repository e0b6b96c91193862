package mlbom

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/modelfile"
	mft "github.com/bom-attest/bom-attest/internal/modelfile/modelfiletest"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

func TestDiscoverFullImage(t *testing.T) {
	m := loadFull(t, t.TempDir(), fullVars())
	found := fullImage.discover(t, m, true)
	_, diffs := fullImage.layout(t)

	type want struct {
		name, version, purl, format, declared string
		files                                 map[string][]byte // path → content, to check hashes
		layers                                []int             // layer index of each file, in path order
	}
	snapshot := miniLMRepo + "/snapshots/" + miniLMRevision
	wants := map[string]want{
		"/opt/models/sentiment-ft": {name: "sentiment-ft", format: "safetensors", declared: "/opt/models/sentiment-ft",
			files: map[string][]byte{"/opt/models/sentiment-ft/model.safetensors": sentimentWeights}, layers: []int{1}},
		"/opt/models/legacy": {name: "legacy", format: "bin", declared: "/opt/models/legacy",
			files: map[string][]byte{"/opt/models/legacy/pytorch_model.bin": legacyWeights}, layers: []int{1}},
		"/opt/models/summarizer": {name: "summarizer", format: "safetensors",
			files: map[string][]byte{
				"/opt/models/summarizer/model-00001-of-00003.safetensors": summarizerShards[0],
				"/opt/models/summarizer/model-00002-of-00003.safetensors": summarizerShards[1],
				"/opt/models/summarizer/model-00003-of-00003.safetensors": summarizerShards[2],
			}, layers: []int{1, 1, 2}},
		"/opt/models/llm|tinyllama-q4_k_m": {name: "tinyllama-q4_k_m", version: "v1.0", format: "gguf",
			files: map[string][]byte{"/opt/models/llm/tinyllama-q4_k_m.gguf": ggufQ4}, layers: []int{2}},
		"/opt/models/llm|tinyllama-q8_0": {name: "tinyllama-q8_0", format: "gguf",
			files: map[string][]byte{"/opt/models/llm/tinyllama-q8_0.gguf": ggufQ8}, layers: []int{2}},
		"/srv/embedder/onnx": {name: "embedder", format: "onnx",
			files: map[string][]byte{"/srv/embedder/onnx/model.onnx": embedderONNX, "/srv/embedder/onnx/model.onnx_data": embedderData}, layers: []int{2, 2}},
		snapshot: {name: "sentence-transformers/all-MiniLM-L6-v2", version: miniLMRevision, format: "safetensors",
			purl:  "pkg:huggingface/sentence-transformers/all-MiniLM-L6-v2@" + miniLMRevision,
			files: map[string][]byte{snapshot + "/model.safetensors": miniLMWeights}, layers: []int{2}},
	}
	if len(found) != len(wants) {
		var got []string
		for _, f := range found {
			got = append(got, describeFound(f))
		}
		t.Fatalf("found %d models, want %d:\n%s", len(found), len(wants), strings.Join(got, "\n"))
	}
	// Declared paths come first, in manifest order.
	if found[0].Declared != "/opt/models/sentiment-ft" || found[1].Declared != "/opt/models/legacy" {
		t.Errorf("declared models not first: %s, %s", describeFound(found[0]), describeFound(found[1]))
	}
	for _, f := range found {
		key := f.Dir
		if f.Format == "gguf" {
			key += "|" + f.Name
		}
		w, ok := wants[key]
		if !ok {
			t.Errorf("unexpected model %s", describeFound(f))
			continue
		}
		if f.Name != w.name || f.Version != w.version || f.PURL != w.purl || f.Format != w.format || f.Declared != w.declared {
			t.Errorf("model at %s = %+v, want %+v", key, f, w)
		}
		if len(f.Problems) > 0 {
			t.Errorf("model at %s has problems: %v", key, f.Problems)
		}
		if len(f.Files) != len(w.files) {
			t.Errorf("model at %s has %d files, want %d", key, len(f.Files), len(w.files))
			continue
		}
		for i, wf := range f.Files {
			body, ok := w.files[wf.Path]
			if !ok {
				t.Errorf("model at %s: unexpected file %s", key, wf.Path)
				continue
			}
			if wf.SHA256 != sha256Hex(body) || wf.SHA512 != sha512Hex(body) || wf.Size != int64(len(body)) {
				t.Errorf("%s: sha256 %s sha512 %.16s… size %d, want %s %.16s… %d", wf.Path, wf.SHA256, wf.SHA512, wf.Size, sha256Hex(body), sha512Hex(body), len(body))
			}
			if wf.Layer != diffs[w.layers[i]] {
				t.Errorf("%s: layer %s, want %s (layer %d)", wf.Path, wf.Layer, diffs[w.layers[i]], w.layers[i])
			}
		}
	}
	// What the headers and companion files said is kept for Build.
	for _, f := range found {
		config, card := firstOf[*modelfile.HFConfig](&f), firstOf[*modelfile.ModelCard](&f)
		safetensors, onnx := headersOf[*modelfile.Safetensors](&f), headersOf[*modelfile.ONNX](&f)
		switch f.Dir {
		case "/opt/models/sentiment-ft":
			if config == nil || config.ModelType != "distilbert" || card == nil || card.PipelineTag != "text-classification" || len(safetensors) != 1 {
				t.Errorf("sentiment-ft: config %+v readme %+v headers %d", config, card, len(safetensors))
			}
		case "/opt/models/summarizer":
			if len(safetensors) != 3 || config == nil || config.ModelType != "t5" {
				t.Errorf("summarizer: %d headers, config %+v", len(safetensors), config)
			}
		case "/srv/embedder/onnx":
			if len(onnx) != 1 || onnx[0].GraphName != "main_graph" || config == nil || card == nil {
				t.Errorf("embedder: onnx %+v config %+v readme %+v", onnx, config, card)
			}
		}
	}
}

func TestDiscoverDeclaredOnly(t *testing.T) {
	m := loadFull(t, t.TempDir(), fullVars())
	found := fullImage.discover(t, m, false)
	if len(found) != 2 || found[0].Declared != "/opt/models/sentiment-ft" || found[1].Declared != "/opt/models/legacy" {
		var got []string
		for _, f := range found {
			got = append(got, describeFound(f))
		}
		t.Fatalf("with the scan off, found %v; want only the two declared paths", got)
	}
	if found, err := Discover(context.Background(), fullImage.resolver(t), nil, DiscoverOptions{}); err != nil || len(found) != 0 {
		t.Fatalf("no manifest, no scan: %v, %v", found, err)
	}
}

func TestDiscoverDeclaredShard(t *testing.T) {
	m := manifestFrom(t, "models:\n  - name: summarizer\n    path: /opt/models/summarizer/model-00002-of-00003.safetensors\n")
	found := fullImage.discover(t, m, false)
	if len(found) != 1 || len(found[0].Files) != 3 {
		t.Fatalf("declaring one shard found %v; want the model with all three shards", found)
	}
}

func TestDiscoverBadPaths(t *testing.T) {
	tests := []struct {
		name, manifest string
		err            error
		want           string
	}{
		{"not in image", "models:\n  - name: m\n    path: /opt/models/nope\n", modelmanifest.ErrPath, "models[0].path: /opt/models/nope is not in the image"},
		{"no weights there", "models:\n  - name: a\n    purl: pkg:huggingface/a/a@1\n  - name: m\n    path: /etc\n", modelmanifest.ErrPath, "models[1].path: /etc holds no model weight files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := manifestFrom(t, tt.manifest)
			_, err := Discover(context.Background(), fullImage.resolver(t), m, DiscoverOptions{Scan: true})
			if !errors.Is(err, tt.err) || !errors.Is(err, modelmanifest.ErrManifest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Discover error %v, want %v saying %q", err, tt.err, tt.want)
			}
			if !strings.Contains(err.Error(), "m.yaml:") {
				t.Errorf("error %q does not point into the manifest", err)
			}
		})
	}
}

// TestDiscoverUnreadableHeaders: a file that claims to be a model but is not is still hashed and
// listed, with the parse problem reported instead of failing the run.
func TestDiscoverUnreadableHeaders(t *testing.T) {
	img := &testImage{layers: [][]testimage.File{{
		{Path: "/models/broken/model.safetensors", Body: append(binary.LittleEndian.AppendUint64(nil, 1<<40), "{}"...)},
		{Path: "/models/fake.onnx", Body: []byte("<html>not a model</html>")},
		{Path: "/models/empty.gguf", Body: nil},
		{Path: "/models/bad-onnx-data/model.onnx", Body: mft.ONNX(mft.ONNXSpec{IRVersion: 8, GraphName: "g", External: []string{"../../etc/passwd", "missing.bin"}})},
	}}}
	t.Cleanup(func() { os.RemoveAll(img.dir) })
	found := img.discover(t, nil, true)
	if len(found) != 4 {
		t.Fatalf("found %d models, want 4", len(found))
	}
	problems := map[string]string{
		"/models/bad-onnx-data": "leaves the model's directory",
		"/models/broken":        "over the 104857600-byte limit",
		"/models|empty":         "gguf: magic",
		"/models|fake":          "onnx:",
	}
	for _, f := range found {
		key := f.Dir
		if f.Dir == "/models" {
			key += "|" + f.Name
		}
		want, ok := problems[key]
		if !ok {
			t.Errorf("unexpected model %s", describeFound(f))
			continue
		}
		if len(f.Files) == 0 || f.Files[0].SHA256 == "" {
			t.Errorf("%s not hashed", key)
		}
		if !strings.Contains(strings.Join(f.Problems, "\n"), want) {
			t.Errorf("%s problems %q do not mention %q", key, f.Problems, want)
		}
	}
}

func TestDiscoverCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Discover(ctx, fullImage.resolver(t), nil, DiscoverOptions{Scan: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Discover on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNameModel(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name                string
		dir, file           string
		shared              bool
		f                   Found
		want, version, purl string
	}{
		{name: "own directory", dir: "/opt/models/tiny-llama", file: "model.safetensors", want: "tiny-llama"},
		{name: "weights sub-directory", dir: "/opt/models/tiny-llama/onnx", file: "model.onnx", want: "tiny-llama"},
		{name: "directory is generic, _name_or_path is the base model", dir: "/models", file: "model.safetensors",
			f:    Found{headers: []modelfile.Header{&modelfile.HFConfig{NameOrPath: "org/base"}, &modelfile.ModelCard{BaseModels: []string{"org/base"}}}},
			want: "model"},
		{name: "directory is generic, _name_or_path is its own", dir: "/models", file: "model.safetensors",
			f: Found{headers: []modelfile.Header{&modelfile.HFConfig{NameOrPath: "/work/out/my-finetune"}}}, want: "my-finetune"},
		{name: "gguf header name", dir: "/app/models", file: "q4.gguf",
			f: Found{headers: []modelfile.Header{&modelfile.GGUF{Name: "Llama 3.2 1B Instruct", ModelVersion: "3.2"}}}, want: "Llama 3.2 1B Instruct", version: "3.2"},
		{name: "gguf header names the base model", dir: "/app/models", file: "q4.gguf",
			f: Found{headers: []modelfile.Header{&modelfile.GGUF{Name: "org/base", BaseModels: []string{"org/base"}}}}, want: "q4"},
		{name: "onnx model version", dir: "/srv/clf", file: "clf.onnx", f: Found{headers: []modelfile.Header{&modelfile.ONNX{ModelVersion: 7}}}, want: "clf", version: "7"},
		{name: "shared directory", dir: "/opt/models/llm", file: "tinyllama-q4_k_m.gguf", shared: true, want: "tinyllama-q4_k_m"},
		{name: "shared directory, generic file", dir: "/opt/models/clf", file: "model.onnx", shared: true, want: "clf/model.onnx"},
		{name: "shards", dir: "/opt/models/big", file: "model-00001-of-00009.safetensors", shared: true, want: "big/model.safetensors"},
		{name: "hugging face cache", dir: "/root/.cache/huggingface/hub/models--org--name/snapshots/" + rev, file: "model.safetensors",
			want: "org/name", version: rev, purl: "pkg:huggingface/org/name@" + rev},
		{name: "hugging face cache, no org", dir: "/hf/models--gpt2/snapshots/" + rev + "/onnx", file: "model.onnx",
			want: "gpt2", version: rev, purl: "pkg:huggingface/gpt2@" + rev},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Files = []WeightFile{{Path: tt.dir + "/" + tt.file}}
			name, version, purl := nameModel(&f, &group{dir: tt.dir, shared: tt.shared})
			if name != tt.want || version != tt.version || purl != tt.purl {
				t.Errorf("nameModel = %q, %q, %q; want %q, %q, %q", name, version, purl, tt.want, tt.version, tt.purl)
			}
		})
	}
}
