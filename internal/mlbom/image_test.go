package mlbom

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	mft "github.com/bom-attest/bom-attest/internal/modelfile/modelfiletest"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, img := range []*testImage{tunedImage, fullImage} {
		if img.dir != "" {
			os.RemoveAll(img.dir)
		}
	}
	os.Exit(code)
}

// The model files the test images carry, written from their format specs.
var (
	sentimentWeights = mft.Safetensors(map[string]string{"format": "pt"},
		mft.Tensor{Name: "distilbert.embeddings.word_embeddings.weight", DType: "F32", Shape: []int{32, 16}},
		mft.Tensor{Name: "classifier.weight", DType: "F32", Shape: []int{2, 16}},
		mft.Tensor{Name: "classifier.bias", DType: "F32", Shape: []int{2}},
	)
	sentimentConfig = `{"_name_or_path": "distilbert/distilbert-base-uncased", "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert", "torch_dtype": "float32", "transformers_version": "4.44.0"}`
	sentimentCard   = "---\nlicense: apache-2.0\ndatasets:\n  - stanfordnlp/imdb\nbase_model: distilbert/distilbert-base-uncased\npipeline_tag: text-classification\nlanguage:\n  - en\n---\n# sentiment-ft\n\nFine-tuned on IMDB reviews.\n"

	summarizerShards = [][]byte{
		mft.Safetensors(nil, mft.Tensor{Name: "encoder.block.0.weight", DType: "BF16", Shape: []int{16, 16}}),
		mft.Safetensors(nil, mft.Tensor{Name: "encoder.block.1.weight", DType: "BF16", Shape: []int{16, 16}}, mft.Tensor{Name: "shared.weight", DType: "F32", Shape: []int{8, 16}}),
		mft.Safetensors(nil, mft.Tensor{Name: "decoder.block.0.weight", DType: "BF16", Shape: []int{16, 16}}),
	}
	summarizerConfig = `{"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}`

	ggufQ4 = mft.GGUF([]mft.KV{
		{Key: "general.architecture", Val: "llama"}, {Key: "general.name", Val: "TinyLlama 1.1B Chat"}, {Key: "general.version", Val: "v1.0"},
		{Key: "general.license", Val: "apache-2.0"}, {Key: "general.file_type", Val: uint32(15)},
		{Key: "general.base_model.count", Val: uint32(1)}, {Key: "general.base_model.0.repo_url", Val: "https://huggingface.co/TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"},
		{Key: "general.dataset.count", Val: uint32(1)}, {Key: "general.dataset.0.repo_url", Val: "https://huggingface.co/datasets/cerebras/SlimPajama-627B"},
		{Key: "llama.context_length", Val: uint32(2048)}, {Key: "tokenizer.ggml.tokens", Val: []string{"<unk>", "<s>", "</s>", "hello"}},
	}, []mft.GGUFTensor{{Name: "token_embd.weight", Dims: []uint64{32, 8}, Type: 12}, {Name: "output_norm.weight", Dims: []uint64{32}, Type: 0}})
	ggufQ8 = mft.GGUF([]mft.KV{
		{Key: "general.architecture", Val: "llama"}, {Key: "general.name", Val: "TinyLlama 1.1B Chat"}, {Key: "general.file_type", Val: uint32(7)},
		{Key: "llama.context_length", Val: uint32(2048)},
	}, []mft.GGUFTensor{{Name: "token_embd.weight", Dims: []uint64{32, 8}, Type: 8}, {Name: "output_norm.weight", Dims: []uint64{32}, Type: 0}})

	embedderONNX = mft.ONNX(mft.ONNXSpec{IRVersion: 8, Producer: "pytorch", ProducerVersion: "2.1.0", GraphName: "main_graph",
		Opsets: map[string]int64{"": 14}, InlineWeights: 256, External: []string{"model.onnx_data"}})
	embedderData   = []byte("external tensor data of the embedder, 64 bytes long, more or less")
	embedderConfig = `{"architectures": ["BertModel"], "model_type": "bert"}`
	embedderCard   = "---\nlicense: mit\npipeline_tag: feature-extraction\n---\n"

	miniLMWeights  = mft.Safetensors(nil, mft.Tensor{Name: "embeddings.word_embeddings.weight", DType: "F32", Shape: []int{16, 8}})
	miniLMConfig   = `{"_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"], "model_type": "bert"}`
	miniLMRevision = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
	miniLMRepo     = "/root/.cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2"

	legacyWeights = []byte("PK\x03\x04 not really a pytorch zip, but bytes to hash")
)

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func sha512Hex(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }

func baseLayer() []testimage.File {
	files := []testimage.File{
		testimage.OSRelease("12", "bookworm"),
		testimage.DpkgStatus(
			testimage.DebPackage{Name: "libc6", Version: "2.36-9+deb12u9", InstalledSize: 12000},
			testimage.DebPackage{Name: "python3.11", Version: "3.11.2-6", InstalledSize: 500, Depends: "libc6"},
		),
	}
	return append(files, testimage.DistInfo("/usr/lib/python3/dist-packages", testimage.PythonPackage{Name: "transformers", Version: "4.44.0", License: "Apache-2.0"})...)
}

