//go:build ignore

// gen writes testdata/sample-image, the small OCI image README's first command scans: a Debian
// dpkg database, a Python virtualenv with dist-info packages, and a tiny safetensors model.
// Run it with `go generate ./internal/testimage` after changing rootfs/ or this file.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/bom-attest/bom-attest/internal/testimage"
)

const (
	here   = "testdata/sample"
	out    = "testdata/sample-image"
	ref    = "ghcr.io/bom-attest/sample:1.0"
	venv   = "/var/lib/openstack/lib/python3.11/site-packages"
	models = "/opt/models/voice-intent"
)

var python = []testimage.PythonPackage{
	{Name: "nova", Version: "32.1.0", License: "Apache-2.0", Requires: []string{"oslo.messaging>=14.1.0", "cryptography>=2.7"}},
	{Name: "oslo.messaging", Version: "14.9.0", License: "Apache-2.0"},
	{Name: "cryptography", Version: "44.0.1", License: "Apache-2.0 OR BSD-3-Clause"},
	{Name: "requests", Version: "2.32.3", License: "Apache-2.0"},
}

func main() {
	root, err := findRoot()
	if err != nil {
		log.Fatal(err)
	}
	base, app, err := files(filepath.Join(root, here, "rootfs"))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range python {
		app = append(app, testimage.DistInfo(venv, p)...)
	}
	app = append(app, testimage.File{Path: models + "/model.safetensors", Body: safetensors()})

	img, err := testimage.Layered(v1.Platform{OS: "linux", Architecture: "amd64"}, base, app)
	if err != nil {
		log.Fatal(err)
	}
	dst := filepath.Join(root, out)
	if err := os.RemoveAll(dst); err != nil {
		log.Fatal(err)
	}
	if err := testimage.WriteLayout(dst, img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		log.Fatal(err)
	}
	d, _ := img.Digest()
	fmt.Printf("wrote %s (%s)\n", out, d)
}

// files splits rootfs into the OS layer (etc, var/lib/dpkg) and the application layer.
func files(rootfs string) (base, app []testimage.File, err error) {
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, rootfs+string(filepath.Separator)))
		f := testimage.File{Path: rel, Body: body}
		if strings.HasPrefix(rel, "/etc/") || strings.HasPrefix(rel, "/var/lib/dpkg/") {
			base = append(base, f)
		} else {
			app = append(app, f)
		}
		return nil
	})
	return base, app, err
}

// safetensors builds a 4x8 linear classifier per the format: u64 header length, JSON header, data.
func safetensors() []byte {
	header := map[string]any{
		"__metadata__":      map[string]string{"format": "pt"},
		"classifier.weight": map[string]any{"dtype": "F32", "shape": []int{4, 8}, "data_offsets": []int{0, 128}},
		"classifier.bias":   map[string]any{"dtype": "F32", "shape": []int{4}, "data_offsets": []int{128, 144}},
	}
	h, _ := json.Marshal(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	buf = append(buf, h...)
	for i := 0; i < 36; i++ {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(math.Sin(float64(i)))))
	}
	return buf
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", dir)
		}
		dir = parent
	}
}
