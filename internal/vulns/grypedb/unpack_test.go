package grypedb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func tarOf(name string, body []byte, typ byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: typ})
	tw.Write(body)
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll(b, nil)
}

// FuzzUnpack: whatever the archive holds, unpack neither panics nor writes past its budget nor
// outside its directory; on success there is exactly the database file.
func FuzzUnpack(f *testing.F) {
	db := bytes.Repeat([]byte("SQLite format 3\x00"), 64)
	f.Add(zst(tarOf("vulnerability.db", db, tar.TypeReg)))
	f.Add(gz(tarOf("./vulnerability.db", db, tar.TypeReg)))
	f.Add(gz(tarOf("../vulnerability.db", db, tar.TypeReg)))
	f.Add(zst(tarOf("vulnerability.db", nil, tar.TypeSymlink)))
	f.Add(gz(append(tarOf("vulnerability.db", db, tar.TypeReg), tarOf("vulnerability.db", db, tar.TypeReg)...)))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		archive := filepath.Join(dir, "archive")
		if err := os.WriteFile(archive, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o755)
		const limit = 1 << 16
		err := unpack(context.Background(), archive, out, limit)
		entries, _ := os.ReadDir(out)
		if err == nil && (len(entries) != 1 || entries[0].Name() != "vulnerability.db") {
			t.Fatalf("unpacked %v", entries)
		}
		for _, e := range entries {
			if fi, _ := e.Info(); fi.Size() > limit {
				t.Fatalf("%s is %d bytes, over the %d budget", e.Name(), fi.Size(), limit)
			}
		}
		if top, _ := os.ReadDir(dir); len(top) != 2 {
			t.Fatalf("wrote beside the output directory: %v", top)
		}
	})
}
