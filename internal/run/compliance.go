package run

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/source"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/hashes"
	"github.com/bom-attest/bom-attest/internal/pkgdb"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// complianceFile holds the compliance report of every platform.
const complianceFile = "compliance.json"

// maxFailuresShown bounds the resolver failures a report lists (the count is always given).
const maxFailuresShown = 100

type platformCompliance struct {
	Platform string `json:"platform"`
	SBOM     string `json:"sbom"`
	*check.Report
	ResolveRequests     int      `json:"resolveRequests,omitempty"`
	ResolveFailures     []string `json:"resolveFailures,omitempty"`
	ResolveFailureCount int      `json:"resolveFailureCount,omitempty"`
	Warnings            []string `json:"warnings,omitempty"`
	// HashedFiles and HashedBytes are what hashing installed files read.
	HashedFiles int   `json:"hashedFiles"`
	HashedBytes int64 `json:"hashedBytes"`

	gaps check.Gaps
}

// applyMetadata sets who authors the SBOM and supplies the image, from the inputs (by default
// the repository's owner): whatever compliance says, the document names them the same way.
func (p *pipeline) applyMetadata(bom *cyclonedx.BOM) {
	author := sbom.Party{Name: p.cfg.SBOMAuthor}
	if name, emails := sbom.ParseAddresses(p.cfg.SBOMAuthor); strings.Contains(p.cfg.SBOMAuthor, "<") {
		author = sbom.Party{Name: name, Emails: emails}
	}
	supplier := sbom.Party{Name: p.cfg.SupplierName, URL: p.cfg.SupplierURL}
	if p.cfg.SupplierEmail != "" {
		supplier.Emails = []string{p.cfg.SupplierEmail}
	}
	sbom.ApplyMetadata(bom, sbom.Metadata{Author: author, Supplier: supplier}, p.cfg.SpecVersion)
}

// newResolver makes the run's one resolver, over a transport of its own made with the run's
// options: only with resolve-hashes does the compliance stage reach the network.
func (p *pipeline) newResolver() error {
	if !p.cfg.ResolveHashes || len(p.cfg.Compliance) == 0 {
		return nil
	}
	t := p.newTransport(transport.WithRetries(3), transport.WithAttemptTimeout(30*time.Second))
	r, err := hashes.NewResolver(hashes.ResolverOptions{
		Client:     t.Client(),
		PyPIURL:    p.cfg.PyPIURL,
		DebianURLs: p.cfg.DebianArchiveURLs,
		Download:   p.cfg.HashDownloads,
	})
	if err != nil {
		return err
	}
	p.resolver = r
	return nil
}

// enrich fills one platform's SBOM with what the image's files say (creators, licences,
// hashes, BSI properties, compositions), while its layers are still open. It returns the gaps,
// for the report made once the document is final.
func (p *imagePipeline) enrich(ctx context.Context, src source.Source, bom *cyclonedx.BOM, plat string) (*platformCompliance, error) {
	res, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return nil, fmt.Errorf("compliance: %w", err)
	}
	im, err := pkgdb.Read(ctx, pkgdb.FromResolver(res))
	if err != nil {
		return nil, fmt.Errorf("compliance: %w", err)
	}
	var comps []hashes.Component
	if bom.Components != nil {
		for i := range *bom.Components {
			c := &(*bom.Components)[i]
			comps = append(comps, hashes.Component{Ref: c.BOMRef, PURL: c.PackageURL, Location: sbom.Location(c)})
		}
	}
	bsi := slices.Contains(p.cfg.Compliance, check.BSI) && p.cfg.SpecVersion >= cyclonedx.SpecVersion1_6
	hashStart := time.Now()
	results, st, err := hashes.Compute(ctx, im, comps, hashes.Options{Resolver: p.resolver, Examine: bsi})
	if err != nil {
		return nil, fmt.Errorf("compliance: %w", err)
	}
	p.log.Infof("hashes: %d recorded, %d resolved, %d installed-files digests (%d files, %d MiB read in %s), %d without",
		st.ByKind[hashes.KindRecorded], st.ByKind[hashes.KindResolved], st.ByKind[hashes.KindInstalledFiles],
		st.Files, st.Bytes>>20, time.Since(hashStart).Round(time.Millisecond),
		st.Components-st.ByKind[hashes.KindRecorded]-st.ByKind[hashes.KindResolved]-st.ByKind[hashes.KindInstalledFiles])
	enr, err := sbom.Enrich(ctx, bom, im, sbom.EnrichOptions{SpecVersion: p.cfg.SpecVersion, Namespace: p.cfg.PropertyNamespace,
		BSI: bsi, Hashes: results, ResolveHashes: p.cfg.ResolveHashes, HashDownloads: p.cfg.HashDownloads})
	if err != nil {
		return nil, fmt.Errorf("compliance: %w", err)
	}
	p.log.Infof("creators: %d, concluded licences: %d, dependency edges added from dpkg: %d", enr.Creators, enr.Concluded, enr.AddedEdges)
	pc := &platformCompliance{Platform: plat, gaps: enr.Gaps, HashedFiles: st.Files, HashedBytes: st.Bytes, Warnings: im.Warnings}
	if r := p.resolver; r != nil {
		pc.ResolveRequests = r.Requests()
	}
	pc.ResolveFailureCount = len(st.Failures)
	for i, f := range st.Failures {
		if i == maxFailuresShown {
			break
		}
		pc.ResolveFailures = append(pc.ResolveFailures, f.String())
	}
	if n := len(st.Failures); n > 0 {
		p.warn("resolve-hashes: %d lookups failed on %s (listed in %s), e.g. %s", n, plat, complianceFile, st.Failures[0].String())
	}
	if n := len(im.Warnings); n > 0 {
		p.log.Infof("%d files of the image's package records not read as expected, e.g. %s", n, im.Warnings[0])
	}
	return pc, nil
}

