package mlbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	maxConfigJSON     = 4 << 20
	maxReadmePrefix   = 1 << 20
	maxFrontMatter    = 256 << 10
	maxFrontMatterLen = 32 // values kept per list
)

// hfConfig is the part of a Hugging Face config.json that describes the model.
type hfConfig struct {
	NameOrPath    string   `json:"_name_or_path"`
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	TorchDType    string   `json:"torch_dtype"`
}

func parseHFConfig(data []byte) (*hfConfig, error) {
	var c hfConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.ModelType == "" && len(c.Architectures) == 0 && c.NameOrPath == "" {
		return nil, nil // some other config.json (an app's), not a model's
	}
	if len(c.Architectures) > maxFrontMatterLen {
		c.Architectures = c.Architectures[:maxFrontMatterLen]
	}
	return &c, nil
}

// modelReadme is the YAML front matter of a Hugging Face model card (README.md).
type modelReadme struct {
	Licenses    []string
	LicenseName string
	Datasets    []string
	BaseModels  []string
	PipelineTag string
	Languages   []string
}

// parseReadme reads the front matter between the leading '---' lines; a README without one is
// not a model card and yields nil.
func parseReadme(data []byte) (*modelReadme, error) {
	block := frontMatter(data)
	if block == nil {
		return nil, nil
	}
	var raw struct {
		License     yaml.Node `yaml:"license"`
		LicenseName yaml.Node `yaml:"license_name"`
		Datasets    yaml.Node `yaml:"datasets"`
		BaseModel   yaml.Node `yaml:"base_model"`
		PipelineTag yaml.Node `yaml:"pipeline_tag"`
		Language    yaml.Node `yaml:"language"`
	}
	if err := yaml.Unmarshal(block, &raw); err != nil {
		return nil, fmt.Errorf("README.md front matter: %w", err)
	}
	first := func(n yaml.Node) string {
		if v := scalars(n); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return &modelReadme{
		Licenses:    scalars(raw.License),
		LicenseName: first(raw.LicenseName),
		Datasets:    scalars(raw.Datasets),
		BaseModels:  scalars(raw.BaseModel),
		PipelineTag: first(raw.PipelineTag),
		Languages:   scalars(raw.Language),
	}, nil
}

// scalars returns a scalar, or a list of scalars, as strings; model cards use both forms.
func scalars(n yaml.Node) []string {
	var out []string
	add := func(c *yaml.Node) {
		if c.Kind == yaml.ScalarNode && c.ShortTag() != "!!null" && strings.TrimSpace(c.Value) != "" && len(out) < maxFrontMatterLen {
			out = append(out, strings.TrimSpace(c.Value))
		}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		add(&n)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			add(c)
		}
	}
	return out
}

func frontMatter(data []byte) []byte {
	data = bytes.TrimLeft(data, "\ufeff \t\r\n")
	first, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || string(bytes.TrimRight(first, " \t\r")) != "---" {
		return nil
	}
	for off := 0; off < len(rest) && off <= maxFrontMatter; {
		line, _, found := bytes.Cut(rest[off:], []byte("\n"))
		if string(bytes.TrimRight(line, " \t\r")) == "---" {
			return rest[:off]
		}
		if !found {
			break
		}
		off += len(line) + 1
	}
	return nil
}
