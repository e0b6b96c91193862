package mlbom

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/modelfile"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
)

// modelComponent is the machine-learning-model component for e: what the manifest declares,
// completed by what the image's files say. The SBOM gets the same component without its card.
func (b *builder) modelComponent(e *entry) cyclonedx.Component {
	c := cyclonedx.Component{
		BOMRef:  e.ref,
		Type:    cyclonedx.ComponentTypeMachineLearningModel,
		Name:    e.name(),
		Version: e.version(),
	}
	d := e.decl
	var props []cyclonedx.Property
	props = append(props, b.prop("model:origin", e.origin()))
	if e.origin() == OriginFound {
		props = append(props, b.prop("model:undeclared", "true"))
	}
	if d != nil {
		c.Description = d.Description
		if d.Supplier != nil {
			c.Supplier = &cyclonedx.OrganizationalEntity{Name: d.Supplier.Name}
			if d.Supplier.URL != "" {
				c.Supplier.URL = &[]string{d.Supplier.URL}
			}
		}
		c.PackageURL = d.PURL
		if d.License != "" {
			c.Licenses = licenseChoices([]string{d.License})
		}
		if x := d.External; x != nil {
			props = append(props, b.prop("model:external", "true"), b.prop("model:provider", x.Provider), b.prop("model:endpoint", x.Endpoint))
			c.ExternalReferences = &[]cyclonedx.ExternalReference{{
				Type: cyclonedx.ERTypeOther, URL: x.Endpoint, Comment: "endpoint of the hosted model the image calls (" + x.Provider + ")",
			}}
			if b.spec >= cyclonedx.SpecVersion1_7 {
				external := true
				c.IsExternal = &external
			}
		}
	}
	var f *Found
	if len(e.found) > 0 {
		f = e.found[0]
	}
	if f != nil {
		if c.PackageURL == "" {
			c.PackageURL = f.PURL
		}
		if c.Description == "" {
			c.Description = foundDescription(f)
		}
		if c.Licenses == nil {
			c.Licenses = licenseChoices(foundLicenses(f))
		}
		where := f.Dir
		if d != nil && d.Path != "" {
			where = d.Path
		}
		props = append(props, b.prop("model:path", where), b.prop("model:format", f.Format))
		props = append(props, b.factProps(e.found)...)
	}
	if id, ok := strings.CutPrefix(c.PackageURL, "pkg:huggingface/"); ok {
		id, _, _ = strings.Cut(id, "@")
		id, _, _ = strings.Cut(id, "?")
		refs := append(derefRefs(c.ExternalReferences), cyclonedx.ExternalReference{Type: cyclonedx.ERTypeModelCard, URL: "https://huggingface.co/" + id})
		c.ExternalReferences = &refs
	}
	switch len(e.files) {
	case 0:
	case 1:
		wf := e.files[0]
		c.Hashes = fileHashes(wf)
		props = append(props, b.prop("file:path", wf.Path), b.prop("file:layer", wf.Layer), b.prop("file:size", strconv.FormatInt(wf.Size, 10)))
	default:
		// Every shard is hashed on its own; the model has no single digest of its weights.
		parts := make([]cyclonedx.Component, 0, len(e.files))
		for _, wf := range e.files {
			parts = append(parts, cyclonedx.Component{
				Type:       cyclonedx.ComponentTypeFile,
				Name:       wf.Path,
				Hashes:     fileHashes(wf),
				Properties: &[]cyclonedx.Property{b.prop("file:layer", wf.Layer), b.prop("file:size", strconv.FormatInt(wf.Size, 10))},
			})
		}
		c.Components = &parts
	}
	if anc := b.ancestors(e); len(anc) > 0 {
		c.Pedigree = &cyclonedx.Pedigree{Ancestors: &anc}
	}
	c.Properties = &props
	c.ModelCard = b.modelCard(e)
	return c
}

