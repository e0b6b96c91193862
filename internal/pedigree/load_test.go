package pedigree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/patchtext"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
)

// sparse makes a file of n bytes that starts with head and is holes after it: as large as a
// hostile input needs to be, at no cost to the disk.
func sparse(t *testing.T, path, head string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

// many makes n empty files in dir named by format.
func many(t *testing.T, dir, format string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf(format, i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// lowerWalkLimits makes a tree over the walk's limits quick to build; the limits are the same
// code path whatever their value, and TestWalkLimits checks the real ones.
func lowerWalkLimits(t *testing.T) {
	saved := walkLimits
	walkLimits.files, walkLimits.patches = 500, 200
	t.Cleanup(func() { walkLimits = saved })
}

func TestWalkLimits(t *testing.T) {
	if walkLimits.files != maxTreeFiles || walkLimits.patches != maxPatches {
		t.Errorf("walkLimits = %+v, want the constants %d and %d", walkLimits, maxTreeFiles, maxPatches)
	}
}

func fifo(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(path); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
}

// TestLoadLimits gives Load files and trees over every limit, and files that are not files,
// each built here; Load must refuse each quickly, naming the file, without reading it whole.
func TestLoadLimits(t *testing.T) {
	good := patchText("ok", "")
	tests := []struct {
		name  string
		build func(t *testing.T, dir string, o *Options) // dir holds patches/; o has PatchesDir set
		err   error
		not   error // an error that must not be reported: the limit stops the walk first
		text  string
	}{
		{
			name: "patch over its limit",
			build: func(t *testing.T, dir string, o *Options) {
				sparse(t, filepath.Join(o.PatchesDir, "nova", "0001-big.patch"), good, maxPatchFile+1)
			},
			err: ErrTooLarge, text: "patches-dir: nova/0001-big.patch: too large: larger than 64 MiB",
		},
		{
			name: "constraints file over its limit",
			build: func(t *testing.T, dir string, o *Options) {
				o.PatchesDir, o.ConstraintsFile = "", filepath.Join(dir, "constraints.txt")
				sparse(t, o.ConstraintsFile, "cryptography===44.0.1\n", maxConstraintsFile+1)
			},
			err: errors.Join(ErrTooLarge, ErrConstraint), text: "constraints.txt: bad constraint: too large: larger than 1 MiB",
		},
		{
			name: "series file over its limit",
			build: func(t *testing.T, dir string, o *Options) {
				sparse(t, filepath.Join(o.PatchesDir, "nova", "series"), "0001-a.patch\n", maxSeriesFile+1)
			},
			err: ErrTooLarge, not: ErrSeries, text: "patches-dir: nova/series: too large: larger than 1 MiB",
		},
		{
			name: "series listing more patches than a tree may hold",
			build: func(t *testing.T, dir string, o *Options) {
				var b strings.Builder
				for i := range maxPatches + 1 {
					fmt.Fprintf(&b, "%05d.patch\n", i)
				}
				writeTree(t, o.PatchesDir, map[string]string{"nova/series": b.String()})
			},
			err: ErrTooLarge, not: ErrSeries, text: "patches-dir: nova/series:10001: too large: more than 10000 patches listed",
		},
		{
			name: "more files than a walk reads",
			build: func(t *testing.T, dir string, o *Options) {
				lowerWalkLimits(t)
				writeTree(t, o.PatchesDir, map[string]string{"nova/0001-a.patch": good})
				many(t, filepath.Join(o.PatchesDir, "nova", "docs"), "note-%05d.txt", walkLimits.files)
			},
			err: ErrTooLarge, text: "patches-dir: too large: more than 500 files and directories",
		},
		{
			name: "more patches than a tree may hold",
			build: func(t *testing.T, dir string, o *Options) {
				lowerWalkLimits(t)
				// Empty files are no patches: had they been read, each would be an error.
				many(t, filepath.Join(o.PatchesDir, "nova", "2025.2"), "%05d.patch", walkLimits.patches/2)
				many(t, filepath.Join(o.PatchesDir, "oslo.messaging"), "%05d.patch", walkLimits.patches/2+1)
			},
			err: ErrTooLarge, not: ErrNotPatch, text: "patches-dir: too large: more than 200 patches",
		},
		{
			name: "named pipe as constraint-overrides",
			build: func(t *testing.T, dir string, o *Options) {
				o.PatchesDir, o.ConstraintsFile = "", filepath.Join(dir, "constraints.txt")
				fifo(t, o.ConstraintsFile)
			},
			err: ErrConstraint, text: "constraints.txt: bad constraint: not a regular file: a named pipe",
		},
		{
			name: "device as constraint-overrides",
			build: func(t *testing.T, dir string, o *Options) {
				if device == "" {
					t.Skip("no device file on this system")
				}
				o.PatchesDir, o.ConstraintsFile = "", device
			},
			err: ErrConstraint, text: "constraint-overrides: " + device + ": bad constraint: not a regular file: a device",
		},
		{
			name: "named pipe as a series file",
			build: func(t *testing.T, dir string, o *Options) {
				writeTree(t, o.PatchesDir, map[string]string{"nova/0001-a.patch": good})
				fifo(t, filepath.Join(o.PatchesDir, "nova", "series"))
			},
			err: ErrUnreadable, text: "patches-dir: nova/series: cannot read: not a regular file: a named pipe",
		},
		{
			name: "named pipe listed in a series",
			build: func(t *testing.T, dir string, o *Options) {
				writeTree(t, o.PatchesDir, map[string]string{"nova/series": "0001-a.patch\n0002-pipe.patch\n", "nova/0001-a.patch": good})
				fifo(t, filepath.Join(o.PatchesDir, "nova", "0002-pipe.patch"))
			},
			err: ErrUnreadable, text: "patches-dir: nova/0002-pipe.patch: cannot read: not a regular file: a named pipe",
		},
		{
			name: "symlink to a named pipe inside the tree",
			build: func(t *testing.T, dir string, o *Options) {
				writeTree(t, o.PatchesDir, map[string]string{"nova/2025.2/0001-a.patch": "symlink:../../pipe"})
				fifo(t, filepath.Join(o.PatchesDir, "pipe"))
			},
			err: ErrUnreadable, text: "patches-dir: nova/2025.2/0001-a.patch: cannot read: not a regular file: a named pipe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{PatchesDir: filepath.Join(dir, "patches"), Namespace: "bom-attest"}
			if err := os.MkdirAll(opts.PatchesDir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.build(t, dir, &opts)
			start := time.Now()
			set, err := Load(context.Background(), opts)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("Load() = %d patches, nil; want %v", set.Patches(), tt.err)
			}
			wantErrors(t, err, tt.err)
			if tt.not != nil && errors.Is(err, tt.not) {
				t.Errorf("err = %.500v, want no %v: the walk goes on past its limit", err, tt.not)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %.500q, want it to contain %q", err, tt.text)
			}
			t.Logf("refused in %v", took)
			if took > time.Second {
				t.Errorf("Load took %v, want under a second", took)
			}
		})
	}
}

// TestLoadHonoursContext cancels Load before and while it reads a tree of patches that take
// seconds to read (each is read a MiB deep looking for its diff); it must stop within a second.
func TestLoadHonoursContext(t *testing.T) {
	dir := t.TempDir()
	opts := Options{PatchesDir: dir, Namespace: "bom-attest"}
	for i := range 1000 {
		sparse(t, filepath.Join(dir, "nova", "2025.2", fmt.Sprintf("%04d-zeros.patch", i)), "", patchtext.MaxScan)
	}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err := Load(ctx, opts)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %.300v, want context.Canceled", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Load took %v after cancellation, want under a second", took)
		}
	})
	t.Run("cancelled while reading", func(t *testing.T) {
		const after = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), after)
		defer cancel()
		start := time.Now()
		_, err := Load(ctx, opts)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %.300v after %v, want context.DeadlineExceeded", err, took)
		}
		if strings.Contains(err.Error(), "not a patch") {
			t.Errorf("err = %.300v, want only the cancellation, not the files left unread", err)
		}
		t.Logf("stopped %v after the deadline", took-after)
		if took > after+time.Second {
			t.Errorf("Load took %v, want it to stop within a second of the deadline", took)
		}
	})
}

