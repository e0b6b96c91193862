package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// TestPublishedBundlesVerify signs real bundles with the loopback Sigstore stack (an SBOM and a
// SLSA provenance made from the stack's own ID token), publishes them to the GitHub API fake
// and as referrers on both registries, finds them again and verifies what was found.
func TestPublishedBundlesVerify(t *testing.T) {
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	ctx := context.Background()
	trusted, err := sign.ReadTrustedRoot(ctx, stack.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}

	// Provenance claims come from a token verified against the issuer's JWKS.
	tok, err := stack.OIDC.Mint(provenance.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := provenance.VerifyToken(ctx, tok, provenance.VerifyOptions{Issuer: stack.OIDC.URL})
	if err != nil {
		t.Fatal(err)
	}
	predicate, err := provenance.Build(claims, stack.ServerURL)
	if err != nil {
		t.Fatal(err)
	}

	api := testserver.GitHubAPIStart(t, testRepo, testToken)
	gh := newClient(t, api)

	for i, reg := range registries(t) {
		mode := []string{"rekor", "tsa"}[i%2]
		t.Run(reg.name+"/"+mode, func(t *testing.T) {
			opts := sign.Options{
				ServerURL:       stack.ServerURL,
				FulcioURL:       stack.FulcioURL,
				TrustedRootPath: stack.TrustedRootPath,
				Transport:       transport.New(transport.WithAttemptTimeout(10 * time.Second)),
			}
			if mode == "rekor" {
				opts.RekorURL = stack.RekorURL
			} else {
				opts.TSAURL = stack.TSAURL
			}
			idToken, err := sign.RequestIDToken(ctx, opts.Transport, sign.TokenRequest{URL: stack.OIDC.TokenRequestURL, Token: stack.OIDC.TokenRequestToken}, nil)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := sign.NewSigner(ctx, idToken, opts)
			if err != nil {
				t.Fatal(err)
			}

			subject := pushImage(t, reg.host, "app/published", reg.name)
			subjectName, err := statement.SubjectName(subject.Context().Name())
			if err != nil {
				t.Fatal(err)
			}
			docs := map[string][]byte{
				statement.PredicateCycloneDX: []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}`),
				provenance.PredicateType:     predicate,
			}
			pushed := map[string]bool{}
			for pt, pred := range docs {
				st, err := statement.New("doc", []statement.Subject{{Name: subjectName, Digest: subject.DigestStr()}}, pt, pred)
				if err != nil {
					t.Fatal(err)
				}
				bundle, _, err := signer.Sign(ctx, st)
				if err != nil {
					t.Fatal(err)
				}
				d, err := store.PushReferrer(ctx, subject, bundle, pt, opts2(store.ModeAuto))
				if err != nil {
					t.Fatalf("PushReferrer(%s): %v", pt, err)
				}
				pushed[d.String()] = true
				a, err := gh.Upload(ctx, bundle)
				if err != nil {
					t.Fatalf("Upload(%s): %v", pt, err)
				}
				if a.ID == 0 {
					t.Errorf("Upload(%s) returned no id", pt)
				}
			}

			found, err := store.FindBundles(ctx, subject, opts2(store.ModeAuto))
			if err != nil {
				t.Fatalf("FindBundles: %v", err)
			}
			if len(found) != len(docs) {
				t.Fatalf("found %d bundles, want %d", len(found), len(docs))
			}
			for _, f := range found {
				if !pushed[f.Digest.String()] {
					t.Errorf("found referrer %s that was not pushed", f.Digest)
				}
				res, err := sign.Verify(f.Bundle, trusted, sign.Policy{
					SubjectDigest: subject.DigestStr(),
					Issuer:        stack.OIDC.URL,
					SAN:           stack.ExpectedSAN(),
					PredicateType: f.PredicateType,
				})
				if err != nil {
					t.Errorf("bundle %s (%s) found in the registry does not verify: %v", f.Digest, f.PredicateType, err)
					continue
				}
				if _, ok := docs[res.PredicateType]; !ok {
					t.Errorf("verified predicate type %q was not pushed", res.PredicateType)
				}
			}
		})
	}
	if got := len(api.Attestations()); got != 4 {
		t.Errorf("GitHub fake stored %d attestations, want 4", got)
	}
}

func opts2(mode store.ReferrersMode) store.ReferrerOptions {
	o := opts(mode)
	o.Now = nil
	return o
}
