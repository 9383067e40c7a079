package mergefile

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"mergescale/merge"
)

// DefaultShardSize is the output shard size used when Config.OutShardSize is
// 0: 5 GB, as in Hugging Face's save_pretrained.
const DefaultShardSize int64 = 5_000_000_000

// Config is a merge recipe in the spirit of mergekit's YAML. Paths are used
// as given; Load makes the paths of a YAML file absolute, resolving relative
// ones against the file's directory. A model reference that is not an
// existing path is looked up in the local Hugging Face cache when the merge
// runs (see the package doc).
type Config struct {
	// MergeMethod names a method of package merge (linear, task_arithmetic,
	// ties, dare_ties, ...).
	MergeMethod string
	// BaseModel is a checkpoint directory, .safetensors file or hub
	// reference; "" when the method needs no base (linear, passthrough).
	BaseModel string
	// Models lists the inputs in mergekit's models: syntax, one slice over
	// every layer. An entry whose path equals BaseModel is the base, not an
	// expert; its parameters are ignored. Exactly one of Models and Slices
	// is set.
	Models []ModelRef
	// Slices lists the output layer ranges in mergekit's slices: syntax.
	Slices []Slice
	// Parameters are the top-level parameters; per-slice and per-model
	// parameters take precedence (see the package doc for the lookup order).
	Parameters ParamSet
	// DType is mergekit's dtype, the output dtype when OutDType is "":
	// "float32", "float16" or "bfloat16"; "" keeps each tensor's dtype in
	// the base (the first model's without base). Computation is float32
	// whatever it says.
	DType string
	// OutDType, when set, is the output dtype.
	OutDType string
	// Seed keys the random draws of dare_* and della*.
	Seed uint64
	// OutShardSize is the largest output shard in bytes; 0 means
	// DefaultShardSize.
	OutShardSize int64
	// TokenizerSource is "" or "base" (tokenizer files from the base, else
	// the first model), or a model reference whose tokenizer files are
	// copied, which needs every input's vocabulary to equal that model's.
	TokenizerSource string
}

// ModelRef is one entry of Config.Models.
type ModelRef struct {
	// Model is a checkpoint directory, .safetensors file or hub reference.
	Model string
	// Parameters apply to this model's tensors; their filters match the
	// model's tensor names.
	Parameters ParamSet
}

// Slice is one entry of Config.Slices: output layers made from an equal
// number of layers of each source.
type Slice struct {
	// Sources are the inputs of the slice, in order. With a base model the
	// base is one of them; the others are the experts.
	Sources []SliceSource
	// Parameters apply to the slice's tensors; their filters match output
	// tensor names.
	Parameters ParamSet
}

// SliceSource is one input of a slice.
type SliceSource struct {
	// Model is a checkpoint directory, .safetensors file or hub reference.
	Model string
	// LayerRange is [first, end): end is exclusive, as in mergekit.
	LayerRange [2]int
	// Parameters apply to this source; their filters match the source's
	// tensor names.
	Parameters ParamSet
}

// Len is the number of layers the source contributes.
func (s SliceSource) Len() int { return s.LayerRange[1] - s.LayerRange[0] }

// paramKind is the value type of a known parameter.
type paramKind int

const (
	kindNumber paramKind = iota
	kindBool
	kindString
)

// knownParams lists every parameter name a recipe accepts, with its type.
// int8_mask is mergekit's and is accepted and ignored: it does not change
// the result here. Allowed string values and ranges are checked by
// merge.Params.Resolve.
var knownParams = map[string]paramKind{
	merge.ParamWeight:      kindNumber,
	merge.ParamDensity:     kindNumber,
	merge.ParamLambda:      kindNumber,
	merge.ParamEpsilon:     kindNumber,
	merge.ParamGamma:       kindNumber,
	merge.ParamT:           kindNumber,
	merge.ParamScale:       kindNumber,
	merge.ParamNormalize:   kindBool,
	merge.ParamRescale:     kindBool,
	"int8_mask":            kindBool,
	merge.ParamRescaleMode: kindString,
	merge.ParamTrimScope:   kindString,
}

// dtypes maps the config's dtype names to safetensors dtype spellings.
var dtypes = map[string]string{"float32": "F32", "float16": "F16", "bfloat16": "BF16"}