// measure makes one platform's report from its finished SBOM (models and pedigree in).
func (p *imagePipeline) measure(pc *platformCompliance, bom *cyclonedx.BOM, file string) {
	pc.SBOM = file
	pc.Report = check.Compliance(check.ComplianceInput{BOM: bom, SpecVersion: p.cfg.SpecVersion, Standards: p.cfg.Compliance,
		Namespace: p.cfg.PropertyNamespace, Gaps: pc.gaps})
	pc.gaps = nil
	p.complianceReports = append(p.complianceReports, *pc)
	p.log.Infof("compliance score %.1f%% on %s", pc.Score, pc.Platform)
}

// writeCompliance writes compliance.json, the summary's table (of the first platform) and the
// compliance-score output (the lowest platform's), once every platform is measured.
func (p *imagePipeline) writeCompliance() error {
	rs := p.complianceReports
	if len(rs) == 0 {
		return nil
	}
	score := p.complianceScore()
	doc := struct {
		Score     float64              `json:"score"`
		FailUnder *float64             `json:"failUnder,omitempty"`
		Platforms []platformCompliance `json:"platforms"`
	}{Score: score, Platforms: rs}
	if p.cfg.ComplianceFailUnder >= 0 {
		doc.FailUnder = &p.cfg.ComplianceFailUnder
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	path, err := p.dir.Write(complianceFile, append(b, '\n'))
	if err != nil {
		return err
	}
	p.log.Infof("wrote %s", p.display(path))
	p.out.Set("compliance-score", strconv.FormatFloat(score, 'f', 1, 64))
	p.sum.Sections = append(p.sum.Sections, complianceSection(rs[0], len(rs), p.display(path)))
	return nil
}

// complianceGate is the error that ends a run whose score is under compliance-fail-under.
func (p *imagePipeline) complianceGate() error {
	if p.cfg.ComplianceFailUnder < 0 || len(p.complianceReports) == 0 {
		return nil
	}
	return check.Gate(p.complianceScore(), p.cfg.ComplianceFailUnder)
}

// complianceScore is the image's score: its lowest platform's. It needs at least one report.
func (p *imagePipeline) complianceScore() float64 {
	score := p.complianceReports[0].Score
	for _, r := range p.complianceReports[1:] {
		score = min(score, r.Score)
	}
	return score
}

func complianceSection(r platformCompliance, platforms int, file string) report.Section {
	var names []string
	for _, s := range r.Standards {
		names = append(names, check.StandardNames[s])
	}
	intro := report.Markdownf("Score **%s%%** (%s, CycloneDX %s, %d components). Details: %s.",
		report.Text(strconv.FormatFloat(r.Score, 'f', 1, 64)), report.Text(strings.Join(names, "; ")), report.Text(r.SpecVersion), r.Components, report.Code(file))
	if platforms > 1 {
		intro = report.Markdownf("%s The table is %s's; compliance.json has every platform's.", intro, report.Text(r.Platform))
	}
	s := report.Section{Title: "Compliance", Intro: intro, Header: []string{"Element", "Coverage", "Missing", "Why (first)"}}
	for _, e := range r.Elements {
		cov := report.Text(strconv.FormatFloat(e.Coverage, 'f', 1, 64) + "%")
		if e.NotApplicable != "" {
			cov = "n/a"
		}
		var missing, why report.Markdown
		if e.MissingCount > 0 && e.NotApplicable == "" {
			missing = report.Markdownf("%d:", e.MissingCount)
			for i, m := range e.Missing {
				if i == 2 {
					break
				}
				missing = report.Markdownf("%s %s", missing, report.Text(m.Component))
			}
			why = report.Text(string(e.Missing[0].Why) + ": " + e.Missing[0].Detail)
		} else if e.NotApplicable != "" {
			why = report.Text(e.NotApplicable)
		}
		s.Rows = append(s.Rows, []report.Markdown{report.Text(strings.ToUpper(string(e.Standard)) + " " + e.Name), cov, missing, why})
	}
	return s
}
