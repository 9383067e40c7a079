package mergefile

import (
	"bytes"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"mergescale/merge"
)

// resolvedHeader opens mergescale_config.yaml.
const resolvedHeader = `# The resolved configuration of this merge, written by mergescale: the
# recipe's models or slices and parameters as written (paths made absolute),
# and under the top-level parameters every parameter of the method that the
# top level does not set, with its default. merge_plan.jsonl next to it
# lists what every tensor resolved to. "mergescale merge" accepts this file
# as it is.
`

// yamlConfig is the on-disk layout of a resolved config.
type yamlConfig struct {
	MergeMethod     string         `yaml:"merge_method"`
	BaseModel       string         `yaml:"base_model,omitempty"`
	Models          []yamlModel    `yaml:"models,omitempty"`
	Slices          []yamlSlice    `yaml:"slices,omitempty"`
	Parameters      map[string]any `yaml:"parameters,omitempty"`
	DType           string         `yaml:"dtype,omitempty"`
	OutDType        string         `yaml:"out_dtype,omitempty"`
	Seed            uint64         `yaml:"seed"`
	OutShardSize    int64          `yaml:"out_shard_size"`
	TokenizerSource string         `yaml:"tokenizer_source"`
}

// yamlModel is one entry of yamlConfig.Models.
type yamlModel struct {
	Model      string         `yaml:"model"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// yamlSlice is one entry of yamlConfig.Slices.
type yamlSlice struct {
	Sources    []yamlSource   `yaml:"sources"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// yamlSource is one source of a yamlSlice.
type yamlSource struct {
	Model      string         `yaml:"model"`
	LayerRange []int          `yaml:"layer_range,flow"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// yamlCond is one {filter, value} conditional.
type yamlCond struct {
	Filter string `yaml:"filter,omitempty"`
	Value  any    `yaml:"value"`
}

// yamlSetting returns a setting as YAML renders it.
func yamlSetting(s Setting) any {
	switch {
	case s.Value != nil:
		return s.Value
	case s.List != nil:
		return yamlFlow(s.List)
	}
	conds := make([]yamlCond, len(s.Conditionals))
	for i, c := range s.Conditionals {
		conds[i] = yamlCond{Filter: c.Filter, Value: yamlSetting(c.Value)}
	}
	return conds
}

// yamlFlow renders a gradient on one line: [0, 0.5, 1].
func yamlFlow(l []any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range l {
		var e yaml.Node
		if err := e.Encode(v); err == nil {
			n.Content = append(n.Content, &e)
		}
	}
	return n
}

// yamlParams renders a ParamSet (nil when empty).
func yamlParams(ps ParamSet) map[string]any {
	if len(ps) == 0 {
		return nil
	}
	m := map[string]any{}
	for name, s := range ps {
		m[name] = yamlSetting(s)
	}
	return m
}

// ResolvedYAML renders cfg as a recipe Parse reads back to the same merge:
// models or slices and their parameters as given, every parameter of the
// method that the top level does not set added there with its default
// (required parameters have none), and the dtype, seed, shard size and
// tokenizer source explicit.
func ResolvedYAML(cfg *Config) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	info, err := merge.LookupMethod(cfg.MergeMethod)
	if err != nil {
		return nil, err
	}
	y := yamlConfig{
		MergeMethod:     cfg.MergeMethod,
		BaseModel:       cfg.BaseModel,
		Parameters:      yamlParams(cfg.Parameters),
		DType:           cfg.DType,
		OutDType:        cfg.OutDType,
		Seed:            cfg.Seed,
		OutShardSize:    cfg.OutShardSize,
		TokenizerSource: cfg.TokenizerSource,
	}
	if y.OutShardSize == 0 {
		y.OutShardSize = DefaultShardSize
	}
	if y.TokenizerSource == "" {
		y.TokenizerSource = "base"
	}
	required := requiredParams(cfg.MergeMethod)
	for _, name := range info.Params {
		if _, set := cfg.Parameters[name]; set || slices.Contains(required, name) {
			continue
		}
		if y.Parameters == nil {
			y.Parameters = map[string]any{}
		}
		y.Parameters[name] = resolvedValue(info.Defaults, name)
	}
	for _, m := range cfg.Models {
		y.Models = append(y.Models, yamlModel{Model: m.Model, Parameters: yamlParams(m.Parameters)})
	}
	for _, s := range cfg.Slices {
		ys := yamlSlice{Parameters: yamlParams(s.Parameters)}
		for _, src := range s.Sources {
			ys.Sources = append(ys.Sources, yamlSource{Model: src.Model, LayerRange: src.LayerRange[:], Parameters: yamlParams(src.Parameters)})
		}
		y.Slices = append(y.Slices, ys)
	}
	var b bytes.Buffer
	b.WriteString(resolvedHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(y); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFileName, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFileName, err)
	}
	return b.Bytes(), nil
}
