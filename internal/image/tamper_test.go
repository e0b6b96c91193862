package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

// uncompressedDebian is DebianImage with its layer stored uncompressed, so a test can edit the
// blob in place without changing its size.
func uncompressedDebian(t *testing.T, arch string) v1.Image {
	t.Helper()
	raw, err := testimage.Tar(testimage.OSRelease("12", "bookworm"), testimage.DpkgStatus(
		testimage.DebPackage{Name: "libc6", Version: "2.36-9+deb12u10", Arch: arch},
		testimage.DebPackage{Name: "only-on-" + arch, Version: "1.0", Arch: arch}))
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: arch}, static.NewLayer(raw, types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// parts are the digests a test names blobs by.
type parts struct{ manifest, config, layer v1.Hash }

func partsOf(t *testing.T, img v1.Image) parts {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return parts{manifest: d, config: m.Config.Digest, layer: m.Layers[0].Digest}
}

func blobPath(dir string, h v1.Hash) string { return filepath.Join(dir, "blobs", h.Algorithm, h.Hex) }

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := edit(b)
	if bytes.Equal(out, b) {
		t.Fatalf("edit of %s changed nothing", path)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(old), []byte(new)) }
}

// editTar rewrites the entry called name of a tar file.
func editTar(t *testing.T, path, name string, edit func([]byte) []byte) {
	t.Helper()
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(in)), tar.NewWriter(&out)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == name {
			found = true
			body = edit(body)
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	if !found {
		t.Fatalf("no %s in %s", name, path)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBlob stores b in a layout under its own digest.
func writeBlob(t *testing.T, dir string, b []byte) v1.Descriptor {
	t.Helper()
	h, n, _ := v1.SHA256(bytes.NewReader(b))
	if err := os.WriteFile(blobPath(dir, h), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: h, Size: n}
}

// repoint swaps the layout's layer for another one and rewrites the manifest and index.json to
// match, consistently, as someone would who knows the format: only the config's diff_id, which
// they left alone, still names the original content.
func repoint(t *testing.T, dir string, p parts, layer []byte) (newLayer, newManifest v1.Hash) {
	t.Helper()
	ld := writeBlob(t, dir, layer)
	var m v1.Manifest
	raw, _ := os.ReadFile(blobPath(dir, p.manifest))
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[0].Digest, m.Layers[0].Size = ld.Digest, ld.Size
	raw, _ = json.Marshal(m)
	md := writeBlob(t, dir, raw)
	editFile(t, filepath.Join(dir, "index.json"), replace(p.manifest.String(), md.Digest.String()))
	editFile(t, filepath.Join(dir, "index.json"), func(b []byte) []byte {
		var idx v1.IndexManifest
		json.Unmarshal(b, &idx)
		idx.Manifests[0].Size = md.Size
		out, _ := json.Marshal(idx)
		return append(out, ' ')
	})
	return ld.Digest, md.Digest
}

func layerOf(t *testing.T, img v1.Image) []byte {
	t.Helper()
	ls, _ := img.Layers()
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// resolveAndOpen reads an image as the action does and reports which step failed.
func resolveAndOpen(ctx context.Context, kind image.Kind, ref string, o image.Options) (step string, err error) {
	r, err := image.Resolve(ctx, kind, ref, o)
	if err != nil {
		return "resolve", err
	}
	defer r.Close()
	for _, tg := range r.Targets {
		_, closeSrc, err := image.Open(ctx, tg)
		if err != nil {
			return "open", err
		}
		closeSrc()
	}
	return "", nil
}

// TestTamperedLocalImages edits each kind of blob of each kind of local image, and expects the
// read to fail naming the blob, before anything is scanned.
func TestTamperedLocalImages(t *testing.T) {
	gz := platformImage(t, "amd64", "")
	plain := uncompressedDebian(t, "amd64")
	other := platformImage(t, "arm64", "")
	gzp, plainp := partsOf(t, gz), partsOf(t, plain)

	tests := []struct {
		name string
		kind image.Kind
		// make writes the image under dir and returns the reference and the blob the error must name.
		make func(t *testing.T, dir string) (ref, want string)
		step string
		err  error
	}{
		{"oci-dir intact", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, gz)
			return dir, ""
		}, "", nil},
		{"oci-dir layer edited in place", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, plain)
			editFile(t, blobPath(dir, plainp.layer), replace("only-on-amd64", "only-on-arm64"))
			return dir, "layer 0 " + plainp.layer.String() + " of manifest " + plainp.manifest.String()
		}, "open", image.ErrBlobDigest},
		{"oci-dir layer swapped for another", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, gz)
			os.WriteFile(blobPath(dir, gzp.layer), layerOf(t, other), 0o644)
			return dir, "layer 0 " + gzp.layer.String() + " of manifest " + gzp.manifest.String()
		}, "open", image.ErrBlobDigest},
		{"oci-dir layer repointed, manifest and index rewritten", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, gz)
			l, m := repoint(t, dir, gzp, layerOf(t, other))
			return dir, "layer 0 " + l.String() + " of manifest " + m.String() + ": content does not match its digest: its content hashes to"
		}, "open", image.ErrBlobDigest},
		{"oci-dir config edited", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, gz)
			editFile(t, blobPath(dir, gzp.config), replace(`"amd64"`, `"arm64"`))
			return dir, "config " + gzp.config.String() + " of manifest " + gzp.manifest.String()
		}, "resolve", image.ErrBlobDigest},
		{"oci-dir manifest edited", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(dir, gz)
			editFile(t, blobPath(dir, gzp.manifest), replace(`"schemaVersion":2`, `"schemaVersion": 2`))
			return dir, "manifest " + gzp.manifest.String()
		}, "resolve", image.ErrBlobDigest},
		{"oci-archive intact", image.KindOCIArchive, func(t *testing.T, dir string) (string, string) {
			testimage.WriteLayout(filepath.Join(dir, "l"), gz)
			tarDir(t, filepath.Join(dir, "l"), filepath.Join(dir, "a.tar"))
			return filepath.Join(dir, "a.tar"), ""
		}, "", nil},
		{"oci-archive layer edited", image.KindOCIArchive, func(t *testing.T, dir string) (string, string) {
			l := filepath.Join(dir, "l")
			testimage.WriteLayout(l, plain)
			editFile(t, blobPath(l, plainp.layer), replace("only-on-amd64", "only-on-arm64"))
			tarDir(t, l, filepath.Join(dir, "a.tar"))
			return filepath.Join(dir, "a.tar"), "layer 0 " + plainp.layer.String()
		}, "open", image.ErrBlobDigest},
		{"oci-archive config edited", image.KindOCIArchive, func(t *testing.T, dir string) (string, string) {
			l := filepath.Join(dir, "l")
			testimage.WriteLayout(l, gz)
			editFile(t, blobPath(l, gzp.config), replace(`"amd64"`, `"arm64"`))
			tarDir(t, l, filepath.Join(dir, "a.tar"))
			return filepath.Join(dir, "a.tar"), "config " + gzp.config.String()
		}, "resolve", image.ErrBlobDigest},
		{"docker-archive intact", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "d.tar")
			if err := testimage.DockerSave(p, gz, "acme/app:1"); err != nil {
				t.Fatal(err)
			}
			return p, ""
		}, "", nil},
		{"docker-archive written by go-containerregistry, intact", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "d.tar")
			ref, _ := name.NewTag("acme/app:1")
			if err := tarball.WriteToFile(p, ref, gz); err != nil {
				t.Fatal(err)
			}
			return p, ""
		}, "", nil},
		{"docker-archive layer tar edited", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "d.tar")
			testimage.DockerSave(p, gz, "acme/app:1")
			editTar(t, p, "0/layer.tar", replace("only-on-amd64", "only-on-arm64"))
			return p, "layer 0 "
		}, "open", image.ErrBlobDigest},
		{"docker-archive config edited", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "d.tar")
			testimage.DockerSave(p, gz, "acme/app:1")
			editTar(t, p, gzp.config.Hex+".json", replace(`"amd64"`, `"arm64"`))
			return p, "config \"" + gzp.config.Hex + ".json\""
		}, "resolve", image.ErrBlobDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			ref, want := tt.make(t, t.TempDir())
			step, err := resolveAndOpen(context.Background(), tt.kind, ref, image.Options{})
			if !errors.Is(err, tt.err) || step != tt.step {
				t.Fatalf("%s: err = %v, want %v at %s", step, err, tt.err, tt.step)
			}
			t.Log(err)
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("error does not name %q:\n%v", want, err)
			}
			assertEmpty(t, tmp)
		})
	}
}

