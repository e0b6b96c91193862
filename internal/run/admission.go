package run

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/store"
)

// imageSignatureFile is the stem of the image signature's files: .intoto.json in a dry run,
// .sigstore.json once signed.
const imageSignatureFile = "image-signature"

// maxPolicyInSummary bounds the policy shown in the job summary, which GitHub caps at 1 MiB for
// a step; a larger one (a big custom trusted root) is only named.
const maxPolicyInSummary = 64 << 10

// admissionState is what the image signature and the admission policy stages keep.
type admissionState struct {
	signer   *sign.Signer
	bundle   []byte // the image signature
	signedBy string
	file     string // as shown
	referrer string
	policy   string // the policy's path, as shown
}

// signImage signs the image digest itself, as cosign v3 does, with the run's signer; the bundle
// is written and pushed with the attestations.
func (p *imagePipeline) signImage(ctx context.Context, signer *sign.Signer) error {
	p.adm.signer = signer
	if !p.cfg.SignImage {
		return nil
	}
	b, res, err := signer.SignImage(ctx, p.subjectOfImage)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", p.subjectOfImage.Digest, err)
	}
	p.adm.bundle, p.adm.signedBy = b, res.SAN
	p.log.Infof("image %s: signed by %s, verified (%s)", p.subjectOfImage.Digest, res.SAN, res.TimeSource())
	return nil
}

// writeImageSignature writes the image signature's bundle beside the attestations' bundles.
func (p *imagePipeline) writeImageSignature() error {
	if p.adm.bundle == nil {
		return nil
	}
	path, err := p.dir.Write(imageSignatureFile+".sigstore.json", p.adm.bundle)
	if err != nil {
		return err
	}
	p.adm.file = p.display(path)
	p.out.Set("image-signature-bundle-path", p.adm.file)
	return nil
}

// pushImageSignature pushes the image signature as a referrer of the image, as `cosign sign`
// (v3) pushes it: the same artifact type and annotations as an attestation bundle, with its
// predicate type, which is what `cosign verify` and Kyverno look for.
func (p *imagePipeline) pushImageSignature(ctx context.Context, opts store.ReferrerOptions) error {
	if p.adm.bundle == nil {
		return nil
	}
	ref, err := name.NewDigest(p.repoURL + "@" + p.subjectOfImage.Digest)
	if err != nil {
		return fmt.Errorf("push-to-registry: image signature: %w", err)
	}
	h, err := store.PushReferrer(ctx, ref, p.adm.bundle, sign.ImageSignaturePredicateType, opts)
	if err != nil {
		return fmt.Errorf("push-to-registry: image signature: %w", err)
	}
	p.adm.referrer = h.String()
	p.log.Infof("image signature: pushed referrer %s to %s", h, p.repoURL)
	p.sum.Sections = append(p.sum.Sections, report.Section{
		Title:  "Image signature",
		Intro:  report.Markdownf("The image digest itself, signed as cosign v3 signs it, so %s finds it.", report.Code("cosign verify")),
		Header: []string{"Digest", "Signed by", "Registry referrer", "File"},
		Rows:   [][]report.Markdown{{report.Code(p.subjectOfImage.Digest), report.Link(p.adm.signedBy), report.Code(p.adm.referrer), report.Code(p.adm.file)}},
	})
	return nil
}

// dryRunImageSignature writes the statement the image signature would sign.
func (p *imagePipeline) dryRunImageSignature() error {
	if !p.cfg.SignImage {
		return nil
	}
	st, err := sign.ImageSignatureStatement(p.subjectOfImage)
	if err != nil {
		return err
	}
	path, err := p.dir.Write(imageSignatureFile+".intoto.json", st)
	if err != nil {
		return err
	}
	p.adm.file = p.display(path)
	p.log.Infof("wrote %s (unsigned)", p.adm.file)
	return nil
}

