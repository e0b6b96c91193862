package run

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/transport"
	"github.com/bom-attest/bom-attest/internal/verify"
	"github.com/bom-attest/bom-attest/internal/version"
)

// document is one predicate on its way to becoming a published attestation.
type document struct {
	name          string // file stem: sbom, sbom.linux-amd64, mlbom, provenance
	kind          string // the attestations input's word for it
	predicateType string
	predicate     []byte
	subject       statement.Subject

	statement  []byte
	file       string // .intoto.json (dry run) or .sigstore.json
	bundle     []byte
	signedBy   string
	timeSource string
	attest     store.Attestation
	referrer   string
}

// addDocument queues a predicate for attestation when the attestations input asks for its kind.
func (p *imagePipeline) addDocument(d *document) {
	if p.cfg.Wants(d.kind) {
		p.docs = append(p.docs, d)
	}
}

// maxServiceAnswer bounds what a Sigstore service, the runner's token endpoint or an OIDC
// issuer may answer.
const maxServiceAnswer = 16 << 20

// signingTransport carries every request of signing: the ID token, the issuer's keys, TUF and
// the Sigstore services.
func (p *pipeline) signingTransport() *transport.Transport {
	t := p.newTransport(transport.WithMaxResponse(maxServiceAnswer))
	t.AddSecret(p.cfg.GitHubToken)
	return t
}

func (p *pipeline) signOptions(t *transport.Transport) sign.Options {
	c := p.cfg
	return sign.Options{
		Instance:             c.Sigstore,
		RepositoryVisibility: c.GitHub.Visibility,
		ServerURL:            c.GitHub.ServerURL,
		WorkflowRef:          c.GitHub.WorkflowRef,
		FulcioURL:            c.FulcioURL,
		RekorURL:             c.RekorURL,
		TSAURL:               c.TSAURL,
		RekorVersion:         c.RekorVersion,
		TrustedRootPath:      c.TrustedRoot,
		Issuer:               c.OIDCIssuer,
		Transport:            t,
		Logf:                 p.log.Infof,
	}
}

