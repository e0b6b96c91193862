package admission

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/yamldata"
)

// MaxPolicy bounds a policy file read back: an inline trusted root is at most 1 MiB, and the
// rest is a few kilobytes.
const MaxPolicy = 4 << 20

// maxDepth bounds how deep a policy nests; ours nests about fifteen levels.
const maxDepth = 32

// Parse reads a policy bom-attest wrote, either kind, back into its rules. It reads what it
// wrote and nothing else: a field it does not know, or a rule it cannot evaluate offline the way
// Kyverno would, is an error naming it, not a rule silently skipped.
func Parse(data []byte) (*Rules, error) {
	if len(data) > MaxPolicy {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrPolicy, MaxPolicy)
	}
	// Anchors, aliases and deep nesting are refused before anything decodes the tree.
	node, err := yamldata.Decode(data, maxDepth)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if node == nil {
		return nil, fmt.Errorf("%w: the file is empty", ErrPolicy)
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := node.Decode(&head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	switch {
	case head.APIVersion == "policies.kyverno.io/v1" && head.Kind == "ImageValidatingPolicy":
		var p ivpFile
		if err := strict(data, &p); err != nil {
			return nil, err
		}
		return p.rules()
	case head.APIVersion == "kyverno.io/v1" && head.Kind == "ClusterPolicy":
		var p cpolFile
		if err := strict(data, &p); err != nil {
			return nil, err
		}
		return p.rules()
	}
	return nil, fmt.Errorf("%w: %s %s is not a policies.kyverno.io/v1 ImageValidatingPolicy or a kyverno.io/v1 ClusterPolicy", ErrPolicy, head.APIVersion, head.Kind)
}

// strict decodes data refusing fields the structure does not name.
func strict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	return nil
}

type metadata struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ivpFile struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		ValidationActions    []string `yaml:"validationActions"`
		FailurePolicy        string   `yaml:"failurePolicy"`
		WebhookConfiguration struct {
			TimeoutSeconds int `yaml:"timeoutSeconds"`
		} `yaml:"webhookConfiguration"`
		// Which resources are checked does not change what an image needs.
		MatchConstraints     yaml.Node `yaml:"matchConstraints"`
		MatchImageReferences []struct {
			Glob       string `yaml:"glob"`
			Expression string `yaml:"expression"`
		} `yaml:"matchImageReferences"`
		ValidationConfigurations struct {
			MutateDigest *bool `yaml:"mutateDigest"`
			VerifyDigest *bool `yaml:"verifyDigest"`
			Required     *bool `yaml:"required"`
		} `yaml:"validationConfigurations"`
		Attestors []struct {
			Name   string `yaml:"name"`
			Cosign *struct {
				Keyless *struct {
					Identities []identity `yaml:"identities"`
				} `yaml:"keyless"`
				CTLog *struct {
					URL                string `yaml:"url"`
					InsecureIgnoreTlog bool   `yaml:"insecureIgnoreTlog"`
					InsecureIgnoreSCT  bool   `yaml:"insecureIgnoreSCT"`
				} `yaml:"ctlog"`
				TUF *struct {
					Mirror string `yaml:"mirror"`
					Root   struct {
						Data string `yaml:"data"`
					} `yaml:"root"`
				} `yaml:"tuf"`
				TrustedRoot *struct {
					Value      string `yaml:"value"`
					Expression string `yaml:"expression"`
				} `yaml:"trustedRoot"`
			} `yaml:"cosign"`
		} `yaml:"attestors"`
		Attestations []struct {
			Name   string `yaml:"name"`
			InToto *struct {
				Type string `yaml:"type"`
			} `yaml:"intoto"`
		} `yaml:"attestations"`
		Validations []struct {
			Expression string `yaml:"expression"`
			Message    string `yaml:"message"`
		} `yaml:"validations"`
	} `yaml:"spec"`
}

type identity struct {
	Issuer        string `yaml:"issuer"`
	Subject       string `yaml:"subject"`
	SubjectRegExp string `yaml:"subjectRegExp"`
}