// writePolicy writes the Kyverno policy for exactly what this run attested — in a dry run, what
// it would have — last, once everything it requires is published.
func (p *imagePipeline) writePolicy(ctx context.Context) error {
	kind := p.cfg.KyvernoPolicy
	if kind == "" || kind == admission.KindNone {
		return nil
	}
	return p.stage("admission policy", func() error {
		facts, err := p.admissionFacts(ctx)
		if err != nil {
			return fmt.Errorf("kyverno-policy: %w", err)
		}
		rules, err := admission.New(facts)
		if err != nil {
			return fmt.Errorf("kyverno-policy: %w", err)
		}
		if !rules.MatchesSigner(facts.SAN) {
			p.warn("kyverno-policy: the policy would refuse this very image: its signer %s does not match %s (kyverno-ref-pattern)", facts.SAN, rules.Subject)
		}
		doc, err := admission.Render(rules)
		if err != nil {
			return fmt.Errorf("kyverno-policy: %w", err)
		}
		path, err := p.dir.Write(admission.File, doc)
		if err != nil {
			return err
		}
		p.adm.policy = p.display(path)
		p.out.Set("kyverno-policy-path", p.adm.policy)
		p.log.Infof("wrote %s (%s, %d bytes)", p.adm.policy, kind, len(doc))
		p.policySection(rules, doc)
		return nil
	})
}

func (p *imagePipeline) policySection(r *admission.Rules, doc []byte) {
	what := "ImageValidatingPolicy"
	if r.Kind == admission.KindClusterPolicy {
		what = "ClusterPolicy"
	}
	s := report.Section{
		Title: "Kyverno admission policy",
		Intro: report.Markdownf("A Kyverno %s admitting %s only when signed by this workflow with this run's attestations: %s. Check an image against it offline first: %s.",
			what, report.Code(strings.Join(r.Images, " ")), report.Code("kubectl apply -f "+p.adm.policy),
			report.Code("bom-attest verify --policy "+p.adm.policy+" IMAGE@sha256:…")),
	}
	if p.cfg.DryRun {
		s.Intro += " Dry run: written from what would be signed; the signer is the workflow the runner names, which a reusable workflow would replace."
	}
	if len(doc) <= maxPolicyInSummary {
		s.Collapsed = []report.Collapsed{{Summary: admission.File, Lang: "yaml", Text: string(doc)}}
	}
	p.sum.Sections = append(p.sum.Sections, s)
}

// admissionFacts gathers what the policy is written from: the image, the signer, the
// attestations about the image's own digest, and the trust of the Sigstore instance.
func (p *imagePipeline) admissionFacts(ctx context.Context) (admission.Facts, error) {
	c := p.cfg
	f := admission.Facts{Kind: c.KyvernoPolicy, SubjectName: p.subjectOfImage.Name, ImageGlobs: c.KyvernoImageGlobs, RefPattern: c.KyvernoRefPattern}
	var plan sign.Plan
	if s := p.adm.signer; s != nil {
		plan = s.Plan()
	} else {
		var err error
		if plan, err = sign.NewPlan(p.signOptions(nil)); err != nil {
			return f, err
		}
	}
	f.SAN, f.Issuer = plan.Identity.SAN, plan.Identity.Issuer
	if f.SAN == "" {
		return f, fmt.Errorf("%w: the signing workflow is not known (GITHUB_WORKFLOW_REF is unset)", admission.ErrFacts)
	}
	for _, d := range p.docs {
		if d.subject.Digest != p.subjectOfImage.Digest {
			f.Elsewhere = append(f.Elsewhere, d.name)
			continue
		}
		f.Documents = append(f.Documents, admission.Document{Name: d.kind, PredicateType: d.predicateType})
		if d.predicateType == provenance.PredicateType {
			w, err := workflowOf(d.predicate)
			if err != nil {
				return f, err
			}
			f.Workflow = w
		}
	}
	if c.DryRun && c.Wants("provenance") {
		// A dry run has no token, so no provenance; the runner's workflow_ref says what it would hold.
		f.Documents = append(f.Documents, admission.Document{Name: "provenance", PredicateType: provenance.PredicateType})
		w, err := dryRunWorkflow(c.GitHub.ServerURL, c.GitHub.Repository, c.GitHub.WorkflowRef)
		if err != nil {
			return f, err
		}
		f.Workflow = w
	}
	if p.adm.bundle != nil || c.DryRun && c.SignImage {
		f.Documents = append(f.Documents, admission.Document{Name: "signature", PredicateType: sign.ImageSignaturePredicateType})
	}
	if p.trust == nil {
		// The same for every image of the run: read once.
		trust, err := p.admissionTrust(ctx, plan, p.adm.signer)
		if err != nil {
			return f, err
		}
		p.trust = &trust
	}
	f.Trust = *p.trust
	return f, nil
}

