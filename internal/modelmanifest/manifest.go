package modelmanifest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/anchore/packageurl-go"
	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/yamldata"
)

const (
	// maxManifestSize bounds what Load reads: a manifest is a hand-written file, and a bigger
	// one is a mistake (or a weights file given by accident).
	maxManifestSize = 4 << 20
	// maxDepth bounds how deep collections nest; the schema itself nests seven levels.
	maxDepth = 32
	// maxErrors is how many problems one error reports.
	maxErrors = 100
)

// Manifest is the parsed model-manifest input: the models an image ships or calls and the data
// sets they were trained on. Field names follow schema/model-manifest.schema.json.
type Manifest struct {
	Schema   string    `yaml:"$schema"` // lets editors find the JSON Schema; not used otherwise
	Models   []Model   `yaml:"models"`
	Datasets []Dataset `yaml:"datasets"`

	file  string
	lines map[string]int
}

// Model is one declared model: weights in the image (path, hashes), a package (purl), or a
// hosted model the image only calls (external).
type Model struct {
	Name        string     `yaml:"name"`
	Version     string     `yaml:"version"`
	Description string     `yaml:"description"`
	Supplier    *Supplier  `yaml:"supplier"`
	PURL        string     `yaml:"purl"`
	External    *External  `yaml:"external"`
	License     string     `yaml:"license"`
	Path        string     `yaml:"path"`
	Hashes      []Hash     `yaml:"hashes"`
	ModelCard   *ModelCard `yaml:"modelCard"`
	BaseModel   StringList `yaml:"baseModel"`
}

// Supplier is the organisation that supplies a model.
type Supplier struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// External describes a hosted model: who runs it and the endpoint the image calls.
type External struct {
	Provider string `yaml:"provider"`
	Endpoint string `yaml:"endpoint"`
}

// Hash is a declared digest of a weight file or data set, CycloneDX style.
type Hash struct {
	Alg     string `yaml:"alg"`
	Content string `yaml:"content"`
}

// ModelCard is the declared part of a CycloneDX model card.
type ModelCard struct {
	Approach           string          `yaml:"approach"`
	Task               string          `yaml:"task"`
	ArchitectureFamily string          `yaml:"architectureFamily"`
	ModelArchitecture  string          `yaml:"modelArchitecture"`
	Datasets           []string        `yaml:"datasets"`
	Inputs             []string        `yaml:"inputs"`
	Outputs            []string        `yaml:"outputs"`
	Metrics            []Metric        `yaml:"metrics"`
	Considerations     *Considerations `yaml:"considerations"`
}

// Metric is one performance metric of a model.
type Metric struct {
	Type               string    `yaml:"type"`
	Value              string    `yaml:"value"`
	Slice              string    `yaml:"slice"`
	ConfidenceInterval *Interval `yaml:"confidenceInterval"`
}

// Interval is a metric's confidence interval.
type Interval struct {
	LowerBound string `yaml:"lowerBound"`
	UpperBound string `yaml:"upperBound"`
}

// Considerations are the model card's users, uses, limits and risks.
type Considerations struct {
	Users         []string    `yaml:"users"`
	UseCases      []string    `yaml:"useCases"`
	Limitations   []string    `yaml:"limitations"`
	Tradeoffs     []string    `yaml:"tradeoffs"`
	Ethical       []Risk      `yaml:"ethical"`
	Fairness      []Fairness  `yaml:"fairness"`
	Environmental []EnergyUse `yaml:"environmental"`
}

// Risk is an ethical consideration and how it is mitigated.
type Risk struct {
	Name       string `yaml:"name"`
	Mitigation string `yaml:"mitigation"`
}

// Fairness is a fairness assessment for one group at risk.
type Fairness struct {
	GroupAtRisk string `yaml:"groupAtRisk"`
	Benefits    string `yaml:"benefits"`
	Harms       string `yaml:"harms"`
	Mitigation  string `yaml:"mitigation"`
}

// EnergyUse is the energy one lifecycle activity of a model took (CycloneDX 1.6+).
type EnergyUse struct {
	Activity     string   `yaml:"activity"`
	EnergyKWh    *float64 `yaml:"energyKWh"`
	CO2Tonnes    *float64 `yaml:"co2Tonnes"`
	Provider     string   `yaml:"provider"`
	EnergySource string   `yaml:"energySource"`
}

