package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable that overrides a
// config key: MERGESCALE_ + the key path in upper case, dots replaced by
// underscores (zoo.pretrain.steps → MERGESCALE_ZOO_PRETRAIN_STEPS).
const EnvPrefix = "MERGESCALE_"

// Error is one problem with a config, located by file and line (or by
// the environment variable that set the value).
type Error struct {
	File string // config file
	Line int    // 1-based line of the key; 0 when unknown (missing key, whole file)
	Env  string // the MERGESCALE_* variable the value came from, if any
	Key  string // dotted key path, e.g. zoo.pretrain.steps or sweep.methods[1].lambda
	Msg  string
}

// Error formats e as "file:line: key: message" (or "VAR: key: message" for a
// value from the environment).
func (e *Error) Error() string {
	var where string
	switch {
	case e.Env != "":
		where = e.Env
	case e.Line > 0:
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	default:
		where = e.File
	}
	if e.Key == "" {
		return where + ": " + e.Msg
	}
	return where + ": " + e.Key + ": " + e.Msg
}

// Keys returns the dotted path of every config key (mappings
// included; method parameters as sweep.methods[].<param>), in schema order.
func Keys() []string {
	var out []string
	var walk func(prefix string, fs []field)
	walk = func(prefix string, fs []field) {
		for _, f := range fs {
			p := prefix + f.key
			out = append(out, p)
			if f.kind == kindMap {
				walk(p+".", f.fields)
			}
			if f.kind == kindCheckpoints {
				for _, k := range checkpointKeys() {
					out = append(out, p+"[]."+k)
				}
			}
			if f.kind == kindMethods {
				out = append(out, p+"[].method")
				for _, m := range sweepMethods() {
					for _, param := range m.params {
						if q := p + "[]." + param.name; !slices.Contains(out, q) {
							out = append(out, q)
						}
					}
				}
			}
		}
	}
	walk("", configSchema())
	return out
}

// EnvKeys maps each environment variable that can override a key to the
// key's dotted path. Only scalar keys outside lists can be overridden.
func EnvKeys() map[string]string {
	out := map[string]string{}
	var walk func(prefix string, fs []field)
	walk = func(prefix string, fs []field) {
		for _, f := range fs {
			p := prefix + f.key
			switch f.kind {
			case kindMap:
				walk(p+".", f.fields)
			case kindString, kindInt, kindFloat, kindBool:
				out[envName(p)] = p
			}
		}
	}
	walk("", configSchema())
	return out
}

func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// parser collects the errors and key locations of one config.
type parser struct {
	file    string
	lines   map[string]int    // key path → line in the file
	env     map[string]string // key path → environment variable that set it
	errs    []*Error
	methods []MethodGrid // sweep.methods as checked in the YAML tree
	// checkpoints is zoo.checkpoints as checked in the YAML tree.
	checkpoints []ZooCheckpoint
	swept       []SweptKey // zoo stage keys given as lists, in file order
	// intForAll holds the mappings of integers given as one integer
	// (schema option int): key path → the integer.
	intForAll map[string]int64
	// derived records the keys whose default derives from other keys.
	derived map[string]bool
}

func (p *parser) errAt(path string, format string, args ...any) {
	e := &Error{File: p.file, Key: path, Msg: fmt.Sprintf(format, args...)}
	if env, ok := p.env[path]; ok {
		e.Env = env
	} else {
		e.Line = p.lineOf(path)
	}
	p.errs = append(p.errs, e)
}

