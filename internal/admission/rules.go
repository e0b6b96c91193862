package admission

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/sign"
)

// Kind is the kind of policy written (input kyverno-policy).
type Kind string

const (
	// KindNone writes no policy.
	KindNone Kind = "none"
	// KindImageValidating is a policies.kyverno.io/v1 ImageValidatingPolicy (Kyverno 1.17+).
	KindImageValidating Kind = "image-validating"
	// KindClusterPolicy is a classic kyverno.io/v1 ClusterPolicy with verifyImages.
	KindClusterPolicy Kind = "cluster-policy"
)

// File is the name the policy is written under in output-dir.
const File = "kyverno-policy.yaml"

// MaxInlineTrustedRoot is the largest trusted root an ImageValidatingPolicy may carry inline:
// Kyverno 1.19 refuses a larger cosign.trustedRoot value (maxTrustedRootJSONSize,
// pkg/image/verifiers/ivpol/cosign/opts.go).
const MaxInlineTrustedRoot = 1 << 20

var (
	// ErrFacts marks facts a policy cannot be written from; the message names the input at fault
	// when there is one.
	ErrFacts = errors.New("cannot write the admission policy")
	// ErrPolicy marks a file that is not a policy bom-attest wrote, or one it cannot evaluate.
	ErrPolicy = errors.New("not an admission policy bom-attest can evaluate")
)

// Rules are what a policy requires of an image: which images it applies to, who must have
// signed, which attestations must be there and what they must say, and what trust verifies them.
type Rules struct {
	Kind Kind
	Name string
	// Images are Kyverno glob patterns ("*" matches any run of characters, "/" included) of
	// the image references the policy applies to.
	Images []string
	// Issuer is the exact OIDC issuer and Subject an anchored regular expression of the signing
	// certificate's identity (the workflow's ref URL).
	Issuer  string
	Subject string
	// Attestations must each be present, signed by that identity, about the image's digest.
	Attestations []Attestation
	Trust        Trust
	// Elsewhere names documents the run attested about other digests; only a comment says so.
	Elsewhere []string
}

// Attestation is one in-toto predicate type the image must carry, with the fields of the
// predicate that must have a given value.
type Attestation struct {
	// Name is a CEL identifier, how an ImageValidatingPolicy refers to it.
	Name          string
	PredicateType string
	Conditions    []Condition
}

// Condition says the predicate field at Path (field names from the predicate's root) equals Value.
type Condition struct {
	Path  []string
	Value string
}

// Trust is the Sigstore trust a policy verifies with.
type Trust struct {
	// Instance is the Sigstore instance that signed: public-good, github or custom (one given by
	// its trusted root). It chooses the comments and, for a classic policy, what Kyverno must be
	// started with; "" after parsing a policy.
	Instance sign.Instance
	// LogURL is the Rekor log bundles are entered in; "" when the instance has none, and a
	// signed timestamp proves when the certificate was valid.
	LogURL string
	// SCT: the certificate must carry a signed certificate timestamp from a CT log of the trusted
	// root. GitHub's instance, and a custom root without CT logs, have none.
	SCT bool
	// TrustedRoot is the trusted_root.json the policy carries (GitHub's instance, or a custom
	// trusted root); nil means the trust Kyverno gets from its TUF repository (public-good).
	// Only an ImageValidatingPolicy can carry it.
	TrustedRoot []byte
	// TUFMirror and TUFRoot point the ImageValidatingPolicy's TUF client at the instance's own
	// TUF repository (GitHub's); empty means Kyverno's default.
	TUFMirror string
	TUFRoot   []byte
}