// Dataset is one declared data set.
type Dataset struct {
	Name           string      `yaml:"name"`
	Version        string      `yaml:"version"`
	Description    string      `yaml:"description"`
	URL            string      `yaml:"url"`
	License        string      `yaml:"license"`
	Classification string      `yaml:"classification"`
	SensitiveData  []string    `yaml:"sensitiveData"`
	Governance     *Governance `yaml:"governance"`
	Hashes         []Hash      `yaml:"hashes"`
}

// Governance names who owns, keeps and looks after a data set.
type Governance struct {
	Owners     []Party `yaml:"owners"`
	Custodians []Party `yaml:"custodians"`
	Stewards   []Party `yaml:"stewards"`
}

// Party is an organisation (name, url) or a person (name, email).
type Party struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
}

// Load reads a YAML or JSON model manifest and checks it strictly: unknown fields, wrong types,
// missing names, duplicate names, overlapping paths, data-set references to nothing, bad purls,
// hashes and paths are all reported together, each naming its field path. The file must be a
// regular file of at most 4 MiB: a FIFO or a device given by mistake fails at once instead of
// blocking the run or filling its memory.
func Load(file string) (*Manifest, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, &FieldError{File: file, Msg: err.Error(), Kind: ErrValue}
	}
	return parse(data, file)
}

