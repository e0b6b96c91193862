package run_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelsOnSample declares the seed's hosted model and lets the scan find the sample image's
// safetensors model: one ML-BOM with both, and an SBOM that agrees with it.
func TestModelsOnSample(t *testing.T) {
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	seed, _ := os.ReadFile("../modelmanifest/testdata/good/seed.yaml")
	os.WriteFile(filepath.Join(r.workspace, "models.yaml"), seed, 0o644)

	res := r.run(map[string]string{"image": "oci-dir:" + sample, "model-manifest": "models.yaml"})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if res.outputs["model-count"] != "2" || res.outputs["mlbom-path"] == "" {
		t.Fatalf("outputs = %v", res.outputs)
	}
	for _, want := range []string{"### Models", "| gpt-realtime | 2026-04-01 | declared, hosted:", "| voice-intent |", "found (undeclared)"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
	ml := readBOM(t, res.outputs["mlbom-path"])
	sb := readBOM(t, res.outputs["sbom-path"])
	models := func(doc map[string]any) map[string]string {
		out := map[string]string{}
		for _, c := range doc["components"].([]any) {
			m := c.(map[string]any)
			if m["type"] == "machine-learning-model" {
				out[m["name"].(string)] = m["bom-ref"].(string)
			}
		}
		return out
	}
	mlModels, sbModels := models(ml), models(sb)
	if mlModels["voice-intent"] == "" || mlModels["voice-intent"] != sbModels["voice-intent"] {
		t.Errorf("SBOM and ML-BOM disagree on the found model: %v vs %v", mlModels, sbModels)
	}
	if ml["metadata"].(map[string]any)["component"].(map[string]any)["bom-ref"] != sb["metadata"].(map[string]any)["component"].(map[string]any)["bom-ref"] {
		t.Error("the ML-BOM is not about the same image component as the SBOM")
	}
	if _, err := os.Stat(filepath.Join(r.temp, "bom-attest", "mlbom.intoto.json")); err != nil {
		t.Errorf("dry run did not write the ML-BOM statement: %v", err)
	}

	t.Run("bad manifest names the field", func(t *testing.T) {
		os.WriteFile(filepath.Join(r.workspace, "bad.yaml"), []byte("models:\n  - name: x\n    modelCard:\n      taks: y\n"), 0o644)
		res := r.run(map[string]string{"image": "oci-dir:" + sample, "model-manifest": "bad.yaml"})
		if res.code != 1 || !strings.Contains(res.stdout, "::error::model-manifest: models[0].modelCard.taks") {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
	})
}
