package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/version"
	"github.com/bom-attest/bom-attest/internal/vulns"
	"github.com/bom-attest/bom-attest/internal/vulns/grypedb"
)

// vulnScan carries the vulnerability scan through the run: the database and VEX loaded before
// any image, and for each image the findings of every platform, on which its gate is decided
// after everything is written.
type vulnScan struct {
	db     *grypedb.DB
	vex    *vulns.VEX
	all    []vulns.Finding     // every platform's; counts and the gate read these
	byPlat map[string][]string // finding key -> platforms it was found on, for the summary
	paths  []string
}

// loadVulnerabilityInputs reads the VEX documents and makes the database current, both before
// the image is pulled: a typo in a VEX file or a stale database fails in seconds.
func (p *pipeline) loadVulnerabilityInputs(ctx context.Context) error {
	vs := &vulnScan{}
	var err error
	if vs.vex, err = vulns.LoadVEX(p.cfg.VEX); err != nil {
		return inputError("vex", err)
	}
	err = p.stage("vulnerability database", func() error {
		db, err := grypedb.Load(ctx, grypedb.Options{
			Dir:       p.cfg.GrypeDBDir,
			URL:       p.cfg.GrypeDBURL,
			MaxAge:    p.cfg.GrypeDBMaxAge,
			Client:    p.http.Client(),
			UserAgent: version.UserAgent(),
			Logf:      p.log.Infof,
			Chown:     outdir.Owner(p.cfg.GrypeDBDir, p.cfg.GitHub.Workspace),
		})
		if err != nil {
			return dbInputError(err)
		}
		vs.db = db
		p.log.Infof("vulnerability database %s: built %s, schema %s", db.Status.Path, db.Status.Built.UTC().Format(time.RFC3339), db.Status.Schema)
		return nil
	})
	if err != nil {
		return err
	}
	if n := vs.vex.Statements(); n > 0 {
		p.log.Infof("VEX: %d statements from %d files", n, len(p.cfg.VEX))
	}
	p.vulns = vs
	return nil
}

// dbInputError names the input that changes the outcome: the age limit for a stale database,
// the directory for one that cannot be stored, the URL for everything about the download.
func dbInputError(err error) error {
	switch {
	case errors.Is(err, grypedb.ErrStale):
		return inputError("grype-db-max-age", err)
	case errors.Is(err, grypedb.ErrDir):
		return inputError("grype-db-dir", err)
	default:
		return inputError("grype-db-url", err)
	}
}

// scanVulnerabilities matches one platform's SBOM, applies VEX, and writes and queues its report.
func (p *imagePipeline) scanVulnerabilities(ctx context.Context, t image.Target, gen *sbom.Result, sbomFile string) error {
	vs := p.vulns
	plat := t.PlatformString()
	findings, err := vulns.Scan(ctx, vs.db.Provider, gen.Syft, gen.BOM)
	if err != nil {
		return err
	}
	img := vulns.Image{Name: p.subjectOfImage.Name, Digests: []string{t.Digest.String()}}
	if t.IndexDigest != nil {
		img.Digests = append(img.Digests, t.IndexDigest.String())
	}
	applied := vs.vex.Apply(findings, img)
	c := vulns.Count(findings)
	p.log.Infof("%d findings (%s), %d with a VEX statement", c.Total(), c.String(), applied)

	rep := vulns.Report(findings, vulns.ReportOptions{SBOM: gen.BOM, DB: vs.db.Status, Namespace: p.cfg.PropertyNamespace,
		ToolVersion: version.Get().Version, Timestamp: p.cfg.SourceDateEpoch})
	file := strings.Replace(sbomFile, "sbom", "vulnerabilities", 1)
	doc, shown, err := p.writeBOM(rep, file, "vulnerability report for "+plat)
	if err != nil {
		return err
	}
	vs.paths = append(vs.paths, shown)
	p.addDocument(&document{name: strings.TrimSuffix(file, ".cdx.json"), kind: "vulnerabilities", predicateType: vulns.PredicateType,
		predicate: doc, subject: statement.Subject{Name: p.subjectOfImage.Name, Digest: t.Digest.String()}})
	vs.all = append(vs.all, findings...)
	for _, f := range findings {
		vs.byPlat[f.Key()] = append(vs.byPlat[f.Key()], plat)
	}
	return nil
}

