// Package mergefile merges real checkpoints the way mergekit does: it reads a
// mergekit-style YAML configuration, checks every input before it merges
// anything, and streams the merge tensor by tensor through the pure methods
// of package merge, so memory stays near (k + 2) × the largest tensor
// whatever the model's size.
//
// The same driver, Run, serves the `mergescale merge` command and the
// experiment harness, which builds a Config in code instead of loading YAML.
package mergefile

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mergescale/merge"
)

// DefaultShardSize is the output shard size used when Config.OutShardSize is
// 0: 5 GB, as in Hugging Face's save_pretrained.
const DefaultShardSize int64 = 5_000_000_000

// Config is a merge recipe in the spirit of mergekit's YAML. Paths are used
// as given; Load makes the paths of a YAML file absolute, resolving relative
// ones against the file's directory.
type Config struct {
	// MergeMethod names a method of package merge (linear, task_arithmetic,
	// ties, dare_ties, ...).
	MergeMethod string
	// BaseModel is a checkpoint directory or .safetensors file; "" when the
	// method needs no base (linear, slerp without base, passthrough).
	BaseModel string
	// Models lists the inputs. An entry whose path equals BaseModel is the
	// base, not an expert; its parameters are ignored.
	Models []ModelRef
	// Parameters are the global hyperparameters; a model's own Parameters
	// override them key by key.
	Parameters Parameters
	// DType is the output dtype: "float32", "float16" or "bfloat16"; ""
	// keeps each tensor's dtype in the base (the first model's without base).
	DType string
	// Seed keys the random draws of dare_* and della*.
	Seed uint64
	// OutShardSize is the largest output shard in bytes; 0 means
	// DefaultShardSize.
	OutShardSize int64
	// TokenizerSource is "" or "base": tokenizer files come from the base.
	TokenizerSource string
}

// ModelRef is one entry of Config.Models.
type ModelRef struct {
	// Model is a checkpoint directory or .safetensors file.
	Model string
	// Parameters override the global ones for this model.
	Parameters Parameters
}

// Parameters are a method's hyperparameters as written in a config: unset
// fields take the method's defaults (see merge.MethodInfo). A model's
// Parameters override the global ones field by field.
type Parameters = merge.Params

// paramKind is the value type of a known parameter.
type paramKind int

const (
	kindNumber paramKind = iota
	kindBool
	kindString
)

// knownParams lists every parameter name the YAML accepts, with its type.
// int8_mask is mergekit's and is accepted and ignored: it does not change the
// result here. Allowed string values and ranges are checked by
// merge.Params.Resolve.
var knownParams = map[string]paramKind{
	merge.ParamWeight:      kindNumber,
	merge.ParamDensity:     kindNumber,
	merge.ParamLambda:      kindNumber,
	merge.ParamEpsilon:     kindNumber,
	merge.ParamGamma:       kindNumber,
	merge.ParamT:           kindNumber,
	merge.ParamNormalize:   kindBool,
	merge.ParamRescale:     kindBool,
	"int8_mask":            kindBool,
	merge.ParamRescaleMode: kindString,
	merge.ParamTrimScope:   kindString,
}

// dtypes maps the config's dtype names to safetensors dtype spellings.
var dtypes = map[string]string{"float32": "F32", "float16": "F16", "bfloat16": "BF16"}

// setParam stores value (float64, bool or string, already type-checked
// against knownParams) under name in p.
func setParam(p *Parameters, name string, value any) {
	f, _ := value.(float64)
	b, _ := value.(bool)
	s, _ := value.(string)
	switch name {
	case merge.ParamWeight:
		p.Weight = merge.F64(f)
	case merge.ParamDensity:
		p.Density = merge.F64(f)
	case merge.ParamLambda:
		p.Lambda = merge.F64(f)
	case merge.ParamEpsilon:
		p.Epsilon = merge.F64(f)
	case merge.ParamGamma:
		p.Gamma = merge.F64(f)
	case merge.ParamT:
		p.T = merge.F64(f)
	case merge.ParamNormalize:
		p.Normalize = merge.Bool(b)
	case merge.ParamRescale:
		p.Rescale = merge.Bool(b)
	case merge.ParamRescaleMode:
		p.RescaleMode = s
	case merge.ParamTrimScope:
		p.TrimScope = s
	}
}