// admissionTrust is the trust a policy verifies with: Kyverno's own (TUF) for public-good,
// otherwise the trusted root this run verified with, carried inline; GitHub's TUF repository for
// an ImageValidatingPolicy's TUF client on GitHub's instance.
func (p *pipeline) admissionTrust(ctx context.Context, plan sign.Plan, signer *sign.Signer) (admission.Trust, error) {
	t := admission.Trust{Instance: plan.Instance, LogURL: plan.RekorURL}
	if plan.Instance == sign.InstancePublicGood && plan.TrustedRootPath == "" {
		t.SCT = true
		return t, nil
	}
	if plan.TrustedRootPath != "" {
		t.Instance = sign.InstanceCustom
	}
	if plan.TUFMirror == sign.GitHubTUFMirror {
		t.TUFMirror, t.TUFRoot = plan.TUFMirror, sign.GitHubTUFRoot()
	}
	var err error
	if signer != nil {
		t.TrustedRoot, err = signer.TrustedRoot()
	} else {
		// A dry run reads the instance's trusted root, as signing would; it publishes nothing.
		t.TrustedRoot, err = sign.FetchTrustedRoot(ctx, p.signOptions(nil), p.signingTransport())
	}
	if err != nil {
		return t, err
	}
	tr, err := root.NewTrustedRootFromJSON(t.TrustedRoot)
	if err != nil {
		return t, fmt.Errorf("%w: %w", sign.ErrTrustedRoot, err)
	}
	t.SCT = len(tr.CTLogs()) > 0
	return t, nil
}

// workflowOf reads the workflow facts a policy checks from this run's provenance predicate.
func workflowOf(predicate []byte) (*admission.Workflow, error) {
	var pred provenance.Predicate
	if err := json.Unmarshal(predicate, &pred); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	b := pred.BuildDefinition
	return &admission.Workflow{BuildType: b.BuildType, Repository: b.ExternalParameters.Workflow.Repository, Path: b.ExternalParameters.Workflow.Path}, nil
}

// dryRunWorkflow is what provenance would say of the workflow, from GITHUB_WORKFLOW_REF
// (<owner>/<repo>/<path>@<ref>), split as provenance splits the token's workflow_ref.
func dryRunWorkflow(server, repository, workflowRef string) (*admission.Workflow, error) {
	rest, ok := strings.CutPrefix(workflowRef, repository+"/")
	path, _, found := strings.Cut(rest, "@")
	if !ok || !found || path == "" {
		return nil, fmt.Errorf("%w: GITHUB_WORKFLOW_REF %q is not %s/<path>@<ref>", admission.ErrFacts, workflowRef, repository)
	}
	return &admission.Workflow{BuildType: provenance.BuildType, Repository: strings.TrimSuffix(server, "/") + "/" + repository, Path: path}, nil
}

// admissionOutcomes account for the image signature and the policy after a failure.
func (p *imagePipeline) admissionOutcomes() []report.Outcome {
	var out []report.Outcome
	if p.cfg.SignImage && !p.cfg.DryRun {
		out = append(out, report.Outcome{What: "image signature: signed", Done: p.adm.bundle != nil},
			report.Outcome{What: "image signature: bundle written (" + p.file(imageSignatureFile+".sigstore.json") + ")", Done: p.adm.file != ""},
			report.Outcome{What: "image signature: pushed to the registry as a referrer", Done: p.adm.referrer != ""})
	}
	if k := p.cfg.KyvernoPolicy; k != "" && k != admission.KindNone {
		out = append(out, report.Outcome{What: "Kyverno policy written (" + p.file(admission.File) + ")", Done: p.adm.policy != ""})
	}
	return out
}
