package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/anchore/syft/syft/source"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/config"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/mlbom"
	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/vulns"
)

// Exit codes.
const (
	ExitOK     = 0 // success, including a dry run
	ExitFailed = 1 // something the user can fix; the message names the input or file
	ExitGate   = 2 // a gate that failed on purpose, after writing every file and attestation
)

// Env is the process's view of the world: arguments, environment and standard streams.
type Env struct {
	Args   []string
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// OS is the real process environment.
func OS() Env {
	return Env{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
}

// Main runs bom-attest and returns the exit code.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) > 0 && env.Args[0] == "verify" {
		return verify(ctx, env)
	}
	cfg, err := config.Load(env.Args, env.Getenv, env.Stderr)
	if errors.Is(err, config.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		log := report.NewLog(env.Stdout, env.Getenv("GITHUB_ACTIONS") == "true")
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, fe := range errs {
				log.Errorf("%s", fe.Error())
			}
		} else {
			log.Errorf("%v", err)
		}
		return ExitFailed
	}
	log := report.NewLog(env.Stdout, cfg.GitHub.Actions)
	// Before anything else can print: the runner hides masked values from every later line.
	log.Mask(cfg.GitHubToken)
	log.Mask(cfg.GitHub.IDTokenSecret)

	p := &pipeline{cfg: cfg, log: log, out: &report.Outputs{}, env: env,
		sum: &report.Run{Version: config.Version, DryRun: cfg.DryRun, DryRunReason: cfg.DryRunReason,
			SubjectName: cfg.SubjectName, SubjectDigest: cfg.SubjectDigest, SpecVersion: cfg.SpecVersion.String()}}
	if cfg.DryRun {
		log.Noticef("bom-attest dry run: %s. Documents are written to %s; nothing is signed or published.", cfg.DryRunReason, cfg.OutputDir)
	}
	runErr := p.run(ctx)
	p.sum.Err = runErr
	p.out.Set("dry-run", strconv.FormatBool(cfg.DryRun))
	if err := p.finish(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		log.Errorf("%v", runErr)
		if errors.Is(runErr, vulns.ErrGate) {
			return ExitGate
		}
		return ExitFailed
	}
	return ExitOK
}

type pipeline struct {
	cfg *config.Config
	log *report.Log
	out *report.Outputs
	sum *report.Run
	env Env
	dir *outdir.Dir

	manifest       *mlbom.Manifest // model-manifest, nil without one
	docs           []*document
	subjectOfImage statement.Subject // the image as a whole: index or single manifest
	repoURL        string            // where referrers go
	vulns          *vulnScan         // nil unless vulnerability-scan
}

// stage times fn inside a log group and records it for the summary.
func (p *pipeline) stage(name string, fn func() error) error {
	done := p.log.Stage(name)
	err := fn()
	p.sum.Stages = append(p.sum.Stages, report.Stage{Name: name, Took: done()})
	return err
}

func (p *pipeline) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	p.log.Warningf("%s", msg)
	p.sum.Warnings = append(p.sum.Warnings, msg)
}

