package admission

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

const (
	evalImage  = "registry.example/acme/app"
	evalDigest = "sha256:9c0a4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
	evalOther  = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// stackSigner signs for the stack's current claims, logging in Rekor (mode "rekor") or only
// timestamping ("tsa"), as a run does.
func stackSigner(t *testing.T, st *testserver.SigningStack, mode string) *sign.Signer {
	t.Helper()
	tr := transport.New(transport.WithBase(st.TUFClient.Transport), transport.WithMaxResponse(16<<20))
	opts := sign.Options{ServerURL: st.ServerURL, FulcioURL: st.FulcioURL, TrustedRootPath: st.TrustedRootPath, Transport: tr}
	if mode == "rekor" {
		opts.RekorURL = st.RekorURL
	} else {
		opts.TSAURL = st.TSAURL
	}
	tok, err := sign.RequestIDToken(context.Background(), tr, sign.TokenRequest{URL: st.OIDC.TokenRequestURL, Token: st.OIDC.TokenRequestToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(context.Background(), tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signed is one bundle of each kind a run makes, for a digest.
type signed struct{ sbom, provenance, otherWorkflow, signature Bundle }

func signAll(t *testing.T, s *sign.Signer, who, digest string) signed {
	t.Helper()
	subject := statement.Subject{Name: evalImage, Digest: digest}
	one := func(name, predicateType string, predicate any) Bundle {
		p, _ := json.Marshal(predicate)
		st, err := statement.New(name, []statement.Subject{subject}, predicateType, p)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := s.Sign(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		return Bundle{Name: who + " " + name, JSON: b}
	}
	prov := func(path string) *provenance.Predicate {
		p := &provenance.Predicate{}
		p.BuildDefinition.BuildType = provenance.BuildType
		p.BuildDefinition.ExternalParameters.Workflow = provenance.Workflow{Repository: "https://github.com/acme/app", Path: path, Ref: "refs/heads/main"}
		return p
	}
	sig, _, err := s.SignImage(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return signed{
		sbom:          one("sbom", statement.PredicateCycloneDX, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.6"}),
		provenance:    one("provenance", provenance.PredicateType, prov(".github/workflows/release.yml")),
		otherWorkflow: one("provenance", provenance.PredicateType, prov(".github/workflows/other.yml")),
		signature:     Bundle{Name: who + " image signature", JSON: sig},
	}
}

func TestEvaluate(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	trusted, err := root.NewTrustedRootFromPath(st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	san := st.ExpectedSAN()
	ours := signAll(t, stackSigner(t, st, "rekor"), "ours", evalDigest)
	timestamped := signAll(t, stackSigner(t, st, "tsa"), "timestamped", evalDigest)
	aboutOther := signAll(t, stackSigner(t, st, "rekor"), "other digest", evalOther)
	// Another repository's workflow, as a fork's run would sign.
	st.OIDC.SetClaim("job_workflow_ref", "fork/app/.github/workflows/release.yml@refs/heads/main")
	st.OIDC.SetClaim("repository", "fork/app")
	theirs := signAll(t, stackSigner(t, st, "rekor"), "fork", evalDigest)

	rules := func(kind Kind, logURL string) *Rules {
		f := Facts{Kind: kind, SubjectName: evalImage, SAN: san, Issuer: st.OIDC.URL,
			Documents: []Document{{Name: "sbom", PredicateType: statement.PredicateCycloneDX},
				{Name: "provenance", PredicateType: provenance.PredicateType}, {Name: "signature", PredicateType: sign.ImageSignaturePredicateType}},
			Workflow: &Workflow{BuildType: provenance.BuildType, Repository: "https://github.com/acme/app", Path: ".github/workflows/release.yml"},
			Trust:    Trust{Instance: sign.InstanceCustom, LogURL: logURL}}
		r, err := New(f)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	many := make([]Bundle, MaxReferrers)
	for i := range many {
		many[i] = ours.sbom
	}
	tests := []struct {
		name     string
		kind     Kind
		logURL   string
		image    string
		bundles  []Bundle
		admitted bool
		failing  []string // the rules that fail (their start), when not admitted
		err      error
	}{
		{name: "signed and attested", bundles: []Bundle{ours.sbom, ours.provenance, ours.signature}, admitted: true},
		{name: "as a ClusterPolicy", kind: KindClusterPolicy, bundles: []Bundle{ours.signature, ours.sbom, ours.provenance}, admitted: true},
		{name: "timestamped only, no log required", bundles: []Bundle{timestamped.sbom, timestamped.provenance, timestamped.signature}, admitted: true},
		{name: "unsigned", failing: []string{"signed by", "attestation"}},
		{name: "signed by another repository's workflow", bundles: []Bundle{theirs.sbom, theirs.provenance, theirs.signature}, failing: []string{"signed by", "attestation"}},
		{name: "ours and a fork's: the fork's do not count", bundles: []Bundle{theirs.provenance, ours.sbom, ours.signature}, failing: []string{"attestation provenance"}},
		{name: "missing the provenance attestation", bundles: []Bundle{ours.sbom, ours.signature}, failing: []string{"attestation provenance"}},
		{name: "missing the image signature", bundles: []Bundle{ours.sbom, ours.provenance}, failing: []string{"attestation signature"}},
		{name: "provenance of another workflow file", bundles: []Bundle{ours.sbom, ours.otherWorkflow, ours.signature}, failing: []string{"attestation provenance"}},
		{name: "provenance of two workflows: every one must match", bundles: []Bundle{ours.sbom, ours.provenance, ours.otherWorkflow, ours.signature}, failing: []string{"attestation provenance"}},
		{name: "bundles about another digest", bundles: []Bundle{aboutOther.sbom, aboutOther.provenance, aboutOther.signature}, failing: []string{"signed by", "attestation"}},
		{name: "the log required, bundles only timestamped", logURL: st.RekorURL, bundles: []Bundle{timestamped.sbom, timestamped.provenance, timestamped.signature}, failing: []string{"signed by", "attestation"}},
		{name: "the log required and there", logURL: st.RekorURL, bundles: []Bundle{ours.sbom, ours.provenance, ours.signature}, admitted: true},
		{name: "a ClusterPolicy past Kyverno's 50 referrers", kind: KindClusterPolicy, bundles: append(many, ours.provenance, ours.signature), failing: []string{"at most 50 referrers"}},
		{name: "an ImageValidatingPolicy has no such limit", bundles: append(many, ours.provenance, ours.signature), admitted: true},
		{name: "an image the policy does not select", image: "registry.example/acme/other@" + evalDigest, err: ErrNotMatched},
		{name: "an image without digest", image: "registry.example/acme/app:latest", err: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == "" {
				kind = KindImageValidating
			}
			image := tt.image
			if image == "" {
				image = evalImage + "@" + evalDigest
			}
			d, err := Evaluate(rules(kind, tt.logURL), image, tt.bundles, trusted)
			if tt.image != "" && !strings.Contains(tt.image, "@") {
				if err == nil {
					t.Fatal("an image without a digest evaluated")
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d.Admitted != tt.admitted {
				t.Fatalf("admitted %v, want %v: %+v", d.Admitted, tt.admitted, d.Checks)
			}
			for _, c := range d.Checks {
				if !c.OK && !startsWithAny(c.Rule, tt.failing) {
					t.Errorf("rule %q fails too: %s", c.Rule, c.Detail)
				}
			}
			for _, f := range tt.failing {
				if !failed(d, f) {
					t.Errorf("no failing rule %q: %+v", f, d.Checks)
				}
			}
		})
	}
}

func startsWithAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func failed(d *Decision, rule string) bool {
	for _, c := range d.Checks {
		if !c.OK && strings.HasPrefix(c.Rule, rule) {
			return true
		}
	}
	return false
}

func TestWildcard(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"ghcr.io/acme/app:*", "ghcr.io/acme/app:v1", true},
		{"ghcr.io/acme/app:*", "ghcr.io/acme/app", false},
		{"ghcr.io/acme/*", "ghcr.io/acme/app@sha256:00", true},
		{"ghcr.io/acme/app", "ghcr.io/acme/app", true},
		{"ghcr.io/acme/app", "ghcr.io/acme/apps", false},
		{"ghcr.io/acme/ap?", "ghcr.io/acme/app", true},
		{"ghcr.io/acme/ap?", "ghcr.io/acme/ap", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 200), false},
	} {
		if got := wildcard(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