// setParam stores value (float64, bool or string, already type-checked
// against knownParams) under name in p. Names that are not merge
// parameters (int8_mask) are ignored.
func setParam(p *merge.Params, name string, value any) {
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
	case merge.ParamScale:
		p.Scale = merge.F64(f)
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
// parameters that must agree between experts and for printing plans.
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
	case merge.ParamScale:
		return r.Scale
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

// Experts returns the models of the models: syntax that are merged as
// experts: Models without the entries naming the base. The order is the
// config's.
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

// modelSlice returns the models: syntax as mergekit normalizes it: one
// slice whose sources are the experts, then the base. Each source's
// LayerRange is [0, -1], every layer, until the checkpoints are opened.
func (c *Config) modelSlice() Slice {
	var s Slice
	for _, m := range c.Experts() {
		s.Sources = append(s.Sources, SliceSource{Model: m.Model, LayerRange: [2]int{0, -1}, Parameters: m.Parameters})
	}
	if c.BaseModel != "" {
		s.Sources = append(s.Sources, SliceSource{Model: c.BaseModel, LayerRange: [2]int{0, -1}})
	}
	return s
}

// Validate checks what can be checked without opening a file: a known
// method with a base when it needs one and the right number of experts in
// every slice, equal slice source lengths, parameters the method accepts
// with values of the right type and range at every level, a known dtype,
// a non-negative shard size and a supported tokenizer source. Parameters
// that must agree between experts, and required parameters, are checked
// per tensor when the merge is planned.
func (c *Config) Validate() error {
	if c.MergeMethod == "" {
		return fmt.Errorf("merge_method: missing")
	}
	info, err := merge.LookupMethod(c.MergeMethod)
	if err != nil {
		return fmt.Errorf("merge_method: %w", err)
	}
	if info.NeedsBase && c.BaseModel == "" {
		return fmt.Errorf("base_model: merge_method %s needs a base model", c.MergeMethod)
	}
	if err := c.Parameters.checkSet(c.MergeMethod, "parameters"); err != nil {
		return err
	}
	switch {
	case len(c.Models) > 0 && len(c.Slices) > 0:
		return fmt.Errorf("models and slices: give one of them, not both")
	case len(c.Slices) > 0:
		if err := c.validateSlices(info); err != nil {
			return err
		}
	default:
		if err := c.validateModels(info); err != nil {
			return err
		}
	}
	for _, d := range []struct{ key, v string }{{"dtype", c.DType}, {"out_dtype", c.OutDType}} {
		if _, ok := dtypes[d.v]; d.v != "" && !ok {
			return fmt.Errorf("%s: want float32, float16 or bfloat16, got %q", d.key, d.v)
		}
	}
	if c.OutShardSize < 0 {
		return fmt.Errorf("out_shard_size: must not be negative, got %d", c.OutShardSize)
	}
	switch c.TokenizerSource {
	case "union":
		return fmt.Errorf("not supported yet: tokenizer_source: union")
	}
	return nil
}

// validateModels checks the models: syntax.
func (c *Config) validateModels(info merge.MethodInfo) error {
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
	if err := checkCount(info, len(experts), "models"); err != nil {
		return err
	}
	for i, m := range c.Models {
		if err := m.Parameters.checkSet(c.MergeMethod, fmt.Sprintf("models[%d].parameters", i)); err != nil {
			return err
		}
	}
	return nil
}

// validateSlices checks the slices: syntax.
func (c *Config) validateSlices(info merge.MethodInfo) error {
	for i, s := range c.Slices {
		where := fmt.Sprintf("slices[%d]", i)
		if len(s.Sources) == 0 {
			return fmt.Errorf("%s.sources: no sources listed", where)
		}
		if err := s.Parameters.checkSet(c.MergeMethod, where+".parameters"); err != nil {
			return err
		}
		experts, hasBase := 0, false
		seen := map[string]bool{}
		for j, src := range s.Sources {
			sw := fmt.Sprintf("%s.sources[%d]", where, j)
			if src.Model == "" {
				return fmt.Errorf("%s.model: missing", sw)
			}
			if seen[src.Model] {
				return fmt.Errorf("%s: model %s appears twice in one slice", sw, src.Model)
			}
			seen[src.Model] = true
			if a, b := src.LayerRange[0], src.LayerRange[1]; a < 0 || b <= a {
				return fmt.Errorf("%s.layer_range: want [first, end) with 0 <= first < end, got [%d, %d]", sw, a, b)
			}
			if src.Len() != s.Sources[0].Len() {
				return fmt.Errorf("%s: the sources of a slice must have the same number of layers (%s has %d in %v, %s has %d in %v)",
					where, s.Sources[0].Model, s.Sources[0].Len(), s.Sources[0].LayerRange, src.Model, src.Len(), src.LayerRange)
			}
			if err := src.Parameters.checkSet(c.MergeMethod, sw+".parameters"); err != nil {
				return err
			}
			if c.BaseModel != "" && samePath(src.Model, c.BaseModel) {
				hasBase = true
			} else {
				experts++
			}
		}
		if info.NeedsBase && !hasBase {
			return fmt.Errorf("%s: base_model %s must be one of the slice's sources (merge_method %s needs it)", where, c.BaseModel, c.MergeMethod)
		}
		if err := checkCount(info, experts, where); err != nil {
			return err
		}
	}
	return nil
}

// checkCount checks the number of experts against the method's bounds.
func checkCount(info merge.MethodInfo, experts int, where string) error {
	if experts >= info.MinModels && (info.MaxModels == 0 || experts <= info.MaxModels) {
		return nil
	}
	want := fmt.Sprintf("at least %d", info.MinModels)
	if info.MaxModels == info.MinModels {
		want = fmt.Sprintf("exactly %d", info.MinModels)
	} else if info.MaxModels > 0 {
		want = fmt.Sprintf("%d to %d", info.MinModels, info.MaxModels)
	}
	return fmt.Errorf("%s: merge_method %s takes %s model(s) besides the base, got %d", where, info.Name, want, experts)
}

// outDType returns the output dtype name: out_dtype, else dtype, else "".
func (c *Config) outDType() string {
	if c.OutDType != "" {
		return c.OutDType
	}
	return c.DType
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