// readFile reads the manifest: a regular file (localfile) of at most maxManifestSize bytes.
func readFile(file string) ([]byte, error) {
	f, fi, err := localfile.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	data, err := localfile.ReadAll(context.Background(), f, fi.Size(), maxManifestSize)
	if errors.Is(err, localfile.ErrTooLarge) {
		return nil, fmt.Errorf("%w; is this really the manifest?", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	return data, nil
}

func parse(data []byte, file string) (*Manifest, error) {
	docErr := func(line int, kind error, format string, args ...any) error {
		return &FieldError{File: file, Line: line, Msg: fmt.Sprintf(format, args...), Kind: kind}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, docErr(0, ErrRequired, "the file is empty")
	}
	if trimmed[0] == '{' || strings.HasSuffix(strings.ToLower(file), ".json") {
		var raw json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, docErr(0, ErrType, "not valid JSON: %v", err)
		}
		// JSON is YAML, except that YAML refuses tabs as indentation; a tab in valid JSON is
		// always whitespace between tokens, so it can become a space.
		data = bytes.ReplaceAll(data, []byte{'\t'}, []byte{' '})
	}
	root, err := yamldata.Decode(data, maxDepth)
	var ye *yamldata.Error
	switch {
	case errors.As(err, &ye) && errors.Is(err, yamldata.ErrSyntax):
		return nil, docErr(ye.Line, ErrType, "%v", ye.Err)
	case errors.As(err, &ye) && errors.Is(err, yamldata.ErrMultiple):
		return nil, docErr(ye.Line, ErrType, "holds more than one YAML document")
	case errors.As(err, &ye) && errors.Is(err, yamldata.ErrAlias):
		return nil, docErr(ye.Line, ErrValue, "%v: a manifest is data, so write the value out where it is used", ye.Err)
	case errors.As(err, &ye):
		return nil, docErr(ye.Line, ErrType, "%v", ye.Err)
	case err != nil:
		return nil, docErr(0, ErrType, "%v", err)
	case root == nil:
		return nil, docErr(0, ErrRequired, "the file is empty")
	case root.Kind != yaml.MappingNode:
		return nil, docErr(root.Line, ErrType, "want a mapping with models and datasets, got %s", describe(root))
	}
	m := &Manifest{file: file, lines: map[string]int{}}
	d := &decoder{file: file, lines: m.lines}
	d.decode(root, reflect.ValueOf(m).Elem(), "")
	if len(d.errs) == 0 {
		m.validate(d)
	}
	if d.more > 0 {
		d.errs = append(d.errs, &FieldError{File: file, Msg: fmt.Sprintf("and %d more problems", d.more), Kind: ErrValue})
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return m, nil
}

// Errorf builds the error for a problem with field (a field path such as models[2].path) found
// after loading, pointing at the line the field, or the nearest enclosing one, was on. kind is
// one of the sentinels; the result also wraps ErrManifest.
func (m *Manifest) Errorf(field string, kind error, format string, args ...any) *FieldError {
	e := &FieldError{Path: field, Msg: fmt.Sprintf(format, args...), Kind: kind}
	if m != nil {
		e.File = m.file
		// A missing field has no line of its own; point at the nearest enclosing one.
		for p := field; p != "" && e.Line == 0; p = parentField(p) {
			e.Line = m.lines[p]
		}
	}
	return e
}

// parentField strips the last .key or [index] from a field path.
func parentField(p string) string {
	if i := strings.LastIndexAny(p, ".["); i > 0 {
		return p[:i]
	}
	return ""
}

func (m *Manifest) validate(d *decoder) {
	bad := func(field string, kind error, format string, args ...any) {
		d.add(m.Errorf(field, kind, format, args...))
	}
	if len(m.Models) == 0 && len(m.Datasets) == 0 {
		bad("", ErrRequired, "declares no models and no datasets")
	}

	datasetIdx := map[string]int{}
	for i := range m.Datasets {
		ds := &m.Datasets[i]
		at := fmt.Sprintf("datasets[%d]", i)
		uniqueName(bad, "datasets", "data set", ds.Name, i, datasetIdx)
		checkURL(bad, at+".url", ds.URL)
		ds.Hashes = checkHashes(bad, at+".hashes", ds.Hashes, datasetHashAlgs)
		if g := ds.Governance; g != nil {
			roles := []struct {
				name    string
				parties []Party
			}{{"owners", g.Owners}, {"custodians", g.Custodians}, {"stewards", g.Stewards}}
			for _, role := range roles {
				for j, p := range role.parties {
					pat := fmt.Sprintf("%s.governance.%s[%d]", at, role.name, j)
					if strings.TrimSpace(p.Name) == "" && p.Email == "" {
						bad(pat+".name", ErrRequired, "a party needs a name or an email")
					}
					if p.Email != "" && !strings.Contains(p.Email, "@") {
						bad(pat+".email", ErrValue, "%q is not an email address", p.Email)
					}
					checkURL(bad, pat+".url", p.URL)
				}
			}
		}
	}

	modelIdx := map[string]int{}
	for i := range m.Models {
		md := &m.Models[i]
		at := fmt.Sprintf("models[%d]", i)
		uniqueName(bad, "models", "model", md.Name, i, modelIdx)
		if md.Supplier != nil {
			if strings.TrimSpace(md.Supplier.Name) == "" {
				bad(at+".supplier.name", ErrRequired, "a supplier needs a name")
			}
			checkURL(bad, at+".supplier.url", md.Supplier.URL)
		}
		if md.PURL != "" {
			checkPURL(bad, at+".purl", md.PURL)
		}
		if md.External != nil {
			if strings.TrimSpace(md.External.Provider) == "" {
				bad(at+".external.provider", ErrRequired, "name who hosts the model, e.g. OpenAI")
			}
			if md.External.Endpoint == "" {
				bad(at+".external.endpoint", ErrRequired, "give the URL the image calls, e.g. https://api.openai.com/v1/realtime")
			} else {
				checkURL(bad, at+".external.endpoint", md.External.Endpoint)
			}
			if md.Path != "" {
				bad(at+".path", ErrValue, "an external model has no weights in the image; drop path or external")
			}
			if len(md.Hashes) > 0 {
				bad(at+".hashes", ErrValue, "an external model has no weights in the image to hash; drop hashes or external")
			}
		}
		if md.Path == "" && len(md.Hashes) == 0 && md.PURL == "" && md.External == nil {
			bad(at, ErrRequired, "say where the model is: path (in the image), hashes, purl, or external (a hosted model)")
		}
		if md.Path != "" {
			checkPath(bad, at+".path", md.Path)
		}
		md.Hashes = checkHashes(bad, at+".hashes", md.Hashes, modelHashAlgs)
		for j, b := range md.BaseModel {
			bat := fmt.Sprintf("%s.baseModel[%d]", at, j)
			if len(md.BaseModel) == 1 {
				bat = at + ".baseModel"
			}
			switch {
			case strings.TrimSpace(b) == "":
				bad(bat, ErrRequired, "a base model needs a name or purl")
			case strings.HasPrefix(b, "pkg:"):
				checkPURL(bad, bat, b)
			}
		}
		if mc := md.ModelCard; mc != nil {
			m.validateCard(bad, at+".modelCard", mc, datasetIdx)
		}
	}

	for _, o := range overlaps(m.Models) {
		bad(fmt.Sprintf("models[%d].path", o.later), ErrDuplicate, "%s overlaps models[%d].path %s", m.Models[o.later].Path, o.earlier, m.Models[o.earlier].Path)
	}
}

// overlap is a pair of models whose paths are the same or one inside the other.
type overlap struct{ earlier, later int }

// overlaps finds the models whose paths overlap another's: two entries that claim the same
// directory would both "own" its weights. Sorting the paths with '/' before every other byte
// puts everything inside a directory right after it, so one pass with a stack of the enclosing
// paths finds each overlap: O(n log n), where comparing every pair took minutes for 100,000.
// Each path that overlaps is reported once, against its nearest enclosing (or equal) path.
func overlaps(models []Model) []overlap {
	var idx []int
	for i := range models {
		if models[i].Path != "" {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return pathLess(models[idx[a]].Path, models[idx[b]].Path) })
	var out []overlap
	var open []int // enclosing paths of the current one, outermost first
	for _, i := range idx {
		p := models[i].Path
		for len(open) > 0 {
			top := models[open[len(open)-1]].Path
			if p == top || within(p, top) {
				break
			}
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			j := open[len(open)-1]
			out = append(out, overlap{earlier: min(i, j), later: max(i, j)})
		}
		open = append(open, i)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].later != out[b].later {
			return out[a].later < out[b].later
		}
		return out[a].earlier < out[b].earlier
	})
	return out
}

