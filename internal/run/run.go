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
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// Exit codes.
const (
	ExitOK     = 0 // success, including a dry run
	ExitFailed = 1 // something the user can fix; the message names the input or file
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
		return runVerify(ctx, env)
	}
	cfg, err := config.Load(env.Args, env.Getenv, env.Stderr)
	if errors.Is(err, config.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		log := report.NewLog(env.Stdout, config.InActions(env.Getenv))
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, fe := range errs {
				// The message's words are config's own; the values it quotes are escaped.
				log.Errorf(fe.Input+": "+fe.Format, fe.Args...)
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
		sum: &report.Run{Version: config.Version, DryRun: cfg.DryRun,
			// config writes the reason from its own words, with Markdown code spans.
			DryRunReason: report.Markdown(cfg.DryRunReason),
			SubjectName:  cfg.SubjectName, SubjectDigest: cfg.SubjectDigest, SpecVersion: cfg.SpecVersion.String()}}
	p.httpOpts = []transport.Option{transport.WithUserAgent("bom-attest/" + config.Version), transport.WithLogf(log.Infof)}
	p.http = transport.New(p.httpOpts...)
	p.http.AddSecret(cfg.GitHubToken)
	if cfg.DryRun {
		log.Noticef("bom-attest dry run: %s. Documents are written to %s; nothing is signed or published.", cfg.DryRunReason, cfg.OutputDir)
	}
	runErr := p.run(ctx)
	p.sum.Err = runErr
	if runErr != nil {
		p.sum.Outcomes = p.outcomes()
	}
	p.out.Set("dry-run", strconv.FormatBool(cfg.DryRun))
	if err := p.finish(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		log.Errorf("%v", runErr)
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
	// http is the run's one HTTP transport for registries; httpOpts make the API clients' own.
	http     *transport.Transport
	httpOpts []transport.Option

	manifest       *modelmanifest.Manifest // model-manifest, nil without one
	modelHashes    mlbom.HashCache         // weight files read once, whatever platforms share them
	ped            *pedigreeState          // patches-dir and constraint-overrides, nil without either
	targets        []image.Target          // the platforms to describe, in order
	held           *report.Outputs         // outputs of the platform stages, until all are done
	docs           []*document
	subjectOfImage statement.Subject // the image as a whole: index or single manifest
	repoURL        string            // where referrers go
	// fullSBOM is the full SBOM the last platform wrote next to its attested one ("" when the
	// two are the same), leftOut what the attested one leaves out.
	fullSBOM string
	leftOut  sbom.Omitted
}

// stage times fn inside a log group and records it for the summary.
func (p *pipeline) stage(name string, fn func() error) error {
	done := p.log.Stage(name)
	err := fn()
	p.sum.Stages = append(p.sum.Stages, report.Stage{Name: name, Took: done()})
	return err
}

func (p *pipeline) warn(format string, a ...any) {
	p.log.Warningf(format, a...)
	p.sum.Warnings = append(p.sum.Warnings, fmt.Sprintf(format, a...))
}

func (p *pipeline) run(ctx context.Context) error {
	cfg := p.cfg
	if err := p.openDir(); err != nil {
		return err
	}
	if cfg.ModelManifest != "" {
		// Read before the image, so a typo in the manifest fails in a second, not after a pull.
		m, err := modelmanifest.Load(cfg.ModelManifest)
		if err != nil {
			return err
		}
		p.manifest = m
	}
	if err := p.loadPedigree(ctx); err != nil {
		return err
	}
	defer p.pedigreeWarnings()
	var res *image.Resolved
	err := p.stage("resolve "+displayImage(cfg), func() error {
		var err error
		res, err = image.Resolve(ctx, cfg.ImageKind, cfg.ImageRef, image.Options{
			Keychain:      image.Keychain(cfg.GitHubToken, cfg.GitHub.Actor),
			Transport:     p.http,
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
	p.targets = res.Targets

	// The image's documents are finished together: what the platform stages report as outputs
	// (SBOM, ML-BOM, counts) is held until every platform is done, as some platforms' SBOMs
	// would read as the image's.
	final := p.out
	p.held = &report.Outputs{}
	p.out = p.held
	paths, err := p.platforms(ctx)
	p.out = final
	if err != nil {
		return err
	}
	p.pedigreeWarnings()
	p.out.Set("sbom-path", paths[0])
	p.out.Set("sbom-paths", jsonList(paths))
	p.out.Set("component-count", strconv.Itoa(p.sum.Platforms[0].Stats.Total))
	p.out.Add(p.held)
	return p.attest(ctx)
}

// platforms writes the SBOM of every target, in order, and returns their paths as shown.
func (p *pipeline) platforms(ctx context.Context) ([]string, error) {
	var paths []string
	for i, t := range p.targets {
		path, stats, err := p.target(ctx, t, p.sbomFile(t), i == 0)
		if err != nil {
			return nil, err
		}
		shown := p.display(path)
		paths = append(paths, shown)
		pl := report.Platform{Platform: t.PlatformString(), Digest: t.Digest.String(), File: shown, Stats: stats}
		if p.fullSBOM != "" {
			pl.FullFile, pl.LeftOut = p.fullSBOM, p.leftOut.String()
		}
		p.sum.Platforms = append(p.sum.Platforms, pl)
	}
	return paths, nil
}

// openDir opens output-dir and removes what an earlier run left there under the action's own
// file names, so no file from before can be taken for this run's.
func (p *pipeline) openDir() error {
	var err error
	if p.dir, err = outdir.Open(p.cfg.OutputDir, p.cfg.GitHub.Workspace); err != nil {
		return err
	}
	var also []string
	if p.writesSummaryFile() {
		also = append(also, summaryFile)
	}
	removed, err := p.dir.RemoveStale(also...)
	for _, name := range removed {
		p.log.Infof("removed %s, left in %s by an earlier run", name, p.display(p.dir.Path))
	}
	return err
}

// sbomFile is the SBOM file name of target t: one per platform when there can be several.
func (p *pipeline) sbomFile(t image.Target) string {
	if p.sum.IsIndex || len(p.targets) > 1 {
		return "sbom." + t.FileSuffix() + ".cdx.json"
	}
	return "sbom.cdx.json"
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
			SkipModels:  p.modelStage(),
		})
		if err == nil {
			p.log.Infof("%d components", report.Count(gen.BOM).Total)
		}
		return err
	})
	if err != nil {
		return "", report.Stats{}, err
	}
	if p.ped != nil {
		err = p.stage("pedigree "+plat, func() error { return p.pedigree(gen.BOM, plat, first) })
		if err != nil {
			return "", report.Stats{}, err
		}
	}
	if !p.cfg.SourceDateEpoch.IsZero() {
		// Reproducible output: the serial number comes from the content, not chance. It is
		// derived before the models stage, which reconciles the SBOM's model components with
		// the ML-BOM and has the ML-BOM point at this serial number.
		if err := sbom.DeriveSerial(gen.BOM); err != nil {
			return "", report.Stats{}, err
		}
	}
	if p.modelStage() {
		err = p.stage("models "+plat, func() error { return p.models(ctx, src, gen.BOM, first) })
		if err != nil {
			return "", report.Stats{}, err
		}
	}
	// The image is not read again: its layers and file trees go before the encoding, which is
	// the run's largest allocation.
	closeSrc()
	closeSrc, src = nil, nil
	var full string
	var left sbom.Omitted
	err = p.stage("encode "+plat, func() error {
		doc, omitted, err := sbom.EncodeAttested(gen.BOM, p.cfg.SpecVersion)
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
		if omitted.Any() {
			if full, err = p.writeFullSBOM(gen, file); err != nil {
				return err
			}
			left = omitted
		}
		if p.cfg.Wants("sbom") && len(doc) > statement.MaxPredicateSize {
			return sbomTooLarge(file, len(doc), full)
		}
		p.addDocument(&document{name: strings.TrimSuffix(file, ".cdx.json"), kind: "sbom", predicateType: statement.PredicateCycloneDX,
			predicate: doc, subject: statement.Subject{Name: p.subjectOfImage.Name, Digest: t.Digest.String()}})
		return nil
	})
	p.fullSBOM, p.leftOut = full, left
	return path, report.Count(gen.BOM), err
}

// writeFullSBOM writes the full SBOM, every property Syft gave, next to the attested one:
// sbom.full.cdx.json (per platform sbom.full.<platform>.cdx.json). It returns the path as shown.
func (p *pipeline) writeFullSBOM(gen *sbom.Result, file string) (string, error) {
	doc, err := sbom.Encode(gen.BOM, p.cfg.SpecVersion)
	if err != nil {
		return "", err
	}
	path, err := p.dir.Write("sbom.full."+strings.TrimPrefix(file, "sbom."), doc)
	if err != nil {
		return "", err
	}
	shown := p.display(path)
	p.log.Infof("wrote %s (%d bytes): the full SBOM, with what the attested one leaves out", shown, len(doc))
	return shown, nil
}

// sbomTooLarge is the error for an attested SBOM over GitHub's limit, found before anything is
// signed: its size, and the input that lets the rest be attested.
func sbomTooLarge(file string, size int, full string) error {
	also := ""
	if full != "" {
		also = fmt.Sprintf(" (already without what %s has besides)", full)
	}
	return fmt.Errorf("%s: %w: the SBOM is %.1f MiB (%d bytes)%s, over GitHub's %d MiB limit for an attestation; nothing was signed. "+
		"To attest the rest, leave the SBOM out of the attestations input (attestations: mlbom,provenance): the SBOM files are still written",
		file, statement.ErrTooLarge, float64(size)/(1<<20), size, also, statement.MaxPredicateSize>>20)
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
		if err := report.AppendSummary(p.cfg.GitHub.SummaryPath, report.Summary(p.sum)); err != nil {
			errs = append(errs, err)
		}
	case p.dir != nil:
		path, err := p.dir.Write(summaryFile, []byte(report.Summary(p.sum)))
		if err != nil {
			errs = append(errs, err)
		} else {
			p.log.Infof("summary: %s", p.display(path))
		}
	}
	return errors.Join(errs...)
}

