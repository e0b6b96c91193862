package sign

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// ErrVerification marks a bundle that does not verify against the trusted root and policy.
var ErrVerification = errors.New("bundle does not verify")

// Policy is what a bundle must prove beyond being validly signed.
type Policy struct {
	// SubjectDigest ("sha256:<hex>") must be a subject of the statement.
	SubjectDigest string
	// Issuer is the exact OIDC issuer of the certificate.
	Issuer string
	// SAN is the exact certificate identity; SANRegex a pattern for it. One is required.
	SAN      string
	SANRegex string
	// OwnerURI and RepositoryURI, when set, must equal the certificate's source repository
	// owner / repository (case-insensitive, as GitHub names are).
	OwnerURI      string
	RepositoryURI string
	// PredicateType, when set, must equal the statement's.
	PredicateType string
}

// Time sources of a verified bundle.
const (
	TimeSourceLog = "transparency log"
	TimeSourceTSA = "timestamp authority"
)

// Timestamp is one verified time the certificate was checked at.
type Timestamp struct {
	Kind string
	URI  string
	Time time.Time
}

// VerifyResult is what a verified bundle says, for the summary and the verify command.
type VerifyResult struct {
	PredicateType string
	Subjects      []statement.Subject
	// SAN is the certificate identity: for GitHub, the signing workflow's ref URL.
	SAN    string
	Issuer string
	// From the certificate's GitHub extensions.
	SignerWorkflow   string
	SourceRepository string
	SourceRef        string
	SourceDigest     string
	RunURL           string
	Timestamps       []Timestamp
	// LogIndex is the Rekor index, or -1 without a log entry; LogURL is the log's, from the
	// trusted root.
	LogIndex int64
	LogURL   string
	// Statement is the verified payload.
	Statement []byte
}

