package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
)

// TestPlatformTokens refuses platform strings that are not plain tokens, from an image config
// or from the index entry a platform is picked by: they end up in file names and log lines.
func TestPlatformTokens(t *testing.T) {
	layer, err := testimage.Layer(testimage.OSRelease("12", "bookworm"))
	if err != nil {
		t.Fatal(err)
	}
	withConfig := func(p v1.Platform) any {
		img, err := testimage.Image(p, layer)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	withIndexEntry := func(p v1.Platform) any {
		img := withConfig(v1.Platform{OS: "linux", Architecture: "amd64"}).(v1.Image)
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	tests := []struct {
		name string
		img  any
		want string
		err  error
	}{
		{"plain", withConfig(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}), "", nil},
		{"ppc64le", withConfig(v1.Platform{OS: "linux", Architecture: "ppc64le"}), "", nil},
		{"windows", withConfig(v1.Platform{OS: "windows", Architecture: "amd64"}), "", nil},
		{"workflow command in os", withConfig(v1.Platform{OS: "linux\n::stop-commands::x", Architecture: "amd64"}), `os "linux\n::stop-commands::x"`, image.ErrPlatform},
		{"upper case", withConfig(v1.Platform{OS: "linux", Architecture: "AMD64"}), `architecture "AMD64"`, image.ErrPlatform},
		{"no architecture", withConfig(v1.Platform{OS: "linux"}), `architecture ""`, image.ErrPlatform},
		{"slash in variant", withConfig(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8/../../x"}), `variant "v8/../../x"`, image.ErrPlatform},
		{"long variant", withConfig(v1.Platform{OS: "linux", Architecture: "arm", Variant: strings.Repeat("v", 33)}), `variant "vvvv`, image.ErrPlatform},
		{"markdown in index entry", withIndexEntry(v1.Platform{OS: "linux", Architecture: "amd64", Variant: "[x](https://evil)"}), `variant "[x](https://evil)"`, image.ErrPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := testimage.WriteLayout(dir, tt.img); err != nil {
				t.Fatal(err)
			}
			r, err := image.Resolve(context.Background(), image.KindOCIDir, dir, image.Options{})
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, "manifest sha256:") || strings.ContainsAny(msg, "\n\r") {
					t.Errorf("error does not name %s and the manifest on one line:\n%s", tt.want, msg)
				}
				return
			}
			r.Close()
		})
	}
}

// within fails the test unless fn returns within d; a read that hangs is the failure tested.
func within(t *testing.T, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if took := time.Since(start); took > d {
			t.Errorf("took %v, want at most %v", took, d)
		}
		return err
	case <-time.After(d + 10*time.Second):
		t.Fatalf("still running after %v", d+10*time.Second)
		return nil
	}
}

// TestNotRegularFiles gives a FIFO, a device or a directory where a file is expected: each is
// refused at once, where opening a FIFO for reading used to wait for a writer forever.
func TestNotRegularFiles(t *testing.T) {
	fifo := func(t *testing.T, p string) {
		t.Helper()
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	layout := func(t *testing.T, dir string) parts {
		img := platformImage(t, "amd64", "")
		if err := testimage.WriteLayout(dir, img); err != nil {
			t.Fatal(err)
		}
		return partsOf(t, img)
	}
	tests := []struct {
		name string
		kind image.Kind
		make func(t *testing.T, dir string) (ref, want string)
		err  error
	}{
		{"docker-archive FIFO", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			fifo(t, filepath.Join(dir, "d.tar"))
			return filepath.Join(dir, "d.tar"), "not a regular file: a named pipe"
		}, image.ErrNotRegular},
		{"oci-archive FIFO", image.KindOCIArchive, func(t *testing.T, dir string) (string, string) {
			fifo(t, filepath.Join(dir, "o.tar"))
			return filepath.Join(dir, "o.tar"), "not a regular file: a named pipe"
		}, image.ErrNotRegular},
		{"docker-archive device", image.KindDockerArchive, func(t *testing.T, dir string) (string, string) {
			return "/dev/zero", "not a regular file: a device"
		}, image.ErrNotRegular},
		{"oci-archive directory", image.KindOCIArchive, func(t *testing.T, dir string) (string, string) {
			return dir, "not a regular file: a directory"
		}, image.ErrNotRegular},
		{"oci-dir index.json FIFO", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			layout(t, dir)
			fifo(t, filepath.Join(dir, "index.json"))
			return dir, "index.json: not a regular file: a named pipe"
		}, image.ErrNotRegular},
		{"oci-dir config FIFO", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			p := layout(t, dir)
			fifo(t, blobPath(dir, p.config))
			return dir, "config " + p.config.String()
		}, image.ErrNotRegular},
		{"oci-dir layer FIFO", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			p := layout(t, dir)
			fifo(t, blobPath(dir, p.layer))
			return dir, "layer 0 " + p.layer.String()
		}, image.ErrNotRegular},
		{"oci-dir layer is /dev/zero", image.KindOCIDir, func(t *testing.T, dir string) (string, string) {
			p := layout(t, dir)
			os.Remove(blobPath(dir, p.layer))
			if err := os.Symlink("/dev/zero", blobPath(dir, p.layer)); err != nil {
				t.Fatal(err)
			}
			return dir, "layer 0 " + p.layer.String()
		}, image.ErrNotRegular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, want := tt.make(t, t.TempDir())
			err := within(t, time.Second, func() error {
				_, err := resolveAndOpen(context.Background(), tt.kind, ref, image.Options{})
				return err
			})
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %v naming %q", err, tt.err, want)
			}
		})
	}
}