// lineOf returns the line of path, or of its closest ancestor present in the
// file, or 0.
func (p *parser) lineOf(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (p *parser) has(path string) bool {
	_, inFile := p.lines[path]
	_, inEnv := p.env[path]
	return inFile || inEnv
}

// result returns the collected errors, ordered by line, joined.
func (p *parser) result() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Parse checks and decodes a config read from file (used in messages),
// applying environment overrides looked up with lookup (nil: none).
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	p := &parser{file: file, lines: map[string]int{}, env: map[string]string{}, derived: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Msg: "a config must be a YAML mapping of keys (name, seed, out, world, zoo, sweep, workers, eval, tasks)"}
	}
	p.checkMap("", doc.Content[0], configSchema())
	if err := p.result(); err != nil {
		return nil, err
	}

	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	// A mapping of integers given as one integer decodes as that integer
	// in every key (before the environment, which may set one key).
	for path, x := range p.intForAll {
		m := map[string]any{}
		for _, g := range fieldAt(path).fields {
			m[g.key] = x
		}
		v.Set(path, m)
	}
	// A listed zoo key decodes as its first value (the default variant).
	for _, sk := range p.swept {
		if fieldAt(sk.Key).kind == kindInt {
			v.Set(sk.Key, int64(sk.Values[0]))
		} else {
			v.Set(sk.Key, sk.Values[0])
		}
	}
	var overrides []string
	if lookup != nil {
		names := EnvKeys()
		keys := slices.Sorted(maps.Keys(names))
		for _, name := range keys {
			raw, ok := lookup(name)
			if !ok {
				continue
			}
			path := names[name]
			p.env[path] = name
			val, err := parseEnvValue(raw, fieldAt(path).kind)
			if err != nil {
				p.errAt(path, "%v", err)
				continue
			}
			v.Set(path, val)
			overrides = append(overrides, name+"="+raw)
			// An override of a listed key replaces the list by one value.
			p.swept = slices.DeleteFunc(p.swept, func(sk SweptKey) bool { return sk.Key == path })
		}
		if err := p.result(); err != nil {
			return nil, err
		}
	}

	cfg := defaultConfig()
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.WeaklyTypedInput = false
	})
	if err != nil {
		// The YAML tree was checked key by key above, so this is a bug
		// rather than a user error; still report it as one.
		return nil, fmt.Errorf("%s: decode: %w", file, err)
	}
	cfg.Sweep.Methods = p.methods
	cfg.Sweep.RawMethods = nil
	cfg.Zoo.Checkpoints = p.checkpoints
	cfg.Zoo.RawCheckpoints = nil
	if len(p.swept) > 0 {
		cfg.Zoo.Swept = p.swept
	}
	cfg.Path, cfg.Text, cfg.Overrides = file, data, overrides
	p.applyDerivedDefaults(&cfg)
	p.validate(&cfg)
	if err := p.result(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// parseEnvValue converts an environment variable's text to the key's type.
func parseEnvValue(raw string, k fieldKind) (any, error) {
	switch k {
	case kindString:
		return raw, nil
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be an integer, got %q", raw)
		}
		return n, nil
	case kindFloat:
		x, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("must be a finite number, got %q", raw)
		}
		return x, nil
	case kindBool:
		switch strings.TrimSpace(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("must be true or false, got %q", raw)
	}
	return nil, fmt.Errorf("cannot be set from the environment")
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// checkMap checks a mapping node against the schema fields, recording lines.
func (p *parser) checkMap(prefix string, n *yaml.Node, fs []field) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		path := join(prefix, kn.Value)
		if seen[kn.Value] {
			p.errs = append(p.errs, &Error{File: p.file, Line: kn.Line, Key: path, Msg: "duplicate key"})
			continue
		}
		seen[kn.Value] = true
		p.lines[path] = kn.Line
		var f *field
		for j := range fs {
			if fs[j].key == kn.Value {
				f = &fs[j]
			}
		}
		if f == nil {
			p.errAt(path, "unknown key (known: %s)", strings.Join(fieldNames(fs), ", "))
			continue
		}
		p.checkValue(path, vn, *f)
	}
}

func fieldNames(fs []field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.key
	}
	sort.Strings(names)
	return names
}

// describeNode names a node's YAML type for error messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing (null)"
	case "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	}
	return fmt.Sprintf("%s %q", n.Tag, n.Value)
}

// scalarOK reports whether node n is a scalar of kind k (integers are
// acceptable numbers).
func scalarOK(n *yaml.Node, k fieldKind) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	switch k {
	case kindString:
		return n.Tag == "!!str"
	case kindInt:
		return n.Tag == "!!int"
	case kindFloat:
		if n.Tag == "!!float" {
			x, err := strconv.ParseFloat(n.Value, 64)
			return err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
		}
		return n.Tag == "!!int"
	case kindBool:
		return n.Tag == "!!bool"
	}
	return false
}

func (p *parser) checkValue(path string, n *yaml.Node, f field) {
	switch f.kind {
	case kindMap:
		if f.intForAll && n.Kind == yaml.ScalarNode {
			if !scalarOK(n, kindInt) {
				p.errAt(path, "must be an integer or a mapping of %s, got %s", strings.Join(fieldNames(f.fields), ", "), describeNode(n))
				return
			}
			x, _ := strconv.ParseInt(n.Value, 0, 64)
			if p.intForAll == nil {
				p.intForAll = map[string]int64{}
			}
			p.intForAll[path] = x
			for _, g := range f.fields {
				if g.rng != nil {
					if msg := g.rng.outside(x); msg != "" {
						p.errAt(path, "%s", msg)
						return
					}
				}
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			if f.intForAll {
				p.errAt(path, "must be an integer or a mapping of %s, got %s", strings.Join(fieldNames(f.fields), ", "), describeNode(n))
				return
			}
			p.errAt(path, "must be a mapping, got %s", describeNode(n))
			return
		}
		p.checkMap(path, n, f.fields)
	case kindString, kindInt, kindFloat, kindBool:
		if f.listable && n.Kind == yaml.SequenceNode {
			p.checkSweptList(path, n, f.kind)
			return
		}
		if !scalarOK(n, f.kind) {
			p.errAt(path, "must be %s, got %s", f.kind, describeNode(n))
		}
	case kindStrings, kindInts:
		elem := kindString
		if f.kind == kindInts {
			elem = kindInt
		}
		if n.Kind != yaml.SequenceNode {
			p.errAt(path, "must be %s, got %s", f.kind, describeNode(n))
			return
		}
		for i, e := range n.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			p.lines[ep] = e.Line
			if !scalarOK(e, elem) {
				p.errAt(ep, "must be %s, got %s", elem, describeNode(e))
			}
		}
	case kindMethods:
		p.checkMethods(path, n)
	case kindCheckpoints:
		p.checkCheckpoints(path, n)
	}
}