func (p *ivpFile) rules() (*Rules, error) {
	s := p.Spec
	r := &Rules{Kind: KindImageValidating, Name: p.Metadata.Name}
	for i, m := range s.MatchImageReferences {
		if m.Glob == "" {
			return nil, fmt.Errorf("%w: spec.matchImageReferences[%d]: only glob patterns can be evaluated offline", ErrPolicy, i)
		}
		r.Images = append(r.Images, m.Glob)
	}
	if len(r.Images) == 0 {
		return nil, fmt.Errorf("%w: spec.matchImageReferences: no image pattern", ErrPolicy)
	}
	if len(s.Attestors) != 1 || s.Attestors[0].Cosign == nil || s.Attestors[0].Cosign.Keyless == nil {
		return nil, fmt.Errorf("%w: spec.attestors: want one cosign keyless attestor", ErrPolicy)
	}
	name := s.Attestors[0].Name
	c := s.Attestors[0].Cosign
	var err error
	if r.Issuer, r.Subject, err = oneIdentity("spec.attestors[0].cosign.keyless.identities", c.Keyless.Identities); err != nil {
		return nil, err
	}
	if c.CTLog == nil {
		return nil, fmt.Errorf("%w: spec.attestors[0].cosign.ctlog: missing", ErrPolicy)
	}
	if !c.CTLog.InsecureIgnoreTlog {
		if c.CTLog.URL == "" {
			return nil, fmt.Errorf("%w: spec.attestors[0].cosign.ctlog.url: required unless insecureIgnoreTlog", ErrPolicy)
		}
		r.Trust.LogURL = c.CTLog.URL
	}
	r.Trust.SCT = !c.CTLog.InsecureIgnoreSCT
	if c.TUF != nil {
		r.Trust.TUFMirror = c.TUF.Mirror
		if r.Trust.TUFRoot, err = base64.StdEncoding.DecodeString(c.TUF.Root.Data); err != nil {
			return nil, fmt.Errorf("%w: spec.attestors[0].cosign.tuf.root.data: %v", ErrPolicy, err)
		}
	}
	if c.TrustedRoot != nil {
		if c.TrustedRoot.Value == "" || c.TrustedRoot.Expression != "" {
			return nil, fmt.Errorf("%w: spec.attestors[0].cosign.trustedRoot: only an inline value can be evaluated offline", ErrPolicy)
		}
		r.Trust.TrustedRoot = []byte(c.TrustedRoot.Value)
	}

	types := map[string]string{}
	for i, a := range s.Attestations {
		if a.InToto == nil || a.InToto.Type == "" || a.Name == "" || types[a.Name] != "" {
			return nil, fmt.Errorf("%w: spec.attestations[%d]: want a uniquely named in-toto attestation with a type", ErrPolicy, i)
		}
		types[a.Name] = a.InToto.Type
	}
	signed := false
	done := map[string]bool{}
	for i, v := range s.Validations {
		if v.Expression == celSignedBy(name) {
			signed = true
			continue
		}
		a, err := parseAttested(v.Expression, name, types)
		if err != nil {
			return nil, fmt.Errorf("%w: spec.validations[%d]: %w", ErrPolicy, i, err)
		}
		if done[a.Name] {
			return nil, fmt.Errorf("%w: spec.validations[%d]: attestation %s is checked twice", ErrPolicy, i, a.Name)
		}
		done[a.Name] = true
		r.Attestations = append(r.Attestations, a)
	}
	if !signed {
		return nil, fmt.Errorf("%w: spec.validations: none checks the image signature", ErrPolicy)
	}
	for _, a := range s.Attestations {
		if !done[a.Name] {
			return nil, fmt.Errorf("%w: spec.attestations: %s is declared but no validation checks it", ErrPolicy, a.Name)
		}
	}
	return r, nil
}