// Facts are what a run knows at signing time, from which New writes the rules.
type Facts struct {
	Kind Kind
	// SubjectName is the image repository attested (ghcr.io/acme/app); ImageGlobs (input
	// kyverno-image-glob) replace the patterns derived from it.
	SubjectName string
	ImageGlobs  []string
	// SAN and Issuer are the signing certificate's identity: the workflow's ref URL
	// (https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main) and the ID
	// token's issuer. RefPattern (input kyverno-ref-pattern) is a regular expression the ref
	// must match in full; empty accepts any ref of that workflow.
	SAN, Issuer string
	RefPattern  string
	// Documents are the attestations about the image's digest, the image signature included, in
	// the run's order; each predicate type is required once.
	Documents []Document
	// Workflow describes the build provenance when Documents holds one.
	Workflow *Workflow
	// Elsewhere names documents attested about other digests (each platform's SBOM of a
	// multi-platform image), which admission cannot see: a comment says so.
	Elsewhere []string
	Trust     Trust
}

// Document is one attestation of the run.
type Document struct {
	Name          string // sbom, mlbom, provenance, vulnerabilities, signature
	PredicateType string
}

// Workflow is what build provenance says about the build, as the policy checks it.
type Workflow struct {
	BuildType  string
	Repository string // https://github.com/acme/app
	Path       string // .github/workflows/release.yml
}

// conditions are the fields of SLSA provenance a policy checks: the build type and the
// top-level workflow (its repository and file), as actions/attest-build-provenance writes them.
func (w *Workflow) conditions() []Condition {
	return []Condition{
		{Path: []string{"buildDefinition", "buildType"}, Value: w.BuildType},
		{Path: []string{"buildDefinition", "externalParameters", "workflow", "repository"}, Value: w.Repository},
		{Path: []string{"buildDefinition", "externalParameters", "workflow", "path"}, Value: w.Path},
	}
}

