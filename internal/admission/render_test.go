package admission

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
)

var update = flag.Bool("update", false, "rewrite the golden policies")

const (
	fixtureSAN    = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	fixtureIssuer = "https://token.actions.githubusercontent.com"
)

// fixtureFacts are a push to main of acme/app that attested an SBOM, build provenance and a
// vulnerability report and signed the image, on each instance.
func fixtureFacts(t testing.TB, kind Kind, instance string) Facts {
	t.Helper()
	f := Facts{
		Kind:        kind,
		SubjectName: "ghcr.io/acme/app",
		SAN:         fixtureSAN,
		Issuer:      fixtureIssuer,
		Documents: []Document{
			{Name: "sbom", PredicateType: statement.PredicateCycloneDX},
			{Name: "mlbom", PredicateType: statement.PredicateCycloneDX},
			{Name: "provenance", PredicateType: provenance.PredicateType},
			{Name: "vulnerabilities", PredicateType: "https://cyclonedx.org/vex"},
			{Name: "signature", PredicateType: sign.ImageSignaturePredicateType},
		},
		Workflow: &Workflow{BuildType: provenance.BuildType, Repository: "https://github.com/acme/app", Path: ".github/workflows/release.yml"},
	}
	switch instance {
	case "public-good":
		f.Trust = Trust{Instance: sign.InstancePublicGood, LogURL: "https://rekor.sigstore.dev", SCT: true}
	case "github":
		f.Trust = Trust{Instance: sign.InstanceGitHub, TrustedRoot: readRoot(t, "tsa-only.json"),
			TUFMirror: sign.GitHubTUFMirror, TUFRoot: sign.GitHubTUFRoot()}
	case "custom":
		f.Trust = Trust{Instance: sign.InstanceCustom, LogURL: "https://rekor.example.com", TrustedRoot: readRoot(t, "with-log.json")}
		// A multi-platform image: each platform's SBOM is about its own manifest.
		f.Documents = f.Documents[2:]
		f.Elsewhere = []string{"sbom.linux-amd64", "sbom.linux-arm64"}
		f.RefPattern = `refs/tags/v[0-9]+(\.[0-9]+)*`
	default:
		t.Fatalf("no instance %s", instance)
	}
	return f
}

func readRoot(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "roots", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureRules(t testing.TB, kind Kind, instance string) *Rules {
	t.Helper()
	r, err := New(fixtureFacts(t, kind, instance))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var instances = []string{"public-good", "github", "custom"}

// TestGolden renders every kind for every instance, checks it against its golden file and
// against Kyverno 1.19.0's own CRD schema, and reads it back to the same rules.
func TestGolden(t *testing.T) {
	for _, kind := range []Kind{KindImageValidating, KindClusterPolicy} {
		for _, inst := range instances {
			t.Run(string(kind)+"/"+inst, func(t *testing.T) {
				r := fixtureRules(t, kind, inst)
				got, err := Render(r)
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "golden", string(kind)+"."+inst+".yaml")
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from what is rendered now (go test ./internal/admission -update)", golden)
				}
				if err := validateAgainstCRD(t, kind, got); err != nil {
					t.Errorf("not valid against Kyverno's CRD schema: %v", err)
				}
				back, err := Parse(got)
				if err != nil {
					t.Fatalf("does not read back: %v", err)
				}
				if want := readBack(r); !reflect.DeepEqual(back, want) {
					t.Errorf("read back as\n%+v\nwant\n%+v", back, want)
				}
			})
		}
	}
}

// readBack is what Parse can recover of rendered rules: comments are gone, a ClusterPolicy
// carries no trust of its own and names its attestations by predicate type.
func readBack(r *Rules) *Rules {
	out := *r
	out.Elsewhere = nil
	out.Trust.Instance = ""
	if r.Kind == KindClusterPolicy {
		out.Trust = Trust{LogURL: r.Trust.LogURL}
		out.Attestations = nil
		for _, a := range r.Attestations {
			a.Name = identifier(a.PredicateType)
			out.Attestations = append(out.Attestations, a)
		}
	}
	if out.Trust.TrustedRoot != nil {
		out.Trust.TrustedRoot = []byte(indentJSON(out.Trust.TrustedRoot))
	}
	return &out
}

