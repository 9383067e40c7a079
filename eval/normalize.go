package eval

import (
	"fmt"
	"math"
)

// TaskScore is one raw score of a model on a task, with the task's chance
// level.
type TaskScore struct {
	Task     string  `json:"task"`
	Category string  `json:"category"`
	Value    float64 `json:"value"`
	Chance   float64 `json:"chance"`
}

// ScoresOf converts task results to task scores (accuracy as the value).
func ScoresOf(results []TaskResult) []TaskScore {
	out := make([]TaskScore, len(results))
	for i, r := range results {
		out[i] = TaskScore{Task: r.Task, Category: r.Category, Value: r.Accuracy, Chance: r.Chance}
	}
	return out
}

// NormalizedTask is one task's normalized score.
type NormalizedTask struct {
	Task      string  `json:"task"`
	Category  string  `json:"category"`
	Value     float64 `json:"value"`
	Reference float64 `json:"reference"`
	Chance    float64 `json:"chance"`
	// Ratio is the paper's normalization, Value / Reference.
	Ratio float64 `json:"ratio"`
	// ChanceAdjusted is (Value − Chance) / (Reference − Chance); NaN when the
	// reference is not above chance.
	ChanceAdjusted float64 `json:"chance_adjusted"`
	// NearChance flags a reference within the floor of chance: the ratio is
	// built on a denominator that measures little.
	NearChance bool `json:"near_chance"`
}

// NormalizedCategory is the mean of a category's normalized tasks.
type NormalizedCategory struct {
	Category       string  `json:"category"`
	Ratio          float64 `json:"ratio"`
	ChanceAdjusted float64 `json:"chance_adjusted"`
}

// Normalized is a model's normalized score over a set of tasks: per task,
// per category (mean of its tasks), and overall (mean of the categories).
type Normalized struct {
	Tasks          []NormalizedTask     `json:"tasks"`
	Categories     []NormalizedCategory `json:"categories"`
	Ratio          float64              `json:"ratio"`
	ChanceAdjusted float64              `json:"chance_adjusted"`
	// Flagged lists the tasks whose reference is near chance.
	Flagged []string `json:"flagged,omitempty"`
}

// DefaultChanceFloor is the margin above chance under which a reference
// score is flagged (5 points of accuracy).
const DefaultChanceFloor = 0.05

// Normalize divides every score by its task's reference score, as the paper
// does, and also computes the chance-adjusted variant. reference maps a task
// name to its reference score: for held-in tasks the score of the expert
// trained on the task's category (HeldInReference), for held-out tasks the
// base model's zero-shot score (HeldOutReference). Scores are averaged within
// each category (in first-seen order), then across categories. Categories
// whose chance-adjusted scores are all undefined get NaN, and the overall
// chance-adjusted mean skips them.
func Normalize(scores []TaskScore, reference map[string]float64, floor float64) (Normalized, error) {
	var n Normalized
	if len(scores) == 0 {
		return n, fmt.Errorf("eval: normalize: no scores")
	}
	type acc struct {
		ratio, adj float64
		nr, na     int
	}
	cats := map[string]*acc{}
	var order []string
	for _, s := range scores {
		ref, ok := reference[s.Task]
		if !ok {
			return Normalized{}, fmt.Errorf("eval: normalize: no reference score for task %q", s.Task)
		}
		if ref <= 0 || math.IsNaN(ref) {
			return Normalized{}, fmt.Errorf("eval: normalize: reference score of task %q is %v (must be positive)", s.Task, ref)
		}
		t := NormalizedTask{Task: s.Task, Category: s.Category, Value: s.Value, Reference: ref, Chance: s.Chance,
			Ratio: s.Value / ref, ChanceAdjusted: math.NaN()}
		if ref > s.Chance {
			t.ChanceAdjusted = (s.Value - s.Chance) / (ref - s.Chance)
		}
		if ref-s.Chance < floor {
			t.NearChance = true
			n.Flagged = append(n.Flagged, s.Task)
		}
		n.Tasks = append(n.Tasks, t)
		a, ok := cats[s.Category]
		if !ok {
			a = &acc{}
			cats[s.Category] = a
			order = append(order, s.Category)
		}
		a.ratio += t.Ratio
		a.nr++
		if !math.IsNaN(t.ChanceAdjusted) {
			a.adj += t.ChanceAdjusted
			a.na++
		}
	}
	var sumR, sumA float64
	var nA int
	for _, c := range order {
		a := cats[c]
		nc := NormalizedCategory{Category: c, Ratio: a.ratio / float64(a.nr), ChanceAdjusted: math.NaN()}
		if a.na > 0 {
			nc.ChanceAdjusted = a.adj / float64(a.na)
			sumA += nc.ChanceAdjusted
			nA++
		}
		sumR += nc.Ratio
		n.Categories = append(n.Categories, nc)
	}
	n.Ratio = sumR / float64(len(order))
	n.ChanceAdjusted = math.NaN()
	if nA > 0 {
		n.ChanceAdjusted = sumA / float64(nA)
	}
	return n, nil
}

// HeldInReference builds the held-in reference of Normalize: experts maps a
// held-in category to the scores of the expert trained on it; each task of
// that category takes the expert's score on it. Scores of the expert on other
// categories' tasks are ignored.
func HeldInReference(experts map[string][]TaskScore) map[string]float64 {
	ref := map[string]float64{}
	for cat, scores := range experts {
		for _, s := range scores {
			if s.Category == cat {
				ref[s.Task] = s.Value
			}
		}
	}
	return ref
}

// HeldOutReference builds the held-out reference of Normalize: the base
// model's zero-shot score on every task.
func HeldOutReference(base []TaskScore) map[string]float64 {
	ref := make(map[string]float64, len(base))
	for _, s := range base {
		ref[s.Task] = s.Value
	}
	return ref
}