// TestLoadOnceApplyMany is what a multi-platform run does: one Load, one Apply per platform.
// Apply reads no file (the tree is gone when it runs) and leaves the set as it found it.
func TestLoadOnceApplyMany(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"patches/nova/2025.2/0001-fix-one.patch": patchText("Fix one, CVE-2025-0001", "Closes-Bug: #2099999\n"),
		"patches/jinja2/0001-y.diff":             patchText("y", ""),
		"patches/empty/README":                   "no patches here",
		"constraints.txt":                        "cryptography===44.0.1  # was 44.0.0\n",
	})
	set, err := Load(context.Background(), Options{
		PatchesDir:      filepath.Join(dir, "patches"),
		ConstraintsFile: filepath.Join(dir, "constraints.txt"),
		Unmatched:       UnmatchedWarn,
		Namespace:       "acme",
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.Patches() != 2 || set.Components() != 2 || set.Overrides() != 1 {
		t.Errorf("set has %d patches for %d components and %d overrides, want 2, 2, 1", set.Patches(), set.Components(), set.Overrides())
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	first := testBOM()
	res1, err := Apply(first, set)
	if err != nil {
		t.Fatal(err)
	}
	// What one platform writes must not leak into the next: edit the first SBOM's pedigree.
	(*find(first, "nova").Pedigree.Patches)[0].Diff.Text.Content = "edited"
	(*(*find(first, "nova").Pedigree.Patches)[0].Resolves)[0].ID = "edited"

	second := testBOM()
	res2, err := Apply(second, set)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res1, res2); diff != "" {
		t.Errorf("second Apply differs (-first +second):\n%s", diff)
	}
	if p := (*find(second, "nova").Pedigree.Patches)[0]; p.Diff.Text.Content == "edited" || (*p.Resolves)[0].ID != "CVE-2025-0001" {
		t.Errorf("the first platform's edit reached the second: %+v", p)
	}

	// A platform without nova: its warning is its own, the tree's warning is everyone's.
	third := testBOM()
	*third.Components = (*third.Components)[1:]
	res3, err := Apply(third, set)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"patches-dir: empty/: holds no patches",
		"patches-dir: nova/: matches no component in the image: no package nova (nothing similar among its 5 package names); its patches are not recorded",
	}
	if diff := cmp.Diff(want, res3.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:1], res1.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if res3.PatchedCount() != 1 || res1.PatchedCount() != 2 {
		t.Errorf("patched %d and %d, want 2 and 1", res1.PatchedCount(), res3.PatchedCount())
	}
}

// TestInlineBudget embeds patches until the tree's text budget is spent; the rest are recorded
// without their text, each with a warning, so one SBOM stays bounded whatever the tree holds.
func TestInlineBudget(t *testing.T) {
	dir := t.TempDir()
	const each = DefaultMaxInlineDiff
	n := maxInlineTotal/each + 2
	for i := range n {
		sparse(t, filepath.Join(dir, "nova", fmt.Sprintf("%04d-big.patch", i)), patchText("big", ""), each)
	}
	bom := testBOM()
	res, err := apply(bom, Options{PatchesDir: dir, Namespace: "bom-attest"})
	if err != nil {
		t.Fatal(err)
	}
	var text, without int
	for _, p := range *find(bom, "nova").Pedigree.Patches {
		if p.Diff != nil && p.Diff.Text != nil {
			text++
		} else {
			without++
		}
	}
	if text != maxInlineTotal/each || without != 2 {
		t.Errorf("%d patches with text, %d without; want %d and 2", text, without, maxInlineTotal/each)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "already embed 64 MiB of diff text") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if (*find(bom, "nova").Pedigree.Patches)[n-1].Type != cyclonedx.PatchTypeBackport {
		t.Errorf("a patch over the budget lost its header")
	}
}