// pathLess orders paths component by component: '/' sorts before every other byte, so
// /opt/models/b comes right after /opt/models and before /opt/models-x.
func pathLess(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		if a[i] == '/' {
			return true
		}
		if b[i] == '/' {
			return false
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

// uniqueName checks that list[i] (models[3], say) has a name, and that no earlier entry of the
// list, whose indexes seen holds by name, has the same one.
func uniqueName(bad func(string, error, string, ...any), list, what, name string, i int, seen map[string]int) {
	at := fmt.Sprintf("%s[%d].name", list, i)
	if strings.TrimSpace(name) == "" {
		bad(at, ErrRequired, "every %s needs a name", what)
	} else if j, dup := seen[name]; dup {
		bad(at, ErrDuplicate, "%q is already the name of %s[%d]", name, list, j)
	} else {
		seen[name] = i
	}
}

func (m *Manifest) validateCard(bad func(string, error, string, ...any), at string, mc *ModelCard, datasetIdx map[string]int) {
	if mc.Approach != "" && !approaches[mc.Approach] {
		bad(at+".approach", ErrValue, "%q is not one of %s", mc.Approach, strings.Join(approachList, ", "))
	}
	for j, name := range mc.Datasets {
		if _, ok := datasetIdx[name]; !ok {
			bad(fmt.Sprintf("%s.datasets[%d]", at, j), ErrReference, "%q is not declared in datasets[]", name)
		}
	}
	for j, s := range mc.Inputs {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("%s.inputs[%d]", at, j), ErrRequired, "empty format")
		}
	}
	for j, s := range mc.Outputs {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("%s.outputs[%d]", at, j), ErrRequired, "empty format")
		}
	}
	for j, mt := range mc.Metrics {
		mat := fmt.Sprintf("%s.metrics[%d]", at, j)
		if mt.Type == "" {
			bad(mat+".type", ErrRequired, "name the metric, e.g. accuracy")
		}
		if mt.Value == "" {
			bad(mat+".value", ErrRequired, "give the metric's value")
		}
	}
	c := mc.Considerations
	if c == nil {
		return
	}
	for j, r := range c.Ethical {
		if r.Name == "" {
			bad(fmt.Sprintf("%s.considerations.ethical[%d].name", at, j), ErrRequired, "name the risk")
		}
	}
	for j, f := range c.Fairness {
		if f.GroupAtRisk == "" {
			bad(fmt.Sprintf("%s.considerations.fairness[%d].groupAtRisk", at, j), ErrRequired, "name the group at risk")
		}
	}
	for j, e := range c.Environmental {
		eat := fmt.Sprintf("%s.considerations.environmental[%d]", at, j)
		if !activities[e.Activity] {
			if e.Activity == "" {
				bad(eat+".activity", ErrRequired, "name the activity, one of %s", strings.Join(activityList, ", "))
			} else {
				bad(eat+".activity", ErrValue, "%q is not one of %s", e.Activity, strings.Join(activityList, ", "))
			}
		}
		if e.EnergyKWh == nil {
			bad(eat+".energyKWh", ErrRequired, "give the energy used, in kWh")
		} else if *e.EnergyKWh < 0 {
			bad(eat+".energyKWh", ErrValue, "energy cannot be negative")
		}
		if e.CO2Tonnes != nil && *e.CO2Tonnes < 0 {
			bad(eat+".co2Tonnes", ErrValue, "CO2 cannot be negative")
		}
		if e.EnergySource != "" && !energySources[e.EnergySource] {
			bad(eat+".energySource", ErrValue, "%q is not one of %s", e.EnergySource, strings.Join(energySourceList, ", "))
		}
	}
}