// New writes the rules from a run's facts.
func New(f Facts) (*Rules, error) {
	if f.Kind != KindImageValidating && f.Kind != KindClusterPolicy {
		return nil, fmt.Errorf("%w: kyverno-policy: %q is not %s or %s", ErrFacts, f.Kind, KindImageValidating, KindClusterPolicy)
	}
	images := f.ImageGlobs
	if len(images) == 0 {
		if f.SubjectName == "" {
			return nil, fmt.Errorf("%w: subject-name: a policy needs the image name (or kyverno-image-glob)", ErrFacts)
		}
		// The repository as written in a pod spec: bare (the latest tag), with a tag, or by digest.
		images = []string{f.SubjectName, f.SubjectName + ":*", f.SubjectName + "@*"}
	}
	for _, g := range images {
		if err := CheckGlob(g); err != nil {
			return nil, fmt.Errorf("%w: kyverno-image-glob: %w", ErrFacts, err)
		}
	}
	if f.Issuer == "" {
		return nil, fmt.Errorf("%w: oidc-issuer: no issuer for the signing identity", ErrFacts)
	}
	subject, err := SubjectPattern(f.SAN, f.RefPattern)
	if err != nil {
		return nil, err
	}
	r := &Rules{Kind: f.Kind, Name: policyName(images[0]), Images: images, Issuer: f.Issuer, Subject: subject, Trust: f.Trust, Elsewhere: f.Elsewhere}
	if err := r.checkTrust(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, d := range f.Documents {
		if d.PredicateType == "" || seen[d.PredicateType] {
			continue
		}
		seen[d.PredicateType] = true
		a := Attestation{Name: identifier(d.Name), PredicateType: d.PredicateType}
		for base, i := a.Name, 2; names[a.Name]; i++ {
			a.Name = fmt.Sprintf("%s%d", base, i)
		}
		names[a.Name] = true
		if d.PredicateType == provenance.PredicateType {
			if f.Workflow == nil {
				return nil, fmt.Errorf("%w: the provenance attestation's workflow is not known", ErrFacts)
			}
			a.Conditions = f.Workflow.conditions()
			for _, c := range a.Conditions {
				if c.Value == "" || strings.Contains(c.Value, "{{") {
					return nil, fmt.Errorf("%w: provenance field %s is %q", ErrFacts, strings.Join(c.Path, "."), c.Value)
				}
			}
		}
		r.Attestations = append(r.Attestations, a)
	}
	if len(r.Attestations) == 0 {
		return nil, fmt.Errorf("%w: attestations: the run attested nothing about the image's own digest", ErrFacts)
	}
	return r, nil
}

// SubjectPattern is the regular expression a certificate identity must match: anchored on the
// workflow's ref URL up to its "@", so no other repository or workflow file — a fork's
// included — can match, and then any ref, or refs matching refPattern in full.
func SubjectPattern(san, refPattern string) (string, error) {
	u, err := url.Parse(san)
	at := strings.Index(san, "@")
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || at < 0 || at == len(san)-1 {
		return "", fmt.Errorf("%w: the signing identity %q is not a workflow ref URL (https://<server>/<owner>/<repo>/<path>@<ref>)", ErrFacts, san)
	}
	ref := ".+"
	if refPattern != "" {
		if err := CheckRefPattern(refPattern); err != nil {
			return "", fmt.Errorf("%w: kyverno-ref-pattern: %w", ErrFacts, err)
		}
		ref = "(?:" + refPattern + ")"
	}
	return "^" + regexp.QuoteMeta(san[:at]) + "@" + ref + "$", nil
}

// CheckRefPattern checks input kyverno-ref-pattern: an RE2 regular expression (what Kyverno and
// sigstore-go match identities with), without anchors of its own.
func CheckRefPattern(p string) error {
	if strings.ContainsAny(p, "\n\r") {
		return errors.New("must be one line")
	}
	if strings.HasPrefix(p, "^") || strings.HasSuffix(p, "$") {
		return fmt.Errorf("%q: leave out ^ and $, the pattern must match the whole ref anyway", p)
	}
	if _, err := regexp.Compile(p); err != nil {
		return fmt.Errorf("%q is not a regular expression: %v", p, err)
	}
	return nil
}

// CheckGlob checks an image pattern (input kyverno-image-glob) as Kyverno's glob library
// (gobwas/glob) reads it: no white space, and balanced {…} and […].
func CheckGlob(g string) error {
	if g == "" || strings.IndexFunc(g, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q is not an image pattern such as ghcr.io/acme/* (no spaces)", g)
	}
	var stack []rune
	escaped := false
	for _, c := range g {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '{' || c == '[':
			stack = append(stack, c)
		case c == '}' || c == ']':
			open := map[rune]rune{'}': '{', ']': '['}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("%q: unbalanced %q", g, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || escaped {
		return fmt.Errorf("%q: unbalanced pattern", g)
	}
	return nil
}

// MatchesSigner reports whether a certificate identity matches the rules' subject: a run warns
// when the policy it writes would refuse the image it has just signed.
func (r *Rules) MatchesSigner(san string) bool {
	re, err := regexp.Compile(r.Subject)
	return err == nil && re.MatchString(san)
}

// checkTrust checks that the trust can be written: a trusted root that parses and that Kyverno
// accepts inline.
func (r *Rules) checkTrust() error {
	t := r.Trust
	if t.TrustedRoot == nil {
		return nil
	}
	if len(t.TrustedRoot) > MaxInlineTrustedRoot {
		return fmt.Errorf("%w: trusted-root: %d bytes, more than the %d Kyverno accepts inline", ErrFacts, len(t.TrustedRoot), MaxInlineTrustedRoot)
	}
	if _, err := root.NewTrustedRootFromJSON(t.TrustedRoot); err != nil {
		return fmt.Errorf("%w: trusted-root: %w", ErrFacts, err)
	}
	return nil
}

// policyName is a Kubernetes object name from the image pattern: bom-attest- and the repository
// path, lowercase letters, digits and dashes, at most 63 characters.
func policyName(image string) string {
	if _, rest, ok := strings.Cut(image, "/"); ok {
		image = rest
	}
	var b strings.Builder
	b.WriteString("bom-attest")
	dash := true
	for _, c := range strings.ToLower(image) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if dash {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		case c == '*' || c == '@' || c == ':':
			// The pattern part of a reference names no repository.
			return trimName(b.String())
		default:
			dash = true
		}
	}
	return trimName(b.String())
}

func trimName(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.TrimRight(s, "-")
}

// identifier makes a document name a CEL identifier: sbom, provenance, image_signature.
func identifier(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "a" + out
	}
	return out
}