func TestNew(t *testing.T) {
	base := func() Facts { return fixtureFacts(t, KindImageValidating, "public-good") }
	tests := []struct {
		name string
		edit func(*Facts)
		err  error
		want func(*testing.T, *Rules)
	}{
		{name: "every predicate type once, in order", want: func(t *testing.T, r *Rules) {
			var got []string
			for _, a := range r.Attestations {
				got = append(got, a.Name+"="+a.PredicateType)
			}
			want := []string{"sbom=https://cyclonedx.org/bom", "provenance=https://slsa.dev/provenance/v1",
				"vulnerabilities=https://cyclonedx.org/vex", "signature=" + sign.ImageSignaturePredicateType}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("attestations %v, want %v", got, want)
			}
		}},
		{name: "the ML-BOM's own predicate type is required too", edit: func(f *Facts) {
			f.Documents[1].PredicateType = "https://example.com/mlbom"
		}, want: func(t *testing.T, r *Rules) {
			if len(r.Attestations) != 5 || r.Attestations[1].Name != "mlbom" {
				t.Errorf("attestations %+v", r.Attestations)
			}
		}},
		{name: "images as a pod names them", want: func(t *testing.T, r *Rules) {
			want := []string{"ghcr.io/acme/app", "ghcr.io/acme/app:*", "ghcr.io/acme/app@*"}
			if !reflect.DeepEqual(r.Images, want) || r.Name != "bom-attest-acme-app" {
				t.Errorf("images %v name %s", r.Images, r.Name)
			}
		}},
		{name: "kyverno-image-glob replaces them", edit: func(f *Facts) { f.ImageGlobs = []string{"ghcr.io/acme/*"} }, want: func(t *testing.T, r *Rules) {
			if !reflect.DeepEqual(r.Images, []string{"ghcr.io/acme/*"}) || r.Name != "bom-attest-acme" {
				t.Errorf("images %v name %s", r.Images, r.Name)
			}
		}},
		{name: "a fork and other workflows do not match", want: func(t *testing.T, r *Rules) {
			for san, want := range map[string]bool{
				fixtureSAN: true,
				"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3":       true,
				"https://github.com/acme/app/.github/workflows/release.yml@refs/pull/7/merge":      true,
				"https://github.com/fork/app/.github/workflows/release.yml@refs/heads/main":        false,
				"https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main":   false,
				"https://github.com/acme/app/.github/workflows/release.yml.evil@refs/heads/main":   false,
				"https://github.com/acme/app/.github/workflows/other.yml@refs/heads/main":          false,
				"https://github.com/acme/app/.github/workflows/release.yml@":                       false,
				"https://githubXcom/acme/app/.github/workflows/release.yml@refs/heads/main":        false,
				"https://evil.example/https://github.com/acme/app/.github/workflows/release.yml@x": false,
			} {
				if got := r.MatchesSigner(san); got != want {
					t.Errorf("%s matches %v, want %v", san, got, want)
				}
			}
		}},
		{name: "kyverno-ref-pattern narrows the ref", edit: func(f *Facts) { f.RefPattern = `refs/tags/v.*` }, want: func(t *testing.T, r *Rules) {
			if r.MatchesSigner(fixtureSAN) || !r.MatchesSigner(strings.Replace(fixtureSAN, "refs/heads/main", "refs/tags/v1", 1)) {
				t.Errorf("subject %s", r.Subject)
			}
			if r.MatchesSigner(strings.Replace(fixtureSAN, "refs/heads/main", "refs/heads/x-refs/tags/v1", 1)) {
				t.Errorf("subject %s is not anchored on the ref", r.Subject)
			}
		}},
		{name: "no kind", edit: func(f *Facts) { f.Kind = KindNone }, err: ErrFacts},
		{name: "a ref pattern with anchors", edit: func(f *Facts) { f.RefPattern = "^refs/tags/.*$" }, err: ErrFacts},
		{name: "a ref pattern that is no regular expression", edit: func(f *Facts) { f.RefPattern = "refs/(tags" }, err: ErrFacts},
		{name: "an unbalanced glob", edit: func(f *Facts) { f.ImageGlobs = []string{"ghcr.io/{acme"} }, err: ErrFacts},
		{name: "a SAN that is no workflow ref", edit: func(f *Facts) { f.SAN = "repo:acme/app:ref:refs/heads/main" }, err: ErrFacts},
		{name: "provenance without its workflow", edit: func(f *Facts) { f.Workflow = nil }, err: ErrFacts},
		{name: "nothing attested about the image", edit: func(f *Facts) { f.Documents = nil }, err: ErrFacts},
		{name: "a trusted root that does not parse", edit: func(f *Facts) { f.Trust.TrustedRoot = []byte(`{"mediaType":1}`) }, err: ErrFacts},
		{name: "a trusted root too large to inline", edit: func(f *Facts) {
			f.Trust.TrustedRoot = make([]byte, MaxInlineTrustedRoot+1)
		}, err: ErrFacts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			if tt.edit != nil {
				tt.edit(&f)
			}
			r, err := New(f)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.want != nil && err == nil {
				tt.want(t, r)
			}
		})
	}
}