func derefRefs(p *[]cyclonedx.ExternalReference) []cyclonedx.ExternalReference {
	if p == nil {
		return nil
	}
	return *p
}

func fileHashes(wf WeightFile) *[]cyclonedx.Hash {
	return &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: wf.SHA256}, {Algorithm: cyclonedx.HashAlgoSHA512, Value: wf.SHA512}}
}

func foundDescription(f *Found) string {
	for _, h := range headersOf[*modelfile.GGUF](f) {
		if h.Description != "" {
			return h.Description
		}
	}
	for _, h := range headersOf[*modelfile.ONNX](f) {
		if h.DocString != "" {
			return h.DocString
		}
	}
	return ""
}

func foundLicenses(f *Found) []string {
	var out []string
	if r := firstOf[*modelfile.ModelCard](f); r != nil {
		for _, l := range r.Licenses {
			if strings.EqualFold(l, "other") && r.LicenseName != "" {
				l = r.LicenseName
			}
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		for _, h := range headersOf[*modelfile.GGUF](f) {
			if h.License != "" {
				out = append(out, h.License)
				break
			}
		}
	}
	return uniq(out)
}

// factProps turns what the headers say into properties; CycloneDX has no fields for a tensor
// count or a quantization.
func (b *builder) factProps(found []*Found) []cyclonedx.Property {
	var tensors, params uint64
	var dtypes, quant, langs []string
	var out []cyclonedx.Property
	metadata := map[string]string{}
	for _, f := range found {
		for _, h := range headersOf[*modelfile.Safetensors](f) {
			tensors, params = addSat(tensors, h.Tensors), addSat(params, h.Parameters)
			dtypes = append(dtypes, h.DTypes...)
			for k, v := range h.Metadata {
				if _, ok := metadata[k]; !ok {
					metadata[k] = v
				}
			}
		}
		for _, h := range headersOf[*modelfile.GGUF](f) {
			tensors, params = addSat(tensors, h.Tensors), addSat(params, h.Parameters)
			dtypes = append(dtypes, h.DTypes...)
			quant = append(quant, h.Quantization)
		}
		if card := firstOf[*modelfile.ModelCard](f); card != nil {
			langs = append(langs, card.Languages...)
		}
	}
	if tensors > 0 {
		out = append(out, b.prop("model:tensors", strconv.FormatUint(tensors, 10)))
	}
	if params > 0 {
		out = append(out, b.prop("model:parameters", strconv.FormatUint(params, 10)))
	}
	if dtypes = uniq(dtypes); len(dtypes) > 0 {
		slices.Sort(dtypes)
		out = append(out, b.prop("model:dtypes", strings.Join(dtypes, ",")))
	}
	if quant = uniq(quant); len(quant) > 0 {
		out = append(out, b.prop("model:quantization", strings.Join(quant, ",")))
	}
	f := found[0]
	if h := firstOf[*modelfile.GGUF](f); h != nil {
		out = append(out, b.prop("gguf:version", strconv.FormatUint(uint64(h.Version), 10)))
		if h.Architecture != "" {
			out = append(out, b.prop("gguf:architecture", h.Architecture))
		}
		if h.ContextLength > 0 {
			out = append(out, b.prop("gguf:contextLength", strconv.FormatUint(h.ContextLength, 10)))
		}
	}
	if h := firstOf[*modelfile.ONNX](f); h != nil {
		out = append(out, b.prop("onnx:irVersion", strconv.FormatUint(h.IRVersion, 10)))
		if h.ProducerName != "" {
			out = append(out, b.prop("onnx:producer", strings.TrimSpace(h.ProducerName+" "+h.ProducerVersion)))
		}
		if h.Domain != "" {
			out = append(out, b.prop("onnx:domain", h.Domain))
		}
		if h.GraphName != "" {
			out = append(out, b.prop("onnx:graph", h.GraphName))
		}
		if h.ModelVersion != 0 {
			out = append(out, b.prop("onnx:modelVersion", strconv.FormatInt(h.ModelVersion, 10)))
		}
		for _, op := range h.Opsets {
			out = append(out, b.prop("onnx:opset", op))
		}
	}
	if c := firstOf[*modelfile.HFConfig](f); c != nil && c.TorchDType != "" {
		out = append(out, b.prop("model:torchDtype", c.TorchDType))
	}
	for _, l := range uniq(langs) {
		out = append(out, b.prop("model:language", l))
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, b.prop("safetensors:metadata:"+k, metadata[k]))
	}
	return out
}

