package config

import (
	"maps"
	"slices"
	"strings"
)

// maxVariants bounds the full product of the listed zoo keys.
const maxVariants = 256

// Variant is one combination of the listed zoo keys' values: dotted key
// (e.g. zoo.expert.lr) → value. A config without lists has one variant,
// the empty one.
type Variant map[string]float64

// Variants returns every combination of the values of the listed zoo keys
// (the full product), the first key varying slowest and each key's values
// in file order. The first variant, the first value of every list, is the
// default: the one the Stage fields of Zoo hold.
func (c *Config) Variants() []Variant {
	out := []Variant{{}}
	for _, sk := range c.Zoo.Swept {
		var next []Variant
		for _, v := range out {
			for _, x := range sk.Values {
				w := make(Variant, len(v)+1)
				for k, y := range v {
					w[k] = y
				}
				w[sk.Key] = x
				next = append(next, w)
			}
		}
		out = next
	}
	return out
}

// numVariants is len(c.Variants()) without building them.
func (c *Config) numVariants() int {
	n := 1
	for _, sk := range c.Zoo.Swept {
		n *= len(sk.Values)
		if n > maxVariants {
			return n
		}
	}
	return n
}

// sweptKey returns the listed key with this dotted path.
func (c *Config) sweptKey(path string) (SweptKey, bool) {
	for _, sk := range c.Zoo.Swept {
		if sk.Key == path {
			return sk, true
		}
	}
	return SweptKey{}, false
}

// Stage returns the training settings of stage zoo.<name> (pretrain,
// instruct, expert or multitask) under variant v: the config's stage with
// v's values of that stage's keys.
func (c *Config) Stage(name string, v Variant) Stage {
	var s Stage
	switch name {
	case "pretrain":
		s = c.Zoo.Pretrain
	case "instruct":
		s = c.Zoo.Instruct
	case "expert":
		s = c.Zoo.Expert
	case "multitask":
		s = c.Zoo.Multitask
	}
	pre := "zoo." + name + "."
	for key, x := range v {
		if k, ok := strings.CutPrefix(key, pre); ok {
			stageSet(&s, k, x)
		}
	}
	return s
}

// Points expands a method grid into its hyperparameter points: the
// Cartesian product of the parameters' values, parameters in sorted order,
// values in config order. A method without parameters has one empty point.
func (g MethodGrid) Points() []map[string]float64 {
	names := slices.Sorted(maps.Keys(g.Params))
	points := []map[string]float64{{}}
	for _, n := range names {
		var next []map[string]float64
		for _, pt := range points {
			for _, v := range g.Params[n] {
				q := make(map[string]float64, len(pt)+1)
				for k, x := range pt {
					q[k] = x
				}
				q[n] = v
				next = append(next, q)
			}
		}
		points = next
	}
	return points
}
