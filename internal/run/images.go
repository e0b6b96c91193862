package run

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bom-attest/bom-attest/internal/config"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/version"
)

// imagePipeline is one image of the run on its way through the stages. It embeds the run's
// pipeline for what the images share; its own out, sum, dir, ped and vulns shadow the run's, so
// a stage working on an image reports its outputs, summary sections and files to that image.
// A run of one image looks as a run always did: its files directly in output-dir, its outputs
// and summary the run's.
type imagePipeline struct {
	*pipeline
	in      config.Image
	key     string // name@digest: how results and the log name the image
	dirName string // its directory in output-dir, which also names its stages, in a run of several; "" in a run of one

	dir   *outdir.Dir     // where its files go
	out   *report.Outputs // its outputs; the run's are the first image's
	sum   *report.Image
	ped   *pedigreeState // the run's pedigree inputs, with this image's warnings
	vulns *vulnScan      // the run's database and VEX, with this image's findings
	// complianceReports are the compliance reports of the image's platforms, in order.
	complianceReports []platformCompliance

	res            *image.Resolved
	targets        []image.Target  // the platforms to describe, in order
	held           *report.Outputs // outputs of the platform stages, until all are done
	docs           []*document
	subjectOfImage statement.Subject // the image as a whole: index or single manifest
	repoURL        string            // where referrers go
	adm            admissionState    // the image signature and the Kyverno policy
	// err is why the image failed: nothing is done for it after, and the run fails at the end.
	err error
}

// newImages makes the pipeline of each image the config lists.
func (p *pipeline) newImages() {
	var dirs []string
	if len(p.cfg.Images) > 1 {
		named := make([]outdir.Image, len(p.cfg.Images))
		for i, in := range p.cfg.Images {
			named[i] = outdir.Image{Name: in.Name, Digest: in.Digest}
		}
		dirs = outdir.ImageDirs(named, summaryFile)
	}
	for i, in := range p.cfg.Images {
		im := &imagePipeline{pipeline: p, in: in, key: in.Reference(), out: &report.Outputs{},
			sum: &report.Image{SubjectName: in.Name, SubjectDigest: in.Digest}}
		if in.Name != "" && in.Digest != "" {
			im.key = in.Name + "@" + in.Digest
		}
		if dirs != nil {
			im.dirName = dirs[i]
		}
		p.images = append(p.images, im)
		p.sum.Images = append(p.sum.Images, im.sum)
	}
}

// several reports whether the run has more than one image.
func (p *imagePipeline) several() bool { return p.dirName != "" }

// stage runs a stage of this image, named for it in a run of several.
func (p *imagePipeline) stage(name string, fn func() error) error {
	if p.several() {
		name = p.dirName + ": " + name
	}
	return p.pipeline.stage(name, fn)
}

// warn reports a warning about this image: the run's in a run of one, the image's in a run of
// several, where the log names the image.
func (p *imagePipeline) warn(format string, a ...any) {
	if !p.several() {
		p.pipeline.warn(format, a...)
		return
	}
	p.log.Warningf("%s: "+format, append([]any{p.key}, a...)...)
	p.sum.Warnings = append(p.sum.Warnings, fmt.Sprintf(format, a...))
}

// fail records why the image failed, when err is one; the first failure is the one told.
func (p *imagePipeline) fail(err error) {
	if err == nil || p.err != nil {
		return
	}
	p.err = err
	if p.several() {
		p.sum.Err = err
		p.log.Infof("image %s failed; the other images go on: %v", p.key, err)
	}
}

// file is how a file of this image is named in the summary before it is written: in its
// directory in a run of several.
func (p *imagePipeline) file(name string) string {
	if p.dirName == "" {
		return name
	}
	return p.dirName + "/" + name
}