// blockingSource serves a tar stream until block is set; then reads hang half-way, as a
// stalled network read does, after closing started.
type blockingSource struct {
	raw     []byte
	block   atomic.Bool
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (b *blockingSource) open() (io.ReadCloser, error) {
	if !b.block.Load() {
		return io.NopCloser(bytes.NewReader(b.raw)), nil
	}
	return &stallingReader{b: b, r: bytes.NewReader(b.raw[:len(b.raw)/2])}, nil
}

type stallingReader struct {
	b *blockingSource
	r io.Reader
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if n, _ := s.r.Read(p); n > 0 {
		return n, nil
	}
	s.b.once.Do(func() { close(s.b.started) })
	<-s.b.release
	return 0, io.ErrUnexpectedEOF
}

func (s *stallingReader) Close() error { return nil }

// TestCancelDuringLayerRead cancels the run while a layer read hangs: Open returns within a
// second, says why, and leaves nothing in the temp directory.
func TestCancelDuringLayerRead(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	raw, err := testimage.Tar(testimage.File{Path: "big", Body: bytes.Repeat([]byte("x"), 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	src := &blockingSource{raw: raw, started: make(chan struct{}), release: make(chan struct{})}
	defer close(src.release)
	layer, err := tarball.LayerFromOpener(src.open)
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, layer)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	raw2, _ := img.RawManifest()
	src.block.Store(true)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-src.started
		cancel()
	}()
	err = within(t, time.Second, func() error {
		_, _, err := image.Open(ctx, image.Target{Image: img, Digest: d, Raw: raw2, Name: "stall", Platform: v1.Platform{OS: "linux", Architecture: "amd64"}})
		return err
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "layer 0 ") {
		t.Fatalf("err = %v, want context.Canceled naming the layer", err)
	}
	assertEmpty(t, tmp)
}

// TestCancelDuringRegistryPull cancels while a registry stalls in the middle of a layer.
func TestCancelDuringRegistryPull(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	img := uncompressedDebian(t, "amd64")
	p := partsOf(t, img)
	layers, _ := img.Layers()
	size, _ := layers[0].Size()
	var stall atomic.Bool
	stalled := make(chan struct{})
	host := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !stall.Load() || !strings.HasSuffix(r.URL.Path, p.layer.String()) {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 512))
		w.(http.Flusher).Flush()
		close(stalled)
		<-r.Context().Done()
		return true
	})
	ref, _ := name.NewTag(host+"/acme/app:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := image.Resolve(ctx, image.KindRegistry, host+"/acme/app@"+p.manifest.String(), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stall.Store(true)
	go func() {
		<-stalled
		cancel()
	}()
	err = within(t, time.Second, func() error {
		_, _, err := image.Open(ctx, r.Targets[0])
		return err
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "layer 0 "+p.layer.String()) {
		t.Fatalf("err = %v, want context.Canceled naming the layer", err)
	}
	assertEmpty(t, os.Getenv("TMPDIR"))
}

// manyFiles writes n empty files, a thousand to a directory, with names of about nameLen bytes.
func manyFiles(n, nameLen int) func(*tar.Writer) error {
	return func(tw *tar.Writer) error {
		pad := strings.Repeat("n", max(0, nameLen-20))
		for i := 0; i < n; i++ {
			if i%1000 == 0 {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d%04d/", i/1000), Mode: 0o755}); err != nil {
					return err
				}
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("d%04d/%s%08d", i/1000, pad, i), Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}
}

// deepFiles writes n files, each under a path of depth directories it does not list, which
// stereoscope adds one node at a time.
func deepFiles(n, depth int) func(*tar.Writer) error {
	return func(tw *tar.Writer) error {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("x%d/%sf", i, strings.Repeat("a/", depth))
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}
}

// zeros writes one file of size zero bytes, which gzip shrinks a thousandfold.
func zeros(size int64) func(*tar.Writer) error {
	return func(tw *tar.Writer) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "zeros", Size: size, Mode: 0o644}); err != nil {
			return err
		}
		buf := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := tw.Write(buf[:min(left, int64(len(buf)))]); err != nil {
				return err
			}
		}
		return nil
	}
}

