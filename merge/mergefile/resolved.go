package mergefile

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"mergescale/merge"
)

// resolvedHeader opens mergescale_config.yaml.
const resolvedHeader = `# The fully resolved configuration of this merge, written by mergescale:
# every expert with every parameter its method takes (defaults filled in).
# "mergescale merge" accepts this file as it is.
`

// yamlConfig is the on-disk layout of a resolved config.
type yamlConfig struct {
	MergeMethod     string      `yaml:"merge_method"`
	BaseModel       string      `yaml:"base_model,omitempty"`
	Models          []yamlModel `yaml:"models"`
	DType           string      `yaml:"dtype,omitempty"`
	Seed            uint64      `yaml:"seed"`
	OutShardSize    int64       `yaml:"out_shard_size"`
	TokenizerSource string      `yaml:"tokenizer_source"`
}

// yamlModel is one entry of yamlConfig.Models.
type yamlModel struct {
	Model      string         `yaml:"model"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// ResolvedYAML renders cfg fully resolved: only the experts are listed, each
// with every parameter the method takes, defaults filled in; the shard size
// and tokenizer source are explicit. Parse reads it back to the same merge.
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
		DType:           cfg.DType,
		Seed:            cfg.Seed,
		OutShardSize:    cfg.OutShardSize,
		TokenizerSource: "base",
	}
	if y.OutShardSize == 0 {
		y.OutShardSize = DefaultShardSize
	}
	for i, m := range cfg.Experts() {
		r, err := cfg.Resolved(i).Resolve(cfg.MergeMethod)
		if err != nil {
			return nil, fmt.Errorf("parameters of model %s: %w", m.Model, err)
		}
		ym := yamlModel{Model: m.Model}
		if len(info.Params) > 0 {
			ym.Parameters = map[string]any{}
			for _, name := range info.Params {
				ym.Parameters[name] = resolvedValue(r, name)
			}
		}
		y.Models = append(y.Models, ym)
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
