package outdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestImageDirs(t *testing.T) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	tests := []struct {
		name     string
		images   []Image
		reserved []string
		want     []string
	}{
		{"repositories", []Image{{"ghcr.io/acme/app", d("a")}, {"ghcr.io/acme/worker", d("b")}}, nil, []string{"app", "worker"}},
		{"same repository", []Image{{"ghcr.io/acme/app", d("a")}, {"ghcr.io/acme/app", d("b")}, {"ghcr.io/acme/web", d("c")}}, nil,
			[]string{"app-aaaaaaaaaaaa", "app-bbbbbbbbbbbb", "web"}},
		{"same last component", []Image{{"ghcr.io/acme/app", d("a")}, {"docker.io/other/app", d("b")}}, nil, []string{"app-aaaaaaaaaaaa", "app-bbbbbbbbbbbb"}},
		{"same digest in two registries", []Image{{"ghcr.io/acme/app", d("a")}, {"quay.io/acme/app", d("a")}}, nil, []string{"app-aaaaaaaaaaaa", "app-aaaaaaaaaaaa-2"}},
		{"an action's file name", []Image{{"ghcr.io/acme/sbom.cdx.json", d("a")}, {"ghcr.io/acme/kyverno-policy.yaml", d("b")}}, nil,
			[]string{"sbom.cdx.json-aaaaaaaaaaaa", "kyverno-policy.yaml-bbbbbbbbbbbb"}},
		{"reserved", []Image{{"ghcr.io/acme/summary.md", d("a")}, {"ghcr.io/acme/app", d("b")}}, []string{"summary.md"}, []string{"summary.md-aaaaaaaaaaaa", "app"}},
		{"no usable name", []Image{{"", d("a")}, {"ghcr.io/acme/App", d("b")}}, nil, []string{"image-aaaaaaaaaaaa", "image-bbbbbbbbbbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ImageDirs(tt.images, tt.reserved...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ImageDirs = %v, want %v", got, tt.want)
			}
			for _, n := range got {
				if !safeDir.MatchString(n) {
					t.Errorf("%q is not a safe directory name", n)
				}
			}
		})
	}
}

// An image directory is made, marked, and filled like output-dir; the next run empties and
// removes it, but only it: a directory of the user's own with the same file names, or a link to
// a marked directory, stays as it is.
func TestSubRemovedByNextRun(t *testing.T) {
	base := t.TempDir()
	d, err := Open(filepath.Join(base, "out"), "")
	if err != nil {
		t.Fatal(err)
	}
	app, err := d.Sub("app")
	if err != nil {
		t.Fatal(err)
	}
	if app.Path != filepath.Join(d.Path, "app") {
		t.Errorf("Sub path %s", app.Path)
	}
	for _, n := range []string{"sbom.cdx.json", "provenance.sigstore.json", "kyverno-policy.yaml"} {
		if _, err := app.Write(n, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	// Sub again (the same image in the next run) is fine.
	if _, err := d.Sub("app"); err != nil {
		t.Fatal(err)
	}
	// A marked directory the user put a file of their own in: the action's files go, it stays.
	kept, _ := d.Sub("kept")
	kept.Write("sbom.cdx.json", []byte("{}"))
	os.WriteFile(filepath.Join(kept.Path, "notes.md"), []byte("mine"), 0o644)
	// Unmarked: the user's, whatever its files are called.
	mine := filepath.Join(d.Path, "mine")
	os.Mkdir(mine, 0o755)
	os.WriteFile(filepath.Join(mine, "sbom.cdx.json"), []byte("mine"), 0o644)
	// A link to a marked directory outside output-dir is not followed.
	outside, _ := Open(filepath.Join(base, "elsewhere"), "")
	far, _ := outside.Sub("far")
	far.Write("sbom.cdx.json", []byte("far"))
	os.Symlink(far.Path, filepath.Join(d.Path, "link"))

	removed, err := d.RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{"app/kyverno-policy.yaml", "app/provenance.sigstore.json", "app/sbom.cdx.json", "kept/sbom.cdx.json"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if _, err := os.Lstat(app.Path); !os.IsNotExist(err) {
		t.Errorf("the emptied image directory stays: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(kept.Path, "notes.md")); err != nil || string(b) != "mine" {
		t.Errorf("the user's file in an image directory: %v %q", err, b)
	}
	if _, err := os.Lstat(filepath.Join(kept.Path, Marker)); !os.IsNotExist(err) {
		t.Errorf("the marker of a directory left to the user stays: %v", err)
	}
	for _, p := range []string{filepath.Join(mine, "sbom.cdx.json"), filepath.Join(far.Path, "sbom.cdx.json"), filepath.Join(d.Path, "link")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

func TestSubRefuses(t *testing.T) {
	d, err := Open(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Path, "file"), nil, 0o644)
	os.Symlink(t.TempDir(), filepath.Join(d.Path, "link"))
	for _, n := range []string{"../x", "a/b", ".hidden", "", "sbom.cdx.json", "file", "link"} {
		if _, err := d.Sub(n); err == nil {
			t.Errorf("Sub(%q) succeeded", n)
		}
	}
}

// Whatever the names and digests, every image gets a directory of its own that Sub accepts,
// that is none of the action's file names, and the same list gets the same names.
func FuzzImageDirs(f *testing.F) {
	d := "sha256:" + strings.Repeat("a", 64)
	f.Add("ghcr.io/acme/app\nghcr.io/acme/app\nquay.io/x/app", d+"\n"+d+"\nsha256:"+strings.Repeat("b", 64))
	f.Add("ghcr.io/acme/sbom.cdx.json\nsummary.md\n.hidden\n", "sha256:xyz\n\n"+d)
	f.Add("a/"+strings.Repeat("x", 300)+"\na/app-aaaaaaaaaaaa\na/app\na/app", d+"\n"+d+"\n"+d+"\n"+d)
	f.Fuzz(func(t *testing.T, names, digests string) {
		ns, ds := strings.Split(names, "\n"), strings.Split(digests, "\n")
		var images []Image
		for i, n := range ns {
			img := Image{Name: n}
			if i < len(ds) {
				img.Digest = ds[i]
			}
			images = append(images, img)
		}
		got := ImageDirs(images, "summary.md")
		if len(got) != len(images) {
			t.Fatalf("%d names for %d images", len(got), len(images))
		}
		seen := map[string]bool{}
		for _, n := range got {
			if !safeDir.MatchString(n) || len(n) > maxDir || ownName.MatchString(n) || n == "summary.md" || seen[n] {
				t.Fatalf("name %q of %q", n, got)
			}
			seen[n] = true
		}
		if again := ImageDirs(images, "summary.md"); !slices.Equal(again, got) {
			t.Fatalf("names differ between calls: %q, %q", got, again)
		}
	})
}