// hfID matches a Hugging Face repo id, org/name; hfBareID one without an org (imdb).
var (
	hfID     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)
	hfBareID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// ancestors are the models this one was derived from: the manifest's baseModel, else the
// base_model of the model card or GGUF header.
func (b *builder) ancestors(e *entry) []cyclonedx.Component {
	var bases []string
	if e.decl != nil && len(e.decl.BaseModel) > 0 {
		bases = e.decl.BaseModel
	} else {
		for _, f := range e.found {
			bases = append(bases, baseModels(f)...)
		}
		bases = uniq(bases)
	}
	var out []cyclonedx.Component
	for _, base := range bases {
		c := cyclonedx.Component{Type: cyclonedx.ComponentTypeMachineLearningModel, Name: base}
		switch {
		case strings.HasPrefix(base, "pkg:"):
			c.PackageURL = base
			c.Name = purlName(base)
		case hfID.MatchString(base):
			c.PackageURL = "pkg:huggingface/" + base
		}
		out = append(out, c)
	}
	return out
}

// purlName is the namespace/name part of a purl, for a readable component name.
func purlName(p string) string {
	rest := strings.TrimPrefix(p, "pkg:")
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "@")
	if _, after, ok := strings.Cut(rest, "/"); ok {
		return after
	}
	return rest
}

func (b *builder) modelCard(e *entry) *cyclonedx.MLModelCard {
	var mc modelmanifest.ModelCard
	if e.decl != nil && e.decl.ModelCard != nil {
		mc = *e.decl.ModelCard
	}
	for _, f := range e.found {
		if card := firstOf[*modelfile.ModelCard](f); mc.Task == "" && card != nil {
			mc.Task = card.PipelineTag
		}
		if c := firstOf[*modelfile.HFConfig](f); c != nil {
			if mc.ArchitectureFamily == "" {
				mc.ArchitectureFamily = c.ModelType
			}
			if mc.ModelArchitecture == "" && len(c.Architectures) > 0 {
				mc.ModelArchitecture = c.Architectures[0]
			}
		}
		for _, h := range headersOf[*modelfile.GGUF](f) {
			if mc.ArchitectureFamily == "" {
				mc.ArchitectureFamily = h.Architecture
			}
		}
	}
	card := &cyclonedx.MLModelCard{}
	params := &cyclonedx.MLModelParameters{
		Task:               mc.Task,
		ArchitectureFamily: mc.ArchitectureFamily,
		ModelArchitecture:  mc.ModelArchitecture,
	}
	if mc.Approach != "" {
		params.Approach = &cyclonedx.MLModelParametersApproach{Type: cyclonedx.MLModelParametersApproachType(mc.Approach)}
	}
	if len(e.dsNames) > 0 {
		refs := make([]cyclonedx.MLDatasetChoice, 0, len(e.dsNames))
		for _, n := range e.dsNames {
			refs = append(refs, cyclonedx.MLDatasetChoice{Ref: b.dsByName[n].ref})
		}
		params.Datasets = &refs
	}
	params.Inputs = ioFormats(mc.Inputs)
	params.Outputs = ioFormats(mc.Outputs)
	if *params != (cyclonedx.MLModelParameters{}) {
		card.ModelParameters = params
	}
	if len(mc.Metrics) > 0 {
		metrics := make([]cyclonedx.MLPerformanceMetric, 0, len(mc.Metrics))
		for _, m := range mc.Metrics {
			pm := cyclonedx.MLPerformanceMetric{Type: m.Type, Value: m.Value, Slice: m.Slice}
			if ci := m.ConfidenceInterval; ci != nil {
				pm.ConfidenceInterval = &cyclonedx.MLPerformanceMetricConfidenceInterval{LowerBound: ci.LowerBound, UpperBound: ci.UpperBound}
			}
			metrics = append(metrics, pm)
		}
		card.QuantitativeAnalysis = &cyclonedx.MLQuantitativeAnalysis{PerformanceMetrics: &metrics}
	}
	if c := mc.Considerations; c != nil {
		card.Considerations = b.considerations(e, c)
	}
	if card.ModelParameters == nil && card.QuantitativeAnalysis == nil && card.Considerations == nil {
		return nil
	}
	return card
}

