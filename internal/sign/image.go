package sign

import (
	"context"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// ImageSignaturePredicateType is the predicate type of the statement cosign v3 signs an image
// with in its (default) new bundle format: cosign's types.CosignSignPredicateType, which
// `cosign sign` puts in signDigestBundle (cmd/cosign/cli/sign/sign.go, v3.1.3).
const ImageSignaturePredicateType = "https://sigstore.dev/cosign/sign/v1"

// GitHubTUFMirror is GitHub's Sigstore TUF repository, which GitHubTUFRoot starts from.
const GitHubTUFMirror = gitHubTUFMirror

// ImageSignatureStatement is what signing an image signs, as cosign v3 does: an in-toto statement
// whose subject is the image manifest digest, with an empty predicate of type
// ImageSignaturePredicateType. cosign's subject carries only the digest; ours also names the
// image, as every statement of a run does — verifiers (cosign's IntotoSubjectClaimVerifier,
// Kyverno) match the digest alone.
func ImageSignatureStatement(image statement.Subject) ([]byte, error) {
	return statement.New("image-signature", []statement.Subject{image}, ImageSignaturePredicateType, []byte("{}"))
}

// SignImage signs the image manifest digest itself with the run's key and certificate, into a
// DSSE bundle that `cosign verify` accepts once it is pushed as a referrer of the image (cosign
// v3 verifies an image signature of the new bundle format as an attestation about the digest).
// Like Sign, it returns only a bundle that verifies.
func (s *Signer) SignImage(ctx context.Context, image statement.Subject) ([]byte, *VerifyResult, error) {
	st, err := ImageSignatureStatement(image)
	if err != nil {
		return nil, nil, err
	}
	return s.Sign(ctx, st)
}

// Plan is where the signer signs: its instance and services, after following the instance's
// signing config.
func (s *Signer) Plan() Plan { return s.plan }

// TrustedRoot is the trusted root the signer verifies its bundles with, as JSON, for a policy
// that must carry it.
func (s *Signer) TrustedRoot() ([]byte, error) {
	return trustedRootJSON(s.trusted)
}

// FetchTrustedRoot reads what NewSigner would trust — the trusted-root file, or the instance's
// trusted root from its TUF repository — without a token, for a dry run that writes a policy.
// Every request goes through t.
func FetchTrustedRoot(ctx context.Context, opts Options, t *transport.Transport) ([]byte, error) {
	plan, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = transport.New(transport.WithMaxResponse(maxAnswer))
	}
	plan.FromSigningConfig = false
	tr, err := fetchTrust(ctx, plan, t, opts.TUFRoot)
	if err != nil {
		return nil, t.RedactError(err)
	}
	return trustedRootJSON(tr.root)
}

func trustedRootJSON(m root.TrustedMaterial) ([]byte, error) {
	tr, ok := m.(*root.TrustedRoot)
	if !ok {
		return nil, fmt.Errorf("%w: the trusted material is not a trusted root", ErrTrustedRoot)
	}
	out, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	return out, nil
}
