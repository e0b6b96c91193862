package run

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/config"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/provenance"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/store"
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
func (p *pipeline) addDocument(d *document) {
	if p.cfg.Wants(d.kind) {
		p.docs = append(p.docs, d)
	}
}

func (p *pipeline) signOptions() sign.Options {
	c := p.cfg
	return sign.Options{
		Instance:             c.Sigstore,
		RepositoryVisibility: c.GitHub.Visibility,
		ServerURL:            c.GitHub.ServerURL,
		WorkflowRef:          c.GitHub.WorkflowRef,
		FulcioURL:            c.FulcioURL,
		RekorURL:             c.RekorURL,
		TSAURL:               c.TSAURL,
		TrustedRootPath:      c.TrustedRoot,
		TokenRequestURL:      c.GitHub.IDTokenURL,
		TokenRequestToken:    c.GitHub.IDTokenSecret,
		Issuer:               c.OIDCIssuer,
		Mask:                 p.log.Mask,
		Logf:                 p.log.Infof,
	}
}

// attest turns the queued documents into statements, then (unless this is a dry run) signs,
// self-verifies, writes and publishes them.
func (p *pipeline) attest(ctx context.Context) error {
	if p.cfg.DryRun {
		return p.stage("statements (dry run)", p.dryRun)
	}
	var signer *sign.Signer
	var claims *provenance.Claims
	err := p.stage("sign", func() error {
		opts := p.signOptions()
		if p.cfg.Wants("provenance") {
			// The claims for build provenance come from the same token Fulcio certifies, checked
			// against the issuer's published keys rather than read as they come.
			opts.OnToken = func(ctx context.Context, token string) error {
				var err error
				claims, err = provenance.VerifyToken(ctx, token, provenance.VerifyOptions{Issuer: p.cfg.OIDCIssuer, Audience: "sigstore"})
				return err
			}
		}
		var err error
		if signer, err = sign.NewSigner(ctx, opts); err != nil {
			return err
		}
		if claims != nil {
			pred, err := provenance.Build(claims, p.cfg.GitHub.ServerURL)
			if err != nil {
				return fmt.Errorf("provenance: %w", err)
			}
			p.docs = append(p.docs, &document{name: "provenance", kind: "provenance", predicateType: provenance.PredicateType,
				predicate: pred, subject: p.subjectOfImage})
		}
		if err := p.buildStatements(); err != nil {
			return err
		}
		// Sign every document before writing any bundle: a failure half-way must not leave
		// bundles that look like a complete, published set.
		for _, d := range p.docs {
			b, res, err := signer.Sign(ctx, d.statement)
			if err != nil {
				return fmt.Errorf("sign %s: %w", d.name, err)
			}
			d.bundle, d.signedBy, d.timeSource = b, res.SAN, res.TimeSource()
			p.log.Infof("%s: signed by %s, verified (%s)", d.name, res.SAN, res.TimeSource())
		}
		for _, d := range p.docs {
			path, err := p.dir.Write(d.name+".sigstore.json", d.bundle)
			if err != nil {
				return err
			}
			d.file = p.display(path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.setBundleOutputs()
	err = p.stage("publish", func() error { return p.publish(ctx) })
	p.attestationsSection(false)
	return err
}

// kindOrder keeps outputs and the summary in one order: SBOMs, ML-BOM, provenance, vulnerability reports.
var kindOrder = map[string]int{"sbom": 0, "mlbom": 1, "provenance": 2, "vulnerabilities": 3}

func (p *pipeline) buildStatements() error {
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

func (p *pipeline) dryRun() error {
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
	plan, err := sign.NewPlan(p.signOptions())
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
	intro := fmt.Sprintf("Would be signed by %s (issuer %s) with the %s Sigstore instance (Fulcio %s", signer, plan.Identity.Issuer, plan.Instance, plan.FulcioURL)
	if plan.RekorURL != "" {
		intro += ", Rekor " + plan.RekorURL
	}
	if plan.TSAURL != "" {
		intro += ", TSA " + plan.TSAURL
	}
	intro += ")."
	if p.cfg.Wants("provenance") {
		intro += " Build provenance is made at signing time from the workflow's verified ID token, so a dry run has none."
	}
	p.sum.Sections[len(p.sum.Sections)-1].Intro = intro
	return nil
}

// publish stores every bundle with the GitHub Attestations API and, on request, pushes it to
// the registry as a referrer of the image it is about.
func (p *pipeline) publish(ctx context.Context) error {
	c := p.cfg
	gh, err := store.NewGitHub(c.GitHub.APIURL, c.GitHub.ServerURL, c.GitHub.Repository, c.GitHubToken, "bom-attest/"+config.Version, nil)
	if err != nil {
		return err
	}
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
		p.out.Set("attestation-ids", jsonList(ids))
		p.out.Set("attestation-urls", jsonList(urls))
	}
	if !c.PushToRegistry {
		return nil
	}
	opts := store.ReferrerOptions{Mode: c.ReferrersMode, Keychain: image.Keychain(c.GitHubToken, c.GitHub.Actor), UserAgent: "bom-attest/" + config.Version}
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
	}
	return nil
}

func (p *pipeline) setBundleOutputs() {
	var paths []string
	for _, d := range p.docs {
		paths = append(paths, d.file)
	}
	if len(paths) > 0 {
		p.out.Set("bundle-path", paths[0])
		p.out.Set("bundle-paths", jsonList(paths))
	}
}

func (p *pipeline) attestationsSection(dry bool) {
	s := report.Section{Title: "Attestations", Header: []string{"Document", "Predicate type", "Subject digest", "Attestation", "Registry referrer", "File"}}
	if dry {
		s.Title = "Attestations (dry run: what would be signed and published)"
	}
	for _, d := range p.docs {
		att, ref := "", ""
		switch {
		case dry:
			att = "would be stored with the GitHub Attestations API"
			if p.cfg.PushToRegistry {
				ref = "would be pushed"
			}
		default:
			att = d.attest.URL
			ref = report.Code(d.referrer)
		}
		s.Rows = append(s.Rows, []string{d.name, report.Code(d.predicateType), report.Code(d.subject.Digest), att, ref, report.Code(d.file)})
	}
	p.sum.Sections = append(p.sum.Sections, s)
}

func jsonList(v []string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// verify is the `bom-attest verify` command; --from-registry finds bundles with the same
// referrer code that pushed them.
func verify(ctx context.Context, env Env) int {
	find := func(ctx context.Context, ref string) ([]sign.Found, error) {
		d, err := name.NewDigest(ref)
		if err != nil {
			return nil, err
		}
		found, err := store.FindBundles(ctx, d, store.ReferrerOptions{Keychain: image.Keychain("", ""), UserAgent: "bom-attest/" + config.Version})
		if err != nil {
			return nil, err
		}
		out := make([]sign.Found, len(found))
		for i, f := range found {
			out[i] = sign.Found{Name: fmt.Sprintf("%s (referrer %s, %s)", ref, f.Digest, f.PredicateType), Bundle: f.Bundle}
		}
		return out, nil
	}
	return sign.RunVerify(ctx, env.Args[1:], env.Stdout, env.Stderr, find)
}