func ioFormats(formats []string) *[]cyclonedx.MLInputOutputParameters {
	if len(formats) == 0 {
		return nil
	}
	out := make([]cyclonedx.MLInputOutputParameters, 0, len(formats))
	for _, f := range formats {
		out = append(out, cyclonedx.MLInputOutputParameters{Format: f})
	}
	return &out
}

func strs(s []string) *[]string {
	if len(s) == 0 {
		return nil
	}
	return &s
}

func (b *builder) considerations(e *entry, c *modelmanifest.Considerations) *cyclonedx.MLModelCardConsiderations {
	out := &cyclonedx.MLModelCardConsiderations{
		Users:                strs(c.Users),
		UseCases:             strs(c.UseCases),
		TechnicalLimitations: strs(c.Limitations),
		PerformanceTradeoffs: strs(c.Tradeoffs),
	}
	if len(c.Ethical) > 0 {
		risks := make([]cyclonedx.MLModelCardEthicalConsideration, 0, len(c.Ethical))
		for _, r := range c.Ethical {
			risks = append(risks, cyclonedx.MLModelCardEthicalConsideration{Name: r.Name, MitigationStrategy: r.Mitigation})
		}
		out.EthicalConsiderations = &risks
	}
	if len(c.Fairness) > 0 {
		fa := make([]cyclonedx.MLModelCardFairnessAssessment, 0, len(c.Fairness))
		for _, f := range c.Fairness {
			fa = append(fa, cyclonedx.MLModelCardFairnessAssessment{GroupAtRisk: f.GroupAtRisk, Benefits: f.Benefits, Harms: f.Harms, MitigationStrategy: f.Mitigation})
		}
		out.FairnessAssessments = &fa
	}
	if len(c.Environmental) > 0 {
		if b.spec < cyclonedx.SpecVersion1_6 {
			b.res.Notices = append(b.res.Notices, fmt.Sprintf("%s: models[%d].modelCard.considerations.environmental dropped: CycloneDX %s has no environmental considerations (use 1.6 or 1.7)", modelmanifest.Input, e.declIdx, b.spec))
		} else {
			uses := make([]cyclonedx.MLModelEnergyConsumption, 0, len(c.Environmental))
			for _, u := range c.Environmental {
				kwh := cyclonedx.MLModelEnergyMeasure{Value: float32(*u.EnergyKWh), Unit: cyclonedx.MLModelEnergyUnitKWH}
				ec := cyclonedx.MLModelEnergyConsumption{
					Activity:           cyclonedx.MLModelEnergyConsumptionActivity(u.Activity),
					ActivityEnergyCost: kwh,
				}
				// CycloneDX requires a provider; an undeclared one is written as unknown, not left
				// out (an empty list does not survive the encoder's version conversion).
				provider, source := u.Provider, u.EnergySource
				if provider == "" {
					provider = "unknown"
				}
				if source == "" {
					source = "unknown"
				}
				provided := kwh
				ec.EnergyProviders = &[]cyclonedx.MLModelEnergyProvider{{
					Organization:   &cyclonedx.OrganizationalEntity{Name: provider},
					EnergySource:   cyclonedx.MLModelEnergySource(source),
					EnergyProvided: &provided,
				}}
				if u.CO2Tonnes != nil {
					ec.CO2CostEquivalent = &cyclonedx.MLModelCO2Measure{Value: float32(*u.CO2Tonnes), Unit: cyclonedx.MLModelCO2UnitTCO2Eq}
				}
				uses = append(uses, ec)
			}
			out.EnvironmentalConsiderations = &cyclonedx.MLModelCardEnvironmentalConsiderations{EnergyConsumptions: &uses}
		}
	}
	if *out == (cyclonedx.MLModelCardConsiderations{}) {
		return nil
	}
	return out
}