// attest turns each described image's queued documents into statements, then (unless this is a
// dry run) gets the job's ID token, makes build provenance from its verified claims and the
// signing certificate once for the run, signs, self-verifies and writes each image's documents,
// and then publishes them. An image that fails here is set aside; a failure of what the images
// share (the token, the provenance, the certificate) is the run's.
func (p *pipeline) attest(ctx context.Context) error {
	var ready []*imagePipeline
	for _, im := range p.images {
		if im.err == nil {
			ready = append(ready, im)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	if p.cfg.DryRun {
		for _, im := range ready {
			if err := im.stage("statements (dry run)", im.dryRun); err != nil {
				im.fail(err)
				continue
			}
			im.fail(im.writePolicy(ctx))
		}
		return nil
	}
	t := p.signingTransport()
	var token string
	err := p.stage("ID token", func() (err error) {
		// Masked, and a secret of the transport, the moment it is read.
		token, err = sign.RequestIDToken(ctx, t, sign.TokenRequest{URL: p.cfg.GitHub.IDTokenURL, Token: p.cfg.GitHub.IDTokenSecret}, p.log.Mask)
		return err
	})
	if err != nil {
		return err
	}
	var prov []byte
	if p.cfg.Wants("provenance") {
		err = p.stage("provenance", func() error {
			// The claims come from the token Fulcio certifies, checked against the issuer's
			// published keys rather than read as they come.
			claims, err := provenance.VerifyToken(ctx, token, provenance.VerifyOptions{Issuer: p.cfg.OIDCIssuer, Audience: "sigstore", Client: t.Client()})
			if err != nil {
				return fmt.Errorf("provenance: %w", err)
			}
			prov, err = provenance.Build(claims, p.cfg.GitHub.ServerURL)
			if err != nil {
				return fmt.Errorf("provenance: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var signer *sign.Signer
	err = p.stage("signing certificate", func() (err error) {
		signer, err = sign.NewSigner(ctx, token, p.signOptions(t))
		return err
	})
	if err != nil {
		return err
	}
	gh, err := store.NewGitHub(store.GitHubOptions{APIURL: p.cfg.GitHub.APIURL, ServerURL: p.cfg.GitHub.ServerURL,
		Repository: p.cfg.GitHub.Repository, Token: p.cfg.GitHubToken, Transport: p.httpOpts})
	if err != nil {
		return err
	}
	// Every image is signed before any is published: the certificate is short-lived, and
	// publishing takes longer than signing.
	for _, im := range ready {
		if prov != nil {
			im.docs = append(im.docs, &document{name: "provenance", kind: "provenance", predicateType: provenance.PredicateType,
				predicate: prov, subject: im.subjectOfImage})
		}
		if err := im.stage("sign", func() error { return im.sign(ctx, signer) }); err != nil {
			im.fail(err)
			continue
		}
		im.setBundleOutputs()
	}
	for _, im := range ready {
		if im.err != nil {
			continue
		}
		err := im.stage("publish", func() error { return im.publish(ctx, gh) })
		im.attestationsSection(false)
		if err != nil {
			im.fail(err)
			continue
		}
		im.fail(im.writePolicy(ctx))
	}
	return nil
}

// sign signs every document of the image, and the image itself, before writing any bundle: a
// failure half-way must not leave bundles that look like a complete, published set.
func (p *imagePipeline) sign(ctx context.Context, signer *sign.Signer) error {
	if err := p.buildStatements(); err != nil {
		return err
	}
	for _, d := range p.docs {
		b, res, err := signer.Sign(ctx, d.statement)
		if err != nil {
			return fmt.Errorf("sign %s: %w", d.name, err)
		}
		d.bundle, d.signedBy, d.timeSource = b, res.SAN, res.TimeSource()
		p.log.Infof("%s: signed by %s, verified (%s)", d.name, res.SAN, res.TimeSource())
	}
	if err := p.signImage(ctx, signer); err != nil {
		return err
	}
	for _, d := range p.docs {
		path, err := p.dir.Write(d.name+".sigstore.json", d.bundle)
		if err != nil {
			return err
		}
		d.file = p.display(path)
	}
	return p.writeImageSignature()
}

// kindOrder keeps outputs and the summary in one order: SBOMs, ML-BOM, provenance, vulnerability reports.
var kindOrder = map[string]int{"sbom": 0, "mlbom": 1, "provenance": 2, "vulnerabilities": 3}

func (p *imagePipeline) buildStatements() error {
	sort.SliceStable(p.docs, func(i, j int) bool { return kindOrder[p.docs[i].kind] < kindOrder[p.docs[j].kind] })
	for _, d := range p.docs {
		st, err := statement.New(d.name, []statement.Subject{d.subject}, d.predicateType, d.predicate)
		if err != nil {
			return err
		}
		d.statement = st
	}
	return nil
}

func (p *imagePipeline) dryRun() error {
	if err := p.buildStatements(); err != nil {
		return err
	}
	for _, d := range p.docs {
		path, err := p.dir.Write(d.name+".intoto.json", d.statement)
		if err != nil {
			return err
		}
		d.file = p.display(path)
		p.log.Infof("wrote %s (unsigned)", d.file)
	}
	if err := p.dryRunImageSignature(); err != nil {
		return err
	}
	plan, err := sign.NewPlan(p.signOptions(nil))
	if err != nil {
		return err
	}
	for _, d := range p.docs {
		d.signedBy = plan.Identity.SAN
	}
	p.attestationsSection(true)
	signer := plan.Identity.SAN
	if signer == "" {
		signer = "the workflow that runs this step"
	}
	intro := report.Markdownf("Would be signed by %s (issuer %s) with the %s Sigstore instance (%s).", report.Link(signer), report.Link(plan.Identity.Issuer), plan.Instance, plan.Services())
	if plan.FromSigningConfig {
		intro += " These are the instance's usual services: at signing time the signing config its TUF repository publishes chooses them."
	}
	if p.cfg.Wants("provenance") {
		intro += " Build provenance is made at signing time from the workflow's verified ID token, so a dry run has none."
	}
	p.sum.Sections[len(p.sum.Sections)-1].Intro = intro
	return nil
}

// publish stores every bundle with the GitHub Attestations API and, on request, pushes it to
// the registry as a referrer of the image it is about, then records where those images are stored.
func (p *imagePipeline) publish(ctx context.Context, gh *store.GitHub) error {
	c := p.cfg
	var ids, urls []string
	for _, d := range p.docs {
		a, err := gh.Upload(ctx, d.bundle)
		if err != nil {
			return fmt.Errorf("publish %s: %w", d.name, err)
		}
		d.attest = a
		ids, urls = append(ids, strconv.FormatInt(a.ID, 10)), append(urls, a.URL)
		p.log.Infof("%s: attestation %s", d.name, a.URL)
	}
	if len(ids) > 0 {
		p.out.Set("attestation-id", ids[0])
		p.out.Set("attestation-url", urls[0])
		p.out.SetJSON("attestation-ids", ids)
		p.out.SetJSON("attestation-urls", urls)
	}
	if !c.PushToRegistry {
		return nil
	}
	opts := store.ReferrerOptions{Mode: c.ReferrersMode, Keychain: image.Keychain(c.GitHubToken, c.GitHub.Actor), Transport: p.http}
	var images []name.Digest
	for _, d := range p.docs {
		ref, err := name.NewDigest(p.repoURL + "@" + d.subject.Digest)
		if err != nil {
			return fmt.Errorf("push-to-registry: %s: %w", d.name, err)
		}
		h, err := store.PushReferrer(ctx, ref, d.bundle, d.predicateType, opts)
		if err != nil {
			return fmt.Errorf("push-to-registry: %s: %w", d.name, err)
		}
		d.referrer = h.String()
		p.log.Infof("%s: pushed referrer %s to %s", d.name, h, p.repoURL)
		if !slices.Contains(images, ref) {
			images = append(images, ref)
		}
	}
	if err := p.pushImageSignature(ctx, opts); err != nil {
		return err
	}
	if c.CreateStorageRecord {
		p.storageRecords(ctx, gh, images)
	}
	return nil
}

// ownerType is whether the repository's owner is an organization, or why that is not known.
type ownerType struct {
	org bool
	err error
}

// storageRecords records where each attested image is stored (GitHub's artifact metadata), as
// actions/attest v4 does: only for an organization's repository, which is what GitHub keeps
// them for. A failure is a warning that says what to fix, never a failed run: the attestations
// are stored and pushed by then.
func (p *imagePipeline) storageRecords(ctx context.Context, gh *store.GitHub, images []name.Digest) {
	const optOut = " (create-storage-record: false turns storage records off)"
	if p.org == nil {
		// Asked once for the run: the answer, or the warning, is the same for every image.
		org, err := gh.OwnerIsOrganization(ctx)
		p.org = &ownerType{org: org, err: err}
		switch {
		case err != nil:
			p.pipeline.warn("no storage record created: %v%s", err, optOut)
		case !org:
			p.log.Infof("no storage record: the repository is owned by a user account, and GitHub keeps storage records for organizations only")
		}
	}
	if p.org.err != nil || !p.org.org {
		return
	}
	var ids []string
	for _, img := range images {
		got, err := gh.CreateStorageRecord(ctx, store.StorageRecordFor(img, p.cfg.SubjectVersion))
		if err != nil {
			p.warn("no storage record created for %s: %v%s", img, err, optOut)
			continue
		}
		if len(got) == 0 {
			p.warn("no storage record created for %s: GitHub answered with none", img)
		}
		for _, id := range got {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		p.log.Infof("storage record for %s: %v", img, got)
	}
	if len(ids) > 0 {
		p.out.SetJSON("storage-record-ids", ids)
	}
}

func (p *imagePipeline) setBundleOutputs() {
	var paths []string
	for _, d := range p.docs {
		paths = append(paths, d.file)
	}
	if len(paths) > 0 {
		p.out.Set("bundle-path", paths[0])
		p.out.SetJSON("bundle-paths", paths)
	}
}

func (p *imagePipeline) attestationsSection(dry bool) {
	s := report.Section{Title: "Attestations", Header: []string{"Document", "Predicate type", "Subject digest", "Attestation", "Registry referrer", "File"}}
	if dry {
		s.Title = "Attestations (dry run: what would be signed and published)"
	}
	for _, d := range p.docs {
		var att, ref report.Markdown
		switch {
		case dry:
			att = "would be stored with the GitHub Attestations API"
			if p.cfg.PushToRegistry {
				ref = "would be pushed"
			}
		default:
			att = report.Link(d.attest.URL)
			ref = report.Code(d.referrer)
		}
		s.Rows = append(s.Rows, []report.Markdown{report.Text(d.name), report.Code(d.predicateType), report.Code(d.subject.Digest), att, ref, report.Code(d.file)})
	}
	p.sum.Sections = append(p.sum.Sections, s)
}

// runVerify is the `bom-attest verify` command; --from-registry finds bundles with the same
// referrer code that pushed them.
func runVerify(ctx context.Context, env Env) int {
	return verify.Main(ctx, env.Args[1:], env.Stdout, env.Stderr, registryFinder{})
}

// registryFinder finds the bundles pushed as OCI referrers of an image.
type registryFinder struct{}

func (registryFinder) FindBundles(ctx context.Context, ref string) ([]verify.Found, error) {
	d, err := name.NewDigest(ref)
	if err != nil {
		return nil, err
	}
	t := transport.New(transport.WithUserAgent(version.UserAgent()), transport.WithCrossHostReads())
	found, err := store.FindBundles(ctx, d, store.ReferrerOptions{Keychain: image.Keychain("", ""), Transport: t})
	if err != nil {
		return nil, err
	}
	out := make([]verify.Found, len(found))
	for i, f := range found {
		out[i] = verify.Found{Name: fmt.Sprintf("%s (referrer %s, %s)", ref, f.Digest, f.PredicateType), Bundle: f.Bundle, PredicateType: f.PredicateType}
	}
	return out, nil
}