func (p *pipeline) run(ctx context.Context) error {
	cfg := p.cfg
	if cfg.ModelManifest != "" {
		// Read before the image, so a typo in the manifest fails in a second, not after a pull.
		m, err := mlbom.LoadManifest(cfg.ModelManifest)
		if err != nil {
			return err
		}
		p.manifest = m
	}
	if cfg.VulnerabilityScan {
		if err := p.loadVulnerabilityInputs(ctx); err != nil {
			return err
		}
		defer p.vulns.db.Close()
	}
	var res *image.Resolved
	err := p.stage("resolve "+displayImage(cfg), func() error {
		var err error
		res, err = image.Resolve(ctx, cfg.ImageKind, cfg.ImageRef, image.Options{
			Keychain:      image.Keychain(cfg.GitHubToken, cfg.GitHub.Actor),
			UserAgent:     "bom-attest/" + config.Version,
			Platforms:     cfg.Platforms,
			SubjectDigest: cfg.SubjectDigest,
			SubjectName:   cfg.SubjectName,
		})
		if err != nil {
			return inputError("image", err)
		}
		for _, t := range res.Targets {
			p.log.Infof("%s %s %s", t.PlatformString(), t.Digest, t.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer res.Close()
	for _, w := range res.Warnings {
		p.warn("%s", w)
	}
	p.sum.SubjectName, p.sum.SubjectDigest, p.sum.IsIndex, p.sum.ResolvedTag = res.Targets[0].Name, res.Subject.String(), res.IsIndex, res.ResolvedTag
	p.out.Set("subject-digest", res.Subject.String())
	subjectName, err := statement.SubjectName(res.Targets[0].Name)
	if err != nil {
		return inputError("subject-name", err)
	}
	p.subjectOfImage = statement.Subject{Name: subjectName, Digest: res.Subject.String()}
	p.repoURL = res.Targets[0].RepoURL

	p.dir, err = outdir.Open(cfg.OutputDir, cfg.GitHub.Workspace)
	if err != nil {
		return err
	}

	var paths []string
	for i, t := range res.Targets {
		name := "sbom.cdx.json"
		if res.IsIndex || len(res.Targets) > 1 {
			name = "sbom." + t.FileSuffix() + ".cdx.json"
		}
		path, stats, err := p.target(ctx, t, name, i == 0)
		if err != nil {
			return err
		}
		shown := p.display(path)
		paths = append(paths, shown)
		p.sum.Platforms = append(p.sum.Platforms, report.Platform{Platform: t.PlatformString(), Digest: t.Digest.String(), File: shown, Stats: stats})
		if i == 0 {
			p.out.Set("sbom-path", shown)
			p.out.Set("component-count", strconv.Itoa(stats.Total))
		}
	}
	p.out.Set("sbom-paths", jsonList(paths))
	if p.vulns != nil {
		p.vulnerabilityResults(len(res.Targets))
	}
	if err := p.attest(ctx); err != nil {
		return err
	}
	return p.vulnerabilityGate()
}

// target pulls, scans, encodes and writes the SBOM of one platform manifest. The image is read
// once; its layers are released when the platform is done, so memory does not grow with the
// number of platforms.
func (p *pipeline) target(ctx context.Context, t image.Target, file string, first bool) (string, report.Stats, error) {
	plat := t.PlatformString()
	var (
		src      source.Source
		closeSrc func() error
		gen      *sbom.Result
		path     string
	)
	defer func() {
		if closeSrc != nil {
			closeSrc()
		}
	}()
	err := p.stage("pull "+plat, func() (err error) {
		src, closeSrc, err = image.Open(ctx, t)
		return err
	})
	if err != nil {
		return "", report.Stats{}, err
	}
	// In Actions the repository owner builds and ships the image: it supplies it and, through
	// this step, authors the SBOM (the minimum elements ask for both).
	var owner, ownerURL string
	if o, _, ok := strings.Cut(p.cfg.GitHub.Repository, "/"); ok && o != "" {
		owner, ownerURL = o, p.cfg.GitHub.ServerURL+"/"+o
	}
	err = p.stage("scan "+plat, func() (err error) {
		var idx string
		if t.IndexDigest != nil {
			idx = t.IndexDigest.String()
		}
		gen, err = sbom.Generate(ctx, src, sbom.Options{
			Subject: sbom.Subject{Name: t.Name, RepoURL: t.RepoURL, Digest: t.Digest.String(), IndexDigest: idx,
				OS: t.Platform.OS, Arch: t.Platform.Architecture, Variant: t.Platform.Variant, Tag: p.sum.ResolvedTag},
			ToolVersion: config.Version,
			Timestamp:   p.cfg.SourceDateEpoch,
			Namespace:   p.cfg.PropertyNamespace,
			Supplier:    owner,
			SupplierURL: ownerURL,
		})
		if err == nil {
			p.log.Infof("%d components", report.Count(gen.BOM).Total)
		}
		return err
	})
	if err != nil {
		return "", report.Stats{}, err
	}
	if p.cfg.PatchesDir != "" || p.cfg.ConstraintOverrides != "" {
		err = p.stage("pedigree "+plat, func() error { return p.pedigree(gen.BOM, first) })
		if err != nil {
			return "", report.Stats{}, err
		}
	}
	if p.cfg.ScanModels || p.manifest != nil {
		err = p.stage("models "+plat, func() error { return p.models(ctx, src, gen.BOM, first) })
		if err != nil {
			return "", report.Stats{}, err
		}
	}
	err = p.stage("encode "+plat, func() error {
		doc, err := sbom.Encode(gen.BOM, p.cfg.SpecVersion)
		if err != nil {
			return err
		}
		// What we publish must be what every CycloneDX tool accepts; a failure here is our bug,
		// and it stops the run before a bad document is signed.
		if err := check.Validate(doc, p.cfg.SpecVersion); err != nil {
			return fmt.Errorf("SBOM for %s: %w", plat, err)
		}
		path, err = p.dir.Write(file, doc)
		if err != nil {
			return err
		}
		p.log.Infof("wrote %s (%d bytes)", p.display(path), len(doc))
		p.addDocument(&document{name: strings.TrimSuffix(file, ".cdx.json"), kind: "sbom", predicateType: statement.PredicateCycloneDX,
			predicate: doc, subject: statement.Subject{Name: p.subjectOfImage.Name, Digest: t.Digest.String()}})
		return nil
	})
	if err == nil && p.vulns != nil {
		err = p.stage("vulnerabilities "+plat, func() error { return p.scanVulnerabilities(ctx, t, gen, file) })
	}
	return path, report.Count(gen.BOM), err
}

// finish writes outputs and the job summary, also after a failure, so the log and summary say
// what happened.
func (p *pipeline) finish() error {
	var errs []error
	if err := p.out.Write(p.cfg.GitHub.OutputPath, p.env.Stdout); err != nil {
		errs = append(errs, err)
	}
	switch {
	case !p.cfg.ShowSummary:
	case p.cfg.GitHub.SummaryPath != "":
		if err := report.AppendSummary(p.cfg.GitHub.SummaryPath, report.Markdown(p.sum)); err != nil {
			errs = append(errs, err)
		}
	case p.dir != nil:
		// A local run has no job summary page; the same Markdown goes beside the documents.
		path, err := p.dir.Write("summary.md", []byte(report.Markdown(p.sum)))
		if err != nil {
			errs = append(errs, err)
		} else {
			p.log.Infof("summary: %s", p.display(path))
		}
	}
	return errors.Join(errs...)
}

// display is how a written file is named in outputs and the summary: relative to the workspace
// when inside it, since the workspace is mounted at another path in the action's container than
// on the runner, and later steps start in the workspace.
func (p *pipeline) display(path string) string {
	base := p.cfg.GitHub.Workspace
	if !p.cfg.GitHub.Actions || base == "" {
		base, _ = os.Getwd()
	}
	if rel, err := filepath.Rel(base, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

func displayImage(c *config.Config) string {
	if c.ImageKind == image.KindRegistry {
		return c.ImageRef
	}
	return string(c.ImageKind) + ":" + c.ImageRef
}

// inputError names the input at fault, unless the message already does.
func inputError(input string, err error) error {
	if strings.HasPrefix(err.Error(), input+":") {
		return err
	}
	return fmt.Errorf("%s: %w", input, err)
}
