package admission

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParseRefuses reads policies that are not what bom-attest writes, or that say something it
// cannot evaluate as Kyverno would: each is refused, naming what is wrong, never read loosely.
func TestParseRefuses(t *testing.T) {
	ivp, err := Render(fixtureRules(t, KindImageValidating, "github"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Render(fixtureRules(t, KindClusterPolicy, "public-good"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(doc []byte, old, new string) string {
		t.Helper()
		if !strings.Contains(string(doc), old) {
			t.Fatalf("the policy has no %q", old)
		}
		return strings.Replace(string(doc), old, new, 1)
	}
	tests := []struct {
		name, policy, says string
	}{
		{"empty", "", "empty"},
		{"comments only", "# nothing\n", "empty"},
		{"not YAML", "{[", "not valid YAML"},
		{"two documents", string(ivp) + "---\n" + string(ivp), "more than one"},
		{"an alias", "apiVersion: &v kyverno.io/v1\nkind: *v\n", "anchors"},
		{"another kind", "apiVersion: v1\nkind: ConfigMap\n", "ConfigMap"},
		{"an older ImageValidatingPolicy version", edit(ivp, "apiVersion: policies.kyverno.io/v1", "apiVersion: policies.kyverno.io/v1beta1"), "v1beta1"},
		{"an unknown field", edit(ivp, "  failurePolicy: Fail", "  failurePolicy: Fail\n  skipImages: true"), "skipImages"},
		{"a CEL image match", edit(ivp, "- glob: ghcr.io/acme/app\n", "- expression: \"true\"\n"), "glob"},
		{"an inline trusted root by expression", edit(ivp, "trustedRoot:\n          value: |-", "trustedRoot:\n          expression: variables.root\n          value: |-"), "inline"},
		{"a validation it cannot evaluate", edit(ivp, "verifyImageSignatures(image, [attestors.workflow]) > 0)", "verifyImageSignatures(image, [attestors.workflow]) >= 0)"), "spec.validations[0]"},
		{"a condition that is not equality", edit(ivp, `.predicate.buildDefinition.buildType == "`, `.predicate.buildDefinition.buildType != "`), "spec.validations[2]"},
		{"an attestation checked twice", edit(ivp, "attestations.sbom, [attestors.workflow]", "attestations.provenance, [attestors.workflow]"), "twice"},
		{"two identities", edit(ivp, "          identities:\n", "          identities:\n            - issuer: https://x\n              subject: y\n"), "want one identity"},
		{"a ClusterPolicy of type Cosign", edit(cp, "type: SigstoreBundle", "type: Cosign"), "SigstoreBundle"},
		{"a condition with another operator", edit(cp, "operator: Equals", "operator: NotEquals"), "Equals"},
		{"an attestation with another attestor", edit(cp, "                        subjectRegExp: ^https", "                        subjectRegExp: ^http"), "not the image's attestor"},
		{"a keyless attestor without rekor.url", edit(cp, "url: https://rekor.sigstore.dev\n", "url: \"\"\n"), "rekor.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.policy))
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v, want ErrPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
}

// TestParseHostile: a policy file is untrusted input; nesting and size are bounded and parsing
// stays fast.
func TestParseHostile(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	big := "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\n# " + strings.Repeat("x", MaxPolicy) + "\n"
	for name, doc := range map[string]string{"deep": deep, "big": big} {
		start := time.Now()
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: error %v, want ErrPolicy", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %s", name, d)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, kind := range []Kind{KindImageValidating, KindClusterPolicy} {
		for _, inst := range instances {
			doc, err := Render(fixtureRules(f, kind, inst))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(doc)
		}
	}
	f.Add([]byte("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: {rules: [{verifyImages: [{type: SigstoreBundle}]}]}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := Parse(doc)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v is not ErrPolicy", err)
			}
			return
		}
		// What reads back renders again, and reads back the same.
		out, err := Render(r)
		if err != nil {
			return
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("a policy read back does not read back once rendered: %v\n%s", err, out)
		}
	})
}