// resolve finds the image's manifests and configs; nothing is pulled yet.
func (p *imagePipeline) resolve(ctx context.Context) error {
	in, cfg := p.in, p.cfg
	var res *image.Resolved
	err := p.pipeline.stage("resolve "+in.Reference(), func() error {
		var err error
		res, err = image.Resolve(ctx, in.Kind, in.Ref, image.Options{
			Keychain:      image.Keychain(cfg.GitHubToken, cfg.GitHub.Actor),
			Transport:     p.http,
			UserAgent:     version.UserAgent(),
			Platforms:     cfg.Platforms,
			SubjectDigest: in.Digest,
			SubjectName:   in.Name,
			Limits:        cfg.ImageLimits,
		})
		if err != nil {
			return inputError(p.imageInput(), err)
		}
		for _, t := range res.Targets {
			p.log.Infof("%s %s %s", t.PlatformString(), t.Digest, t.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.res = res
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
	p.key = subjectName + "@" + res.Subject.String()
	p.repoURL = res.Targets[0].RepoURL
	p.targets = res.Targets
	return nil
}

// imageInput is the input that named the image.
func (p *imagePipeline) imageInput() string {
	if p.several() {
		return "images"
	}
	return "image"
}

// describe writes the image's documents, platform by platform. What the platform stages report
// as outputs (SBOM, ML-BOM, counts) is held until every platform is done, as some platforms'
// SBOMs would read as the image's.
func (p *imagePipeline) describe(ctx context.Context) error {
	if s := p.pipeline.ped; s != nil {
		p.ped = &pedigreeState{set: s.set, on: map[string][]string{}}
	}
	if s := p.pipeline.vulns; s != nil {
		p.vulns = &vulnScan{db: s.db, vex: s.vex, byPlat: map[string][]string{}}
	}
	p.dir = p.pipeline.dir
	if p.several() {
		dir, err := p.dir.Sub(p.dirName)
		if err != nil {
			return err
		}
		p.dir = dir
	}
	final := p.out
	p.held = &report.Outputs{}
	p.out = p.held
	paths, err := p.platforms(ctx)
	p.out = final
	p.pedigreeWarnings()
	if err != nil {
		return err
	}
	p.out.Set("sbom-path", paths[0])
	p.out.SetJSON("sbom-paths", paths)
	p.out.Set("component-count", strconv.Itoa(p.sum.Platforms[0].Stats.Total))
	p.out.Add(p.held)
	if p.vulns != nil {
		p.vulnerabilityResults(len(p.targets))
	}
	return p.writeCompliance()
}

// failures is the run's error once every image has been tried: in a run of one, its image's
// error as it is; in a run of several, the list of the images that failed and why.
func (p *pipeline) failures() error {
	if len(p.images) == 1 {
		return p.images[0].err
	}
	var failed []*imagePipeline
	for _, im := range p.images {
		if im.err != nil {
			failed = append(failed, im)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &imagesError{failed: failed, of: len(p.images)}
}

// imagesError is the failure of some images of a run of several.
type imagesError struct {
	failed []*imagePipeline
	of     int
}

func (e *imagesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d images failed:", len(e.failed), e.of)
	for _, im := range e.failed {
		fmt.Fprintf(&b, "\n- %s: %v", im.key, im.err)
	}
	return b.String()
}

// onlyGates reports whether every image failed a gate, on purpose, after its attestations.
func (e *imagesError) onlyGates() bool {
	for _, im := range e.failed {
		if !errors.Is(im.err, errGate) {
			return false
		}
	}
	return true
}

// accountFor says, for the summary, what was done for each image a failed run did not finish:
// every image when what they share failed, the images that failed otherwise.
func (p *pipeline) accountFor(runErr error) {
	_, imagesOnly := runErr.(*imagesError)
	for _, im := range p.images {
		if !imagesOnly || im.err != nil {
			im.sum.Outcomes = im.outcomes()
		}
	}
}

// setOutputs sets the run's outputs: the first image's, as a run of one always had them, and
// results, every image's by name@digest, with the error that stopped each image that did not
// finish: its own, or the run's when what the images share failed.
func (p *pipeline) setOutputs(runErr error) {
	if _, imagesOnly := runErr.(*imagesError); imagesOnly {
		runErr = nil
	}
	results := map[string]map[string]any{}
	for _, im := range p.images {
		v := im.out.Values()
		switch {
		case im.err != nil:
			v["error"] = im.err.Error()
		case runErr != nil:
			v["error"] = runErr.Error()
		}
		results[im.key] = v
	}
	if len(p.images) > 0 {
		p.out.Add(p.images[0].out)
	}
	p.out.SetJSON("results", results)
}
