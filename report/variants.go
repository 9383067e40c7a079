package report

import (
	"encoding/json"
	"math"
	"mergescale/store"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// VariantAxis is a zoo key a study listed several values for (a variant
// axis, e.g. zoo.expert.lr) and the values the store holds.
type VariantAxis struct {
	Key string
	// Values are in the order of the run's config when its text lists
	// them, then ascending; the first is the default.
	Values []float64
}

// Variant is one combination of the axes' values: a full assignment. A
// store without axes has one variant, the empty one ("{}").
type Variant struct {
	Values map[string]float64
	JSON   string // canonical JSON (sorted keys)
}

// Label renders v for tables and legends: "key=value, ..." in axis order,
// or "default" for the empty variant.
func (v Variant) Label(axes []VariantAxis) string {
	if len(v.Values) == 0 {
		return "default"
	}
	var parts []string
	for _, a := range axes {
		if x, ok := v.Values[a.Key]; ok {
			parts = append(parts, shortKey(a.Key)+"="+fmtValue(x))
		}
	}
	return strings.Join(parts, ", ")
}

// shortKey drops the zoo. prefix of a key for labels.
func shortKey(k string) string { return strings.TrimPrefix(k, "zoo.") }

func fmtValue(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// parseVariant decodes a stored variant; an empty or malformed one is the
// empty variant.
func parseVariant(s string) map[string]float64 {
	m := map[string]float64{}
	if s == "" || s == "{}" {
		return m
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return map[string]float64{}
	}
	return m
}

// variantJSON is the canonical JSON of a variant's values.
func variantJSON(m map[string]float64) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m) // maps encode with sorted keys
	if err != nil {
		return "{}"
	}
	return string(b)
}

// compatible reports whether a model of variant mv belongs to the full
// variant v: every swept key that determines the model has v's value.
func compatible(mv, v map[string]float64) bool {
	for k, x := range mv {
		if y, ok := v[k]; !ok || y != x {
			return false
		}
	}
	return true
}

// configListOrder returns, for every zoo key the config text gives as a
// list, its values in file order, and the keys in file order.
func configListOrder(text string) (map[string][]float64, []string) {
	lists := map[string][]float64{}
	var order []string
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) == 0 {
		return lists, nil
	}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := prefix+n.Content[i].Value, n.Content[i+1]
			switch val.Kind {
			case yaml.MappingNode:
				walk(key+".", val)
			case yaml.SequenceNode:
				if !strings.HasPrefix(key, "zoo.") {
					continue
				}
				var xs []float64
				for _, e := range val.Content {
					if x, err := strconv.ParseFloat(e.Value, 64); err == nil {
						xs = append(xs, x)
					}
				}
				if len(xs) == len(val.Content) {
					lists[key] = xs
					order = append(order, key)
				}
			}
		}
	}
	walk("", doc.Content[0])
	return lists, order
}

// variantAxes collects the swept keys and their values from the stored
// variants of models and merges, ordered by the run's config text where it
// lists them (so the first value of every list is the default variant, as
// in the config) and otherwise by key and ascending value.
func variantAxes(d *storeData) []VariantAxis {
	seen := map[string]map[float64]bool{}
	addVariant := func(s string) {
		for k, x := range parseVariant(s) {
			if seen[k] == nil {
				seen[k] = map[float64]bool{}
			}
			seen[k][x] = true
		}
	}
	for _, m := range d.models {
		addVariant(m.Variant)
	}
	for _, m := range d.merges {
		addVariant(m.Variant)
	}
	lists, order := configListOrder(d.configText)
	rank := map[string]int{}
	for i, k := range order {
		rank[k] = i
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, oki := rank[keys[i]]
		rj, okj := rank[keys[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return keys[i] < keys[j]
	})
	var axes []VariantAxis
	for _, k := range keys {
		a := VariantAxis{Key: k}
		used := map[float64]bool{}
		for _, x := range lists[k] {
			if seen[k][x] && !used[x] {
				a.Values = append(a.Values, x)
				used[x] = true
			}
		}
		var rest []float64
		for x := range seen[k] {
			if !used[x] {
				rest = append(rest, x)
			}
		}
		sort.Float64s(rest)
		a.Values = append(a.Values, rest...)
		axes = append(axes, a)
	}
	return axes
}

// lineageStages are the zoo stages whose keys determine a model of this
// kind and base type (a merge is determined by its experts').
func lineageStages(kind, base string) []string {
	out := []string{"pretrain"}
	if base == "it" {
		out = append(out, "instruct")
	}
	switch kind {
	case store.KindExpert, store.KindMerged:
		out = append(out, "expert")
	case store.KindMultitask:
		out = append(out, "multitask")
	}
	return out
}

// unlabeled counts, per axis key, the models whose variant lacks a key of
// their own lineage: models a run recorded under a config that did not
// list the key (in a store that mixes configs). Such a model agrees with
// every value of the key.
func unlabeled(d *storeData, axes []VariantAxis) map[string]int {
	out := map[string]int{}
	for _, m := range d.models {
		if m.Kind == "untrained" {
			continue
		}
		mv := parseVariant(m.Variant)
		for _, a := range axes {
			for _, st := range lineageStages(m.Kind, m.BaseType) {
				if strings.HasPrefix(a.Key, "zoo."+st+".") {
					if _, ok := mv[a.Key]; !ok {
						out[a.Key]++
					}
				}
			}
		}
	}
	return out
}

// variantProduct is every combination of the axes' values, the first axis
// varying slowest; the first is the default variant.
func variantProduct(axes []VariantAxis) []Variant {
	combos := []map[string]float64{{}}
	for _, a := range axes {
		var next []map[string]float64
		for _, c := range combos {
			for _, x := range a.Values {
				m := make(map[string]float64, len(c)+1)
				for k, y := range c {
					m[k] = y
				}
				m[a.Key] = x
				next = append(next, m)
			}
		}
		combos = next
	}
	out := make([]Variant, len(combos))
	for i, c := range combos {
		out[i] = Variant{Values: c, JSON: variantJSON(c)}
	}
	return out
}

// view returns the results of one full variant: its cells, baselines,
// tasks and task-vector norms; sizes, bases, methods and k stay those of
// the whole study. The findings and the single-variant figures are computed
// on a view.
func (r *Results) view(variant string) *Results {
	v := *r
	v.Cells, v.Baselines, v.Tasks, v.TauRatios = nil, nil, nil, nil
	if len(r.Variants) == 0 || variant != r.Variants[0].JSON {
		v.Law = nil // fitted for the default variant only
	}
	for _, c := range r.Cells {
		if c.Variant == variant {
			v.Cells = append(v.Cells, c)
		}
	}
	for _, b := range r.Baselines {
		if b.Variant == variant {
			v.Baselines = append(v.Baselines, b)
		}
	}
	for _, t := range r.Tasks {
		if t.Variant == variant {
			v.Tasks = append(v.Tasks, t)
		}
	}
	for _, t := range r.TauRatios {
		if t.Variant == variant {
			v.TauRatios = append(v.TauRatios, t)
		}
	}
	v.Variants = nil
	for _, x := range r.Variants {
		if x.JSON == variant {
			v.Variants = []Variant{x}
		}
	}
	return &v
}

// Default returns the view of the default variant (the first value of
// every list); for a study without variant axes, all of r.
func (r *Results) Default() *Results {
	if len(r.Variants) == 0 {
		return r
	}
	return r.view(r.Variants[0].JSON)
}

// isNum reports whether x is a finite number.
func isNum(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
