package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The schema is the Config struct itself: every key a config may hold is a
// field with a mapstructure tag (the key, as viper decodes it), its Go type
// gives the key's kind, and a schema tag adds the rest, as space-separated
// options:
//
//	required      the key must be present (rules may make it conditional)
//	default=V     the value when the key is absent
//	range=[lo,hi] the allowed values; ( or ) excludes that end
//	list          a zoo training key that may list values (a variant axis)
//	kind=K        methods or checkpoints: a list of entries checked by code
//	int           a mapping of integer keys that may also be given as one
//	              integer, the value of every key (tasks.max_examples)
//
// From it come the known keys (Keys, EnvKeys, the unknown-key check), the
// kinds the YAML tree is checked against, the defaults (defaultConfig) and
// the presence and range checks (validate). Checks that involve other keys
// are the rules of check.go, keyed by the same paths.

// fieldKind is the type a config key must have.
type fieldKind int

const (
	kindMap fieldKind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindStrings     // list of strings
	kindInts        // list of integers
	kindMethods     // sweep.methods: list of {method: name, param: number or [numbers]}
	kindCheckpoints // zoo.checkpoints: list of {size, base, variant, base_model, experts, multitask}
)

func (k fieldKind) String() string {
	return [...]string{"a mapping", "a string", "an integer", "a number", "a boolean (true or false)",
		"a list of strings", "a list of integers", "a list of method entries", "a list of checkpoint entries"}[k]
}

// field is one key of the config schema.
type field struct {
	key    string
	kind   fieldKind
	fields []field // kindMap
	// listable scalars may also be given as a list of values (a zoo
	// variant axis).
	listable bool
	// intForAll: a mapping of integers that may be given as one integer,
	// the value of every key.
	intForAll bool
	required  bool
	def       string    // the default as written in the tag; "" : none
	rng       *interval // allowed values of a number; nil: any
	// index locates the field in Config (reflect.Value.FieldByIndex).
	index []int
}

// interval is the allowed range of a numeric key.
type interval struct {
	lo, hi         float64
	openLo, openHi bool
}

// outside returns the error for a value outside r, "" for one inside. An
// integer key's value (an int64) compares and prints as an integer, a
// number's (a float64) as Go's %v prints it.
func (r interval) outside(v any) string {
	lo, hi := "[", "]"
	if r.openLo {
		lo = "("
	}
	if r.openHi {
		hi = ")"
	}
	if n, ok := v.(int64); ok {
		a, b := int64(r.lo), int64(r.hi)
		if n < a || n > b || (r.openLo && n == a) || (r.openHi && n == b) {
			return fmt.Sprintf("must be in %s%d, %d%s, got %d", lo, a, b, hi, n)
		}
		return ""
	}
	x, _ := v.(float64)
	if x < r.lo || x > r.hi || (r.openLo && x == r.lo) || (r.openHi && x == r.hi) {
		return fmt.Sprintf("must be in %s%v, %v%s, got %v", lo, r.lo, r.hi, hi, x)
	}
	return ""
}

// configSchema lists every key a config may hold, in the order of Config's
// fields.
func configSchema() []field {
	fs, err := structFields(reflect.TypeFor[Config](), nil)
	if err != nil {
		// The tags are constants of this package; TestSchema checks them.
		panic(err)
	}
	return fs
}

