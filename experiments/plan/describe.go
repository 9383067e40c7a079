package plan

import (
	"fmt"
	"strings"
)

// A job is told in two renderings of the one Job model, both here:
//
//   - Label, short, for the run's log lines, its errors and its progress
//     display: "xs/pt/sentiment", "select xs/pt k=2 #0 ties on test";
//   - Plan.Describe, for the `run --plan` listing (Print): what the job
//     makes or reads in full, "xs pt sentiment steps=300", "chosen of xs
//     pt k=2 #0 ties on test (held-in 2 + held-out)".
//
// Both name a model by its size, base and category, a merge by its point
// in the sweep (point), and end with the job's variant when the config
// lists zoo keys (withVariant).

// Label is the short rendering of j, for logs, errors and the progress
// display, with its variant when the config lists zoo keys.
func (j *Job) Label() string { return withVariant(j.label(), j.Variant, " ") }

func (j *Job) label() string {
	switch j.Kind {
	case KindPretrain, KindInstruct, KindMultitask:
		return fmt.Sprintf("%s/%s", j.Size, j.Base)
	case KindExpert:
		return fmt.Sprintf("%s/%s/%s", j.Size, j.Base, j.Category)
	case KindCheckpoint:
		return fmt.Sprintf("%s %s", j.Role, j.Path)
	case KindMerge:
		return fmt.Sprintf("%s/%s %s %s", j.Size, j.Base, j.point(), j.HParamsJSON)
	case KindEval:
		if j.IsSelection() {
			return fmt.Sprintf("select %s/%s %s on %s", j.Size, j.Base, j.point(), j.Split)
		}
		if j.IsChosenEval() {
			return fmt.Sprintf("chosen %s/%s %s on %s, other held-in", j.Size, j.Base, j.point(), j.Split)
		}
		return fmt.Sprintf("%s on %s", ShortKey(j.Model), j.Split)
	}
	return ShortKey(j.Key)
}

// Describe is the full rendering of j, one line of the plan listing: what
// the job makes or reads (for an evaluation, the evaluated model as p
// knows it), with its variant when the config lists zoo keys.
func (p *Plan) Describe(j *Job) string { return withVariant(p.describe(j), j.Variant, " variant ") }

func (p *Plan) describe(j *Job) string {
	switch j.Kind {
	case KindPretrain, KindInstruct:
		return fmt.Sprintf("%s %s steps=%d", j.Size, j.Base, j.Stage.Steps)
	case KindExpert:
		return fmt.Sprintf("%s %s %s steps=%d", j.Size, j.Base, j.Category, j.Stage.Steps)
	case KindMultitask:
		return fmt.Sprintf("%s %s all %d categories steps=%d", j.Size, j.Base, len(j.Categories), j.Stage.Steps)
	case KindCheckpoint:
		return strings.TrimSpace(fmt.Sprintf("%s %s %s %s %s", j.Size, j.Base, j.Role, j.Category, j.Path))
	case KindMerge:
		return fmt.Sprintf("%s %s %s %s", j.Size, j.Base, j.point(), j.HParamsJSON)
	case KindEval:
		what := ""
		switch {
		case j.IsSelection(), j.IsChosenEval():
			what = fmt.Sprintf("chosen of %s %s %s", j.Size, j.Base, j.point())
		case j.Cell != nil:
			m, _ := p.Job(j.Model)
			hp := ""
			if m != nil {
				hp = " " + m.HParamsJSON
			}
			what = fmt.Sprintf("merge %s %s %s%s", j.Size, j.Base, j.point(), hp)
		default:
			m, _ := p.Job(j.Model)
			if m != nil {
				kind := string(m.Kind)
				if m.Kind == KindCheckpoint {
					kind = m.Role
				}
				what = fmt.Sprintf("%s %s", kind, strings.TrimSpace(m.Size+" "+m.Base+" "+m.Category))
			}
		}
		scope := "held-in " + fmt.Sprint(len(j.Scope.HeldIn))
		if j.Scope.HeldOut {
			scope += " + held-out"
		}
		return fmt.Sprintf("%s on %s (%s)", what, j.Split, scope)
	}
	return ""
}

// point names a merge, its evaluation or its cell's selection by its place
// in the sweep: the number of experts, the subset and the method.
func (j *Job) point() string { return fmt.Sprintf("k=%d #%d %s", j.K, j.Subset, j.Method) }

// withVariant appends a job's variant to its rendering s after sep, unless
// the job has none ("" or "{}": the config lists no zoo keys that
// determine it).
func withVariant(s, variant, sep string) string {
	if variant != "" && variant != "{}" {
		s += sep + variant
	}
	return s
}

// ShortKey is the first 12 hex digits of a job key, as logs, errors and
// the plan listing show it.
func ShortKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
