package mergefile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads a mergekit-style YAML configuration. It is strict: an unknown
// key is an error naming the key and its line, and mergekit features that
// this tool does not implement (modules, the tokenizer: block, per-slice
// base_model and residual_weight, tokenizer_source: union, model+lora
// references) fail with "not supported yet: <key>" instead of merging
// something else silently. Relative model paths are resolved against the
// directory of path; a reference that names no existing path and looks like
// a hub id (ORG/NAME[@REV]) is kept for the Hugging Face cache lookup. The
// result has passed Validate.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("merge config: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(path))
	if err != nil {
		var le *LineError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%s:%d: %w", path, le.Line, le.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// LineError is a configuration error at a line of the YAML text.
type LineError struct {
	Line int
	Err  error
}

// Error formats the error as "line N: message".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// Parse decodes a YAML configuration held in memory; relative model paths
// are resolved against dir (left as they are when dir is ""). Errors about a
// particular key are *LineError values.
func Parse(data []byte, dir string) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, lineErr(&extra, "more than one YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("empty configuration")
	}
	cfg, err := decodeTop(doc.Content[0])
	if err != nil {
		return nil, err
	}
	if dir != "" {
		cfg.BaseModel = resolvePath(dir, cfg.BaseModel)
		for i := range cfg.Models {
			cfg.Models[i].Model = resolvePath(dir, cfg.Models[i].Model)
		}
		for i := range cfg.Slices {
			for j := range cfg.Slices[i].Sources {
				cfg.Slices[i].Sources[j].Model = resolvePath(dir, cfg.Slices[i].Sources[j].Model)
			}
		}
		if ts := cfg.TokenizerSource; ts != "" && ts != "base" && ts != "union" {
			cfg.TokenizerSource = resolvePath(dir, ts)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// lineErr is an error at a line of the YAML text.
func lineErr(n *yaml.Node, format string, args ...any) error {
	return &LineError{Line: n.Line, Err: fmt.Errorf(format, args...)}
}

// unsupported lists mergekit keys (anywhere) that this tool does not
// implement yet.
var unsupported = map[string]bool{
	"tokenizer": true, "chat_template": true, "modules": true,
	"residual_weight": true,
}

// mapping iterates over the key/value pairs of a mapping node, rejecting
// duplicate keys, aliases and merge keys.
func mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return lineErr(n, "%s: want a mapping", what)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return lineErr(k, "%s: keys must be plain strings", what)
		}
		if first, dup := seen[k.Value]; dup {
			return lineErr(k, "duplicate key %q (first at line %d)", k.Value, first)
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

// scalarString returns a scalar node's text.
func scalarString(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", lineErr(n, "%s: want a string", key)
	}
	return n.Value, nil
}

// topKeys lists the keys of the top-level mapping.
const topKeys = "merge_method, base_model, models, slices, parameters, dtype, out_dtype, seed, out_shard_size, tokenizer_source"

// decodeTop decodes the top-level mapping.
func decodeTop(n *yaml.Node) (*Config, error) {
	cfg := &Config{}
	err := mapping(n, "configuration", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "merge_method":
			cfg.MergeMethod, err = scalarString(v, key)
		case "base_model":
			cfg.BaseModel, err = scalarString(v, key)
		case "models":
			cfg.Models, err = decodeModels(v)
		case "slices":
			cfg.Slices, err = decodeSlices(v)
		case "parameters":
			cfg.Parameters, err = decodeParams(v, "parameters")
		case "dtype", "out_dtype":
			var s string
			if s, err = scalarString(v, key); err != nil {
				return err
			}
			if _, ok := dtypes[s]; !ok {
				return lineErr(v, "%s: want float32, float16 or bfloat16, got %q", key, s)
			}
			if key == "dtype" {
				cfg.DType = s
			} else {
				cfg.OutDType = s
			}
		case "seed":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				return lineErr(v, "seed: want a non-negative integer")
			}
			cfg.Seed, err = strconv.ParseUint(v.Value, 0, 64)
			if err != nil {
				return lineErr(v, "seed: want a non-negative integer, got %s", v.Value)
			}
		case "out_shard_size":
			if v.Kind != yaml.ScalarNode {
				return lineErr(v, "out_shard_size: want bytes, e.g. 5000000000 or \"5GB\"")
			}
			cfg.OutShardSize, err = ParseSize(v.Value)
			if err == nil && cfg.OutShardSize == 0 {
				err = fmt.Errorf("must be positive")
			}
			if err != nil {
				return lineErr(v, "out_shard_size: %v", err)
			}
		case "tokenizer_source":
			var s string
			if s, err = scalarString(v, key); err != nil {
				return err
			}
			if s == "union" {
				return lineErr(v, "not supported yet: tokenizer_source: union")
			}
			cfg.TokenizerSource = s
		default:
			if unsupported[key] {
				return lineErr(k, "not supported yet: %s", key)
			}
			return lineErr(k, "unknown key %q (known: %s)", key, topKeys)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeModels decodes the models: list.
func decodeModels(n *yaml.Node) ([]ModelRef, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, lineErr(n, "models: want a list of {model: PATH, parameters: {...}}")
	}
	var out []ModelRef
	for i, item := range n.Content {
		if item.Kind == yaml.ScalarNode { // "- ./expert": a bare path
			out = append(out, ModelRef{Model: item.Value})
			continue
		}
		var m ModelRef
		sawModel := false
		err := mapping(item, fmt.Sprintf("models[%d]", i), func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "model":
				m.Model, err = scalarString(v, "models[].model")
				sawModel = true
			case "parameters":
				m.Parameters, err = decodeParams(v, fmt.Sprintf("models[%d].parameters", i))
			case "layer_range":
				return lineErr(k, "models[%d]: layer_range belongs to the sources of slices:, not to models:", i)
			default:
				if unsupported[key] {
					return lineErr(k, "not supported yet: %s", key)
				}
				return lineErr(k, "unknown key %q in models[%d] (known: model, parameters)", key, i)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !sawModel {
			return nil, lineErr(item, "models[%d]: missing key model", i)
		}
		out = append(out, m)
	}
	return out, nil
}

// decodeSlices decodes the slices: list.
func decodeSlices(n *yaml.Node) ([]Slice, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, lineErr(n, "slices: want a non-empty list of {sources: [...], parameters: {...}}")
	}
	var out []Slice
	for i, item := range n.Content {
		where := fmt.Sprintf("slices[%d]", i)
		var s Slice
		sawSources := false
		err := mapping(item, where, func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "sources":
				sawSources = true
				s.Sources, err = decodeSources(v, where)
			case "parameters":
				s.Parameters, err = decodeParams(v, where+".parameters")
			case "base_model":
				return lineErr(k, "not supported yet: %s.base_model (a base per slice); use the top-level base_model", where)
			default:
				if unsupported[key] {
					return lineErr(k, "not supported yet: %s.%s", where, key)
				}
				return lineErr(k, "unknown key %q in %s (known: sources, parameters)", key, where)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !sawSources {
			return nil, lineErr(item, "%s: missing key sources", where)
		}
		out = append(out, s)
	}
	return out, nil
}

// decodeSources decodes the sources: list of a slice.
func decodeSources(n *yaml.Node, where string) ([]SliceSource, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, lineErr(n, "%s.sources: want a non-empty list of {model, layer_range: [first, end]}", where)
	}
	var out []SliceSource
	for j, item := range n.Content {
		sw := fmt.Sprintf("%s.sources[%d]", where, j)
		var src SliceSource
		sawModel, sawRange := false, false
		err := mapping(item, sw, func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "model":
				sawModel = true
				src.Model, err = scalarString(v, sw+".model")
			case "layer_range":
				sawRange = true
				src.LayerRange, err = decodeRange(v, sw+".layer_range")
			case "parameters":
				src.Parameters, err = decodeParams(v, sw+".parameters")
			default:
				if unsupported[key] {
					return lineErr(k, "not supported yet: %s.%s", sw, key)
				}
				return lineErr(k, "unknown key %q in %s (known: model, layer_range, parameters)", key, sw)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !sawModel {
			return nil, lineErr(item, "%s: missing key model", sw)
		}
		if !sawRange {
			return nil, lineErr(item, "%s: missing key layer_range", sw)
		}
		out = append(out, src)
	}
	return out, nil
}

// decodeRange decodes a layer_range: [first, end].
func decodeRange(n *yaml.Node, where string) ([2]int, error) {
	var r [2]int
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		return r, lineErr(n, "%s: want [first, end]", where)
	}
	for i, e := range n.Content {
		if e.Kind != yaml.ScalarNode || e.ShortTag() != "!!int" {
			return r, lineErr(e, "%s: want two integers, got %q", where, e.Value)
		}
		v, err := strconv.Atoi(e.Value)
		if err != nil || v < 0 {
			return r, lineErr(e, "%s: want non-negative integers, got %q", where, e.Value)
		}
		r[i] = v
	}
	if r[1] <= r[0] {
		return r, lineErr(n, "%s: end %d must be greater than first %d (end is exclusive)", where, r[1], r[0])
	}
	return r, nil
}

// decodeParams decodes a parameters: mapping. A value is a scalar, a
// gradient (a list of scalars) or a list of {filter, value} conditionals.
func decodeParams(n *yaml.Node, where string) (ParamSet, error) {
	ps := ParamSet{}
	err := mapping(n, where, func(key string, k, v *yaml.Node) error {
		kind, ok := knownParams[key]
		if !ok {
			if unsupported[key] {
				return lineErr(k, "not supported yet: %s", key)
			}
			return lineErr(k, "%s: unknown parameter %q (known: %s)", where, key, joinKeys(knownParams))
		}
		s, err := decodeSetting(v, where+"."+key, kind, true)
		if err != nil {
			return err
		}
		ps[key] = s
		return nil
	})
	return ps, err
}

// decodeSetting decodes one parameter value; conds allows a list of
// {filter, value} conditionals (not inside a conditional's value).
func decodeSetting(v *yaml.Node, where string, kind paramKind, conds bool) (Setting, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		val, err := scalarValue(v)
		if err != nil {
			return Setting{}, lineErr(v, "%s: %v", where, err)
		}
		if !kindOf(val, kind) {
			return Setting{}, lineErr(v, "%s: want %s, got %q", where, kindName(kind), v.Value)
		}
		return Scalar(val), nil
	case yaml.MappingNode:
		return Setting{}, lineErr(v, "%s: a single {filter, value} mapping is not a value; write a list: [{filter: ..., value: ...}, {value: ...}]", where)
	case yaml.SequenceNode:
	default:
		return Setting{}, lineErr(v, "%s: want a value, a gradient or a list of {filter, value}", where)
	}
	if len(v.Content) == 0 {
		return Setting{}, lineErr(v, "%s: a gradient with no values", where)
	}
	if v.Content[0].Kind == yaml.MappingNode {
		if !conds {
			return Setting{}, lineErr(v, "%s: want a value or a gradient, not conditionals", where)
		}
		var s Setting
		for i, item := range v.Content {
			cw := fmt.Sprintf("%s[%d]", where, i)
			var c Conditional
			sawValue := false
			err := mapping(item, cw, func(key string, k, e *yaml.Node) error {
				switch key {
				case "filter":
					f, err := scalarString(e, cw+".filter")
					c.Filter = f
					return err
				case "value":
					sawValue = true
					val, err := decodeSetting(e, cw+".value", kind, false)
					c.Value = val
					return err
				}
				return lineErr(k, "unknown key %q in %s (known: filter, value)", key, cw)
			})
			if err != nil {
				return Setting{}, err
			}
			if !sawValue {
				return Setting{}, lineErr(item, "%s: missing key value", cw)
			}
			s.Conditionals = append(s.Conditionals, c)
		}
		return s, nil
	}
	var s Setting
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode {
			return Setting{}, lineErr(e, "%s: a gradient holds plain values; a list of conditionals holds only {filter, value} mappings", where)
		}
		val, err := scalarValue(e)
		if err != nil {
			return Setting{}, lineErr(e, "%s: %v", where, err)
		}
		if !kindOf(val, kind) {
			return Setting{}, lineErr(e, "%s: want %s in the gradient, got %q", where, kindName(kind), e.Value)
		}
		s.List = append(s.List, val)
	}
	return s, nil
}

// scalarValue converts a scalar node to float64, bool or string by its
// resolved YAML tag.
func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			var i int64
			if i, err = strconv.ParseInt(n.Value, 0, 64); err != nil {
				return nil, fmt.Errorf("invalid number %q", n.Value)
			}
			f = float64(i)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a finite number, got %s", n.Value)
		}
		return f, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!str":
		return n.Value, nil
	case "!!null":
		return nil, fmt.Errorf("missing value")
	}
	return nil, fmt.Errorf("unsupported value %q", n.Value)
}

// joinKeys lists the keys of a map in order, comma-separated.
func joinKeys[V any](m map[string]V) string {
	var b bytes.Buffer
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

// resolvePath makes a relative path absolute against dir. A reference
// that names no existing path there and looks like a hub id (ORG/NAME,
// NAME, with @REV) is kept as written, for the Hugging Face cache lookup.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	joined := filepath.Join(dir, p)
	if _, err := os.Stat(joined); err != nil && (looksLikeHubID(p) || looksLikeLoRA(p)) {
		return p
	}
	abs, err := filepath.Abs(joined)
	if err != nil {
		return joined
	}
	return abs
}

// samePath reports whether a and b name the same file system path.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
