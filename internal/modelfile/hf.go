package modelfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/yamldata"
)

const (
	maxConfigJSON   = 4 << 20
	maxReadmePrefix = 1 << 20
	maxFrontMatter  = 256 << 10
	maxKeptValues   = 32 // values kept per list
	// maxNesting bounds how deep config.json and front matter may nest. Real ones nest a few
	// levels (a quantization_config, a text_config); thousands of levels are an attack on
	// whatever walks the tree.
	maxNesting = 64
)

// HFConfig is the part of a Hugging Face config.json that describes the model.
type HFConfig struct {
	NameOrPath    string   `json:"_name_or_path"`
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	TorchDType    string   `json:"torch_dtype"`
}

// Format implements Header.
func (*HFConfig) Format() string { return "config.json" }

// readHFConfig reads a whole config.json of at most maxConfigJSON bytes: a truncated JSON
// document would be misread, so a longer one is refused.
func readHFConfig(r io.Reader, _ int64) (Header, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigJSON+1))
	if err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if len(data) > maxConfigJSON {
		return nil, fmt.Errorf("config.json: larger than %d MiB; not read", maxConfigJSON>>20)
	}
	c, err := parseHFConfig(data)
	if c == nil {
		return nil, err // an untyped nil: a nil *HFConfig in a Header would not be nil
	}
	return c, err
}

func parseHFConfig(data []byte) (*HFConfig, error) {
	if err := jsonDepth(data, maxNesting); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	var c HFConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.ModelType == "" && len(c.Architectures) == 0 && c.NameOrPath == "" {
		return nil, nil // some other config.json (an app's), not a model's
	}
	if len(c.Architectures) > maxKeptValues {
		c.Architectures = c.Architectures[:maxKeptValues]
	}
	return &c, nil
}

// errNesting is returned for JSON nested deeper than allowed.
var errNesting = errors.New("nested too deep")

// jsonDepth refuses JSON whose arrays and objects nest more than max levels, in one pass over
// the bytes and before any decoder recurses into them. It does not validate; the decoder does.
func jsonDepth(data []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for i, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return fmt.Errorf("%w: more than %d levels at byte %d", errNesting, max, i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// ModelCard is the YAML front matter of a Hugging Face model card (README.md).
type ModelCard struct {
	Licenses    []string
	LicenseName string
	Datasets    []string
	BaseModels  []string
	PipelineTag string
	Languages   []string
}

// Format implements Header.
func (*ModelCard) Format() string { return "README.md" }

// readModelCard reads the first maxReadmePrefix bytes of a README.md: the front matter is at
// the top, and the rest of a long card is prose.
func readModelCard(r io.Reader, _ int64) (Header, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxReadmePrefix))
	if err != nil {
		return nil, fmt.Errorf("README.md: %w", err)
	}
	c, err := parseModelCard(data)
	if c == nil {
		return nil, err
	}
	return c, err
}

// parseModelCard reads the front matter between the leading '---' lines; a README without one
// is not a model card and yields nil. Errors give lines of the README, not of the front matter.
func parseModelCard(data []byte) (*ModelCard, error) {
	block, at := frontMatter(data)
	if block == nil {
		return nil, nil
	}
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("README.md front matter: line %d: %s", line+at, fmt.Sprintf(format, args...))
	}
	root, err := yamldata.Decode(block, maxNesting)
	if ye := (*yamldata.Error)(nil); errors.As(err, &ye) && ye.Line > 0 {
		return nil, fmt.Errorf("README.md front matter: %w", &yamldata.Error{Line: ye.Line + at, Err: ye.Err})
	} else if err != nil {
		return nil, fmt.Errorf("README.md front matter: %w", err)
	}
	card := &ModelCard{}
	if root == nil {
		return card, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, bad(root.Line, "not a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return nil, bad(k.Line, "key %.64q appears twice", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "license":
			card.Licenses = scalars(v)
		case "license_name":
			card.LicenseName = first(v)
		case "datasets":
			card.Datasets = scalars(v)
		case "base_model":
			card.BaseModels = scalars(v)
		case "pipeline_tag":
			card.PipelineTag = first(v)
		case "language":
			card.Languages = scalars(v)
		}
	}
	return card, nil
}

func first(n *yaml.Node) string {
	if v := scalars(n); len(v) > 0 {
		return v[0]
	}
	return ""
}

// scalars returns a scalar, or a list of scalars, as strings; model cards use both forms.
func scalars(n *yaml.Node) []string {
	var out []string
	add := func(c *yaml.Node) {
		if c.Kind == yaml.ScalarNode && c.ShortTag() != "!!null" && strings.TrimSpace(c.Value) != "" && len(out) < maxKeptValues {
			out = append(out, strings.TrimSpace(c.Value))
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		add(n)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			add(c)
		}
	}
	return out
}

// frontMatter returns the YAML between a README's leading '---' line and the next one, and how
// many lines of the README come before it.
func frontMatter(data []byte) ([]byte, int) {
	trimmed := bytes.TrimLeft(data, "\ufeff \t\r\n")
	first, rest, ok := bytes.Cut(trimmed, []byte("\n"))
	if !ok || string(bytes.TrimRight(first, " \t\r")) != "---" {
		return nil, 0
	}
	at := bytes.Count(data[:len(data)-len(trimmed)], []byte("\n")) + 1
	for off := 0; off < len(rest) && off <= maxFrontMatter; {
		line, _, found := bytes.Cut(rest[off:], []byte("\n"))
		if string(bytes.TrimRight(line, " \t\r")) == "---" {
			return rest[:off], at
		}
		if !found {
			break
		}
		off += len(line) + 1
	}
	return nil, 0
}
