package outdir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	base := t.TempDir()
	d, err := Open(filepath.Join(base, "a", "b"), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Write("sbom.cdx.json", []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"x":1}` {
		t.Fatalf("content = %q", b)
	}
	entries, _ := os.ReadDir(d.Path)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

// TestWriteFrom: a streamed document is stored whole, with its size, or not at all — when the
// writer says not to keep it or fails half way, neither the file nor a temporary one is left,
// and a file of that name from before stays as it was.
func TestWriteFrom(t *testing.T) {
	errHalfWay := errors.New("half way")
	for _, tc := range []struct {
		name string
		keep bool
		fail error
		want string // content stored, "" for none
	}{
		{"kept", true, nil, strings.Repeat("x", 3<<20)},
		{"not kept", false, nil, ""},
		{"failed half way", true, errHalfWay, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(t.TempDir(), "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if _, err := d.Write("sbom.full.cdx.json", []byte("before")); err != nil {
					t.Fatal(err)
				}
			}
			path, size, err := d.WriteFrom("sbom.full.cdx.json", func(w io.Writer) (bool, error) {
				if _, err := io.WriteString(w, strings.Repeat("x", 3<<20)); err != nil {
					return false, err
				}
				return tc.keep, tc.fail
			})
			if !errors.Is(err, tc.fail) {
				t.Fatalf("err = %v, want %v", err, tc.fail)
			}
			entries, _ := os.ReadDir(d.Path)
			if len(entries) != 1 {
				t.Errorf("files: %v, want one", entries)
			}
			got, _ := os.ReadFile(filepath.Join(d.Path, "sbom.full.cdx.json"))
			if tc.want == "" {
				if path != "" || size != 0 || string(got) != "before" {
					t.Errorf("stored %q (%d bytes) at %q; want nothing, and the file from before kept", got[:min(len(got), 20)], size, path)
				}
				return
			}
			if path == "" || size != int64(len(tc.want)) || string(got) != tc.want {
				t.Errorf("stored %d bytes (reported %d) at %q, want %d", len(got), size, path, len(tc.want))
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name, dir, file string
		err             error
	}{
		{"dir under a file", filepath.Join(file, "x"), "a.json", ErrOutputDir},
		{"name with slash", base, "../a.json", ErrOutputDir},
		{"ok", base, "a.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(tt.dir, "")
			if err == nil {
				_, err = d.Write(tt.file, []byte("{}"))
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestChownToWorkspaceOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the action container runs") // CI runs as root.
	}
	ws := t.TempDir()
	if err := os.Chown(ws, 1001, 121); err != nil {
		t.Fatal(err)
	}
	d, err := Open(filepath.Join(ws, "out", "deep"), ws)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Write("x.json", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{p, filepath.Join(ws, "out"), filepath.Join(ws, "out", "deep")} {
		st, _ := os.Stat(q)
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 1001 {
			t.Errorf("%s owned by %d, want the workspace owner 1001", q, uid)
		}
	}
}

func TestRemoveStale(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside.cdx.json")
	os.WriteFile(outside, []byte("keep"), 0o644)
	d, err := Open(filepath.Join(base, "out"), "")
	if err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(d.Path, name) }
	files := map[string]bool{ // name: removed
		"sbom.cdx.json":                true,
		"sbom.linux-arm64-v8.cdx.json": true,
		"sbom.linux-amd64.intoto.json": true,
		"mlbom.cdx.json":               true,
		"mlbom.sigstore.json":          true,
		"provenance.sigstore.json":     true,
		"vulnerabilities.cdx.json":     true,
		"compliance.json":              true,
		"kyverno-policy.yaml":          true,
		".sbom.cdx.json.tmp-4242":      true,
		"summary.md":                   true, // asked for by name
		"notes.md":                     false,
		"app.cdx.json":                 false,
		"sbom.cdx.json.bak":            false,
		"provenance.cdx.json":          false,
		".sbom.cdx.json.tmp-4242.orig": false,
		"my-sbom.cdx.json":             false,
	}
	for name := range files {
		if err := os.WriteFile(at(name), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What is not a regular file directly in the directory stays, whatever its name.
	os.Symlink(outside, at("provenance.intoto.json"))
	os.Mkdir(at("sbom.x.cdx.json"), 0o755)
	os.WriteFile(filepath.Join(at("sbom.x.cdx.json"), "sbom.cdx.json"), []byte("nested"), 0o644)
	if err := syscall.Mkfifo(at("mlbom.intoto.json"), 0o644); err != nil {
		t.Fatal(err)
	}

	removed, err := d.RemoveStale("summary.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, gone := range files {
		_, err := os.Lstat(at(name))
		if exists := err == nil; exists == gone {
			t.Errorf("%s: exists=%v after RemoveStale", name, exists)
		}
		if gone != slices.Contains(removed, name) {
			t.Errorf("%s: reported removed=%v", name, !gone)
		}
	}
	for _, name := range []string{"provenance.intoto.json", "sbom.x.cdx.json", "sbom.x.cdx.json/sbom.cdx.json", "mlbom.intoto.json"} {
		if _, err := os.Lstat(at(name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Error("a file outside output-dir was touched through a link")
	}
	if len(removed) != 11 {
		t.Errorf("removed %d files: %v", len(removed), removed)
	}
}

func TestOwner(t *testing.T) {
	ws := t.TempDir()
	if Owner(filepath.Join(t.TempDir(), "x"), ws) != nil || Owner(filepath.Join(ws, "x"), "") != nil {
		t.Error("Owner for a path outside the workspace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the action container runs") // CI runs as root.
	}
	if Owner(filepath.Join(ws, "x"), ws) != nil {
		t.Error("Owner for a workspace root owns")
	}
	if err := os.Chown(ws, 1001, 121); err != nil {
		t.Fatal(err)
	}
	chown := Owner(filepath.Join(ws, "x"), ws)
	outside := t.TempDir()
	if err := chown(outside); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(outside); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("a path outside the workspace was given away")
	}
}