// assertEmpty fails when a read left files in the temporary directory.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		t.Errorf("left behind in the temp dir: %s", e.Name())
	}
}

// fakeRegistry is go-containerregistry's in-memory registry behind httptest. intercept answers
// the requests it wants to (and reports so); the registry answers the rest.
func fakeRegistry(t *testing.T, intercept func(w http.ResponseWriter, r *http.Request, reg http.Handler) bool) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r, reg) {
			reg.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// tamperingRegistry answers GETs of blobs through edit once tamper is set.
func tamperingRegistry(t *testing.T, tamper *atomic.Bool, edit func(path string, b []byte) []byte) string {
	return fakeRegistry(t, func(w http.ResponseWriter, r *http.Request, reg http.Handler) bool {
		if !tamper.Load() || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := edit(r.URL.Path, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
		return true
	})
}

// TestRegistryTampered confirms that a registry serving other bytes than a blob's digest is
// caught: go-containerregistry checks blobs pulled by digest, and the error names the blob.
func TestRegistryTampered(t *testing.T) {
	img := uncompressedDebian(t, "amd64")
	p := partsOf(t, img)
	tests := []struct {
		name    string
		blob    v1.Hash
		step    string
		want    string
		wantErr string
	}{
		{"layer", p.layer, "open", "layer 0 " + p.layer.String() + " of manifest " + p.manifest.String(), "checksum"},
		{"config", p.config, "resolve", "config " + p.config.String() + " of manifest " + p.manifest.String(), "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var tamper atomic.Bool
			host := tamperingRegistry(t, &tamper, func(path string, b []byte) []byte {
				if strings.HasSuffix(path, tt.blob.String()) {
					b = bytes.ReplaceAll(b, []byte("amd64"), []byte("arm64"))
				}
				return b
			})
			ref, _ := name.NewTag(host+"/acme/app:1", name.Insecure)
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			tamper.Store(true)
			step, err := resolveAndOpen(context.Background(), image.KindRegistry, ref.Context().Name()+"@"+p.manifest.String(), image.Options{})
			if err == nil || step != tt.step {
				t.Fatalf("%s: err = %v, want an error at %s", step, err, tt.step)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error does not name %q (%s):\n%v", tt.want, tt.wantErr, err)
			}
			assertEmpty(t, os.Getenv("TMPDIR"))
		})
	}
}
