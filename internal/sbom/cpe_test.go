package sbom

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/cpe"
)

// TestDeferredCPEsAreSyfts: CPEs made by GenerateCPEs once the image is closed are the ones
// Syft's scan makes, package for package, and both documents come out byte for byte the same.
func TestDeferredCPEsAreSyfts(t *testing.T) {
	ctx := context.Background()
	v := cyclonedx.SpecVersion1_6
	for _, dir := range []string{"../../testdata/sample-image", matchImage(t)} {
		want := scanWith(t, dir, false)
		got := scanWith(t, dir, true)
		if _, _, err := got.EncodeFull(v); err == nil {
			t.Errorf("%s: EncodeFull wrote a full SBOM without the deferred CPEs", dir)
		}
		if err := got.GenerateCPEs(ctx); err != nil {
			t.Fatal(err)
		}
		generated, kept := 0, 0
		for _, p := range want.Syft.Artifacts.Packages.Sorted() {
			q := got.Syft.Artifacts.Packages.Package(p.ID())
			if q == nil {
				t.Fatalf("%s: package %s missing", dir, p.Name)
			}
			if !slices.EqualFunc(p.CPEs, q.CPEs, func(a, b cpe.CPE) bool { return a.Attributes.String() == b.Attributes.String() && a.Source == b.Source }) {
				t.Errorf("%s: %s: CPEs %v, Syft's scan makes %v", dir, p.Name, q.CPEs, p.CPEs)
			}
			for _, c := range p.CPEs {
				if c.Source == cpe.GeneratedSource {
					generated++
				} else {
					kept++
				}
			}
		}
		if generated == 0 {
			t.Fatalf("%s: no generated CPEs: the comparison proves nothing", dir)
		}
		got.BOM.SerialNumber = want.BOM.SerialNumber
		for _, enc := range []func(*Result) ([]byte, error){
			func(r *Result) ([]byte, error) { return Encode(r.BOM, v) },
			func(r *Result) ([]byte, error) { b, _, err := r.EncodeFull(v); return b, err },
		} {
			a, err := enc(want)
			if err != nil {
				t.Fatal(err)
			}
			b, err := enc(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s: the document with deferred CPEs differs from Syft's scan's:\n got %.800s\nwant %.800s", dir, b, a)
			}
		}
		t.Logf("%s: %d generated CPEs, %d of the packages' own", dir, generated, kept)
	}
}

// TestGenerateCPEsCancelled: a cancelled context stops the generation, and the result still
// refuses a full SBOM without its CPEs.
func TestGenerateCPEsCancelled(t *testing.T) {
	res := scanWith(t, "../../testdata/sample-image", true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := res.GenerateCPEs(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("GenerateCPEs on a cancelled context: %v", err)
	}
	if _, _, err := res.EncodeFull(cyclonedx.SpecVersion1_6); err == nil {
		t.Error("EncodeFull wrote a full SBOM without the CPEs")
	}
	if err := res.GenerateCPEs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.BOM.Components == nil || (*res.BOM.Components)[0].CPE == "" {
		t.Error("no CPE after GenerateCPEs")
	}
}
