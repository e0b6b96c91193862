package sbom

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/artifact"
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
		generated, kept, asText := 0, 0, 0
		at := map[artifact.ID]int{}
		for i, q := range got.packages() {
			at[q.ID()] = i
		}
		text := func(cs []cpe.CPE) (out []string) {
			for _, c := range cs {
				out = append(out, c.Attributes.String())
			}
			return out
		}
		for _, p := range want.Syft.Artifacts.Packages.Sorted() {
			if got.Syft.Artifacts.Packages.Package(p.ID()) == nil {
				t.Fatalf("%s: package %s missing", dir, p.Name)
			}
			i := at[p.ID()]
			q := got.packages()[i]
			// The model keeps the first; the guessed candidates of types the attested document
			// leaves them out of are kept as the text the converter writes.
			gotCPEs := text(q.CPEs)
			for _, c := range got.candidates[i] {
				gotCPEs = append(gotCPEs, c)
				asText++
			}
			if !slices.Equal(gotCPEs, text(p.CPEs)) {
				t.Errorf("%s: %s: CPEs %v, Syft's scan makes %v", dir, p.Name, gotCPEs, text(p.CPEs))
			}
			for k, c := range q.CPEs {
				if k < len(p.CPEs) && c.Source != p.CPEs[k].Source {
					t.Errorf("%s: %s: CPE %s from %s, Syft's scan says %s", dir, p.Name, c.Attributes, c.Source, p.CPEs[k].Source)
				}
			}
			if cpeFreeTypes[string(p.Type)] && len(p.CPEs) > 1 && len(q.CPEs) != 1 {
				t.Errorf("%s: %s: the model keeps %d CPEs of a type whose candidates go as text", dir, p.Name, len(q.CPEs))
			}
			for _, c := range p.CPEs {
				if c.Source == cpe.GeneratedSource {
					generated++
				} else {
					kept++
				}
			}
		}
		if generated == 0 || asText == 0 {
			t.Fatalf("%s: %d generated CPEs, %d kept as text: the comparison proves nothing", dir, generated, asText)
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
