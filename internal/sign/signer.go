package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"

	"github.com/bom-attest/bom-attest/internal/statement"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the Sigstore bundle version written.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Signer signs statements for one run: one ephemeral key, one certificate, bound to the
// workflow identity in the ID token.
type Signer struct {
	plan    Plan
	key     *ecdsa.PrivateKey
	cert    *x509.Certificate
	certPEM []byte
	trusted root.TrustedMaterial
	r       *retrier
	red     *redactor
	logf    func(format string, args ...any)
}

// NewSigner resolves the plan, loads the trusted root, fetches the ID token (masking it at
// once), makes the run's ephemeral key and gets its certificate from Fulcio. The token is not
// kept afterwards.
func NewSigner(ctx context.Context, opts Options) (*Signer, error) {
	red := &redactor{}
	red.add(opts.TokenRequestToken)
	logf := func(format string, args ...any) {
		if opts.Logf != nil {
			opts.Logf("%s", red.str(fmt.Sprintf(format, args...)))
		}
	}
	s, err := newSigner(ctx, opts, red, logf)
	if err != nil {
		return nil, red.err(err)
	}
	return s, nil
}

func newSigner(ctx context.Context, opts Options, red *redactor, logf func(string, ...any)) (*Signer, error) {
	plan, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	r := &retrier{client: client, attempts: opts.Attempts, backoff: opts.Backoff, timeout: opts.RequestTimeout, logf: logf, red: red}
	if r.attempts <= 0 {
		r.attempts = 4
	}
	if r.backoff <= 0 {
		r.backoff = time.Second
	}
	if r.timeout <= 0 {
		r.timeout = 30 * time.Second
	}

	logf("sign: %s instance: Fulcio %s%s%s", plan.Instance, plan.FulcioURL, prefixed(", Rekor ", plan.RekorURL), prefixed(", TSA ", plan.TSAURL))
	trusted, err := FetchTrustedRoot(ctx, plan, client, opts.TUFRoot)
	if err != nil {
		return nil, err
	}
	if plan.TrustedRootPath != "" {
		logf("sign: trusted root from %s", plan.TrustedRootPath)
	} else {
		logf("sign: trusted root of %s from TUF at %s", plan.Instance, plan.TUFMirror)
	}

	token, err := fetchToken(ctx, r, opts.TokenRequestURL, opts.TokenRequestToken, opts.Mask)
	if err != nil {
		return nil, err
	}
	red.add(token)
	claims, err := parseClaims(token)
	if err != nil {
		return nil, err
	}
	if opts.OnToken != nil {
		if err := opts.OnToken(ctx, token); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrToken, err)
		}
	}
	server, _ := serverURL(opts.ServerURL) // NewPlan has checked it
	want := Identity{SAN: server + "/" + claims.JobWorkflowRef, Issuer: claims.Issuer}
	if opts.Issuer != "" && opts.Issuer != claims.Issuer {
		return nil, fmt.Errorf("%w: the ID token is from %s, expected %s", ErrIdentity, claims.Issuer, opts.Issuer)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	cert, err := requestCertificate(ctx, r, plan.FulcioURL, token, claims.Subject, key)
	if err != nil {
		return nil, err
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
	return &Signer{
		plan:    plan,
		key:     key,
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		trusted: trusted,
		r:       r,
		red:     red,
		logf:    logf,
	}, nil
}

// Plan is where the signer signs, with the identity the certificate carries.
func (s *Signer) Plan() Plan { return s.plan }

// Identity is the certificate's identity.
func (s *Signer) Identity() Identity { return s.plan.Identity }

// Sign signs an in-toto statement into a v0.3 bundle and verifies the bundle against the
// trusted root and the signer's identity; a bundle that does not verify is not returned.
func (s *Signer) Sign(ctx context.Context, stmt []byte) ([]byte, *VerifyResult, error) {
	b, res, err := s.sign(ctx, stmt)
	if err != nil {
		return nil, nil, s.red.err(err)
	}
	return b, res, nil
}

func (s *Signer) sign(ctx context.Context, stmt []byte) ([]byte, *VerifyResult, error) {
	head, err := parseStatement(stmt)
	if err != nil {
		return nil, nil, err
	}
	digest := sha256.Sum256(ssldsse.PAE(PayloadType, stmt))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	pb := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: s.cert.Raw}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: stmt, PayloadType: PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	if s.plan.TSAURL != "" {
		ts, err := requestTimestamp(ctx, s.r, s.plan.TSAURL, sig)
		if err != nil {
			return nil, nil, err
		}
		pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	if s.plan.RekorURL != "" {
		env, err := json.Marshal(ssldsse.Envelope{
			Payload:     base64.StdEncoding.EncodeToString(stmt),
			PayloadType: PayloadType,
			Signatures:  []ssldsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: encoding envelope: %w", ErrRekor, err)
		}
		entry, err := createLogEntry(ctx, s.r, s.plan.RekorURL, env, s.certPEM)
		if err != nil {
			return nil, nil, err
		}
		pb.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	raw, err := protojson.Marshal(pb)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding bundle: %w", err)
	}
	// protojson varies its spacing on purpose; the file should not.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, nil, fmt.Errorf("encoding bundle: %w", err)
	}

	res, err := Verify(out.Bytes(), s.trusted, Policy{
		SubjectDigest: head.digests[0],
		Issuer:        s.plan.Identity.Issuer,
		SAN:           s.plan.Identity.SAN,
		PredicateType: head.PredicateType,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("self-verification failed, the bundle was discarded: %w", err)
	}
	switch {
	case s.plan.RekorURL != "" && !res.hasTimestamp(TimeSourceLog):
		return nil, nil, fmt.Errorf("%w: self-verification found no verified Rekor entry", ErrVerification)
	case s.plan.TSAURL != "" && !res.hasTimestamp(TimeSourceTSA):
		return nil, nil, fmt.Errorf("%w: self-verification found no verified timestamp", ErrVerification)
	case !bytes.Equal(res.Statement, stmt):
		return nil, nil, fmt.Errorf("%w: the verified payload is not the statement signed", ErrVerification)
	}
	return out.Bytes(), res, nil
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

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
