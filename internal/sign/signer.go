package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sigsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// maxAnswer bounds what a Sigstore service may answer when the caller gives no transport.
const maxAnswer = 16 << 20

const (
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the Sigstore bundle version written.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Signer signs for one run: one ephemeral key, one certificate, bound to the workflow identity in
// the ID token, and the services and trusted material of the instance.
type Signer struct {
	plan    Plan
	key     sigsign.Keypair
	cert    []byte // DER
	trusted root.TrustedMaterial
	t       *transport.Transport
	logf    func(format string, args ...any)
}

// NewSigner resolves the plan, loads the trusted material (and, for public-good, the services
// the instance's signing config names), makes the run's ephemeral key and gets its certificate
// from Fulcio with idToken, which is not kept afterwards. The certificate must chain to the
// trusted root and name the identity the token claims.
func NewSigner(ctx context.Context, idToken string, opts Options) (*Signer, error) {
	t := opts.Transport
	if t == nil {
		t = transport.New(transport.WithMaxResponse(maxAnswer))
	}
	t.AddSecret(idToken)
	logf := func(format string, args ...any) {
		if opts.Logf != nil {
			opts.Logf("%s", t.Redact(fmt.Sprintf(format, args...)))
		}
	}
	s, err := newSigner(ctx, idToken, opts, t, logf)
	if err != nil {
		return nil, t.RedactError(err)
	}
	return s, nil
}

func newSigner(ctx context.Context, idToken string, opts Options, t *transport.Transport, logf func(string, ...any)) (*Signer, error) {
	plan, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	tr, err := fetchTrust(ctx, plan, t, opts.TUFRoot)
	if err != nil {
		return nil, err
	}
	switch {
	case plan.TrustedRootPath != "":
		logf("sign: trusted root from %s", plan.TrustedRootPath)
	case tr.signingConfig != nil:
		if plan, err = plan.follow(tr.signingConfig, time.Now()); err != nil {
			return nil, err
		}
		logf("sign: trusted root and signing config of %s from TUF at %s", plan.Instance, plan.TUFMirror)
	default:
		logf("sign: trusted root of %s from TUF at %s", plan.Instance, plan.TUFMirror)
	}
	logf("sign: %s instance: %s", plan.Instance, plan.Services())

	claims, err := parseClaims(idToken)
	if err != nil {
		return nil, err
	}
	if opts.Issuer != "" && opts.Issuer != claims.Issuer {
		return nil, fmt.Errorf("%w: the ID token is from %s, expected %s", ErrIdentity, claims.Issuer, opts.Issuer)
	}
	server, _ := serverURL(opts.ServerURL) // NewPlan has checked it
	want := Identity{SAN: server + "/" + claims.JobWorkflowRef, Issuer: claims.Issuer}

	key, err := sigsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	var status int
	der, err := newFulcio(ctx, t, plan.FulcioURL, &status).GetCertificate(ctx, key, &sigsign.CertificateProviderOptions{IDToken: idToken})
	if err != nil {
		return nil, fmt.Errorf("%w: %s%s: %w", ErrFulcio, plan.FulcioURL, answered(status), unquoted(err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate from %s: %w", ErrFulcio, plan.FulcioURL, err)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.GetPublicKey()) {
		return nil, fmt.Errorf("%w: %s certified another key", ErrFulcio, plan.FulcioURL)
	}
	if _, err := verify.VerifyLeafCertificate(time.Now(), cert, tr.root); err != nil {
		return nil, fmt.Errorf("%w: the certificate from %s does not chain to the trusted root: %w", ErrFulcio, plan.FulcioURL, err)
	}
	summary, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate from %s: %w", ErrFulcio, plan.FulcioURL, err)
	}
	if summary.SubjectAlternativeName != want.SAN || summary.Issuer != want.Issuer {
		return nil, fmt.Errorf("%w: %s certified %s (issuer %s), expected %s (issuer %s)", ErrIdentity,
			plan.FulcioURL, summary.SubjectAlternativeName, summary.Issuer, want.SAN, want.Issuer)
	}
	plan.Identity = want
	logf("sign: %s certified %s (issuer %s) until %s", plan.FulcioURL, want.SAN, want.Issuer, cert.NotAfter.UTC().Format(time.RFC3339))
	return &Signer{plan: plan, key: key, cert: der, trusted: tr.root, t: t, logf: logf}, nil
}

// Identity is the certificate's identity.
func (s *Signer) Identity() Identity { return s.plan.Identity }

// Sign signs an in-toto statement into a v0.3 bundle and verifies the bundle against the
// trusted root and the signer's identity; a bundle that does not verify is not returned.
func (s *Signer) Sign(ctx context.Context, stmt []byte) ([]byte, *VerifyResult, error) {
	b, res, err := s.sign(ctx, stmt)
	if err != nil {
		return nil, nil, s.t.RedactError(err)
	}
	return b, res, nil
}

func (s *Signer) sign(ctx context.Context, stmt []byte) ([]byte, *VerifyResult, error) {
	head, err := parseStatement(stmt)
	if err != nil {
		return nil, nil, err
	}
	out, err := s.bundle(ctx, &sigsign.DSSEData{Data: stmt, PayloadType: PayloadType})
	if err != nil {
		return nil, nil, err
	}
	res, err := Verify(out, s.trusted, Policy{
		SubjectDigest: head.digests[0],
		Issuer:        s.plan.Identity.Issuer,
		SAN:           s.plan.Identity.SAN,
		PredicateType: head.PredicateType,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("self-verification failed, the bundle was discarded: %w", err)
	}
	switch {
	case s.plan.RekorVersion == 1 && !res.hasTimestamp(TimeSourceLog):
		return nil, nil, fmt.Errorf("%w: self-verification found no verified Rekor entry", ErrVerification)
	case s.plan.RekorVersion == 2 && res.LogIndex < 0:
		return nil, nil, fmt.Errorf("%w: self-verification found no Rekor v2 entry", ErrVerification)
	case s.plan.TSAURL != "" && !res.hasTimestamp(TimeSourceTSA):
		return nil, nil, fmt.Errorf("%w: self-verification found no verified timestamp", ErrVerification)
	case !bytes.Equal(res.Statement, stmt):
		return nil, nil, fmt.Errorf("%w: the verified payload is not the statement signed", ErrVerification)
	}
	return out, res, nil
}

// bundle signs content with the run's key and certificate through sigstore-go, with a timestamp
// and a log entry as the plan says, and has sigstore-go verify the result against the trusted
// root. Content is a DSSE envelope of an in-toto statement: an attestation, or the image
// signature, which cosign v3 also signs as a statement about the digest.
func (s *Signer) bundle(ctx context.Context, content sigsign.Content) ([]byte, error) {
	st := &stage{current: ErrVerification}
	opts := sigsign.BundleOptions{
		CertificateProvider:        fixedCertificate(s.cert),
		CertificateProviderOptions: &sigsign.CertificateProviderOptions{},
		Context:                    ctx,
		TrustedRoot:                s.trusted,
	}
	if s.plan.RekorURL != "" {
		log, err := newRekor(s.t, s.plan.RekorURL, s.plan.RekorVersion, s.logf)
		if err != nil {
			return nil, err
		}
		log.stage = st
		opts.TransparencyLogs = []sigsign.Transparency{log}
		st.current = ErrRekor
	}
	var tsaStatus int
	if s.plan.TSAURL != "" {
		opts.TimestampAuthorities = []*sigsign.TimestampAuthority{newTSA(ctx, s.t, s.plan.TSAURL, &tsaStatus)}
		// Bundle asks the TSA first. Without a log, a failure after the timestamp is sigstore-go
		// finding the bundle does not verify, which, as the certificate was checked against the
		// trusted root when it was issued, is the timestamp's doing.
		st.current = ErrTSA
	}
	pb, err := sigsign.Bundle(content, s.key, opts)
	if err != nil {
		switch st.current {
		case ErrTSA:
			return nil, fmt.Errorf("%w: %s%s: %w", ErrTSA, s.plan.TSAURL, answered(tsaStatus), unquoted(err))
		case ErrRekor:
			return nil, fmt.Errorf("%w: %s: %w", ErrRekor, s.plan.RekorURL, unquoted(err))
		}
		return nil, fmt.Errorf("%w: sigstore-go: %w", st.current, err)
	}
	return encodeBundle(pb)
}

// encodeBundle writes a bundle as compact JSON: protojson varies its spacing on purpose; the
// file should not.
func encodeBundle(pb *protobundle.Bundle) ([]byte, error) {
	raw, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return out.Bytes(), nil
}

// fixedCertificate hands sigstore-go the run's one certificate for every bundle, so a run makes
// one key and one Fulcio request however many documents it signs.
type fixedCertificate []byte

func (c fixedCertificate) GetCertificate(context.Context, sigsign.Keypair, *sigsign.CertificateProviderOptions) ([]byte, error) {
	return c, nil
}

type statementHead struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
	digests       []string
}

func parseStatement(stmt []byte) (*statementHead, error) {
	var h statementHead
	if err := json.Unmarshal(stmt, &h); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %w", ErrStatement, err)
	}
	if h.Type != statement.Type {
		return nil, fmt.Errorf("%w: _type is %q, not %s", ErrStatement, h.Type, statement.Type)
	}
	if h.PredicateType == "" {
		return nil, fmt.Errorf("%w: no predicateType", ErrStatement)
	}
	for _, s := range h.Subject {
		if d := s.Digest["sha256"]; d != "" {
			h.digests = append(h.digests, "sha256:"+d)
		}
	}
	if len(h.digests) == 0 {
		return nil, fmt.Errorf("%w: no subject with a sha256 digest", ErrStatement)
	}
	return &h, nil
}