// oneIdentity reads the single keyless identity a policy names; an exact subject becomes the
// pattern that matches it alone.
func oneIdentity(path string, ids []identity) (issuer, subject string, err error) {
	if len(ids) != 1 {
		return "", "", fmt.Errorf("%w: %s: want one identity, have %d", ErrPolicy, path, len(ids))
	}
	id := ids[0]
	switch {
	case id.Issuer == "":
		return "", "", fmt.Errorf("%w: %s[0].issuer: required (an exact issuer)", ErrPolicy, path)
	case (id.Subject == "") == (id.SubjectRegExp == ""):
		return "", "", fmt.Errorf("%w: %s[0]: want one of subject and subjectRegExp", ErrPolicy, path)
	case id.Subject != "":
		return id.Issuer, "^" + regexp.QuoteMeta(id.Subject) + "$", nil
	}
	if _, err := regexp.Compile(id.SubjectRegExp); err != nil {
		return "", "", fmt.Errorf("%w: %s[0].subjectRegExp: %v", ErrPolicy, path, err)
	}
	return id.Issuer, id.SubjectRegExp, nil
}

func celSignedBy(attestor string) string {
	return allImages + ".all(image, verifyImageSignatures(image, [attestors." + attestor + "]) > 0)"
}

// parseAttested reads a validation of the form celAttested writes.
func parseAttested(expr, attestor string, types map[string]string) (Attestation, error) {
	rest, ok := strings.CutPrefix(expr, allImages+".all(image, verifyAttestationSignatures(image, attestations.")
	if !ok {
		return Attestation{}, fmt.Errorf("%q is not a check bom-attest writes", expr)
	}
	name, rest, ok := strings.Cut(rest, ", [attestors."+attestor+"]) > 0")
	a := Attestation{Name: name, PredicateType: types[name]}
	if !ok || a.PredicateType == "" {
		return Attestation{}, fmt.Errorf("%q does not check a declared attestation with attestor %s", expr, attestor)
	}
	for {
		if rest == ")" {
			return a, nil
		}
		var cond string
		cond, ok = strings.CutPrefix(rest, " && extractPayload(image, attestations."+name+").predicate.")
		if !ok {
			return Attestation{}, fmt.Errorf("%q: unexpected %q", expr, rest)
		}
		path, value, ok := strings.Cut(cond, " == ")
		if !ok {
			return Attestation{}, fmt.Errorf("%q: a condition is not field == \"value\"", expr)
		}
		quoted, err := strconv.QuotedPrefix(value)
		if err != nil {
			return Attestation{}, fmt.Errorf("%q: a condition's value is not a quoted string", expr)
		}
		v, _ := strconv.Unquote(quoted)
		c := Condition{Path: strings.Split(path, "."), Value: v}
		for _, f := range c.Path {
			if !fieldRE.MatchString(f) {
				return Attestation{}, fmt.Errorf("%q: %q is not a field name", expr, path)
			}
		}
		a.Conditions = append(a.Conditions, c)
		rest = value[len(quoted):]
	}
}

var fieldRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type cpolFile struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		Background            *bool  `yaml:"background"`
		WebhookTimeoutSeconds int    `yaml:"webhookTimeoutSeconds"`
		FailurePolicy         string `yaml:"failurePolicy"`
		Rules                 []struct {
			Name         string    `yaml:"name"`
			Match        yaml.Node `yaml:"match"`
			VerifyImages []struct {
				ImageReferences []string    `yaml:"imageReferences"`
				Type            string      `yaml:"type"`
				FailureAction   string      `yaml:"failureAction"`
				MutateDigest    *bool       `yaml:"mutateDigest"`
				VerifyDigest    *bool       `yaml:"verifyDigest"`
				Required        *bool       `yaml:"required"`
				Attestors       []attestors `yaml:"attestors"`
				Attestations    []struct {
					Type       string      `yaml:"type"`
					Attestors  []attestors `yaml:"attestors"`
					Conditions []struct {
						All []struct {
							Key      string `yaml:"key"`
							Operator string `yaml:"operator"`
							Value    string `yaml:"value"`
						} `yaml:"all"`
					} `yaml:"conditions"`
				} `yaml:"attestations"`
			} `yaml:"verifyImages"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type attestors struct {
	Entries []struct {
		Keyless *struct {
			Issuer        string `yaml:"issuer"`
			Subject       string `yaml:"subject"`
			SubjectRegExp string `yaml:"subjectRegExp"`
			Rekor         *struct {
				URL        string `yaml:"url"`
				IgnoreTlog bool   `yaml:"ignoreTlog"`
			} `yaml:"rekor"`
		} `yaml:"keyless"`
	} `yaml:"entries"`
}

// readKeyless reads the one keyless entry of an attestor set: issuer, subject pattern and log.
func readKeyless(path string, sets []attestors) (issuer, subject, logURL string, err error) {
	if len(sets) != 1 || len(sets[0].Entries) != 1 || sets[0].Entries[0].Keyless == nil {
		return "", "", "", fmt.Errorf("%w: %s: want one set with one keyless entry", ErrPolicy, path)
	}
	k := sets[0].Entries[0].Keyless
	if issuer, subject, err = oneIdentity(path+"[0].entries", []identity{{Issuer: k.Issuer, Subject: k.Subject, SubjectRegExp: k.SubjectRegExp}}); err != nil {
		return "", "", "", err
	}
	if k.Rekor == nil || k.Rekor.URL == "" {
		// Kyverno refuses a keyless attestor without rekor.url (KeylessAttestor.Validate).
		return "", "", "", fmt.Errorf("%w: %s[0].entries[0].keyless.rekor.url: required", ErrPolicy, path)
	}
	if !k.Rekor.IgnoreTlog {
		logURL = k.Rekor.URL
	}
	return issuer, subject, logURL, nil
}

func (p *cpolFile) rules() (*Rules, error) {
	if len(p.Spec.Rules) != 1 || len(p.Spec.Rules[0].VerifyImages) != 1 {
		return nil, fmt.Errorf("%w: spec.rules: want one rule with one verifyImages entry", ErrPolicy)
	}
	v := p.Spec.Rules[0].VerifyImages[0]
	const at = "spec.rules[0].verifyImages[0]"
	if v.Type != "SigstoreBundle" {
		return nil, fmt.Errorf("%w: %s.type: %q; bom-attest evaluates Sigstore bundles pushed as referrers (type SigstoreBundle)", ErrPolicy, at, v.Type)
	}
	r := &Rules{Kind: KindClusterPolicy, Name: p.Metadata.Name, Images: v.ImageReferences}
	if len(r.Images) == 0 {
		return nil, fmt.Errorf("%w: %s.imageReferences: no image pattern", ErrPolicy, at)
	}
	var err error
	if r.Issuer, r.Subject, r.Trust.LogURL, err = readKeyless(at+".attestors", v.Attestors); err != nil {
		return nil, err
	}
	for i, a := range v.Attestations {
		path := fmt.Sprintf("%s.attestations[%d]", at, i)
		if a.Type == "" {
			return nil, fmt.Errorf("%w: %s.type: required", ErrPolicy, path)
		}
		issuer, subject, logURL, err := readKeyless(path+".attestors", a.Attestors)
		if err != nil {
			return nil, err
		}
		if issuer != r.Issuer || subject != r.Subject || logURL != r.Trust.LogURL {
			return nil, fmt.Errorf("%w: %s.attestors: not the image's attestor", ErrPolicy, path)
		}
		att := Attestation{Name: identifier(a.Type), PredicateType: a.Type}
		if len(a.Conditions) > 1 {
			return nil, fmt.Errorf("%w: %s.conditions: want one all block", ErrPolicy, path)
		}
		for _, block := range a.Conditions {
			for j, c := range block.All {
				field, ok := strings.CutPrefix(c.Key, "{{ ")
				field, ok2 := strings.CutSuffix(field, " }}")
				if !ok || !ok2 || c.Operator != "Equals" {
					return nil, fmt.Errorf("%w: %s.conditions[0].all[%d]: want key \"{{ field }}\" with operator Equals", ErrPolicy, path, j)
				}
				cond := Condition{Path: strings.Split(field, "."), Value: c.Value}
				for _, f := range cond.Path {
					if !fieldRE.MatchString(f) {
						return nil, fmt.Errorf("%w: %s.conditions[0].all[%d].key: %q is not a field path", ErrPolicy, path, j, c.Key)
					}
				}
				att.Conditions = append(att.Conditions, cond)
			}
		}
		r.Attestations = append(r.Attestations, att)
	}
	return r, nil
}