// stack is an image whose layers gen writes, bottom first.
func stack(t *testing.T, gens ...func(*tar.Writer) error) v1.Image {
	t.Helper()
	var layers []v1.Layer
	for _, g := range gens {
		l, err := testimage.StreamLayer(g)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := testimage.Image(v1.Platform{OS: "linux", Architecture: "amd64"}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func smallLayer(i int) func(*tar.Writer) error {
	return func(tw *tar.Writer) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("etc/layer-%d", i), Mode: 0o644})
	}
}

// heapPeak samples the heap in use until stop is closed.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var ms runtime.MemStats
		var peak uint64
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return out
}

// TestHostileLayers reads layers built to cost far more to unpack than to ship. Each fails at
// its limit, naming the layer and the input that raises the limit, with the time, the heap and
// the temp directory bounded; what fits the same limits is read.
func TestHostileLayers(t *testing.T) {
	limits := image.Limits{MaxBytes: 64 << 20, MaxEntries: 20_000}
	above := make([]func(*tar.Writer) error, 40)
	for i := range above {
		above[i] = smallLayer(i)
	}
	tests := []struct {
		name   string
		layers []func(*tar.Writer) error
		want   string
		err    error
	}{
		{"100k empty files", []func(*tar.Writer) error{manyFiles(100_000, 0)}, "layer 0 sha256:", image.ErrLimit},
		{"256 MiB of zeros", []func(*tar.Writer) error{zeros(256 << 20)}, "max-image-bytes", image.ErrLimit},
		{"limit reached over several layers", []func(*tar.Writer) error{zeros(40 << 20), zeros(40 << 20)}, "max-image-bytes", image.ErrLimit},
		{"4 KiB names", []func(*tar.Writer) error{manyFiles(6_000, 4096)}, "max-image-entries", image.ErrLimit},
		{"paths 2,000 directories deep", []func(*tar.Writer) error{deepFiles(20, 2000)}, "max-image-entries", image.ErrLimit},
		{"files under 40 layers", append([]func(*tar.Writer) error{manyFiles(4_000, 0)}, above...), "layer 0 sha256:", image.ErrLimit},
		{"the same files on top of 40 layers", append(above, manyFiles(4_000, 0)), "", nil},
		{"files and bytes within the limits", []func(*tar.Writer) error{manyFiles(15_000, 0), zeros(32 << 20)}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			dir := filepath.Join(t.TempDir(), "layout")
			if err := testimage.WriteLayout(dir, stack(t, tt.layers...)); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			stop := make(chan struct{})
			peak := heapPeak(stop)
			start := time.Now()
			_, err := resolveAndOpen(context.Background(), image.KindOCIDir, dir, image.Options{Limits: limits})
			took := time.Since(start)
			close(stop)
			grew := int64(<-peak) - int64(ms.HeapInuse)
			t.Logf("%v, heap +%d MiB", took, grew>>20)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			assertEmpty(t, tmp)
			if err == nil {
				return
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, "layer ") || !strings.Contains(msg, "raise max-image-") {
				t.Errorf("error does not name the layer, %q and the input to raise:\n%s", tt.want, msg)
			}
			// Generous for a shared CI machine, yet far below what reading past the limit costs
			// (100k empty files take about 330 MB and 10 s without it).
			if took > 5*time.Second {
				t.Errorf("failing took %v", took)
			}
			if grew > 64<<20 {
				t.Errorf("heap grew by %d MiB before failing", grew>>20)
			}
		})
	}
}
