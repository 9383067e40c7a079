package experiments

import (
	"sort"
	"strconv"
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

// stageName is the config section (zoo.<name>) of a training kind.
func stageName(k Kind) string {
	switch k {
	case KindPretrain:
		return "pretrain"
	case KindInstruct:
		return "instruct"
	case KindExpert:
		return "expert"
	case KindMultitask:
		return "multitask"
	}
	return ""
}

// stage returns the training settings of kind k under variant v: the
// config's stage with v's values of that stage's keys.
func (c *Config) stage(k Kind, v Variant) Stage {
	var s Stage
	switch k {
	case KindPretrain:
		s = c.Zoo.Pretrain
	case KindInstruct:
		s = c.Zoo.Instruct
	case KindExpert:
		s = c.Zoo.Expert
	case KindMultitask:
		s = c.Zoo.Multitask
	}
	pre := "zoo." + stageName(k) + "."
	for key, x := range v {
		if name, ok := strings.CutPrefix(key, pre); ok {
			stageSet(&s, name, x)
		}
	}
	return s
}

// lineage lists the stages that determine a model of kind k descending
// from base type base (a merge is determined by its experts' lineage).
func lineage(k Kind, base string) []Kind {
	out := []Kind{KindPretrain}
	if base == BaseIT && k != KindPretrain {
		out = append(out, KindInstruct)
	}
	switch k {
	case KindExpert, KindMerge:
		out = append(out, KindExpert)
	case KindMultitask:
		out = append(out, KindMultitask)
	}
	return out
}

// variantJSON is the variant of a model of kind k from base type base: the
// canonical JSON (sorted keys) of v's entries for the stages that determine
// it, "{}" when there are none. Models that differ only in keys that do not
// determine them (a PT base under two expert learning rates) share a
// variant, as they share a job key.
func variantJSON(v Variant, k Kind, base string) string {
	m := map[string]float64{}
	for _, st := range lineage(k, base) {
		pre := "zoo." + stageName(st) + "."
		for key, x := range v {
			if strings.HasPrefix(key, pre) {
				m[key] = x
			}
		}
	}
	return canonicalJSON(m)
}

// variantLabel renders a variant for humans: key=value pairs, sorted.
func variantLabel(v Variant) string {
	if len(v) == 0 {
		return "default"
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + formatNumber(v[k])
	}
	return strings.Join(parts, " ")
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// stageGet returns the value of one stage key (its last part, e.g. lr).
func stageGet(s Stage, key string) float64 {
	switch key {
	case "steps":
		return float64(s.Steps)
	case "batch":
		return float64(s.Batch)
	case "lr":
		return s.LR
	case "weight_decay":
		return s.WeightDecay
	case "warmup_frac":
		return s.WarmupFrac
	case "clip_norm":
		return s.ClipNorm
	case "dropout":
		return s.Dropout
	}
	return 0
}

// stageSet sets one stage key (its last part, e.g. lr) to x.
func stageSet(s *Stage, key string, x float64) {
	switch key {
	case "steps":
		s.Steps = int(x)
	case "batch":
		s.Batch = int(x)
	case "lr":
		s.LR = x
	case "weight_decay":
		s.WeightDecay = x
	case "warmup_frac":
		s.WarmupFrac = x
	case "clip_norm":
		s.ClipNorm = x
	case "dropout":
		s.Dropout = x
	}
}