var (
	approachList     = []string{"supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"}
	activityList     = []string{"design", "data-collection", "data-preparation", "training", "fine-tuning", "validation", "deployment", "inference", "other"}
	energySourceList = []string{"coal", "oil", "natural-gas", "nuclear", "wind", "solar", "geothermal", "hydropower", "biofuel", "unknown", "other"}
	approaches       = setOf(approachList)
	activities       = setOf(activityList)
	energySources    = setOf(energySourceList)
)

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// hashAlg is a CycloneDX hash algorithm and the hex length of its digest.
type hashAlg struct {
	name   string
	hexLen int
}

// modelHashAlgs are the algorithms bom-attest computes for weight files, so a declared model
// hash can always be checked against the image.
var modelHashAlgs = map[string]hashAlg{
	"sha256": {"SHA-256", 64},
	"sha512": {"SHA-512", 128},
}

// datasetHashAlgs are all CycloneDX algorithms: data sets are rarely in the image, so their
// hashes are recorded, not checked.
var datasetHashAlgs = map[string]hashAlg{
	"md5": {"MD5", 32}, "sha1": {"SHA-1", 40}, "sha256": {"SHA-256", 64}, "sha384": {"SHA-384", 96},
	"sha512": {"SHA-512", 128}, "sha3256": {"SHA3-256", 64}, "sha3384": {"SHA3-384", 96},
	"sha3512": {"SHA3-512", 128}, "blake2b256": {"BLAKE2b-256", 64}, "blake2b384": {"BLAKE2b-384", 96},
	"blake2b512": {"BLAKE2b-512", 128}, "blake3": {"BLAKE3", 64},
}

// checkHashes validates declared hashes and returns them with canonical algorithm names and
// lower-case hex, so later comparisons are exact.
func checkHashes(bad func(string, error, string, ...any), at string, hashes []Hash, algs map[string]hashAlg) []Hash {
	out := make([]Hash, len(hashes))
	for j, h := range hashes {
		hat := fmt.Sprintf("%s[%d]", at, j)
		key := strings.ToLower(strings.ReplaceAll(h.Alg, "-", ""))
		alg, ok := algs[key]
		switch {
		case h.Alg == "":
			bad(hat+".alg", ErrRequired, "name the algorithm, e.g. SHA-256")
		case !ok:
			names := make([]string, 0, len(algs))
			for _, a := range algs {
				names = append(names, a.name)
			}
			slices.Sort(names)
			msg := "%q is not one of %s"
			if len(algs) == len(modelHashAlgs) {
				msg += " (the digests bom-attest computes, so the weights can be checked)"
			}
			bad(hat+".alg", ErrValue, msg, h.Alg, strings.Join(names, ", "))
		}
		content := strings.ToLower(strings.TrimSpace(h.Content))
		if content == "" {
			bad(hat+".content", ErrRequired, "give the hex digest")
		} else if _, err := hex.DecodeString(content); err != nil {
			bad(hat+".content", ErrValue, "not a hex digest")
		} else if ok && len(content) != alg.hexLen {
			bad(hat+".content", ErrValue, "a %s digest has %d hex digits, this one has %d", alg.name, alg.hexLen, len(content))
		}
		out[j] = Hash{Alg: alg.name, Content: content}
	}
	return out
}

func checkURL(bad func(string, error, string, ...any), at, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(raw, " \t\n") {
		bad(at, ErrValue, "%q is not an absolute URL", raw)
	}
}

func checkPURL(bad func(string, error, string, ...any), at, raw string) {
	p, err := packageurl.FromString(raw)
	if err != nil {
		bad(at, ErrPURL, "%q is not a package URL: %v", raw, err)
		return
	}
	if p.Type == "" || p.Name == "" {
		bad(at, ErrPURL, "%q is not a package URL: it needs a type and a name, e.g. pkg:huggingface/org/name@commit", raw)
	}
}

// checkPath accepts only clean absolute paths, so a declared path cannot point outside the
// image's root or be read relative to the action's working directory.
func checkPath(bad func(string, error, string, ...any), at, p string) {
	switch {
	case !strings.HasPrefix(p, "/"):
		bad(at, ErrPath, "%q must be an absolute path inside the image, like /models/name", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		bad(at, ErrPath, "%q must not contain ..: the path has to stay inside the image", p)
	case p == "/":
		bad(at, ErrPath, "the image root is not a model; give the model's directory or file")
	case path.Clean(p) != p:
		bad(at, ErrPath, "%q is not a clean path; write %s", p, path.Clean(p))
	}
}

// within reports whether p is strictly inside directory dir.
func within(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
