package outdir

import (
	"errors"
	"os"
	"path/filepath"
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
