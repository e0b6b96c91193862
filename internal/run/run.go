package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/source"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/config"
	"github.com/bom-attest/bom-attest/internal/hashes"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/mlbom"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/transport"
	"github.com/bom-attest/bom-attest/internal/version"
)

// Exit codes.
const (
	ExitOK     = 0 // success, including a dry run
	ExitFailed = 1 // something the user can fix; the message names the input or file
	ExitGate   = 2 // a gate that failed on purpose, after writing every file and attestation
)

// errGate marks the failures of the gates (compliance-fail-under, …) that end a finished run
// on purpose: Main exits ExitGate for it, after every file and attestation is written.
var errGate = errors.New("gate failed")

// gateError is a failed gate's error: its own message, and errors.Is(err, errGate).
type gateError struct{ err error }

func (g gateError) Error() string        { return g.err.Error() }
func (g gateError) Unwrap() error        { return g.err }
func (g gateError) Is(target error) bool { return target == errGate }

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
	if len(env.Args) > 0 && (env.Args[0] == "--version" || env.Args[0] == "-version") {
		fmt.Fprint(env.Stdout, version.Get())
		return ExitOK
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
		sum: &report.Run{Version: version.Get().Short(), DryRun: cfg.DryRun,
			// config writes the reason from its own words, with Markdown code spans.
			DryRunReason: report.Markdown(cfg.DryRunReason), SpecVersion: cfg.SpecVersion.String()}}
	p.httpOpts = []transport.Option{transport.WithUserAgent(version.UserAgent()), transport.WithLogf(log.Infof)}
	// Registries serve blobs from CDNs on other hosts; the API and signing clients get no such leeway.
	p.http = p.newTransport(transport.WithCrossHostReads())
	p.http.AddSecret(cfg.GitHubToken)
	p.newImages()
	if cfg.DryRun {
		log.Noticef("bom-attest dry run: %s. Documents are written to %s; nothing is signed or published.", cfg.DryRunReason, cfg.OutputDir)
	}
	runErr := p.run(ctx)
	p.sum.Err = runErr
	if runErr != nil {
		p.accountFor(runErr)
	}
	p.setOutputs(runErr)
	p.out.Set("dry-run", strconv.FormatBool(cfg.DryRun))
	if err := p.finish(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		p.logFailure(runErr)
		return exitCode(runErr)
	}
	return ExitOK
}

// logFailure ends the log with what failed: an annotation for the run, and one for each image
// that failed in a run of several, so each reads on its own.
func (p *pipeline) logFailure(err error) {
	ie, ok := err.(*imagesError)
	if !ok {
		p.log.Errorf("%v", err)
		return
	}
	p.log.Errorf("%d of %d images failed", len(ie.failed), ie.of)
	for _, im := range ie.failed {
		p.log.Errorf("%s: %v", im.key, im.err)
	}
}

// exitCode maps a failed run to its exit code: 2 when what failed is only gates, which fail on
// purpose after everything is written and attested; 1 for anything else.
func exitCode(err error) int {
	if ie, ok := err.(*imagesError); ok {
		if ie.onlyGates() {
			return ExitGate
		}
		return ExitFailed
	}
	if errors.Is(err, errGate) {
		return ExitGate
	}
	return ExitFailed
}

// pipeline is the run: what its images share — the config, the log, output-dir, the inputs read
// before any image, the layer cache, the signing — and the images, each an imagePipeline.
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

	manifest    *modelmanifest.Manifest // model-manifest, nil without one
	modelHashes mlbom.HashCache         // weight files read once, whatever platforms and images share them
	ped         *pedigreeState          // patches-dir and constraint-overrides, nil without either
	vulns       *vulnScan               // the database and VEX, nil unless vulnerability-scan
	images      []*imagePipeline        // in the order given
	layers      *image.LayerCache       // the blobs of layers more than one platform or image has
	trust       *admission.Trust        // the policies' trust, once known
	org         *ownerType              // whether the repository's owner is an organization, once asked
	resolver    *hashes.Resolver        // resolve-hashes' look-ups, nil without it; what one image fetched serves the others
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