// Verify checks a bundle against trusted material and a policy, offline. A bundle with log
// entries must prove inclusion and gets its time from the log (Rekor v1) or from an RFC 3161
// timestamp (Rekor v2, whose entries carry no time); one without must carry a timestamp. When
// the trusted root lists CT logs, the certificate needs an SCT.
func Verify(bundleJSON []byte, trusted root.TrustedMaterial, p Policy) (*VerifyResult, error) {
	if trusted == nil {
		return nil, fmt.Errorf("%w: no trusted root", ErrTrustedRoot)
	}
	digest, err := hexDigest(p.SubjectDigest)
	if err != nil {
		return nil, err
	}
	if p.Issuer == "" || (p.SAN == "") == (p.SANRegex == "") {
		return nil, fmt.Errorf("%w: the policy needs an issuer and one of SAN or SAN pattern", ErrVerification)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("%w: not a Sigstore bundle: %w", ErrVerification, err)
	}
	id, err := verify.NewShortCertificateIdentity(p.Issuer, "", p.SAN, p.SANRegex)
	if err != nil {
		return nil, fmt.Errorf("%w: identity policy: %w", ErrVerification, err)
	}

	var opts []verify.VerifierOption
	tlogs := b.GetVerificationMaterial().GetTlogEntries()
	if len(tlogs) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	} else {
		opts = append(opts, verify.WithSignedTimestamps(1))
	}
	if len(trusted.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(trusted, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	res, err := v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithCertificateIdentity(id)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	if res.Statement == nil || res.Signature == nil || res.Signature.Certificate == nil {
		return nil, fmt.Errorf("%w: not a certificate-signed in-toto attestation", ErrVerification)
	}

	cert := res.Signature.Certificate
	out := &VerifyResult{
		PredicateType:    res.Statement.GetPredicateType(),
		SAN:              cert.SubjectAlternativeName,
		Issuer:           cert.Issuer,
		SignerWorkflow:   cert.BuildSignerURI,
		SourceRepository: cert.SourceRepositoryURI,
		SourceRef:        cert.SourceRepositoryRef,
		SourceDigest:     cert.SourceRepositoryDigest,
		RunURL:           cert.RunInvocationURI,
		LogIndex:         -1,
		Statement:        b.GetDsseEnvelope().GetPayload(),
	}
	for _, s := range res.Statement.GetSubject() {
		out.Subjects = append(out.Subjects, statement.Subject{Name: s.GetName(), Digest: "sha256:" + s.GetDigest()["sha256"]})
	}
	for _, ts := range res.VerifiedTimestamps {
		kind := TimeSourceTSA
		if ts.Type == "Tlog" {
			kind = TimeSourceLog
		}
		out.Timestamps = append(out.Timestamps, Timestamp{Kind: kind, URI: ts.URI, Time: ts.Timestamp})
	}
	if len(tlogs) > 0 {
		out.LogIndex = tlogs[0].GetLogIndex()
		if l, ok := trusted.RekorLogs()[hex.EncodeToString(tlogs[0].GetLogId().GetKeyId())]; ok {
			out.LogURL = l.BaseURL
		}
	}

	if p.OwnerURI != "" && !strings.EqualFold(cert.SourceRepositoryOwnerURI, p.OwnerURI) {
		return nil, fmt.Errorf("%w: signed in %s, which belongs to %s, not %s", ErrVerification,
			orUnknown(cert.SourceRepositoryURI), orUnknown(cert.SourceRepositoryOwnerURI), p.OwnerURI)
	}
	if p.RepositoryURI != "" && !strings.EqualFold(cert.SourceRepositoryURI, p.RepositoryURI) {
		return nil, fmt.Errorf("%w: signed in repository %s, not %s", ErrVerification, orUnknown(cert.SourceRepositoryURI), p.RepositoryURI)
	}
	if p.PredicateType != "" && out.PredicateType != p.PredicateType {
		return nil, fmt.Errorf("%w: predicate type is %s, not %s", ErrVerification, out.PredicateType, p.PredicateType)
	}
	return out, nil
}

// TimeSource says where the verified time came from, e.g. "transparency log
// https://rekor.sigstore.dev at 2025-01-02T03:04:05Z (log index 7)", and names a log entry that
// gave no time (Rekor v2).
func (r *VerifyResult) TimeSource() string {
	var parts []string
	logged := false
	for _, ts := range r.Timestamps {
		s := fmt.Sprintf("%s %s at %s", ts.Kind, ts.URI, ts.Time.UTC().Format(time.RFC3339))
		if ts.Kind == TimeSourceLog && r.LogIndex >= 0 {
			s += fmt.Sprintf(" (log index %d)", r.LogIndex)
			logged = true
		}
		parts = append(parts, s)
	}
	if r.LogIndex >= 0 && !logged {
		parts = append(parts, fmt.Sprintf("logged in %s %s (log index %d)", TimeSourceLog, orUnknown(r.LogURL), r.LogIndex))
	}
	return strings.Join(parts, "; ")
}

// Summary is the account of a verified bundle, as label and value rows. The values come from
// the bundle: a caller prints them escaped.
func (r *VerifyResult) Summary() [][2]string {
	var rows [][2]string
	row := func(k, v string) {
		if v != "" {
			rows = append(rows, [2]string{k, v})
		}
	}
	row("predicate type", r.PredicateType)
	for _, s := range r.Subjects {
		row("subject", s.Name+"@"+s.Digest)
	}
	row("signer workflow", orUnknown(cmp.Or(r.SignerWorkflow, r.SAN)))
	source := r.SourceRepository
	if r.SourceRef != "" {
		source += " @ " + r.SourceRef
	}
	if r.SourceDigest != "" {
		source += " (" + r.SourceDigest + ")"
	}
	row("source", source)
	row("run", r.RunURL)
	row("issuer", r.Issuer)
	row("time source", r.TimeSource())
	return rows
}

func (r *VerifyResult) hasTimestamp(kind string) bool {
	for _, ts := range r.Timestamps {
		if ts.Kind == kind {
			return true
		}
	}
	return false
}

func hexDigest(d string) ([]byte, error) {
	h, err := statement.ParseDigest(d)
	if err != nil {
		return nil, fmt.Errorf("%w: subject digest: %w", ErrVerification, err)
	}
	return hex.DecodeString(h)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
