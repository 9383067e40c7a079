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
	"sort"
	"strconv"
	"strings"
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

// Parameters maps hyperparameter names (weight, density, lambda, normalize,
// rescale, rescale_mode, trim_scope, epsilon, gamma, t) to their values:
// float64 for numbers, bool for flags, string for modes. Integers given as
// int are accepted too.
type Parameters map[string]any

// paramKind is the value type of a known parameter.
type paramKind int

const (
	kindNumber paramKind = iota
	kindBool
	kindString
)

// knownParams lists every parameter name the config accepts, with its type
// and, for strings, the allowed values. int8_mask is mergekit's and is
// accepted and ignored: it does not change the result here.
var knownParams = map[string]struct {
	kind    paramKind
	choices []string
}{
	"weight":       {kind: kindNumber},
	"density":      {kind: kindNumber},
	"lambda":       {kind: kindNumber},
	"epsilon":      {kind: kindNumber},
	"gamma":        {kind: kindNumber},
	"t":            {kind: kindNumber},
	"normalize":    {kind: kindBool},
	"rescale":      {kind: kindBool},
	"int8_mask":    {kind: kindBool},
	"rescale_mode": {kind: kindString, choices: []string{"inverse", "l1"}},
	"trim_scope":   {kind: kindString, choices: []string{"tensor", "global"}},
}

// ignoredParams are accepted for mergekit compatibility and dropped.
var ignoredParams = map[string]bool{"int8_mask": true}

// dtypes maps the config's dtype names to safetensors dtype spellings.
var dtypes = map[string]string{"float32": "F32", "float16": "F16", "bfloat16": "BF16"}

// checkParam validates one parameter value and returns it normalized
// (numbers as float64).
func checkParam(name string, v any) (any, error) {
	spec, ok := knownParams[name]
	if !ok {
		return nil, fmt.Errorf("unknown parameter %q (known: %s)", name, strings.Join(sortedKeys(knownParams), ", "))
	}
	switch spec.kind {
	case kindNumber:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return nil, fmt.Errorf("parameter %s: want a number, got %v", name, v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("parameter %s: want a finite number, got %v", name, f)
		}
		return f, nil
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("parameter %s: want true or false, got %v", name, v)
		}
		return b, nil
	default:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("parameter %s: want one of %s, got %v", name, strings.Join(spec.choices, "|"), v)
		}
		for _, c := range spec.choices {
			if s == c {
				return s, nil
			}
		}
		return nil, fmt.Errorf("parameter %s: want one of %s, got %q", name, strings.Join(spec.choices, "|"), s)
	}
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
// the global parameters overridden key by key by the model's, without the
// ignored mergekit keys.
func (c *Config) Resolved(i int) Parameters {
	ex := c.Experts()
	out := Parameters{}
	for k, v := range c.Parameters {
		if !ignoredParams[k] {
			out[k] = v
		}
	}
	if i >= 0 && i < len(ex) {
		for k, v := range ex[i].Parameters {
			if !ignoredParams[k] {
				out[k] = v
			}
		}
	}
	return out
}

// Validate checks what can be checked without opening a file: a method and
// at least one expert, known parameters of the right type, a known dtype, a
// non-negative shard size, a supported tokenizer source. The method's own
// requirements (a base, the number of experts, which parameters it reads)
// are checked by Run's pre-flight against package merge.
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
	if len(c.Experts()) == 0 {
		return fmt.Errorf("models: every listed model is the base model; nothing to merge")
	}
	seen := map[string]bool{}
	for _, m := range c.Experts() {
		if seen[m.Model] {
			return fmt.Errorf("models: %s is listed twice", m.Model)
		}
		seen[m.Model] = true
	}
	if err := c.Parameters.check("parameters"); err != nil {
		return err
	}
	for i, m := range c.Models {
		if err := m.Parameters.check(fmt.Sprintf("models[%d].parameters", i)); err != nil {
			return err
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

// check validates every entry of p; where names the section for errors.
func (p Parameters) check(where string) error {
	for _, k := range sortedKeys(p) {
		if _, err := checkParam(k, p[k]); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// Float returns the numeric parameter name, or def when it is absent.
func (p Parameters) Float(name string, def float64) float64 {
	v, ok := p[name]
	if !ok {
		return def
	}
	f, err := checkParam(name, v)
	if err != nil {
		return def
	}
	x, ok := f.(float64)
	if !ok {
		return def
	}
	return x
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
