package admission

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/sign"
)

// attestorName is how an ImageValidatingPolicy's validations refer to the signing workflow.
const attestorName = "workflow"

// allImages is every image of a pod that the policy's image patterns select (Kyverno hands its
// CEL the matched images only, per container list).
const allImages = "(images.containers + images.initContainers + images.ephemeralContainers)"

// Render writes the rules as the policy of their kind, with comments that say why each
// setting is what it is.
func Render(r *Rules) ([]byte, error) {
	var doc *yaml.Node
	switch r.Kind {
	case KindImageValidating:
		doc = imageValidatingPolicy(r)
	case KindClusterPolicy:
		doc = clusterPolicy(r)
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrFacts, r.Kind)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, HeadComment: header(r), Content: []*yaml.Node{doc}}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFacts, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFacts, err)
	}
	return b.Bytes(), nil
}

func header(r *Rules) string {
	kind := "ImageValidatingPolicy (policies.kyverno.io/v1): Kyverno 1.17 or later"
	if r.Kind == KindClusterPolicy {
		kind = "ClusterPolicy (kyverno.io/v1, verifyImages of type SigstoreBundle): Kyverno 1.13 or later"
	}
	lines := []string{
		"Written by bom-attest: admit " + strings.Join(r.Images, ", "),
		"only when signed by the workflow that built and attested it, with the attestations it made.",
		kind + instanceNeeds(r) + ".",
		"  kubectl apply -f " + File,
		"Check an image the way admission will, offline: bom-attest verify --policy " + File + " IMAGE@sha256:...",
	}
	return strings.Join(lines, "\n")
}

// instanceNeeds says what else the instance's trust asks of Kyverno.
func instanceNeeds(r *Rules) string {
	switch {
	case r.Kind == KindImageValidating && r.Trust.TrustedRoot != nil:
		return "; its inline trustedRoot needs Kyverno 1.19 or later"
	case r.Kind == KindClusterPolicy && r.Trust.Instance == sign.InstanceGitHub:
		return "; Kyverno must be started with GitHub's TUF root (see the attestor below)"
	case r.Kind == KindClusterPolicy && r.Trust.Instance == sign.InstanceCustom:
		return "; Kyverno must be started with a TUF root that serves this instance's trusted root (see the attestor below)"
	}
	return ""
}

func imageValidatingPolicy(r *Rules) *yaml.Node {
	var attestations, validations []*yaml.Node
	validations = append(validations, mapping(
		kv("expression", str(celSignedBy(attestorName))),
		kv("message", str("the image is not signed by the workflow that built it")),
	))
	for _, a := range r.Attestations {
		attestations = append(attestations, mapping(
			kv("name", str(a.Name)),
			kv("intoto", mapping(kv("type", str(a.PredicateType)))),
		))
		msg := "the image has no " + a.PredicateType + " attestation signed by the workflow that built it"
		switch {
		case a.PredicateType == sign.ImageSignaturePredicateType:
			msg = "the image has no image signature (cosign's) from the workflow that built it"
		case len(a.Conditions) > 0:
			msg = "the image has no " + a.PredicateType + " attestation from this workflow's build"
		}
		validations = append(validations, mapping(
			kv("expression", str(celAttested(a))),
			kv("message", str(msg)),
		))
	}
	spec := mapping(
		kvc("validationActions", flow(strs("Deny")),
			"Refuse a pod that fails, and fail closed when Kyverno cannot decide (a registry out of reach)."),
		kv("failurePolicy", str("Fail")),
		kvc("webhookConfiguration", mapping(kv("timeoutSeconds", integer(30))),
			"Reading referrers and verifying bundles takes a few registry round trips."),
		kv("matchConstraints", mapping(kv("resourceRules", list(mapping(
			kv("apiGroups", flow(strs(""))),
			kv("apiVersions", flow(strs("v1"))),
			kv("operations", flow(strs("CREATE", "UPDATE"))),
			kv("resources", flow(strs("pods"))),
		))))),
		kvc("matchImageReferences", globs(r.Images),
			"The image as a pod names it: bare, by tag or by digest. Other images are left alone."),
		kvc("validationConfigurations", mapping(
			kv("mutateDigest", boolean(true)),
			kv("verifyDigest", boolean(true)),
			kv("required", boolean(true)),
		), "Pin an admitted tag to the digest that was verified, and refuse a matched image no rule verified."),
		kv("attestors", list(mapping(
			kv("name", str(attestorName)),
			kv("cosign", cosignAttestor(r)),
		))),
		kvc("attestations", list(attestations...), attestationsComment(r)...),
		kvc("validations", list(validations...),
			"Kyverno verifies each bundle pushed as an OCI referrer of the image's digest: signed by the",
			"workflow above, and an in-toto statement about that digest."),
	)
	return mapping(
		kv("apiVersion", str("policies.kyverno.io/v1")),
		kv("kind", str("ImageValidatingPolicy")),
		kv("metadata", mapping(kv("name", str(r.Name)))),
		kv("spec", spec),
	)
}