// structFields reads the schema of a struct type; index is the struct's
// own position in Config.
func structFields(t reflect.Type, index []int) ([]field, error) {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		key := sf.Tag.Get("mapstructure")
		if key == "" || key == "-" {
			continue
		}
		f := field{key: key, index: append(append([]int(nil), index...), i)}
		var err error
		if f.kind, err = kindOf(sf.Type); err != nil {
			return nil, fmt.Errorf("config key %s: %w", key, err)
		}
		entries := f.kind == kindMethods // a list of entries: the tag says which
		for _, opt := range strings.Fields(sf.Tag.Get("schema")) {
			name, val, _ := strings.Cut(opt, "=")
			switch name {
			case "required":
				f.required = true
			case "list":
				f.listable = true
			case "int":
				f.intForAll = true
			case "default":
				f.def = val
			case "range":
				if f.rng, err = parseInterval(val); err != nil {
					return nil, fmt.Errorf("config key %s: %w", key, err)
				}
			case "kind":
				switch {
				case entries && val == "methods":
					f.kind, entries = kindMethods, false
				case entries && val == "checkpoints":
					f.kind, entries = kindCheckpoints, false
				default:
					return nil, fmt.Errorf("config key %s: kind %q does not fit Go type %s", key, val, sf.Type)
				}
			default:
				return nil, fmt.Errorf("config key %s: unknown schema option %q", key, opt)
			}
		}
		if entries {
			return nil, fmt.Errorf("config key %s: a list of entries needs kind=methods or kind=checkpoints", key)
		}
		if f.kind == kindMap {
			if f.fields, err = structFields(sf.Type, f.index); err != nil {
				return nil, err
			}
		}
		if f.intForAll {
			if f.kind != kindMap || slices.ContainsFunc(f.fields, func(g field) bool { return g.kind != kindInt }) {
				return nil, fmt.Errorf("config key %s: int needs a mapping of integers", key)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// kindOf is the kind of a key held in a field of type t.
func kindOf(t reflect.Type) (fieldKind, error) {
	switch t.Kind() {
	case reflect.Struct:
		return kindMap, nil
	case reflect.String:
		return kindString, nil
	case reflect.Int, reflect.Int64:
		return kindInt, nil
	case reflect.Float64:
		return kindFloat, nil
	case reflect.Bool:
		return kindBool, nil
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return kindStrings, nil
		case reflect.Int:
			return kindInts, nil
		case reflect.Map:
			return kindMethods, nil // a list of entries; the tag says which
		}
	}
	return 0, fmt.Errorf("no config kind for Go type %s", t)
}

// parseInterval reads "[lo,hi]", with ( or ) for an open end.
func parseInterval(s string) (*interval, error) {
	if len(s) < 5 || !strings.Contains("[(", s[:1]) || !strings.Contains("])", s[len(s)-1:]) {
		return nil, fmt.Errorf("range %q: want [lo,hi]", s)
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ",")
	lo, err1 := strconv.ParseFloat(a, 64)
	hi, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil || lo > hi {
		return nil, fmt.Errorf("range %q: want [lo,hi]", s)
	}
	return &interval{lo: lo, hi: hi, openLo: s[0] == '(', openHi: s[len(s)-1] == ')'}, nil
}

// defaultConfig holds every default of the schema; keys present in the file
// or the environment overwrite them.
func defaultConfig() Config {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	var walk func(fs []field)
	walk = func(fs []field) {
		for _, f := range fs {
			walk(f.fields)
			if f.def == "" {
				continue
			}
			if err := setScalar(v.FieldByIndex(f.index), f.def); err != nil {
				panic(fmt.Sprintf("config key %s: default: %v", f.key, err)) // TestSchema checks every default
			}
		}
	}
	walk(configSchema())
	return c
}

// setScalar sets a string, integer, number or boolean field from text.
func setScalar(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}

// numberAt returns the value of the integer (as an int64) or number (a
// float64) key f in the config c.
func numberAt(c reflect.Value, f field) any {
	v := c.FieldByIndex(f.index)
	if v.CanInt() {
		return v.Int()
	}
	return v.Float()
}

// fieldAt returns the schema field of a dotted path without list indexes.
func fieldAt(path string) field {
	fs := configSchema()
	var f field
	for _, part := range strings.Split(path, ".") {
		for _, c := range fs {
			if c.key == part {
				f = c
				break
			}
		}
		fs = f.fields
	}
	return f
}

// stageSchema lists the keys of a zoo training stage, in schema order.
func stageSchema() []field { return fieldAt("zoo.pretrain").fields }

// stageValue is the field of s that holds stage key key (its last part,
// e.g. lr); ok is false for an unknown key.
func stageValue(s *Stage, key string) (v reflect.Value, ok bool) {
	for _, f := range stageSchema() {
		if f.key == key {
			// f.index locates the key in Config; its last element, in Stage.
			return reflect.ValueOf(s).Elem().Field(f.index[len(f.index)-1]), true
		}
	}
	return reflect.Value{}, false
}

// stageSet sets one stage key (its last part, e.g. lr) to x.
func stageSet(s *Stage, key string, x float64) {
	v, ok := stageValue(s, key)
	switch {
	case !ok:
	case v.CanInt():
		v.SetInt(int64(x))
	default:
		v.SetFloat(x)
	}
}