func sentimentFiles() []testimage.File {
	return []testimage.File{
		{Path: "/opt/models/sentiment-ft/model.safetensors", Body: sentimentWeights},
		{Path: "/opt/models/sentiment-ft/config.json", Body: []byte(sentimentConfig)},
		{Path: "/opt/models/sentiment-ft/README.md", Body: []byte(sentimentCard)},
	}
}

// testImage is an OCI layout built once per test binary and shared by the tests that read it.
type testImage struct {
	layers [][]testimage.File
	name   string // subject name; default registry.example.com/voice-agent
	once   sync.Once
	dir    string
	digest string
	diffs  []string
	err    error
	sbom   map[bool]*cyclonedx.BOM // by SkipModels
	sbomMu sync.Mutex
}

// tunedImage holds OS and Python packages and one small fine-tuned .safetensors model with its
// config.json and model card, which syft names after its base model.
var tunedImage = &testImage{layers: [][]testimage.File{baseLayer(), sentimentFiles()}}

// repoSample is the repository's sample image (testdata/sample/gen.go), which README's first
// command scans: packages and a tiny .safetensors classifier with no config or model card.
var repoSample = &testImage{dir: "../../testdata/sample-image", name: "ghcr.io/bom-attest/sample"}

// fullImage carries every kind of model the scan knows, spread over three layers.
var fullImage = &testImage{layers: [][]testimage.File{
	baseLayer(),
	append(sentimentFiles(),
		testimage.File{Path: "/opt/models/summarizer/model-00001-of-00003.safetensors", Body: summarizerShards[0]},
		testimage.File{Path: "/opt/models/summarizer/model-00002-of-00003.safetensors", Body: summarizerShards[1]},
		testimage.File{Path: "/opt/models/summarizer/model.safetensors.index.json", Body: []byte(`{"metadata": {}, "weight_map": {}}`)},
		testimage.File{Path: "/opt/models/summarizer/config.json", Body: []byte(summarizerConfig)},
		testimage.File{Path: "/opt/models/legacy/pytorch_model.bin", Body: legacyWeights},
		testimage.File{Path: "/opt/models/legacy/config.json", Body: []byte(`{"architectures": ["BertForSequenceClassification"], "model_type": "bert"}`)},
	),
	{
		{Path: "/opt/models/summarizer/model-00003-of-00003.safetensors", Body: summarizerShards[2]},
		{Path: "/opt/models/llm/tinyllama-q4_k_m.gguf", Body: ggufQ4},
		{Path: "/opt/models/llm/tinyllama-q8_0.gguf", Body: ggufQ8},
		{Path: "/srv/embedder/onnx/model.onnx", Body: embedderONNX},
		{Path: "/srv/embedder/onnx/model.onnx_data", Body: embedderData},
		{Path: "/srv/embedder/config.json", Body: []byte(embedderConfig)},
		{Path: "/srv/embedder/README.md", Body: []byte(embedderCard)},
		{Path: miniLMRepo + "/blobs/" + sha256Hex(miniLMWeights), Body: miniLMWeights},
		{Path: miniLMRepo + "/blobs/" + sha256Hex([]byte(miniLMConfig)), Body: []byte(miniLMConfig)},
		{Path: miniLMRepo + "/snapshots/" + miniLMRevision + "/model.safetensors", Link: "../../blobs/" + sha256Hex(miniLMWeights)},
		{Path: miniLMRepo + "/snapshots/" + miniLMRevision + "/config.json", Link: "../../blobs/" + sha256Hex([]byte(miniLMConfig))},
	},
}}

// layout writes the image once and returns its directory and layer diff IDs.
func (img *testImage) layout(t *testing.T) (string, []string) {
	t.Helper()
	img.once.Do(func() {
		if img.layers == nil {
			img.digest, img.err = layoutDigest(img.dir)
			return
		}
		img.dir, img.err = os.MkdirTemp("", "mlbom-image-")
		if img.err != nil {
			return
		}
		i, err := testimage.Layered(v1.Platform{OS: "linux", Architecture: "amd64"}, img.layers...)
		if err != nil {
			img.err = err
			return
		}
		layers, err := i.Layers()
		if err != nil {
			img.err = err
			return
		}
		for _, l := range layers {
			d, err := l.DiffID()
			if err != nil {
				img.err = err
				return
			}
			img.diffs = append(img.diffs, d.String())
		}
		d, err := i.Digest()
		if err != nil {
			img.err = err
			return
		}
		img.digest = d.String()
		img.err = testimage.WriteLayout(img.dir, i)
	})
	if img.err != nil {
		t.Fatalf("build test image: %v", img.err)
	}
	return img.dir, img.diffs
}