func cosignAttestor(r *Rules) *yaml.Node {
	t := r.Trust
	identity := list(commented(mapping(
		kv("issuer", str(r.Issuer)),
		kv("subjectRegExp", str(r.Subject)),
	), subjectComment()...))
	var ctlog *yaml.Node
	var ctlogComment []string
	switch {
	case t.LogURL != "":
		ctlog = mapping(kv("url", str(t.LogURL)), kv("insecureIgnoreSCT", boolean(!t.SCT)))
		ctlogComment = []string{"Every bundle carries an entry of this Rekor log: Kyverno checks its inclusion proof, and takes the",
			"signing time from it (from the bundle's RFC 3161 timestamp for a Rekor v2 entry, which has none)."}
		if t.TrustedRoot == nil {
			ctlogComment = append(ctlogComment, "Trust: the public-good trusted root, from Kyverno's default TUF repository.")
		}
		if t.SCT {
			ctlogComment = append(ctlogComment, "The certificate's SCT is checked against the trusted root's CT logs.")
		} else {
			ctlogComment = append(ctlogComment, "The trusted root lists no CT log, so there is no SCT to check.")
		}
	default:
		ctlog = mapping(kv("insecureIgnoreTlog", boolean(true)), kv("insecureIgnoreSCT", boolean(!t.SCT)))
		ctlogComment = []string{
			"This Sigstore instance has no transparency log (nor a CT log): bundles carry an RFC 3161 timestamp",
			"instead. With insecureIgnoreTlog Kyverno checks the certificate at the time that timestamp proves, so the",
			"short-lived certificate verifies long after it expired.",
		}
	}
	var tuf *yaml.Node
	var tufComment []string
	if t.TUFMirror != "" {
		tuf = mapping(
			kv("mirror", str(t.TUFMirror)),
			kv("root", mapping(kv("data", str(base64.StdEncoding.EncodeToString(t.TUFRoot))))),
		)
		tufComment = []string{
			"Kyverno starts a TUF client for every keyless attestor, even with trustedRoot set: point it at",
			"GitHub's TUF repository, from the root.json the GitHub CLI embeds (base64), rather than at",
			"public-good's, which a cluster that only trusts GitHub may not reach.",
		}
	}
	var trustedRoot *yaml.Node
	var trustedRootComment []string
	if t.TrustedRoot != nil {
		trustedRoot = mapping(kv("value", block(indentJSON(t.TrustedRoot))))
		trustedRootComment = []string{
			"The instance's trusted root (Fulcio CAs, timestamp authorities, logs), the one this run verified",
			"its own bundles with. Kyverno 1.19 or later verifies with it instead of its TUF repository's.",
		}
		if t.Instance == sign.InstanceGitHub {
			trustedRootComment = append(trustedRootComment, "GitHub's instance has no TUF-published trust for Kyverno to use otherwise.")
		}
	}
	return mapping(
		kvc("keyless", mapping(kv("identities", identity)),
			"Keyless: a certificate Fulcio issued, from the ID token of a GitHub Actions run, to the workflow below."),
		kvc("ctlog", ctlog, ctlogComment...),
		kvc("tuf", tuf, tufComment...),
		kvc("trustedRoot", trustedRoot, trustedRootComment...),
	)
}

func subjectComment() []string {
	return []string{
		"The workflow's ref URL, anchored up to its '@' so that no other repository or workflow file — a",
		"fork's included — matches; then the ref (any, unless kyverno-ref-pattern narrowed it).",
	}
}

func attestationsComment(r *Rules) []string {
	out := []string{"The attestations this run made about the image's digest, by predicate type."}
	for _, a := range r.Attestations {
		if a.PredicateType == sign.ImageSignaturePredicateType {
			out = append(out, "The image signature is cosign v3's (cosign verify finds it too): an in-toto statement about the digest.")
		}
	}
	if len(r.Elsewhere) > 0 {
		out = append(out,
			"Not required here: "+strings.Join(r.Elsewhere, ", ")+", attested about each platform's manifest;",
			"Kyverno verifies the digest a pod names, the multi-platform index.")
	}
	return out
}

func globs(images []string) *yaml.Node {
	n := list()
	for _, g := range images {
		n.Content = append(n.Content, mapping(kv("glob", str(g))))
	}
	return n
}

func celAttested(a Attestation) string {
	var b strings.Builder
	b.WriteString(allImages + ".all(image, verifyAttestationSignatures(image, attestations." + a.Name + ", [attestors." + attestorName + "]) > 0")
	for _, c := range a.Conditions {
		b.WriteString(" && extractPayload(image, attestations." + a.Name + ").predicate." + strings.Join(c.Path, ".") + " == " + strconv.Quote(c.Value))
	}
	b.WriteString(")")
	return b.String()
}

