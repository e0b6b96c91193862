package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gobwas/glob"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
)

// MaxReferrers is how many referrers of an image Kyverno's classic engine reads: it refuses an
// image with more (attestationlimit, pkg/image/verifiers/cpol/cosign/sigstore.go in 1.19).
const MaxReferrers = 50

// ErrNotMatched marks an image the policy's patterns do not select: admission would not look
// at it, so the policy says nothing about it.
var ErrNotMatched = errors.New("the policy does not apply to the image")

// Bundle is a Sigstore bundle found for the image (a referrer), named for the account.
type Bundle struct {
	Name string
	JSON []byte
}

// Check is one rule of a policy and how the image fared.
type Check struct {
	Rule   string
	OK     bool
	Detail string
}

// Decision is what the rules make of an image.
type Decision struct {
	Admitted bool
	Checks   []Check
}

// Evaluate checks an image, named as a pod would (IMAGE@sha256:…), against the rules, with the
// bundles stored as its referrers, verified offline against trusted — as Kyverno verifies
// them: each bundle signed by the rules' identity and an in-toto statement about the image's
// digest, with an entry of the log when the rules name one.
func Evaluate(r *Rules, image string, bundles []Bundle, trusted root.TrustedMaterial) (*Decision, error) {
	ref, err := name.NewDigest(image)
	if err != nil {
		return nil, fmt.Errorf("%s is not IMAGE@sha256:<digest>: %w", image, err)
	}
	ok, err := r.Matches(image)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s matches none of %s", ErrNotMatched, image, strings.Join(r.Images, ", "))
	}
	if trusted == nil {
		return nil, fmt.Errorf("%w: no trusted root to verify with", sign.ErrTrustedRoot)
	}

	type verified struct {
		b   Bundle
		res *sign.VerifyResult
		err error
	}
	var all []verified
	for _, b := range bundles {
		res, err := sign.Verify(b.JSON, trusted, sign.Policy{SubjectDigest: ref.DigestStr(), Issuer: r.Issuer, SANRegex: r.Subject})
		if err == nil && r.Trust.LogURL != "" && res.LogIndex < 0 {
			res, err = nil, fmt.Errorf("%w: no transparency log entry, which the policy requires", sign.ErrVerification)
		}
		all = append(all, verified{b, res, err})
	}

	d := &Decision{}
	add := func(c Check) { d.Checks = append(d.Checks, c) }
	if r.Kind == KindClusterPolicy && len(bundles) > MaxReferrers {
		add(Check{Rule: "at most 50 referrers", Detail: fmt.Sprintf("%d bundles; Kyverno's ClusterPolicy engine refuses an image with more than %d referrers", len(bundles), MaxReferrers)})
	}

	signed := Check{Rule: fmt.Sprintf("signed by %s (issuer %s)", r.Subject, r.Issuer)}
	var firstErr error
	for _, v := range all {
		if v.err == nil {
			signed.OK, signed.Detail = true, fmt.Sprintf("%s, signed by %s", v.b.Name, v.res.SAN)
			break
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", v.b.Name, v.err)
		}
	}
	if !signed.OK {
		signed.Detail = noneVerified(len(bundles), firstErr)
	}
	add(signed)

	for _, a := range r.Attestations {
		c := Check{Rule: fmt.Sprintf("attestation %s (%s)", a.Name, a.PredicateType)}
		var why error
		for _, v := range all {
			if v.err != nil {
				if why == nil && v.err != nil && statement.BundlePredicateType(v.b.JSON) == a.PredicateType {
					why = fmt.Errorf("%s: %w", v.b.Name, v.err)
				}
				continue
			}
			if v.res.PredicateType != a.PredicateType {
				continue
			}
			// Kyverno's ClusterPolicy engine holds every statement of the type to the conditions.
			if err := a.holds(v.res.Statement); err != nil {
				c.OK, why = false, fmt.Errorf("%s: %w", v.b.Name, err)
				break
			}
			if !c.OK {
				c.OK, c.Detail = true, v.b.Name
			}
		}
		if !c.OK {
			if why == nil {
				why = errors.New("no bundle of that predicate type")
			}
			c.Detail = why.Error()
		}
		add(c)
	}
	d.Admitted = true
	for _, c := range d.Checks {
		d.Admitted = d.Admitted && c.OK
	}
	return d, nil
}

func noneVerified(n int, first error) string {
	if n == 0 {
		return "the image has no Sigstore bundles as referrers"
	}
	return fmt.Sprintf("none of %d bundles verifies; %v", n, first)
}

// holds checks the conditions on the predicate of a verified statement.
func (a Attestation) holds(stmt []byte) error {
	if len(a.Conditions) == 0 {
		return nil
	}
	var st struct {
		Predicate map[string]any `json:"predicate"`
	}
	if err := json.Unmarshal(stmt, &st); err != nil {
		return fmt.Errorf("the statement does not parse: %w", err)
	}
	for _, c := range a.Conditions {
		var v any = st.Predicate
		for _, f := range c.Path {
			m, _ := v.(map[string]any)
			v = m[f]
		}
		if s, _ := v.(string); s != c.Value || v == nil {
			return fmt.Errorf("predicate %s is %s, the policy wants %q", strings.Join(c.Path, "."), shown(v), c.Value)
		}
	}
	return nil
}

func shown(v any) string {
	if v == nil {
		return "missing"
	}
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		b = append(b[:200], "…"...)
	}
	return string(b)
}

// Matches reports whether a pod naming image would be checked: an ImageValidatingPolicy matches
// its globs as gobwas/glob does, a ClusterPolicy its imageReferences with Kyverno's wildcards
// ("*" any run of characters, "?" one).
func (r *Rules) Matches(image string) (bool, error) {
	for _, p := range r.Images {
		if r.Kind == KindClusterPolicy {
			if wildcard(p, image) {
				return true, nil
			}
			continue
		}
		g, err := glob.Compile(p)
		if err != nil {
			return false, fmt.Errorf("%w: image pattern %q: %v", ErrPolicy, p, err)
		}
		if g.Match(image) {
			return true, nil
		}
	}
	return false, nil
}

// wildcard matches s against a pattern of "*" (any run) and "?" (one character), in time
// linear in their lengths times the number of stars, never exponential.
func wildcard(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
