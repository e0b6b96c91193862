package run

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/syft/syft/source"

	"github.com/bom-attest/bom-attest/internal/mlbom"
	"github.com/bom-attest/bom-attest/internal/report"
)

// modelStage reports whether the model stage runs. When it does, it owns the model components of
// every document: the sbom stage leaves models out (Syft's model catalogers are off), and
// mlbom.Build puts its own in.
func (p *pipeline) modelStage() bool {
	return p.cfg.ScanModels || p.manifest != nil
}

// models finds the image's models in the already-read image and reconciles them with the
// manifest. mlbom.Build puts the same model components in the SBOM, so both documents tell one
// truth; every platform's SBOM gets that, and the ML-BOM itself is written once, from the first
// platform, about the image as a whole. A weight file in a layer the platforms share is read
// once. It returns the ML-BOM to write (from the first platform, when it has models), which
// writeMLBOM writes once the SBOM's serial number is final.
func (p *imagePipeline) models(ctx context.Context, src source.Source, bom *cyclonedx.BOM, first bool) (*cyclonedx.BOM, error) {
	res, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		return nil, fmt.Errorf("model discovery: %w", err)
	}
	found, err := mlbom.Discover(ctx, res, p.manifest, mlbom.DiscoverOptions{Scan: p.cfg.ScanModels, Hashes: &p.modelHashes})
	if err != nil {
		return nil, err
	}
	doc, result, err := mlbom.Build(bom, p.manifest, found, mlbom.Options{SpecVersion: p.cfg.SpecVersion, Namespace: p.cfg.PropertyNamespace})
	if err != nil {
		return nil, err
	}
	p.log.Infof("models: %d", result.ModelCount())
	if !first {
		return nil, nil
	}
	for _, n := range result.Notices {
		p.log.Noticef("%s", n)
	}
	for _, w := range result.Warnings {
		p.warn("%s", w)
	}
	p.out.Set("model-count", strconv.Itoa(result.ModelCount()))
	p.sum.Sections = append(p.sum.Sections, modelsSection(result))
	if result.ModelCount() == 0 {
		return nil, nil
	}
	return doc, nil
}

// writeMLBOM links the ML-BOM to the SBOM's final serial number, gives it its own (from its
// content when SOURCE_DATE_EPOCH asks for reproducible documents), checks and writes it.
func (p *imagePipeline) writeMLBOM(doc, sbomDoc *cyclonedx.BOM) error {
	mlbom.LinkSBOM(doc, sbomDoc)
	if err := p.finalSerial(doc); err != nil {
		return err
	}
	enc, shown, err := p.writeBOM(doc, "mlbom.cdx.json", "ML-BOM")
	if err != nil {
		return err
	}
	p.out.Set("mlbom-path", shown)
	p.addDocument(&document{name: "mlbom", kind: "mlbom", predicateType: p.cfg.MLBOMPredicateType, predicate: enc, subject: p.subjectOfImage})
	return nil
}

func modelsSection(r *mlbom.Result) report.Section {
	s := report.Section{Title: "Models", Header: []string{"Model", "Version", "Source", "Weights", "Data sets", "License"}}
	if r.ModelCount() == 0 {
		s.Intro = "No models declared or found."
	}
	for _, m := range r.Models {
		src := m.Origin
		switch {
		case m.External != "":
			src += ", hosted: " + m.External
		case m.Origin == mlbom.OriginFound:
			src += " (undeclared)"
		}
		var weights report.Markdown
		if m.HashPrefix != "" {
			weights = report.Code(m.HashPrefix + "…")
			if m.Files > 1 {
				weights = report.Markdownf("%s (%d files)", weights, m.Files)
			}
		}
		s.Rows = append(s.Rows, []report.Markdown{report.Text(m.Name), report.Text(m.Version), report.Text(src), weights, report.Text(strings.Join(m.Datasets, ", ")), report.Text(m.License)})
	}
	return s
}
