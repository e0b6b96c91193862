package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// signedBundles signs the SBOM statement once per mode on one stack.
func signedBundles(t *testing.T, st *testserver.SigningStack) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, mode := range []string{"rekor", "tsa", "rekor2"} {
		s := newStackSigner(t, st, stackOptions(st, mode, nil))
		b, _, err := s.Sign(context.Background(), sbomStatement(t))
		if err != nil {
			t.Fatal(err)
		}
		out[mode] = b
	}
	return out
}

// mutate edits a bundle's JSON.
func mutate(t *testing.T, b []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func material(m map[string]any) map[string]any { return m["verificationMaterial"].(map[string]any) }

func TestVerify(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	other := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	bundles := signedBundles(t, st)
	trusted, err := ReadTrustedRoot(context.Background(), st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := ReadTrustedRoot(context.Background(), other.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	good := Policy{SubjectDigest: imageDigest, Issuer: st.OIDC.URL, SANRegex: `^https://github\.com/acme/`, OwnerURI: "https://github.com/acme"}

	tamper := func(m map[string]any) {
		env := m["dsseEnvelope"].(map[string]any)
		payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
		payload = []byte(strings.Replace(string(payload), "openssl", "openssh", 1))
		env["payload"] = base64.StdEncoding.EncodeToString(payload)
	}
	tests := []struct {
		name   string
		mode   string
		edit   func(m map[string]any)
		policy func(p *Policy)
		other  bool
		err    error
	}{
		{name: "rekor bundle", mode: "rekor"},
		{name: "tsa bundle", mode: "tsa"},
		{name: "rekor v2 bundle", mode: "rekor2"},
		{name: "rekor v2 without its timestamp", mode: "rekor2", edit: func(m map[string]any) { delete(material(m), "timestampVerificationData") }, err: ErrVerification},
		{name: "rekor v2 without its inclusion proof", mode: "rekor2", edit: func(m map[string]any) {
			delete(material(m)["tlogEntries"].([]any)[0].(map[string]any), "inclusionProof")
		}, err: ErrVerification},
		{name: "rekor v2 tampered", mode: "rekor2", edit: tamper, err: ErrVerification},
		{name: "another stack's root rekor v2", mode: "rekor2", other: true, err: ErrVerification},
		{name: "exact SAN", mode: "tsa", policy: func(p *Policy) { p.SAN, p.SANRegex = st.ExpectedSAN(), "" }},
		{name: "repository", mode: "rekor", policy: func(p *Policy) { p.RepositoryURI = "https://github.com/ACME/app" }},
		{name: "predicate type", mode: "rekor", policy: func(p *Policy) { p.PredicateType = statement.PredicateCycloneDX }},
		{name: "wrong digest", mode: "rekor", policy: func(p *Policy) { p.SubjectDigest = otherDigest }, err: ErrVerification},
		{name: "wrong digest tsa", mode: "tsa", policy: func(p *Policy) { p.SubjectDigest = otherDigest }, err: ErrVerification},
		{name: "wrong owner SAN", mode: "rekor", policy: func(p *Policy) { p.SANRegex = `^https://github\.com/evil/` }, err: ErrVerification},
		{name: "wrong owner extension", mode: "tsa", policy: func(p *Policy) { p.OwnerURI = "https://github.com/evil" }, err: ErrVerification},
		{name: "wrong repository", mode: "tsa", policy: func(p *Policy) { p.RepositoryURI = "https://github.com/acme/other" }, err: ErrVerification},
		{name: "wrong issuer", mode: "rekor", policy: func(p *Policy) { p.Issuer = GitHubIssuer }, err: ErrVerification},
		{name: "wrong issuer tsa", mode: "tsa", policy: func(p *Policy) { p.Issuer = GitHubIssuer }, err: ErrVerification},
		{name: "wrong predicate type", mode: "tsa", policy: func(p *Policy) { p.PredicateType = "https://slsa.dev/provenance/v1" }, err: ErrVerification},
		{name: "tampered payload", mode: "rekor", edit: tamper, err: ErrVerification},
		{name: "tampered payload tsa", mode: "tsa", edit: tamper, err: ErrVerification},
		{name: "missing timestamp", mode: "tsa", edit: func(m map[string]any) { delete(material(m), "timestampVerificationData") }, err: ErrVerification},
		{name: "missing log entry", mode: "rekor", edit: func(m map[string]any) { delete(material(m), "tlogEntries") }, err: ErrVerification},
		{name: "missing inclusion promise", mode: "rekor", edit: func(m map[string]any) {
			delete(material(m)["tlogEntries"].([]any)[0].(map[string]any), "inclusionPromise")
		}, err: ErrVerification},
		{name: "another stack's root", mode: "rekor", other: true, err: ErrVerification},
		{name: "another stack's root tsa", mode: "tsa", other: true, err: ErrVerification},
		{name: "not a bundle", mode: "tsa", edit: func(m map[string]any) { delete(m, "dsseEnvelope") }, err: ErrVerification},
		{name: "bad digest", mode: "tsa", policy: func(p *Policy) { p.SubjectDigest = "sha256:abc" }, err: ErrVerification},
		{name: "no identity", mode: "tsa", policy: func(p *Policy) { p.SANRegex = "" }, err: ErrVerification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bundles[tt.mode]
			if tt.edit != nil {
				b = mutate(t, b, tt.edit)
			}
			p := good
			if tt.policy != nil {
				tt.policy(&p)
			}
			tr := trusted
			if tt.other {
				tr = otherRoot
			}
			res, err := Verify(b, tr, p)
			if err != nil {
				t.Logf("rejected: %v", err)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.err)
			}
			if err == nil && (res.PredicateType != statement.PredicateCycloneDX || res.SAN != st.ExpectedSAN() || len(res.Timestamps) == 0) {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}