// resolvedValue returns the value of a named parameter in r, for comparing
// parameters that must agree between experts.
func resolvedValue(r merge.Resolved, name string) any {
	switch name {
	case merge.ParamWeight:
		return r.Weight
	case merge.ParamDensity:
		return r.Density
	case merge.ParamLambda:
		return r.Lambda
	case merge.ParamEpsilon:
		return r.Epsilon
	case merge.ParamGamma:
		return r.Gamma
	case merge.ParamT:
		return r.T
	case merge.ParamNormalize:
		return r.Normalize
	case merge.ParamRescale:
		return r.Rescale
	case merge.ParamRescaleMode:
		return r.RescaleMode
	case merge.ParamTrimScope:
		return r.TrimScope
	}
	return nil
}

// Experts returns the models that are merged as experts: Models without the
// entries naming the base. The order is the config's.
func (c *Config) Experts() []ModelRef {
	var out []ModelRef
	for _, m := range c.Models {
		if c.BaseModel != "" && samePath(m.Model, c.BaseModel) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Resolved returns the parameters of expert i (an index into Experts()):
// the global parameters overridden field by field by the model's.
func (c *Config) Resolved(i int) Parameters {
	ex := c.Experts()
	if i >= 0 && i < len(ex) {
		return c.Parameters.Merge(ex[i].Parameters)
	}
	return c.Parameters
}

// Validate checks what can be checked without opening a file: a known
// method with a base when it needs one and the right number of experts,
// parameters the method accepts and in range (those that are not per-expert
// must agree between experts), a known dtype, a non-negative shard size and a
// supported tokenizer source.
func (c *Config) Validate() error {
	if c.MergeMethod == "" {
		return fmt.Errorf("merge_method: missing")
	}
	if len(c.Models) == 0 {
		return fmt.Errorf("models: no models listed")
	}
	for i, m := range c.Models {
		if m.Model == "" {
			return fmt.Errorf("models[%d].model: missing", i)
		}
	}
	experts := c.Experts()
	if len(experts) == 0 {
		return fmt.Errorf("models: every listed model is the base model; nothing to merge")
	}
	seen := map[string]bool{}
	for _, m := range experts {
		if seen[m.Model] {
			return fmt.Errorf("models: %s is listed twice", m.Model)
		}
		seen[m.Model] = true
	}
	info, err := merge.LookupMethod(c.MergeMethod)
	if err != nil {
		return fmt.Errorf("merge_method: %w", err)
	}
	if info.NeedsBase && c.BaseModel == "" {
		return fmt.Errorf("base_model: merge_method %s needs a base model", c.MergeMethod)
	}
	if len(experts) < info.MinModels || (info.MaxModels > 0 && len(experts) > info.MaxModels) {
		want := fmt.Sprintf("at least %d", info.MinModels)
		if info.MaxModels == info.MinModels {
			want = fmt.Sprintf("exactly %d", info.MinModels)
		} else if info.MaxModels > 0 {
			want = fmt.Sprintf("%d to %d", info.MinModels, info.MaxModels)
		}
		return fmt.Errorf("models: merge_method %s takes %s model(s) besides the base, got %d", c.MergeMethod, want, len(experts))
	}
	var first merge.Resolved
	for i, m := range experts {
		r, err := c.Resolved(i).Resolve(c.MergeMethod)
		if err != nil {
			return fmt.Errorf("parameters of model %s: %w", m.Model, err)
		}
		if i == 0 {
			first = r
			continue
		}
		for _, name := range info.Params {
			if slices.Contains(info.PerExpert, name) {
				continue
			}
			if a, b := resolvedValue(first, name), resolvedValue(r, name); a != b {
				return fmt.Errorf("parameters: %s must be the same for every model of a %s merge (%v for %s, %v for %s)",
					name, c.MergeMethod, a, experts[0].Model, b, m.Model)
			}
		}
	}
	if c.DType != "" {
		if _, ok := dtypes[c.DType]; !ok {
			return fmt.Errorf("dtype: want float32, float16 or bfloat16, got %q", c.DType)
		}
	}
	if c.OutShardSize < 0 {
		return fmt.Errorf("out_shard_size: must not be negative, got %d", c.OutShardSize)
	}
	switch c.TokenizerSource {
	case "", "base":
	case "union":
		return fmt.Errorf("not supported yet: tokenizer_source: union")
	default:
		return fmt.Errorf("not supported yet: tokenizer_source: %s (only base)", c.TokenizerSource)
	}
	return nil
}

// ParseSize parses a byte count: a plain integer, or a number followed by a
// unit as Hugging Face writes them: B, KB, MB, GB, TB (powers of 1000) or
// KiB, MiB, GiB, TiB (powers of 1024), case-insensitive, e.g. "5GB",
// "500MB", "1.5GiB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1},
	}
	lower := strings.ToLower(t)
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q (want bytes, e.g. 5000000000, \"5GB\" or \"500MB\")", s)
	}
	return int64(math.Round(f * mult)), nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
