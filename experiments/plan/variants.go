package plan

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"mergescale/experiments/config"
)

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

// stage returns the training settings of kind k under variant v.
func stage(c *config.Config, k Kind, v config.Variant) config.Stage { return c.Stage(stageName(k), v) }

// lineage lists the stages that determine a model of kind k descending
// from base type base (a merge is determined by its experts' lineage).
func lineage(k Kind, base string) []Kind {
	out := []Kind{KindPretrain}
	if base == config.BaseIT && k != KindPretrain {
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
func variantJSON(v config.Variant, k Kind, base string) string {
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
func variantLabel(v config.Variant) string {
	if len(v) == 0 {
		return "default"
	}
	keys := slices.Sorted(maps.Keys(v))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + formatNumber(v[k])
	}
	return strings.Join(parts, " ")
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