func (b *builder) datasetComponent(ds *dataset) cyclonedx.Component {
	c := cyclonedx.Component{BOMRef: ds.ref, Type: cyclonedx.ComponentTypeData, Name: ds.name}
	data := cyclonedx.ComponentData{Type: cyclonedx.ComponentDataTypeDataset, Name: ds.name}
	d := ds.decl
	if d == nil {
		c.Properties = &[]cyclonedx.Property{b.prop("dataset:origin", OriginFound), b.prop("dataset:undeclared", "true")}
		if hfID.MatchString(ds.name) || hfBareID.MatchString(ds.name) {
			// Model cards name data sets by their Hugging Face id.
			data.Contents = &cyclonedx.ComponentDataContents{URL: "https://huggingface.co/datasets/" + ds.name}
		}
		c.Data = &[]cyclonedx.ComponentData{data}
		return c
	}
	c.Version = d.Version
	c.Description = d.Description
	c.Properties = &[]cyclonedx.Property{b.prop("dataset:origin", OriginDeclared)}
	if d.License != "" {
		c.Licenses = licenseChoices([]string{d.License})
	}
	if len(d.Hashes) > 0 {
		hs := make([]cyclonedx.Hash, 0, len(d.Hashes))
		for _, h := range d.Hashes {
			hs = append(hs, cyclonedx.Hash{Algorithm: cyclonedx.HashAlgorithm(h.Alg), Value: h.Content})
		}
		c.Hashes = &hs
	}
	if d.URL != "" {
		data.Contents = &cyclonedx.ComponentDataContents{URL: d.URL}
		c.ExternalReferences = &[]cyclonedx.ExternalReference{{Type: cyclonedx.ERTypeDistribution, URL: d.URL}}
	}
	data.Classification = d.Classification
	data.SensitiveData = strs(d.SensitiveData)
	data.Description = d.Description
	if g := d.Governance; g != nil {
		data.Governance = &cyclonedx.DataGovernance{Owners: parties(g.Owners), Custodians: parties(g.Custodians), Stewards: parties(g.Stewards)}
	}
	c.Data = &[]cyclonedx.ComponentData{data}
	return c
}

func parties(ps []modelmanifest.Party) *[]cyclonedx.ComponentDataGovernanceResponsibleParty {
	if len(ps) == 0 {
		return nil
	}
	out := make([]cyclonedx.ComponentDataGovernanceResponsibleParty, 0, len(ps))
	for _, p := range ps {
		if p.Email != "" {
			out = append(out, cyclonedx.ComponentDataGovernanceResponsibleParty{Contact: &cyclonedx.OrganizationalContact{Name: p.Name, Email: p.Email}})
			continue
		}
		org := &cyclonedx.OrganizationalEntity{Name: p.Name}
		if p.URL != "" {
			org.URL = &[]string{p.URL}
		}
		out = append(out, cyclonedx.ComponentDataGovernanceResponsibleParty{Organization: org})
	}
	return &out
}

// addSat adds without wrapping: a parameter count that overflows is reported as the largest
// count, not as a small wrong one.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
