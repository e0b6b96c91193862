package modelmanifest

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
)

// FuzzParse feeds the manifest decoder arbitrary YAML and JSON: it must never panic, and what it
// allocates must stay in proportion to the input (a YAML parser builds a node of a few hundred
// bytes for a token as short as two), never grow with aliases or nesting.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"good/seed.yaml", "good/seed.json", "good/full.yaml", "bad/unknown-field.yaml", "bad/overlapping-paths.yaml", "bad/two-documents.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(name) == ".json")
	}
	f.Add([]byte("models:\n  - &m {name: a, purl: pkg:x/a}\n  - *m\n"), false)
	f.Add([]byte(`{"models": [{"name": "a", "path": "/m", "baseModel": ["x", {"y": 1}]}], "datasets": [{"name": "d", "governance": {"owners": ["o", {"email": "e"}]}}]}`), true)
	f.Add([]byte("models:\n- {name: a, path: /m}\n- {name: b, path: /m/x}\n- {name: c, path: /m-x}\n"), false)
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocs := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		file := "m.yaml"
		if json {
			file = "m.json"
		}
		before := allocs()
		m, err := parse(data, file)
		if n := allocs() - before; n > 1<<20+1024*uint64(len(data)) {
			t.Fatalf("allocated %d bytes for %d bytes of input", n, len(data))
		}
		if (m == nil) == (err == nil) {
			t.Fatalf("parse = %v, %v: want a manifest or an error", m, err)
		}
	})
}
