package outdir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The image signature's statement and bundle are the action's files too.
func TestRemoveStaleImageSignature(t *testing.T) {
	d, err := Open(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"image-signature.intoto.json", "image-signature.sigstore.json", "image-signature.cdx.json"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(d.Path, n), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := d.RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := names[:2]; !slices.Equal(removed, []string{want[0], want[1]}) {
		t.Errorf("removed %v, want %v", removed, want)
	}
}
