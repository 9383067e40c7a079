package mergefile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads a mergekit-style YAML configuration. It is strict: an unknown
// key is an error naming the key and its line, and mergekit features that
// this tool does not implement (slices, layer_range, per-layer gradient
// lists, filter, tokenizer_source: union) fail with "not supported yet: <key>"
// instead of merging something else silently. Relative model paths are
// resolved against the directory of path. The result has passed Validate.
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
	"slices": true, "layer_range": true, "filter": true, "sources": true,
	"tokenizer": true, "chat_template": true,
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
			if cfg.DType != "" && cfg.DType != s {
				return lineErr(v, "dtype and out_dtype disagree (%s, %s)", cfg.DType, s)
			}
			cfg.DType = s
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
			if s != "base" {
				return lineErr(v, "not supported yet: tokenizer_source: %s", s)
			}
			cfg.TokenizerSource = s
		default:
			if unsupported[key] {
				return lineErr(k, "not supported yet: %s", key)
			}
			return lineErr(k, "unknown key %q (known: merge_method, base_model, models, parameters, dtype, out_dtype, seed, out_shard_size, tokenizer_source)", key)
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

// decodeParams decodes a parameters: mapping. A list or mapping as a value
// is mergekit's per-layer gradient or filtered parameter, not supported yet.
func decodeParams(n *yaml.Node, where string) (Parameters, error) {
	var p Parameters
	err := mapping(n, where, func(key string, k, v *yaml.Node) error {
		if unsupported[key] {
			return lineErr(k, "not supported yet: %s", key)
		}
		kind, ok := knownParams[key]
		if !ok {
			return lineErr(k, "%s: unknown parameter %q (known: %s)", where, key, joinKeys(knownParams))
		}
		switch v.Kind {
		case yaml.SequenceNode:
			return lineErr(v, "not supported yet: per-layer gradient list (%s.%s)", where, key)
		case yaml.MappingNode:
			return lineErr(v, "not supported yet: filter (%s.%s)", where, key)
		}
		val, err := scalarValue(v)
		if err != nil {
			return lineErr(v, "%s.%s: %v", where, key, err)
		}
		okType := false
		switch val.(type) {
		case float64:
			okType = kind == kindNumber
		case bool:
			okType = kind == kindBool
		case string:
			okType = kind == kindString
		}
		if !okType {
			want := map[paramKind]string{kindNumber: "a number", kindBool: "true or false", kindString: "a string"}[kind]
			return lineErr(v, "%s.%s: want %s, got %q", where, key, want, v.Value)
		}
		setParam(&p, key, val)
		return nil
	})
	return p, err
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
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

// resolvePath makes a relative path absolute against dir.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	abs, err := filepath.Abs(filepath.Join(dir, p))
	if err != nil {
		return filepath.Join(dir, p)
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