// vulnerabilityResults sets the outputs and the summary's sections once every platform is
// scanned.
func (p *imagePipeline) vulnerabilityResults(platforms int) {
	vs := p.vulns
	c := vulns.Count(vs.all)
	if len(vs.paths) > 0 {
		p.out.Set("vulnerability-report-path", vs.paths[0])
		p.out.SetJSON("vulnerability-report-paths", vs.paths)
	}
	p.out.SetJSON("vulnerability-counts", c)
	p.out.Set("vulnerability-db-built", vs.db.Status.Built.UTC().Format(time.RFC3339))

	// One row per vulnerability and package version, however many platforms have it.
	open, suppressed := vulns.Distinct(vs.all)
	gate := p.gate()
	failing := map[string]bool{}
	for _, f := range gate.Failing(vs.all) {
		failing[f.Key()] = true
	}
	intro := fmt.Sprintf("%d findings after VEX: %s; %d suppressed by VEX. Grype %s, database built %s (schema %s).",
		c.Total(), c.String(), len(suppressed), vulns.GrypeVersion(), vs.db.Status.Built.UTC().Format(time.RFC3339), vs.db.Status.Schema)
	if gate.FailOn != 0 {
		only := ""
		if gate.OnlyFixed {
			only = ", only fixed"
		}
		verdict := fmt.Sprintf("%d findings fail it", len(failing))
		if len(failing) == 1 {
			verdict = "1 finding fails it"
		}
		intro += fmt.Sprintf(" Gate: fail-on-severity %s%s — %s.", strings.ToLower(gate.FailOn.String()), only, verdict)
	}
	header := []string{"Package", "Installed", "Vulnerability", "Severity", "Fixed in"}
	if platforms > 1 {
		header = append(header, "Platforms")
	}
	s := report.Section{Title: "Vulnerabilities", Intro: report.Text(intro), Header: header}
	const top = 20
	for i, f := range open {
		if i == top {
			s.Intro += report.Markdownf(" The %d most severe are listed; the report has all.", top)
			break
		}
		fixed := strings.Join(f.FixVersions, ", ")
		if !f.Fixed() {
			fixed = "(" + string(f.FixState) + ")"
		}
		sev := strings.ToLower(f.Severity.String())
		if failing[f.Key()] {
			sev += " ❌"
		}
		row := []report.Markdown{report.Text(f.Package.Name), report.Text(f.Package.Version), report.Anchor(f.ID, f.Link()), report.Text(sev), report.Text(fixed)}
		if platforms > 1 {
			row = append(row, report.Text(strings.Join(vs.byPlat[f.Key()], ", ")))
		}
		s.Rows = append(s.Rows, row)
	}
	p.sum.Sections = append(p.sum.Sections, s)
	if len(suppressed) > 0 {
		sup := report.Section{Title: "Suppressed by VEX", Header: []string{"Package", "Installed", "Vulnerability", "Status", "Justification", "Detail", "VEX file"}}
		for _, f := range suppressed {
			a := f.Analysis
			sup.Rows = append(sup.Rows, []report.Markdown{report.Text(f.Package.Name), report.Text(f.Package.Version), report.Anchor(f.ID, f.Link()),
				report.Text(a.Status), report.Text(string(a.Justification)), report.Text(a.Detail), report.Code(p.display(a.File))})
		}
		p.sum.Sections = append(p.sum.Sections, sup)
	}
}

func (p *pipeline) gate() vulns.Gate {
	return vulns.Gate{FailOn: p.cfg.FailOnSeverity, OnlyFixed: p.cfg.OnlyFixed}
}

// vulnerabilityGate is the last word of a run that scanned: every file, attestation and output
// is written by now, so a failing gate leaves the evidence behind.
func (p *imagePipeline) vulnerabilityGate() error {
	if p.vulns == nil {
		return nil
	}
	return p.gate().Check(p.vulns.all)
}