func clusterPolicy(r *Rules) *yaml.Node {
	var attestations []*yaml.Node
	for _, a := range r.Attestations {
		var conditions *yaml.Node
		if len(a.Conditions) > 0 {
			all := list()
			for _, c := range a.Conditions {
				all.Content = append(all.Content, mapping(
					kv("key", str("{{ "+strings.Join(c.Path, ".")+" }}")),
					kv("operator", str("Equals")),
					kv("value", str(c.Value)),
				))
			}
			conditions = list(mapping(kv("all", all)))
		}
		attestations = append(attestations, mapping(
			kv("type", str(a.PredicateType)),
			kvc("attestors", keylessSet(r, false), "The attestor above."),
			kvc("conditions", conditions, "Fields of the predicate: the build type and the workflow that built the image."),
		))
	}
	verify := mapping(
		kv("imageReferences", strs(r.Images...)),
		kvc("type", str("SigstoreBundle"),
			"Bundles pushed as OCI referrers (this action's, and cosign v3's image signatures) are found only by",
			"type SigstoreBundle; type Cosign looks for the .sig and .att tags of cosign's older format.",
			"Kyverno reads at most 50 referrers of an image and refuses an image with more."),
		kvc("failureAction", str("Enforce"),
			"Without it the policy's validationFailureAction applies, which defaults to Audit: report, admit anyway."),
		kv("mutateDigest", boolean(true)),
		kv("verifyDigest", boolean(true)),
		kv("required", boolean(true)),
		kvc("attestors", keylessSet(r, true), "Signed by the workflow: any of its bundles about the digest, the image signature included."),
		kvc("attestations", list(attestations...), attestationsComment(r)...),
	)
	return mapping(
		kv("apiVersion", str("kyverno.io/v1")),
		kv("kind", str("ClusterPolicy")),
		kv("metadata", mapping(kv("name", str(r.Name)))),
		kv("spec", mapping(
			kvc("background", boolean(false), "Verified at admission; background scans would query the registry for every pod again."),
			kv("webhookTimeoutSeconds", integer(30)),
			kvc("failurePolicy", str("Fail"), "Fail closed when Kyverno cannot decide (a registry out of reach)."),
			kv("rules", list(mapping(
				kv("name", str("signed-and-attested")),
				kv("match", mapping(kv("any", list(mapping(kv("resources", mapping(kv("kinds", flow(strs("Pod")))))))))),
				kv("verifyImages", list(verify)),
			))),
		)),
	)
}

// keylessSet is the classic policy's attestor: the workflow's keyless identity and the log;
// explained is false where it repeats the first.
func keylessSet(r *Rules, explained bool) *yaml.Node {
	rekor := mapping(kv("url", str(r.Trust.LogURL)))
	rekorComment := []string{"Bundles carry an entry of this Rekor log; Kyverno checks its inclusion proof."}
	if r.Trust.LogURL == "" {
		rekor = mapping(kv("url", str(placeholderRekor)), kv("ignoreTlog", boolean(true)))
		rekorComment = []string{
			"This Sigstore instance has no transparency log: ignoreTlog, and Kyverno checks the certificate at",
			"the time the bundle's RFC 3161 timestamp proves. Kyverno refuses a keyless attestor without",
			"rekor.url even then; the URL is not contacted.",
			"No ctlog.ignoreSCT: for bundles it makes Kyverno check the certificate at the current time, which",
			"the 10-minute certificate fails.",
		}
	}
	issuerComment, subjectComments := trustComment(r), subjectComment()
	if !explained {
		issuerComment, subjectComments, rekorComment = nil, nil, nil
	}
	keyless := mapping(
		kvc("issuer", str(r.Issuer), issuerComment...),
		kvc("subjectRegExp", str(r.Subject), subjectComments...),
		kvc("rekor", rekor, rekorComment...),
	)
	return list(mapping(kv("entries", list(mapping(kv("keyless", keyless))))))
}

// placeholderRekor fills rekor.url where the classic engine demands one but the instance has
// no log.
const placeholderRekor = "https://rekor.sigstore.dev"

func trustComment(r *Rules) []string {
	switch r.Trust.Instance {
	case sign.InstanceGitHub:
		return []string{
			"GitHub's Sigstore instance. A ClusterPolicy has no trust of its own: Kyverno verifies with the",
			"trusted root of the TUF repository it was started with, so start it with GitHub's (Helm values",
			"features.tuf: enabled: true, mirror: " + sign.GitHubTUFMirror + ", rootRaw: the root.json `gh` embeds, base64).",
			"That replaces public-good trust for the whole cluster; an ImageValidatingPolicy has no such limit.",
		}
	case sign.InstanceCustom:
		return []string{
			"A custom Sigstore instance. A ClusterPolicy has no trust of its own: Kyverno verifies with the",
			"trusted root of the TUF repository it was started with (Helm values features.tuf: mirror, rootRaw), which must",
			"serve this instance's trusted_root.json.",
		}
	}
	return []string{"Public-good Sigstore: Kyverno verifies with the trusted root of its default TUF repository."}
}

// indentJSON lays a trusted root out one field per line, to read and diff in the policy.
func indentJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}