// run loads what the images share, resolves every image, describes them one after another (one
// platform's layers at a time), attests those whose documents are all written, and checks their
// gates. An image that fails is set aside and the others go on; a failure of what they share
// stops the run.
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
	if err := p.newResolver(); err != nil {
		return err
	}
	if cfg.VulnerabilityScan {
		if err := p.loadVulnerabilityInputs(ctx); err != nil {
			return err
		}
		defer p.vulns.db.Close()
	}
	// Every image is resolved (manifests and configs only) before any is pulled, so the layers
	// they share are known and pulled once.
	var targets []image.Target
	for _, im := range p.images {
		im.fail(im.resolve(ctx))
		if im.res != nil {
			defer im.res.Close()
			targets = append(targets, im.targets...)
		}
	}
	p.layers = image.NewLayerCache(cfg.ImageLimits.MaxBytes, targets...)
	defer p.layers.Close()
	for _, im := range p.images {
		if im.err == nil {
			im.fail(im.describe(ctx))
		}
	}
	if n, size := p.layers.Reused(); n > 0 {
		p.log.Infof("%d layers (%d bytes) that more than one platform or image has were pulled once", n, size)
	}
	if err := p.attest(ctx); err != nil {
		return err
	}
	for _, im := range p.images {
		if im.err == nil {
			im.fail(im.gates())
		}
	}
	return p.failures()
}

// gates runs the image's gates once everything is written and attested; a failed one ends the
// run with ExitGate, every failed gate named.
func (p *imagePipeline) gates() error {
	var failed []error
	if err := p.complianceGate(); err != nil {
		failed = append(failed, err)
	}
	if err := p.vulnerabilityGate(); err != nil {
		failed = append(failed, err)
	}
	if len(failed) == 0 {
		return nil
	}
	return gateError{errors.Join(failed...)}
}