// summaryFile holds the summary of a local run, which has no job summary page, beside the
// documents.
const summaryFile = "summary.md"

func (p *pipeline) writesSummaryFile() bool {
	return p.cfg.ShowSummary && p.cfg.GitHub.SummaryPath == ""
}

// outcomes accounts for the work of a failed run, document by document, for the summary.
func (p *pipeline) outcomes() []report.Outcome {
	var out []report.Outcome
	add := func(done bool, format string, a ...any) {
		out = append(out, report.Outcome{What: fmt.Sprintf(format, a...), Done: done})
	}
	for i, t := range p.targets {
		if i < len(p.sum.Platforms) {
			add(true, "SBOM for %s written: %s", t.PlatformString(), p.sum.Platforms[i].File)
		} else {
			add(false, "SBOM for %s (%s)", t.PlatformString(), p.sbomFile(t))
		}
	}
	if p.held != nil && p.held.Get("mlbom-path") != "" {
		add(true, "ML-BOM written: %s", p.held.Get("mlbom-path"))
	} else if p.manifest != nil {
		add(false, "ML-BOM (mlbom.cdx.json)")
	}
	for _, d := range p.docs {
		if p.cfg.DryRun {
			add(d.file != "", "%s: unsigned statement written (%s.intoto.json)", d.name, d.name)
			continue
		}
		add(d.bundle != nil, "%s: signed", d.name)
		add(d.file != "", "%s: bundle written (%s.sigstore.json)", d.name, d.name)
		add(d.attest.URL != "", "%s: stored with the GitHub Attestations API", d.name)
		if p.cfg.PushToRegistry {
			add(d.referrer != "", "%s: pushed to the registry as a referrer", d.name)
		}
	}
	return out
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