// layoutDigest is the digest of the only image in an OCI layout.
func layoutDigest(dir string) (string, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(im.Manifests) != 1 {
		return "", fmt.Errorf("%s holds %d images, want 1", dir, len(im.Manifests))
	}
	return im.Manifests[0].Digest.String(), nil
}

// source opens the image with syft, as the image stage does.
func (img *testImage) source(t *testing.T) source.Source {
	t.Helper()
	dir, _ := img.layout(t)
	// With the provider named, syft takes the bare path (an "oci-dir:" prefix is not stripped).
	src, err := syft.GetSource(context.Background(), dir, syft.DefaultGetSourceConfig().WithSources("oci-dir"))
	if err != nil {
		t.Fatalf("open test image: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func (img *testImage) resolver(t *testing.T) file.Resolver {
	t.Helper()
	r, err := img.source(t).FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// scannedSBOM is the sbom stage's SBOM of the image as the run makes it when the model stage
// runs (Syft's model catalogers off), made once; each caller gets its own copy. The serial
// number, random per run, is pinned so goldens are stable.
func (img *testImage) scannedSBOM(t *testing.T) *cyclonedx.BOM {
	t.Helper()
	return img.generate(t, true)
}

// syftModelsSBOM is the SBOM with Syft's own model components, as another tool (or a run without
// the model stage) makes it.
func (img *testImage) syftModelsSBOM(t *testing.T) *cyclonedx.BOM {
	t.Helper()
	return img.generate(t, false)
}

func (img *testImage) generate(t *testing.T, skipModels bool) *cyclonedx.BOM {
	t.Helper()
	img.sbomMu.Lock()
	defer img.sbomMu.Unlock()
	if img.sbom[skipModels] == nil {
		src := img.source(t)
		name := img.name
		if name == "" {
			name = "registry.example.com/voice-agent"
		}
		res, err := sbom.Generate(context.Background(), src, sbom.Options{
			Subject:     sbom.Subject{Name: name, RepoURL: name, Digest: img.digest, OS: "linux", Arch: "amd64"},
			ToolVersion: "test",
			Timestamp:   testimage.Epoch,
			Namespace:   "bom-attest",
			SkipModels:  skipModels,
		})
		if err != nil {
			t.Fatalf("sbom.Generate: %v", err)
		}
		res.BOM.SerialNumber = "urn:uuid:9b1e4bd6-2f0c-4c55-9d3a-6e8f7d1c2b10"
		if img.sbom == nil {
			img.sbom = map[bool]*cyclonedx.BOM{}
		}
		img.sbom[skipModels] = res.BOM
	}
	return deepCopy(img.sbom[skipModels])
}

// readImageFile reads a file of the image through syft's resolver, independently of Discover.
func readImageFile(t *testing.T, img *testImage, p string) []byte {
	t.Helper()
	r := img.resolver(t)
	locs, err := r.FilesByPath(p)
	if err != nil || len(locs) != 1 {
		t.Fatalf("%s: %v %v", p, locs, err)
	}
	rc, err := r.FileContentsByLocation(locs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// discover runs Discover over the image with the given manifest.
func (img *testImage) discover(t *testing.T, m *modelmanifest.Manifest, scan bool) []Found {
	t.Helper()
	found, err := Discover(context.Background(), img.resolver(t), m, DiscoverOptions{Scan: scan})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return found
}

// manifestDir holds the manifests the model stage's tests share with the manifest package's.
const manifestDir = "../modelmanifest/testdata/good/"

// loadFull loads full.yaml, every manifest field, with its ${…} placeholders filled in.
func loadFull(t *testing.T, dir string, vars map[string]string) *modelmanifest.Manifest {
	t.Helper()
	raw, err := os.ReadFile(manifestDir + "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for k, v := range vars {
		pairs = append(pairs, "${"+k+"}", v)
	}
	return manifestFile(t, dir, "full.yaml", strings.NewReplacer(pairs...).Replace(string(raw)))
}

// manifestFrom loads a manifest written in the test.
func manifestFrom(t *testing.T, doc string) *modelmanifest.Manifest {
	t.Helper()
	return manifestFile(t, t.TempDir(), "m.yaml", doc)
}

func manifestFile(t *testing.T, dir, name, doc string) *modelmanifest.Manifest {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := modelmanifest.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fullVars are the digests full.yaml's placeholders stand for.
func fullVars() map[string]string {
	return map[string]string{
		"SENTIMENT_SHA256":         sha256Hex(sentimentWeights),
		"SENTIMENT_SHA512":         sha512Hex(sentimentWeights),
		"SUMMARIZER_SHARD2_SHA512": sha512Hex(summarizerShards[1]),
	}
}

func describeFound(f Found) string {
	return fmt.Sprintf("%s@%s (%s, %d files, dir %s)", f.Name, f.Version, f.Format, len(f.Files), f.Dir)
}
