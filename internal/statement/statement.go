package statement

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	// Type is the in-toto Statement v1 type URI.
	Type = intoto.StatementTypeUri
	// PredicateCycloneDX is the predicate type cosign, Kyverno and GitHub use for a CycloneDX BOM.
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// MaxPredicateSize is GitHub's limit for one attestation predicate; a larger one would be
	// signed (and logged in public Rekor) only to be refused by the Attestations API.
	MaxPredicateSize = 16 << 20
)

var (
	// ErrTooLarge marks a predicate over MaxPredicateSize.
	ErrTooLarge = errors.New("predicate too large")
	// ErrSubject marks a subject that is not an image name with a sha256 digest.
	ErrSubject = errors.New("invalid subject")
	// ErrPredicate marks a predicate that is not a JSON object or has no type.
	ErrPredicate = errors.New("invalid predicate")
)

// Subject is what a statement is about: an image repository and one manifest digest.
type Subject struct {
	// Name is the image name without tag or digest, lowercased (see SubjectName).
	Name string
	// Digest is "sha256:<64 hex>".
	Digest string
}

// statementJSON fixes the field order to _type, subject, predicateType, predicate: protojson
// orders fields as it likes, and people diff these files.
type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       []subjectJSON   `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// New returns the JSON of an in-toto Statement v1 with the given subjects, predicate type and
// predicate (a JSON object). doc names the document in errors, e.g. "sbom.cdx.json".
func New(doc string, subjects []Subject, predicateType string, predicate []byte) ([]byte, error) {
	if len(predicate) > MaxPredicateSize {
		return nil, fmt.Errorf("%s: %w: %s (%d bytes) is over GitHub's %d MiB limit for an attestation; it was not signed",
			doc, ErrTooLarge, humanSize(len(predicate)), len(predicate), MaxPredicateSize>>20)
	}
	if predicateType == "" {
		return nil, fmt.Errorf("%s: %w: predicate type is empty", doc, ErrPredicate)
	}
	trimmed := bytes.TrimSpace(predicate)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, fmt.Errorf("%s: %w: not a JSON object", doc, ErrPredicate)
	}
	if len(subjects) == 0 {
		return nil, fmt.Errorf("%s: %w: no subject", doc, ErrSubject)
	}

	st := statementJSON{Type: Type, PredicateType: predicateType, Predicate: trimmed}
	proto := &intoto.Statement{Type: Type, PredicateType: predicateType, Predicate: &structpb.Struct{}}
	for _, s := range subjects {
		hexDigest, err := ParseDigest(s.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", doc, err)
		}
		if s.Name == "" {
			return nil, fmt.Errorf("%s: %w: subject with digest %s has no name", doc, ErrSubject, s.Digest)
		}
		if s.Name != strings.ToLower(s.Name) {
			return nil, fmt.Errorf("%s: %w: subject name %q must be lowercase", doc, ErrSubject, s.Name)
		}
		digest := map[string]string{"sha256": hexDigest}
		st.Subject = append(st.Subject, subjectJSON{Name: s.Name, Digest: digest})
		proto.Subject = append(proto.Subject, &intoto.ResourceDescriptor{Name: s.Name, Digest: digest})
	}
	// The in-toto library's own rules, on a copy without the (possibly huge) predicate.
	if err := proto.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", doc, ErrSubject, err)
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding statement: %w", doc, err)
	}
	return out, nil
}

// SubjectName turns an image reference as users write it ("ghcr.io/Acme/App:1.2@sha256:…")
// into the subject name GitHub and cosign expect: lowercased, without tag or digest.
func SubjectName(image string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(image))
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	// A colon after the last slash starts a tag; one before it is a registry port.
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	if s == "" {
		return "", fmt.Errorf("%w: image name %q is empty", ErrSubject, image)
	}
	if _, err := name.NewRepository(s); err != nil {
		return "", fmt.Errorf("%w: image name %q: %w", ErrSubject, image, err)
	}
	return s, nil
}

// ParseDigest checks an image digest as subjects carry it, "sha256:<64 lowercase hex>", and
// returns the hex part.
func ParseDigest(d string) (string, error) {
	algo, hexDigest, ok := strings.Cut(d, ":")
	if !ok || algo != "sha256" {
		return "", fmt.Errorf("%w: digest %q is not sha256:<hex>", ErrSubject, d)
	}
	if len(hexDigest) != 64 || strings.ToLower(hexDigest) != hexDigest {
		return "", fmt.Errorf("%w: digest %q needs 64 lowercase hex digits", ErrSubject, d)
	}
	if _, err := hex.DecodeString(hexDigest); err != nil {
		return "", fmt.Errorf("%w: digest %q is not hex", ErrSubject, d)
	}
	return hexDigest, nil
}

func humanSize(n int) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