// platforms writes the SBOM of every target, in order, and returns their paths as shown.
func (p *imagePipeline) platforms(ctx context.Context) ([]string, error) {
	var paths []string
	for i, t := range p.targets {
		pl, err := p.target(ctx, t, p.sbomFile(t), i == 0)
		if err != nil {
			return nil, err
		}
		paths = append(paths, pl.File)
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
func (p *imagePipeline) sbomFile(t image.Target) string {
	if p.sum.IsIndex || len(p.targets) > 1 {
		return "sbom." + t.FileSuffix() + ".cdx.json"
	}
	return "sbom.cdx.json"
}

// target pulls, scans, encodes and writes the SBOM of one platform manifest. The image is read
// once; its layers are released when the platform is done, so memory does not grow with the
// number of platforms or images. Every stage of one platform belongs here, in its order.
func (p *imagePipeline) target(ctx context.Context, t image.Target, file string, first bool) (report.Platform, error) {
	plat := t.PlatformString()
	var (
		src      source.Source
		closeSrc func() error
		gen      *sbom.Result
	)
	defer func() {
		if closeSrc != nil {
			closeSrc()
		}
	}()
	// Syft's license scanner is built while the layers are read, on the core reading them
	// leaves idle, and goes with the scan; what later stages load once for the process follows
	// it there.
	licensed := sync.OnceValues(func() (context.Context, error) { return sbom.WithLicenseScanner(ctx) })
	go func() {
		licensed()
		sbom.LoadCPEDictionary()
		check.Compile()
	}()
	err := p.stage("pull "+plat, func() (err error) {
		src, closeSrc, err = image.Open(ctx, t, image.WithLayerCache(p.layers))
		return err
	})
	if err != nil {
		return report.Platform{}, err
	}
	err = p.stage("scan "+plat, func() (err error) {
		var idx string
		if t.IndexDigest != nil {
			idx = t.IndexDigest.String()
		}
		scanCtx, err := licensed()
		if err != nil {
			return err
		}
		gen, err = sbom.Generate(scanCtx, src, sbom.Options{
			Subject: sbom.Subject{Name: t.Name, RepoURL: t.RepoURL, Digest: t.Digest.String(), IndexDigest: idx,
				OS: t.Platform.OS, Arch: t.Platform.Architecture, Variant: t.Platform.Variant, Tag: p.sum.ResolvedTag},
			ToolVersion: version.Get().Version,
			Timestamp:   p.cfg.SourceDateEpoch,
			Namespace:   p.cfg.PropertyNamespace,
			Supplier:    p.cfg.SupplierName,
			SupplierURL: p.cfg.SupplierURL,
			SkipModels:  p.modelStage(),
			DeferCPEs:   true, // made once the image is closed, below
		})
		if err == nil {
			p.log.Infof("%d components", report.Count(gen.BOM).Total)
		}
		return err
	})
	if err != nil {
		return report.Platform{}, err
	}
	// In Actions the repository owner builds and ships the image: by default it supplies it
	// and, through this step, authors the SBOM (the minimum elements ask for both).
	p.applyMetadata(gen.BOM)
	var compl *platformCompliance
	if len(p.cfg.Compliance) > 0 {
		// While the image's layers are open: the package records and installed files are read
		// from them.
		err = p.stage("compliance "+plat, func() (err error) {
			compl, err = p.enrich(ctx, src, gen.BOM, plat)
			return err
		})
		if err != nil {
			return report.Platform{}, err
		}
	}
	if p.ped != nil {
		err = p.stage("pedigree "+plat, func() error { return p.pedigree(gen.BOM, plat, first) })
		if err != nil {
			return report.Platform{}, err
		}
	}
	var mlDoc *cyclonedx.BOM
	if p.modelStage() {
		err = p.stage("models "+plat, func() (err error) {
			mlDoc, err = p.models(ctx, src, gen.BOM, first)
			return err
		})
		if err != nil {
			return report.Platform{}, err
		}
	}
	// The image is not read again: its layers and file trees go before the CPEs are generated
	// and the documents encoded, the run's largest allocations.
	closeSrc()
	closeSrc, src = nil, nil
	// Its own stage: on a large image it takes seconds, and the log should say so.
	if err := p.stage("CPEs "+plat, func() error { return gen.GenerateCPEs(ctx) }); err != nil {
		return report.Platform{}, err
	}
	if err := p.finalSerial(gen.BOM); err != nil {
		return report.Platform{}, err
	}
	if mlDoc != nil {
		// The ML-BOM points at the SBOM by serial number, so it is written once that is final.
		if err := p.writeMLBOM(mlDoc, gen.BOM); err != nil {
			return report.Platform{}, err
		}
	}
	pl := report.Platform{Platform: plat, Digest: t.Digest.String()}
	err = p.stage("encode "+plat, func() error {
		// gen.BOM is the attested representation (README, "The attested SBOM"): what is
		// written here, measured and signed is one and the same document.
		doc, shown, err := p.writeBOM(gen.BOM, file, "SBOM for "+plat)
		if err != nil {
			return err
		}
		pl.File = shown
		if err := p.writeFullSBOM(gen, file, &pl); err != nil {
			return err
		}
		if p.cfg.Wants("sbom") && len(doc) > statement.MaxPredicateSize {
			return sbomTooLarge(file, len(doc), pl.FullFile, p.cfg.Compliance)
		}
		if compl != nil {
			p.measure(compl, gen.BOM, pl.File)
		}
		p.addDocument(&document{name: strings.TrimSuffix(file, ".cdx.json"), kind: "sbom", predicateType: statement.PredicateCycloneDX,
			predicate: doc, subject: statement.Subject{Name: p.subjectOfImage.Name, Digest: t.Digest.String()}})
		return nil
	})
	if err == nil && p.vulns != nil {
		err = p.stage("vulnerabilities "+plat, func() error { return p.scanVulnerabilities(ctx, t, gen, file) })
	}
	pl.Stats = report.Count(gen.BOM)
	return pl, err
}

// writeBOM encodes bom at the run's CycloneDX version, checks it against the schema and writes
// it as file, through the image's own directory; what names the document in an error. What we
// publish must be what every CycloneDX tool accepts: a failure is our bug, and it stops the run
// before a bad document is signed.
func (p *imagePipeline) writeBOM(bom *cyclonedx.BOM, file, what string) (doc []byte, shown string, err error) {
	doc, err = sbom.Encode(bom, p.cfg.SpecVersion)
	if err != nil {
		return nil, "", err
	}
	if err := check.Validate(doc, p.cfg.SpecVersion); err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	path, err := p.dir.Write(file, doc)
	if err != nil {
		return nil, "", err
	}
	shown = p.display(path)
	p.log.Infof("wrote %s (%d bytes)", shown, len(doc))
	return doc, shown, nil
}

// newTransport is a transport with the run's common options (user agent, log) and extra.
func (p *pipeline) newTransport(extra ...transport.Option) *transport.Transport {
	return transport.New(append(slices.Clone(p.httpOpts), extra...)...)
}

// finalSerial gives bom a serial number from its finished content when SOURCE_DATE_EPOCH asks
// for reproducible documents; otherwise it keeps its random one.
func (p *pipeline) finalSerial(bom *cyclonedx.BOM) error {
	if p.cfg.SourceDateEpoch.IsZero() {
		return nil
	}
	return sbom.DeriveSerial(bom)
}

// writeFullSBOM writes the full SBOM, every property Syft gave, next to the attested one when
// the attested one leaves something out: sbom.full.cdx.json (per platform
// sbom.full.<platform>.cdx.json), through the image's own directory. It notes the file and
// what the attested one leaves out in pl, for the summary.
func (p *imagePipeline) writeFullSBOM(gen *sbom.Result, file string, pl *report.Platform) error {
	var left sbom.Omitted
	// Written as it is encoded: on a large image it is four times the attested document.
	path, size, err := p.dir.WriteFrom("sbom.full."+strings.TrimPrefix(file, "sbom."), func(w io.Writer) (bool, error) {
		var err error
		left, err = gen.WriteFull(w, p.cfg.SpecVersion)
		return left.Any(), err
	})
	if err != nil || path == "" {
		return err
	}
	pl.FullFile, pl.LeftOut = p.display(path), left.String()
	p.log.Infof("wrote %s (%d bytes): the full SBOM, with what the attested one leaves out", pl.FullFile, size)
	return nil
}

// sbomTooLarge is the error for an attested SBOM over GitHub's limit, found before anything is
// signed: its size, and the inputs that make it fit or let the rest be attested. compliance is
// the standards whose minimum elements were added to every component.
func sbomTooLarge(file string, size int, full string, compliance []check.Standard) error {
	also := ""
	if full != "" {
		also = fmt.Sprintf(" (already without what %s has besides)", full)
	}
	smaller := ""
	switch {
	case slices.Contains(compliance, check.BSI):
		smaller = "To make it smaller, narrow the compliance input (compliance: cisa adds about 170 bytes less to every component than BSI's elements, compliance: none nothing). "
	case len(compliance) > 0:
		smaller = "To make it smaller, set compliance: none (the minimum elements add about 380 bytes to every component). "
	}
	return fmt.Errorf("%s: %w: the SBOM is %.1f MiB (%d bytes)%s, over GitHub's %d MiB limit for an attestation; nothing was signed. "+
		"%sTo attest the rest, leave the SBOM out of the attestations input (attestations: mlbom,provenance): the SBOM files are still written",
		file, statement.ErrTooLarge, float64(size)/(1<<20), size, also, statement.MaxPredicateSize>>20, smaller)
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

// outcomes accounts for the work of a failed run on this image, document by document, for the
// summary.
func (p *imagePipeline) outcomes() []report.Outcome {
	var out []report.Outcome
	add := func(done bool, format string, a ...any) {
		out = append(out, report.Outcome{What: fmt.Sprintf(format, a...), Done: done})
	}
	for i, t := range p.targets {
		if i < len(p.sum.Platforms) {
			add(true, "SBOM for %s written: %s", t.PlatformString(), p.sum.Platforms[i].File)
		} else {
			add(false, "SBOM for %s (%s)", t.PlatformString(), p.file(p.sbomFile(t)))
		}
	}
	if p.held != nil && p.held.Get("mlbom-path") != "" {
		add(true, "ML-BOM written: %s", p.held.Get("mlbom-path"))
	} else if p.manifest != nil {
		add(false, "ML-BOM (%s)", p.file("mlbom.cdx.json"))
	}
	for _, d := range p.docs {
		if p.cfg.DryRun {
			add(d.file != "", "%s: unsigned statement written (%s)", d.name, p.file(d.name+".intoto.json"))
			continue
		}
		add(d.bundle != nil, "%s: signed", d.name)
		add(d.file != "", "%s: bundle written (%s)", d.name, p.file(d.name+".sigstore.json"))
		add(d.attest.URL != "", "%s: stored with the GitHub Attestations API", d.name)
		if p.cfg.PushToRegistry {
			add(d.referrer != "", "%s: pushed to the registry as a referrer", d.name)
		}
	}
	return append(out, p.admissionOutcomes()...)
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

// inputError names the input at fault, unless the message already does.
func inputError(input string, err error) error {
	if strings.HasPrefix(err.Error(), input+":") {
		return err
	}
	return fmt.Errorf("%s: %w", input, err)
}
