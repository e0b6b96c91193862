package mlbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
	"github.com/bom-attest/bom-attest/internal/sbom"
)

var update = flag.Bool("update", false, "rewrite the golden ML-BOMs in testdata/golden")

// encodeBOM writes bom as the action writes its files.
func encodeBOM(t *testing.T, bom *cyclonedx.BOM, spec cyclonedx.SpecVersion) []byte {
	t.Helper()
	doc, err := sbom.Encode(bom, spec)
	if err != nil {
		t.Fatalf("encode %s: %v", spec, err)
	}
	// Indented, so the goldens can be reviewed; the action writes the compact form.
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs from the golden file at line %d:\ngot:  %s\nwant: %s\n(run go test -update if the change is intended)", p, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs from the golden file in length: %d lines, want %d", p, len(gl), len(wl))
	}
}

// build runs Discover and Build over img with manifest m, like the action does.
func build(t *testing.T, img *testImage, m *modelmanifest.Manifest, spec cyclonedx.SpecVersion) (*cyclonedx.BOM, *cyclonedx.BOM, *Result) {
	t.Helper()
	sbomDoc := img.scannedSBOM(t)
	found := img.discover(t, m, true)
	mlbom, res, err := Build(sbomDoc, m, found, Options{SpecVersion: spec, Namespace: "bom-attest"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return sbomDoc, mlbom, res
}

// TestGoldenSeedSample is the seed manifest (a hosted gpt-realtime, nothing in the image) plus
// the repository's sample image, whose one small classifier the manifest does not declare.
func TestGoldenSeedSample(t *testing.T) {
	m, err := modelmanifest.Load(manifestDir + "seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []cyclonedx.SpecVersion{cyclonedx.SpecVersion1_6, cyclonedx.SpecVersion1_7} {
		t.Run(spec.String(), func(t *testing.T) {
			sbomDoc, bom, res := build(t, repoSample, m, spec)
			doc := encodeBOM(t, bom, spec)
			if err := check.Validate(doc, spec); err != nil {
				t.Fatalf("ML-BOM: %v", err)
			}
			golden(t, "seed-sample."+spec.String()+".cdx.json", doc)

			if res.ModelCount() != 2 {
				t.Fatalf("model count %d, want 2: %+v", res.ModelCount(), res.Models)
			}
			gpt, vi := res.Models[0], res.Models[1]
			if gpt.Name != "gpt-realtime" || gpt.Version != "2026-04-01" || gpt.Origin != OriginDeclared || gpt.External == "" || gpt.HashPrefix != "" {
				t.Errorf("seed row = %+v", gpt)
			}
			weights := readImageFile(t, repoSample, "/opt/models/voice-intent/model.safetensors")
			if vi.Name != "voice-intent" || vi.Origin != OriginFound || vi.HashPrefix != "sha256:"+sha256Hex(weights)[:12] || vi.Files != 1 {
				t.Errorf("found row = %+v", vi)
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), `model "voice-intent" at /opt/models/voice-intent is in the image but not in model-manifest`) {
				t.Errorf("no undeclared-model warning in %q", res.Warnings)
			}
			gptComp := (*bom.Components)[0]
			if mc := gptComp.ModelCard; mc == nil || mc.ModelParameters.Task != "speech-to-speech" || mc.ModelParameters.Approach.Type != "supervised" {
				t.Errorf("gpt-realtime model card = %+v", gptComp.ModelCard)
			}
			if ext := gptComp.IsExternal; (spec == cyclonedx.SpecVersion1_7) != (ext != nil && *ext) {
				t.Errorf("isExternal at %s = %v", spec, ext)
			}
			if !reflect.DeepEqual(bom.Metadata.Component, sbomDoc.Metadata.Component) {
				t.Errorf("ML-BOM metadata.component %+v is not the SBOM's %+v", bom.Metadata.Component, sbomDoc.Metadata.Component)
			}
		})
	}
}

// TestGoldenFull uses every manifest field against an image with every kind of model.
func TestGoldenFull(t *testing.T) {
	m := loadFull(t, t.TempDir(), fullVars())
	for _, spec := range []cyclonedx.SpecVersion{cyclonedx.SpecVersion1_6, cyclonedx.SpecVersion1_7} {
		t.Run(spec.String(), func(t *testing.T) {
			_, bom, res := build(t, fullImage, m, spec)
			doc := encodeBOM(t, bom, spec)
			if err := check.Validate(doc, spec); err != nil {
				t.Fatalf("ML-BOM: %v", err)
			}
			golden(t, "full."+spec.String()+".cdx.json", doc)

			rows := map[string]ModelRow{}
			for _, r := range res.Models {
				rows[r.Name] = r
			}
			wants := map[string]string{
				"gpt-realtime": OriginDeclared, "sentiment-classifier": OriginBoth, "summarizer": OriginBoth, "legacy-intent": OriginBoth,
				"tinyllama-q4_k_m": OriginFound, "tinyllama-q8_0": OriginFound, "embedder": OriginFound, "sentence-transformers/all-MiniLM-L6-v2": OriginFound,
			}
			if len(rows) != len(wants) {
				t.Errorf("models %+v, want %v", res.Models, wants)
			}
			for name, origin := range wants {
				if rows[name].Origin != origin {
					t.Errorf("%s: origin %q, want %q", name, rows[name].Origin, origin)
				}
			}
			if r := rows["summarizer"]; r.Files != 3 || r.Version != "2.0" || r.License != "MIT OR Apache-2.0" {
				t.Errorf("summarizer (declared by the hash of one shard) = %+v", r)
			}
			if r := rows["sentiment-classifier"]; !slices.Equal(r.Datasets, []string{"imdb-reviews", "support-tickets"}) {
				t.Errorf("sentiment-classifier data sets = %v", r.Datasets)
			}
			if !slices.Equal(res.Datasets, []string{"imdb-reviews", "support-tickets", "cerebras/SlimPajama-627B"}) {
				t.Errorf("data sets = %v", res.Datasets)
			}
			for _, n := range res.Notices {
				if strings.Contains(n, "environmental") {
					t.Errorf("notice at %s: %s", spec, n)
				}
			}
		})
	}
}

// TestSpec15 writes the ML-BOM at CycloneDX 1.5: the environmental considerations (1.6) are
// dropped with a notice naming the field, and the result is valid 1.5.
func TestSpec15(t *testing.T) {
	m := loadFull(t, t.TempDir(), fullVars())
	_, bom, res := build(t, fullImage, m, cyclonedx.SpecVersion1_5)
	if err := check.Validate(encodeBOM(t, bom, cyclonedx.SpecVersion1_5), cyclonedx.SpecVersion1_5); err != nil {
		t.Fatalf("ML-BOM at 1.5: %v", err)
	}
	want := "model-manifest: models[1].modelCard.considerations.environmental dropped: CycloneDX 1.5 has no environmental considerations"
	if !strings.Contains(strings.Join(res.Notices, "\n"), want) {
		t.Errorf("notices %q lack %q", res.Notices, want)
	}
	// A 1.6 ML-BOM downgraded by the encoder is valid 1.5 as well.
	_, bom16, _ := build(t, fullImage, m, cyclonedx.SpecVersion1_6)
	if err := check.Validate(encodeBOM(t, bom16, cyclonedx.SpecVersion1_5), cyclonedx.SpecVersion1_5); err != nil {
		t.Fatalf("1.6 ML-BOM encoded at 1.5: %v", err)
	}
}

// TestSBOMAgreement scans the image with syft, as the sbom stage does when the model stage runs,
// and checks that after Build the SBOM's model components and the ML-BOM's are the same: name,
// version, hashes, bom-ref and everything else but the model card.
func TestSBOMAgreement(t *testing.T) {
	m := loadFull(t, t.TempDir(), fullVars())
	sbomDoc := fullImage.scannedSBOM(t)

	// The model stage owns model components: Syft's model catalogers did not run, so no model
	// was parsed twice and none is named after its base model, unhashed, as Syft names them.
	if got := modelComponents(sbomDoc); len(got) != 0 {
		t.Fatalf("the SBOM made with SkipModels has model components %v", got)
	}
	if got := modelComponents(fullImage.syftModelsSBOM(t)); len(got) == 0 {
		t.Fatalf("without SkipModels Syft finds no models; this test no longer shows that SkipModels turns them off")
	}

	found := fullImage.discover(t, m, true)
	mlbom, res, err := Build(sbomDoc, m, found, Options{SpecVersion: cyclonedx.SpecVersion1_6, Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	sbomModels := modelComponents(sbomDoc)
	mlModels := modelComponents(mlbom)
	inImage := 0
	for _, r := range res.Models {
		if r.Files > 0 {
			inImage++
		}
	}
	if len(sbomModels) != inImage {
		t.Fatalf("SBOM has %d model components, want the %d in the image", len(sbomModels), inImage)
	}
	for ref, sc := range sbomModels {
		mc, ok := mlModels[ref]
		if !ok {
			t.Errorf("SBOM model %q (%s) is not in the ML-BOM", sc.Name, ref)
			continue
		}
		mc.ModelCard = nil
		if !reflect.DeepEqual(sc, mc) {
			t.Errorf("SBOM and ML-BOM disagree on %s:\nSBOM:   %+v\nML-BOM: %+v", ref, sc, mc)
		}
		if sc.Name == "distilbert-base-uncased" {
			t.Errorf("SBOM still names a model after its base model")
		}
		if sc.Hashes == nil && sc.Components == nil {
			t.Errorf("SBOM model %q is not hashed", sc.Name)
		}
	}
	// The SBOM is still a valid document, and every dependency points at a component.
	if err := check.Validate(encodeBOM(t, sbomDoc, cyclonedx.SpecVersion1_6), cyclonedx.SpecVersion1_6); err != nil {
		t.Fatalf("SBOM after Build: %v", err)
	}
	refs := map[string]bool{}
	collectRefs(sbomDoc, refs)
	for ref := range sbomModels {
		refs[ref] = true
	}
	if sbomDoc.Dependencies != nil {
		for _, d := range *sbomDoc.Dependencies {
			if !refs[d.Ref] {
				t.Errorf("SBOM dependency on unknown ref %s", d.Ref)
			}
		}
	}
	// The image is the root of the SBOM's graph; every model in it hangs there, including those
	// syft did not find.
	root := sbomDoc.Metadata.Component.BOMRef
	for _, d := range *sbomDoc.Dependencies {
		if d.Ref != root {
			continue
		}
		for ref := range sbomModels {
			if !slices.Contains(*d.Dependencies, ref) {
				t.Errorf("image %s does not depend on model %s", root, ref)
			}
		}
	}

	// A second Build over the same SBOM changes nothing.
	again := deepCopy(sbomDoc)
	if _, _, err := Build(again, m, found, Options{SpecVersion: cyclonedx.SpecVersion1_6, Namespace: "bom-attest"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Components, sbomDoc.Components) {
		t.Errorf("a second Build changed the SBOM's components")
	}
}

func modelComponents(bom *cyclonedx.BOM) map[string]cyclonedx.Component {
	out := map[string]cyclonedx.Component{}
	for _, c := range *bom.Components {
		if c.Type == cyclonedx.ComponentTypeMachineLearningModel {
			out[c.BOMRef] = c
		}
	}
	return out
}

// TestBuildForeignModels: model components the SBOM already has that Build did not make (Syft's,
// from a scan with its model catalogers on, or another tool's) are kept as they are in the SBOM,
// copied to the ML-BOM so both still agree, and flagged.
func TestBuildForeignModels(t *testing.T) {
	sbomDoc := tunedImage.syftModelsSBOM(t)
	m, err := modelmanifest.Load(manifestDir + "seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mlbom, res, err := Build(sbomDoc, m, nil, Options{SpecVersion: cyclonedx.SpecVersion1_6, Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	sbomModels, mlModels := modelComponents(sbomDoc), modelComponents(mlbom)
	if len(sbomModels) != 1 || len(mlModels) != 2 {
		t.Fatalf("SBOM models %d, ML-BOM models %d; want 1 and 2", len(sbomModels), len(mlModels))
	}
	for ref, sc := range sbomModels {
		if !reflect.DeepEqual(sc, mlModels[ref]) {
			t.Errorf("copied component differs:\n%+v\n%+v", sc, mlModels[ref])
		}
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "is in the SBOM but was not examined") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if err := check.Validate(encodeBOM(t, mlbom, cyclonedx.SpecVersion1_6), cyclonedx.SpecVersion1_6); err != nil {
		t.Fatal(err)
	}
}

// TestBuildErrors covers the manifest problems only the image can reveal.
func TestBuildErrors(t *testing.T) {
	wrong := strings.Repeat("0", 64)
	tests := []struct {
		name     string
		manifest string
		found    bool // pass Discover's result (false: none, as if discovery was skipped)
		spec     cyclonedx.SpecVersion
		err      error
		want     string
	}{
		{"hash mismatch", "models:\n  - name: s\n    path: /opt/models/sentiment-ft\n    hashes:\n      - {alg: SHA-256, content: " + wrong + "}\n",
			true, cyclonedx.SpecVersion1_6, modelmanifest.ErrHashMismatch, "models[0].hashes[0]: SHA-256 " + wrong + " does not match the weights at /opt/models/sentiment-ft; the image has /opt/models/sentiment-ft/model.safetensors " + sha256Hex(sentimentWeights)},
		{"second hash wrong", "models:\n  - name: s\n    hashes:\n      - {alg: SHA-256, content: " + sha256Hex(sentimentWeights) + "}\n      - {alg: SHA-512, content: " + strings.Repeat("1", 128) + "}\n",
			true, cyclonedx.SpecVersion1_6, modelmanifest.ErrHashMismatch, "models[0].hashes[1]: SHA-512"},
		{"two entries claim one model", "models:\n  - name: a\n    path: /opt/models/sentiment-ft\n  - name: b\n    hashes:\n      - {alg: SHA-256, content: " + sha256Hex(sentimentWeights) + "}\n",
			true, cyclonedx.SpecVersion1_6, modelmanifest.ErrConflict, "models[1]: claims the model at /opt/models/sentiment-ft, which models[0] already describes"},
		{"hash matches nothing in the image", "models:\n  - name: ghost\n    purl: pkg:huggingface/a/ghost@1\n    hashes:\n      - {alg: SHA-256, content: " + wrong + "}\n",
			true, cyclonedx.SpecVersion1_6, modelmanifest.ErrHashMismatch, `models[0].hashes: "ghost": SHA-256 ` + wrong + " matches no weight file found in the image"},
		{"hash with the scan off", "models:\n  - name: s\n    hashes:\n      - {alg: SHA-256, content: " + sha256Hex(sentimentWeights) + "}\n",
			false, cyclonedx.SpecVersion1_6, modelmanifest.ErrHashMismatch, "with scan-models off, only declared paths are hashed"},
		{"declared path not examined", "models:\n  - name: s\n    path: /opt/models/sentiment-ft\n",
			false, cyclonedx.SpecVersion1_6, modelmanifest.ErrPath, "models[0].path: /opt/models/sentiment-ft: no model files there were examined"},
		{"spec version", "models:\n  - name: s\n    purl: pkg:huggingface/a/b@1\n", true, cyclonedx.SpecVersion1_4, ErrSpecVersion, `"1.4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := manifestFrom(t, tt.manifest)
			var found []Found
			if tt.found {
				found = tunedImage.discover(t, m, true)
			}
			_, _, err := Build(tunedImage.scannedSBOM(t), m, found, Options{SpecVersion: tt.spec, Namespace: "bom-attest"})
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error %v\nwant %v saying %q", err, tt.err, tt.want)
			}
		})
	}
}

func TestBuildWithoutSBOM(t *testing.T) {
	m, err := modelmanifest.Load(manifestDir + "seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bom, res, err := Build(nil, m, nil, Options{SpecVersion: cyclonedx.SpecVersion1_7, Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if bom.Metadata != nil || res.ModelCount() != 1 {
		t.Fatalf("metadata %+v, models %d", bom.Metadata, res.ModelCount())
	}
	for _, p := range *(*bom.Components)[0].Properties {
		if !strings.HasPrefix(p.Name, "acme:") {
			t.Errorf("property %s is not in the acme namespace", p.Name)
		}
	}
	if err := check.Validate(encodeBOM(t, bom, cyclonedx.SpecVersion1_7), cyclonedx.SpecVersion1_7); err != nil {
		t.Fatal(err)
	}
}

func TestLicenseChoices(t *testing.T) {
	tests := []struct {
		in   []string
		want cyclonedx.Licenses
	}{
		{[]string{"apache-2.0"}, cyclonedx.Licenses{{License: &cyclonedx.License{ID: "Apache-2.0"}}}},
		{[]string{"MIT OR Apache-2.0"}, cyclonedx.Licenses{{Expression: "MIT OR Apache-2.0"}}},
		{[]string{"llama3.2"}, cyclonedx.Licenses{{License: &cyclonedx.License{Name: "llama3.2"}}}},
		{[]string{"OpenAI Services Agreement"}, cyclonedx.Licenses{{License: &cyclonedx.License{Name: "OpenAI Services Agreement"}}}},
		{[]string{"mit", "cc-by-4.0"}, cyclonedx.Licenses{{License: &cyclonedx.License{ID: "MIT"}}, {License: &cyclonedx.License{ID: "CC-BY-4.0"}}}},
	}
	for _, tt := range tests {
		got := licenseChoices(tt.in)
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("licenseChoices(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
	}
	if licenseChoices(nil) != nil {
		t.Error("no licenses should give nil")
	}
}

// TestLinkSBOM: the ML-BOM's serial number follows the SBOM's, and linking again after the SBOM's
// serial number changed (one derived from the final content) replaces the reference, not adds one.
func TestLinkSBOM(t *testing.T) {
	m, err := modelmanifest.Load(manifestDir + "seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sbomDoc := tunedImage.scannedSBOM(t)
	ml, _, err := Build(sbomDoc, m, nil, Options{SpecVersion: cyclonedx.SpecVersion1_6, Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	first := ml.SerialNumber
	bomRefs := func() []string {
		var out []string
		for _, r := range *ml.ExternalReferences {
			if r.Type == cyclonedx.ERTypeBOM {
				out = append(out, r.URL)
			}
		}
		return out
	}
	if got := bomRefs(); !slices.Equal(got, []string{"urn:cdx:9b1e4bd6-2f0c-4c55-9d3a-6e8f7d1c2b10/1"}) {
		t.Fatalf("references to the SBOM = %v", got)
	}
	sbomDoc.SerialNumber = "urn:uuid:0d6a9c1e-5b7f-4e2a-8c3d-1f2e3a4b5c6d"
	LinkSBOM(ml, sbomDoc)
	if got := bomRefs(); !slices.Equal(got, []string{"urn:cdx:0d6a9c1e-5b7f-4e2a-8c3d-1f2e3a4b5c6d/1"}) {
		t.Errorf("after relinking, references to the SBOM = %v", got)
	}
	second := ml.SerialNumber
	if second == first || !strings.HasPrefix(second, "urn:uuid:") {
		t.Errorf("serial %s after relinking, was %s", second, first)
	}
	LinkSBOM(ml, sbomDoc)
	if ml.SerialNumber != second {
		t.Errorf("the same SBOM gave serial %s, then %s", second, ml.SerialNumber)
	}
}
