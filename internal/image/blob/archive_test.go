package blob

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// entry is one member of a test archive. Raw, when set, is written as is (hand-made headers
// for what archive/tar refuses to write).
type entry struct {
	hdr  tar.Header
	body []byte
	raw  []byte
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: []byte(body)}
}

func dirEntry(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func mkTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.raw != nil {
			tw.Flush()
			buf.Write(e.raw)
			continue
		}
		if err := tw.WriteHeader(&e.hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// rawHeader is a ustar header block written by hand.
func rawHeader(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func pad(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// sparseEntry is a GNU PAX (1.0) sparse file that claims realSize bytes from a 512-byte map:
// archive/tar expands the holes as zeros when it is read.
func sparseEntry(name string, realSize int64) entry {
	var rec bytes.Buffer
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name}, {"GNU.sparse.realsize", fmt.Sprint(realSize)}} {
		line := fmt.Sprintf(" %s=%s\n", kv[0], kv[1])
		n := len(line) + 1
		for len(fmt.Sprint(n))+len(line) != n {
			n++
		}
		fmt.Fprintf(&rec, "%d%s", n, line)
	}
	var raw []byte
	raw = append(raw, rawHeader("PaxHeaders/"+name, tar.TypeXHeader, int64(rec.Len()))...)
	raw = append(raw, pad(rec.Bytes())...)
	sparseMap := pad([]byte("1\n0\n0\n"))
	raw = append(raw, rawHeader(name, tar.TypeReg, int64(len(sparseMap)))...)
	raw = append(raw, sparseMap...)
	return entry{raw: raw}
}

func TestUntar(t *testing.T) {
	layout := []entry{dirEntry("blobs/"), dirEntry("blobs/sha256/"), file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`), file("./index.json", "{}"), file("blobs/sha256/abc", "blob")}
	many := []entry{}
	for i := 0; i < 20; i++ {
		many = append(many, file(fmt.Sprintf("f%d", i), ""))
	}
	tests := []struct {
		name    string
		archive []byte
		want    []string
		err     error
	}{
		{"layout", mkTar(t, layout...), []string{"blobs/sha256/abc", "index.json", "oci-layout"}, nil},
		{"global PAX header", mkTar(t, entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"comment": "x"}}}, file("index.json", "{}")), []string{"index.json"}, nil},
		{"parent directory", mkTar(t, file("../escape", "x")), nil, ErrBadArchive},
		{"parent through a directory", mkTar(t, file("blobs/../../escape", "x")), nil, ErrBadArchive},
		{"absolute path", mkTar(t, file("/etc/escape", "x")), nil, ErrBadArchive},
		{"backslash", mkTar(t, file(`..\escape`, "x")), nil, ErrBadArchive},
		{"symlink", mkTar(t, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs", Linkname: "/etc"}}, file("blobs/passwd", "x")), nil, ErrBadArchive},
		{"hard link", mkTar(t, file("a", "x"), entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "/etc/passwd"}}), nil, ErrBadArchive},
		{"device", mkTar(t, entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "zero", Devmajor: 1, Devminor: 5}}), nil, ErrBadArchive},
		{"FIFO", mkTar(t, entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}}), nil, ErrBadArchive},
		{"name given twice", mkTar(t, file("index.json", "{}"), file("index.json", "[]")), nil, ErrBadArchive},
		{"sparse entry of 1 TiB", mkTar(t, sparseEntry("big", 1<<40)), nil, ErrBadArchive},
		{"too many entries", mkTar(t, many...), nil, ErrBadArchive},
		{"long name", mkTar(t, file(strings.Repeat("n", 300), "x")), nil, ErrBadArchive},
		{"deep name", mkTar(t, file(strings.Repeat("d/", 9)+"f", "x")), nil, ErrBadArchive},
		{"truncated", mkTar(t, layout...)[:1500], nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "x")
			os.Mkdir(dir, 0o755)
			err := untar(context.Background(), bytes.NewReader(tt.archive), int64(len(tt.archive)), dir, 16)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			got := checkUnpacked(t, root, dir, int64(len(tt.archive)))
			if tt.err == nil && strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("files = %v, want %v", got, tt.want)
			}
		})
	}
}

// checkUnpacked asserts what untar may leave: nothing beside dir, nothing in it but directories
// and regular files, no more bytes than the archive had. It returns the files.
func checkUnpacked(t *testing.T, root, dir string, archiveSize int64) []string {
	t.Helper()
	if beside, _ := os.ReadDir(root); len(beside) != 1 {
		t.Fatalf("untar wrote beside its directory: %v", beside)
	}
	var files []string
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d.IsDir():
		case d.Type().IsRegular():
			info, _ := d.Info()
			total += info.Size()
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		default:
			t.Errorf("%s is a %v", p, d.Type())
		}
		return nil
	})
	if total > archiveSize {
		t.Errorf("unpacked %d bytes from a %d-byte archive", total, archiveSize)
	}
	return files
}

// cancellingReader cancels its context after the first read, as a signal arriving mid-untar.
type cancellingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c cancellingReader) Read(p []byte) (int, error) {
	defer c.cancel()
	return c.r.Read(p[:min(len(p), 512)])
}

func TestUntarCancelled(t *testing.T) {
	archive := mkTar(t, file("a", strings.Repeat("x", 1<<20)), file("b", "y"))
	ctx, cancel := context.WithCancel(context.Background())
	err := untar(ctx, cancellingReader{bytes.NewReader(archive), cancel}, int64(len(archive)), t.TempDir(), 16)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func FuzzUntar(f *testing.F) {
	f.Add(mkTar(f, dirEntry("blobs/"), file("index.json", "{}"), file("blobs/sha256/abc", "blob")))
	f.Add(mkTar(f, file("../escape", "x")))
	f.Add(mkTar(f, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs", Linkname: "/etc"}}, file("blobs/passwd", "x")))
	f.Add(mkTar(f, file("a", "x"), entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "a"}}))
	f.Add(mkTar(f, sparseEntry("big", 1<<40)))
	f.Add(mkTar(f, file("index.json", "{}"), file("index.json", "[]")))
	f.Add(mkTar(f, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("d/", 7) + "f", Format: tar.FormatPAX}}))
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, archive []byte) {
		root, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		dir := filepath.Join(root, "x")
		os.Mkdir(dir, 0o755)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		untar(ctx, bytes.NewReader(archive), int64(len(archive)), dir, 64)
		if ctx.Err() != nil {
			t.Fatal("untar ran for 10 s")
		}
		checkUnpacked(t, root, dir, int64(len(archive)))
	})
}

// dockerArchiveFile writes entries as a file.
func dockerArchiveFile(t *testing.T, entries ...entry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "d.tar")
	if err := os.WriteFile(p, mkTar(t, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDockerArchiveChecks(t *testing.T) {
	manifest := func(config string) entry {
		return file("manifest.json", `[{"Config":"`+config+`","RepoTags":["a:1"],"Layers":[]}]`)
	}
	link := func(name, to string) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: to}}
	}
	tests := []struct {
		name    string
		entries []entry
		err     error
	}{
		{"small", []entry{file("c.json", "{}"), manifest("c.json")}, nil},
		{"config through a link", []entry{file("blobs/c", "{}"), link("c.json", "blobs/c"), manifest("c.json")}, nil},
		{"no manifest.json", []entry{file("c.json", "{}")}, ErrBadArchive},
		{"huge manifest.json", []entry{file("manifest.json", "[]"+strings.Repeat(" ", MaxManifestBytes))}, ErrLimit},
		{"huge config", []entry{file("c.json", "{}"+strings.Repeat(" ", MaxConfigBytes)), manifest("c.json")}, ErrLimit},
		{"huge config behind a link", []entry{file("big", "{}"+strings.Repeat(" ", MaxConfigBytes)), link("c.json", "big"), manifest("c.json")}, ErrLimit},
		{"config link loop", []entry{link("a", "b"), link("b", "a"), manifest("a")}, ErrBadArchive},
		{"sparse config", []entry{sparseEntry("c.json", 1<<40), manifest("c.json")}, ErrBadArchive},
		{"too many entries", append(make([]entry, 0), file("1", ""), file("2", ""), file("3", ""), file("4", ""), manifest("1")), ErrBadArchive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, st, err := localfile.Open(dockerArchiveFile(t, tt.entries...))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			a := &DockerArchive{f: f, size: st.Size(), ctx: context.Background()}
			_, err = a.check(4)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

// tarUnits is what an independent reading of a tar stream charges: the budget the layer reader
// must have enforced.
func tarUnits(plain []byte, above int) (int64, error) {
	tr := tar.NewReader(bytes.NewReader(plain))
	cost := newLayerCost(above)
	var units int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return units, nil
		}
		if err != nil {
			return units, err
		}
		units += cost.units(h)
	}
}

// FuzzLayerLimits feeds arbitrary bytes to the layer reader as a layer, compressed or not, and
// checks it against an independent reading: it passes exactly the streams archive/tar reads
// whole within the limits, and passes them unchanged.
func FuzzLayerLimits(f *testing.F) {
	small := mkTar(f, dirEntry("etc/"), file("etc/os-release", "ID=debian\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(small)
	zw.Close()
	f.Add(small, false)
	f.Add(gz.Bytes(), true)
	f.Add(mkTar(f, file("a", ""), file("b", ""), file("c", "")), false)
	f.Add(mkTar(f, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("n", 600), Format: tar.FormatPAX}}), false)
	f.Add(mkTar(f, sparseEntry("big", 1<<20)), false)
	f.Add(small[:700], false)
	f.Add([]byte{}, true)
	f.Add(append([]byte{0x28, 0xb5, 0x2f, 0xfd}, small...), true)
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		const above, maxBytes, maxEntries = 2, 64 << 10, 4
		plain, plainErr := data, error(nil)
		if compressed {
			rc, err := Decompress(io.NopCloser(bytes.NewReader(data)))
			if err == nil {
				plain, err = io.ReadAll(io.LimitReader(rc, maxBytes+1))
			}
			plainErr = err
		}
		diffID, _, _ := v1.SHA256(bytes.NewReader(plain))
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		b := NewBudget(maxBytes, maxEntries)
		var got []byte
		rc, err := b.Open(context.Background(), Layer{Open: open, Compressed: compressed, DiffID: diffID, Above: above, What: "layer 0"})
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		units, tarErr := tarUnits(plain, above)
		ok := plainErr == nil && tarErr == nil && units <= maxEntries*unitsPerEntry && int64(len(plain)) <= maxBytes
		if (err == nil) != ok {
			t.Fatalf("layer reader err = %v; independently: decompress %v, tar %v, %d units, %d bytes", err, plainErr, tarErr, units, len(plain))
		}
		if err == nil && !bytes.Equal(got, plain) {
			t.Fatal("layer reader changed the stream")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "layer 0: ") {
			t.Fatalf("error does not name the layer: %v", err)
		}
	})
}
